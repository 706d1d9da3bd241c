"""The two networks of the seed study, with Kapre's mel-spectrogram layer inside the model.

Presets (settings as in the seed study's code, as described in the project brief; the seed's
source code itself was not available to us):

``seed3s``
    3-second clips. Kapre mel spectrogram with **64 mel bands**, three conv blocks of
    **16, 32, 64** filters (3x3 conv, ReLU, 2x2 max pooling), flatten, dense **256-256** (ReLU)
    each followed by dropout **0.5** (the seed's dropout rate was not recoverable; 0.5 is the
    value we use), softmax. Optimiser **RMSprop, learning rate 1e-4**.
``seed15s``
    15-second clips. Mel spectrogram with **128 mel bands**, four conv blocks of **32, 64, 128,
    256** filters, dense **32-512-512-512** with dropout 0.5, softmax; RMSprop 1e-4.

Fix relative to the seed: the seed configured the mel layer with ``sample_rate=32`` (Hz), so the
mel filter bank was built for a 16 Hz Nyquist frequency. Here ``sample_rate`` is passed
explicitly and equals the shards' rate (16 kHz). STFT settings are Kapre's defaults
(``n_fft=2048``, hop 512 samples = 32 ms at 16 kHz), output in decibels. One addition (ours, not
the seed's): each clip's decibel spectrogram is standardised to zero mean and unit variance
(parameter-free ``LayerNormalization``), because dB values span about -100..0 and unnormalised
inputs slow RMSprop at lr 1e-4 considerably; it also removes the recording level of a tape.

Mixed precision: with ``mixed_precision=True`` the global Keras policy becomes ``mixed_float16``
*after* the Kapre front end is built under ``float32`` (Kapre's STFT fails under a float16 policy),
and the softmax output layer is kept float32 for a numerically stable loss.

The saved ``.keras`` file reloads with plain :func:`keras.models.load_model` - Kapre's layers
register themselves with Keras' serialisation when ``kapre`` is imported, which
:func:`load_model` here does.
"""

from __future__ import annotations

from dataclasses import dataclass

PRESETS_DOC = __doc__


@dataclass(frozen=True)
class Preset:
    """Architecture and optimiser defaults of one network (see module docstring for sources)."""

    clip_seconds: float
    n_mels: int
    conv_filters: tuple[int, ...]
    dense_units: tuple[int, ...]
    dropout: float = 0.5
    learning_rate: float = 1e-4
    n_fft: int = 2048
    hop_length: int = 512


PRESETS: dict[str, Preset] = {
    "seed3s": Preset(clip_seconds=3.0, n_mels=64, conv_filters=(16, 32, 64), dense_units=(256, 256)),
    "seed15s": Preset(clip_seconds=15.0, n_mels=128, conv_filters=(32, 64, 128, 256), dense_units=(32, 512, 512, 512)),
}


def build_model(preset: str, n_classes: int, clip_samples: int, *, sample_rate: int = 16000,
                learning_rate: float | None = None, mixed_precision: bool = False):
    """Build and compile the preset network.

    Parameters
    ----------
    preset : {"seed3s", "seed15s"}
    n_classes : int
        Number of eras (softmax outputs).
    clip_samples : int
        Input length [samples]; the model input has shape ``(batch, clip_samples, 1)``, float32
        PCM in [-1, 1).
    sample_rate : int
        Sample rate [Hz] given to the mel filter bank (16 kHz for the shards).
    learning_rate : float, optional
        RMSprop learning rate; default the preset's (1e-4).
    mixed_precision : bool
        float16 compute for the layers after the float32 Kapre front end (GPU only).

    Returns
    -------
    keras.Model
        Compiled with sparse categorical cross-entropy (integer labels) and accuracy.

    Raises
    ------
    ValueError
        Unknown preset, fewer than 2 classes, or a clip too short for the STFT.
    """
    import keras
    from kapre.composed import get_melspectrogram_layer

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    if n_classes < 2:
        raise ValueError(f"need at least 2 eras to classify, got {n_classes}")
    p = PRESETS[preset]
    if clip_samples < p.n_fft:
        raise ValueError(f"clip of {clip_samples} samples is shorter than the STFT window ({p.n_fft})")

    keras.mixed_precision.set_global_policy("float32")
    inputs = keras.Input(shape=(clip_samples, 1), name="audio", dtype="float32")
    mel = get_melspectrogram_layer(
        n_fft=p.n_fft, hop_length=p.hop_length, sample_rate=sample_rate,
        n_mels=p.n_mels, return_decibel=True, input_data_format="channels_last",
        output_data_format="channels_last", name="melspectrogram",
    )
    x = mel(inputs)
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        # Per-clip standardisation of the dB mel spectrogram: no moving statistics, so training
        # and inference see the same scale from the first epoch on (a BatchNormalization here had
        # moving means far from the dB values after a short run and predicted one era on val).
        x = keras.layers.LayerNormalization(axis=(1, 2, 3), center=False, scale=False, name="input_norm")(x)
        for i, f in enumerate(p.conv_filters):
            x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
            x = keras.layers.MaxPooling2D(2, padding="same", name=f"pool{i + 1}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        for i, u in enumerate(p.dense_units):
            x = keras.layers.Dense(u, activation="relu", name=f"dense{i + 1}")(x)
            x = keras.layers.Dropout(p.dropout, name=f"dropout{i + 1}")(x)
        outputs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32", name="era")(x)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model = keras.Model(inputs, outputs, name=preset)
    optimizer = keras.optimizers.RMSprop(learning_rate=learning_rate or p.learning_rate)
    if mixed_precision:  # dynamic loss scaling against float16 gradient underflow
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        weighted_metrics=[],
    )
    return model


def load_model(path):
    """Load a saved ``.keras`` model for inference (no custom objects needed; not compiled).

    Raises
    ------
    ValueError
        The file is missing, not a Keras archive, or corrupt; the message names the file.
    """
    from pathlib import Path

    import kapre  # noqa: F401  (registers Kapre's layers with Keras' serialisation)
    import keras

    import jazzcnn.train.layers  # noqa: F401  (registers our own layers likewise)

    path = Path(path)
    if not path.exists():
        raise ValueError(f"model file {path} not found: train the run first (jazzcnn train)")
    try:
        return keras.models.load_model(path, compile=False)  # for inference: no optimizer state to restore
    except Exception as e:  # keras raises many types for a damaged archive
        raise ValueError(f"model file {path} is corrupt or not a Keras model ({type(e).__name__}: {e})") from None
