"""Building, describing and loading the preset networks (:mod:`jazzcnn.train.presets`).

Every model takes raw audio, ``(batch, clip_samples, 1)`` float32 PCM in [-1, 1), and returns
era probabilities ``(batch, n_classes)``; its Kapre front end (:mod:`jazzcnn.train.frontends`)
is inside, built with the sample rate passed explicitly (the seed study's flaw was ``sr=32``).

Backends: on TensorFlow the front end is Kapre's; on JAX and PyTorch (``KERAS_BACKEND``) it is
the Keras-native equivalent of :mod:`jazzcnn.train.layers`, and nothing of TensorFlow or Kapre
is imported.

Mixed precision (:func:`mixed_policy`): with ``mixed_precision=True`` the global Keras policy
becomes ``mixed_float16`` with dynamic loss scaling on TensorFlow, ``mixed_bfloat16`` (no loss
scaling needed: bfloat16 has float32's exponent range) on JAX and PyTorch, *after* the float32
front end is built (Kapre's STFT fails under a float16 policy), and the softmax output layer is
kept float32 for a numerically stable loss.

The saved ``.keras`` file reloads with plain :func:`keras.models.load_model`: Kapre's layers
register themselves with Keras' serialisation when ``kapre`` is imported (which :func:`load_model`
here does on TensorFlow), ours when :mod:`jazzcnn.train.layers` is, the rest are Keras' own
layers, and learning-rate schedules are saved with the optimiser. A model trained on JAX or
PyTorch holds no Kapre layer and loads on every backend.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from jazzcnn.train.presets import PRESETS, Preset

__all__ = ["PRESETS", "Preset", "build_model", "load_model", "describe_preset", "layer_table",
           "PresetSummary", "LayerRow"]


def _preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]


def resolve_hparams(preset: str, overrides: dict | None = None) -> dict:
    """A preset's hyperparameters: its defaults with ``overrides`` applied, each of its default's type.

    Parameters
    ----------
    preset : str
        A key of :data:`PRESETS`.
    overrides : dict, optional
        Name -> value (numbers or their text, as ``--hparams`` gives them).

    Returns
    -------
    dict
        Every hyperparameter of the preset (empty for the seed presets).

    Raises
    ------
    ValueError
        A name the preset does not have (the message lists its names), or a value that is not a
        number of the right kind.
    """
    p = _preset(preset)
    hp = dict(p.hparams)
    for name, value in (overrides or {}).items():
        if name not in hp:
            have = ", ".join(sorted(hp)) if hp else "none (its settings are the published ones)"
            raise ValueError(f"preset {preset!r} has no hyperparameter {name!r}; its hyperparameters: {have}")
        kind = type(hp[name])
        try:
            number = float(value)
            if kind is int and not number.is_integer():
                raise ValueError
        except (TypeError, ValueError):
            raise ValueError(f"hyperparameter {name!r} of preset {preset!r} must be {'an integer' if kind is int else 'a number'}"
                             f", got {value!r}") from None
        hp[name] = kind(number)
    return hp


def mixed_policy(backend: str) -> str:
    """The mixed-precision policy of a Keras backend: ``mixed_float16`` on TensorFlow (with loss
    scaling; what its GPU kernels are fastest at), ``mixed_bfloat16`` on JAX and PyTorch."""
    return "mixed_float16" if backend == "tensorflow" else "mixed_bfloat16"


def build_model(preset: str, n_classes: int, clip_samples: int, *, sample_rate: int = 16000,
                learning_rate: float | None = None, mixed_precision: bool = False, hparams: dict | None = None,
                total_steps: int = 1000):
    """Build and compile a preset network.

    Parameters
    ----------
    preset : str
        A key of :data:`PRESETS` (``jazzcnn presets`` lists them).
    n_classes : int
        Number of eras (softmax outputs).
    clip_samples : int
        Input length [samples]; the model input has shape ``(batch, clip_samples, 1)``, float32
        PCM in [-1, 1).
    sample_rate : int
        Sample rate [Hz] given to the mel filter bank (16 kHz for the shards).
    learning_rate : float, optional
        (Initial) learning rate; default the preset's. A preset whose optimiser decays the
        learning rate keeps its decay.
    mixed_precision : bool
        16-bit compute for the layers after the float32 front end (GPU only; float16 on
        TensorFlow, bfloat16 on JAX and PyTorch, see :func:`mixed_policy`).
    hparams : dict, optional
        Overrides of the preset's hyperparameters (:func:`resolve_hparams`); the seed presets
        have none.
    total_steps : int
        Training steps [batches] planned, for a preset whose learning rate follows a schedule
        over the whole run (``jazzcnn``'s cosine decay).

    Returns
    -------
    keras.Model
        Named after the preset, compiled with sparse categorical cross-entropy (integer labels;
        label-smoothed where the preset's ``label_smoothing`` says) and accuracy.

    Raises
    ------
    ValueError
        Unknown preset or hyperparameter, fewer than 2 classes, or a clip shorter than the
        preset's ``min_clip_samples`` (or its STFT window).
    """
    import keras

    p = _preset(preset)
    if n_classes < 2:
        raise ValueError(f"need at least 2 eras to classify, got {n_classes}")
    shortest = max(p.min_clip_samples, p.n_fft)
    if clip_samples < shortest:
        raise ValueError(f"clip of {clip_samples} samples is too short for preset {preset!r}: it needs at least "
                         f"{shortest} samples ({shortest / sample_rate:g} s at {sample_rate} Hz)")

    hp = resolve_hparams(preset, hparams)
    keras.mixed_precision.set_global_policy("float32")
    inputs = keras.Input(shape=(clip_samples, 1), name="audio", dtype="float32")
    audio = p.waveform(inputs, **hp) if p.waveform else inputs
    image = p.front_end.build(audio, clip_samples=clip_samples, sample_rate=sample_rate)
    backend = keras.backend.backend()
    if mixed_precision:
        keras.mixed_precision.set_global_policy(mixed_policy(backend))
    body_hp = {k: v for k, v in hp.items() if k in inspect.signature(p.body).parameters}
    try:
        outputs = p.body(image, n_classes, **body_hp)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model = keras.Model(inputs, outputs, name=preset)
    lr = p.learning_rate if learning_rate is None else learning_rate
    optimizer = p.optimizer(lr, total_steps=total_steps, **hp) if p.hparams else p.optimizer(lr)
    if mixed_precision and mixed_policy(backend) == "mixed_float16":  # dynamic loss scaling against float16 underflow
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    smoothing = float(hp.get("label_smoothing", 0.0))
    if smoothing:
        from jazzcnn.train.layers import SparseLabelSmoothingLoss

        loss = SparseLabelSmoothingLoss(label_smoothing=smoothing, n_classes=n_classes)
    else:
        loss = "sparse_categorical_crossentropy"
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=["accuracy"],
        weighted_metrics=[],
    )
    return model



def load_model(path):
    """Load a saved ``.keras`` model for inference (no custom objects needed; not compiled).

    Raises
    ------
    ValueError
        The file is missing, not a Keras archive, or corrupt, or it holds Kapre layers and the
        backend is not TensorFlow (Kapre's only one); the message names the file.
    """
    from pathlib import Path

    import keras

    import jazzcnn.train.layers  # noqa: F401  (registers our own layers)

    path = Path(path)
    if not path.exists():
        raise ValueError(f"model file {path} not found: train the run first (jazzcnn train)")
    if keras.backend.backend() == "tensorflow":
        import kapre  # noqa: F401  (registers Kapre's layers with Keras' serialisation)
    elif _uses_kapre(path):
        raise ValueError(f"model file {path} was trained on TensorFlow with Kapre's front end, which runs on "
                         f"TensorFlow only: load it with KERAS_BACKEND=tensorflow (this is {keras.backend.backend()})")
    try:
        return keras.models.load_model(path, compile=False)  # for inference: no optimizer state to restore
    except Exception as e:  # keras raises many types for a damaged archive
        raise ValueError(f"model file {path} is corrupt or not a Keras model ({type(e).__name__}: {e})") from None


def _uses_kapre(path) -> bool:
    """True if a ``.keras`` archive's model config names a Kapre layer (False if it cannot be read)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return '"module": "kapre' in z.read("config.json").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False  # keras' own loader reports the damage


@dataclass(frozen=True)
class LayerRow:
    """One layer of a built model.

    Attributes
    ----------
    name, kind : str
        Layer name and class (``Conv2D`` ...).
    output_shape : tuple
        Output shape without the batch axis.
    params, trainable : int
        Parameters of the layer (weights of every kind) and the trainable ones.
    """

    name: str
    kind: str
    output_shape: tuple
    params: int
    trainable: int


@dataclass(frozen=True)
class PresetSummary:
    """One row of ``jazzcnn presets``, measured on a built model.

    Attributes
    ----------
    name, seed : str
        Preset name and its seed write-up (or ``"ours"``).
    clip_seconds : float
        Default clip length [s].
    input_shape : tuple
        Model input without the batch axis, ``(clip_samples, 1)``.
    image_shape : tuple
        Front end output without the batch axis, ``(bands, frames, 1)``.
    front_end, optimizer : str
        In words.
    trainable, total : int
        Parameters of the built model.
    layers : list of LayerRow
        Every layer, in order.
    """

    name: str
    seed: str
    clip_seconds: float
    input_shape: tuple
    image_shape: tuple
    front_end: str
    optimizer: str
    trainable: int
    total: int
    layers: list


def _count(weights) -> int:
    import numpy as np

    return int(sum(int(np.prod(w.shape)) for w in weights))


def layer_table(model) -> list[LayerRow]:
    """Every layer of ``model`` (the input layer left out) with its output shape and parameters.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    list of LayerRow
    """
    rows = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        rows.append(LayerRow(layer.name, type(layer).__name__, tuple(layer.output.shape[1:]),
                             _count(layer.weights), _count(layer.trainable_weights)))
    return rows


def describe_preset(name: str, *, n_classes: int = 4, sample_rate: int = 16000) -> PresetSummary:
    """Build a preset at its default clip length and measure it (the numbers are the model's own).

    Parameters
    ----------
    name : str
        Preset name.
    n_classes : int
        Eras the output layer is built for (the shipped ``eras.csv`` has 4).
    sample_rate : int
        [Hz]

    Returns
    -------
    PresetSummary

    Raises
    ------
    ValueError
        Unknown preset or fewer than 2 classes.
    """
    p = _preset(name)
    clip_samples = int(round(p.clip_seconds * sample_rate))
    model = build_model(name, n_classes, clip_samples, sample_rate=sample_rate)
    image = model.get_layer("band_frame").output.shape[1:]
    return PresetSummary(
        name=name, seed=p.seed, clip_seconds=p.clip_seconds, input_shape=tuple(model.input.shape[1:]),
        image_shape=tuple(image), front_end=p.front_end.describe(), optimizer=p.optimizer_text,
        trainable=_count(model.trainable_weights), total=_count(model.weights), layers=layer_table(model),
    )
