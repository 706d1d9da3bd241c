"""Keras layers of our own, registered for serialisation (a saved model reloads with no custom objects
once this module is imported, which :func:`jazzcnn.train.models.load_model` does).

Built on ``keras.ops`` only, so they run on every Keras backend.
"""

from __future__ import annotations

import keras

from jazzcnn.train.bandlimit import SILENT_RMS, TARGET_RMS, TRANSITION_HZ, bandlimit_gain


@keras.saving.register_keras_serializable(package="jazzcnn")
class BandLimit(keras.layers.Layer):
    """The recording-technology control inside the model (see :mod:`jazzcnn.train.bandlimit`).

    Input and output: float32 ``(batch, n_samples, 1)`` audio. Computed in float32 whatever the
    global precision policy, like the mel front end.

    Parameters
    ----------
    cutoff_hz : float
        Gain 0 at and above this frequency [Hz].
    sample_rate : int
        [Hz]
    normalize_level : bool
        Scale each clip to the same RMS after filtering.
    transition_hz : float
        Width of the raised-cosine taper below the cut-off [Hz].
    """

    def __init__(self, cutoff_hz: float, sample_rate: int, normalize_level: bool = True,
                 transition_hz: float = TRANSITION_HZ, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.cutoff_hz = float(cutoff_hz)
        self.sample_rate = int(sample_rate)
        self.normalize_level = bool(normalize_level)
        self.transition_hz = float(transition_hz)

    def build(self, input_shape):
        n = int(input_shape[1])
        self._n = n
        # A constant, not a weight: nothing here is learned, and nothing changes on reload.
        self._gain = keras.ops.convert_to_tensor(
            bandlimit_gain(n, self.sample_rate, self.cutoff_hz, self.transition_hz)[None, :], dtype="float32")
        super().build(input_shape)

    def call(self, x):
        y = keras.ops.cast(x[..., 0], "float32")
        real, imag = keras.ops.rfft(y)
        y = keras.ops.irfft((real * self._gain, imag * self._gain), fft_length=self._n)
        if self.normalize_level:
            rms = keras.ops.sqrt(keras.ops.mean(keras.ops.square(y), axis=-1, keepdims=True))
            scale = keras.ops.where(rms > SILENT_RMS, TARGET_RMS / keras.ops.maximum(rms, SILENT_RMS), 1.0)
            y = y * scale
        return y[..., None]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config() | {"cutoff_hz": self.cutoff_hz, "sample_rate": self.sample_rate,
                                       "normalize_level": self.normalize_level, "transition_hz": self.transition_hz}


def with_bandlimit(model: keras.Model, cutoff_hz: float, sample_rate: int) -> keras.Model:
    """``model`` behind a :class:`BandLimit` layer, compiled as ``model`` was.

    Parameters
    ----------
    model : keras.Model
        A compiled model taking ``(batch, n_samples, 1)`` audio.
    cutoff_hz : float
        [Hz]
    sample_rate : int
        [Hz]

    Returns
    -------
    keras.Model
        Same input and output shapes; the band-limit travels with the saved model.
    """
    inputs = keras.Input(shape=model.input_shape[1:], name="audio", dtype="float32")
    x = BandLimit(cutoff_hz, sample_rate, name="bandlimit")(inputs)
    outer = keras.Model(inputs, model(x), name=f"{model.name}_bandlimited")
    outer.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"], weighted_metrics=[])
    return outer
