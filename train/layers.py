"""Keras layers of our own, registered for serialisation (a saved model reloads with no custom objects
once this module is imported, which :func:`jazzcnn.train.models.load_model` does).

Built on ``keras.ops`` only, so they run on every Keras backend.
"""

from __future__ import annotations

import keras
import numpy as np

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


def hz_to_mel_slaney(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (Auditory Toolbox, 1998; librosa's default ``htk=False``): linear below
    1 kHz (3 mel per 200 Hz), logarithmic above (27 steps per factor 6.4)."""
    f = np.asarray(f, np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)


def mel_to_hz_slaney(m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel_slaney`."""
    m = np.asarray(m, np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None) -> np.ndarray:
    """Triangular mel filters on the Slaney scale with Slaney's area normalisation.

    The construction of Slaney's Auditory Toolbox as librosa implements it (``htk=False``,
    ``norm="slaney"``, the default of ``librosa.filters.mel`` and of Kapre): ``n_mels + 2`` points
    equally spaced in mel between ``f_min`` and ``f_max``, a triangle between each three neighbours,
    each scaled by ``2 / (f_right - f_left)`` so that every filter has the same area.

    Returns
    -------
    np.ndarray
        float32, shape ``(n_fft // 2 + 1, n_mels)``: FFT bin -> mel band weights.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    fft_f = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_f = mel_to_hz_slaney(np.linspace(hz_to_mel_slaney(f_min), hz_to_mel_slaney(f_max), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper)) * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights.T.astype(np.float32)


@keras.saving.register_keras_serializable(package="jazzcnn")
class MelSpectrogram(keras.layers.Layer):
    """A mel spectrogram in decibels, computed exactly as this project's Kapre front end, on any backend.

    Kapre 0.4 runs on TensorFlow only; this layer computes the same thing with ``keras.ops`` so a
    preset trains on JAX or PyTorch. Step by step, as Kapre's ``get_melspectrogram_layer``:

    1. optional zero padding of ``n_fft - hop_length`` samples at the start (``pad_begin``);
    2. frames of ``n_fft`` samples every ``hop_length``, the end zero-padded to whole frames when
       ``pad_end`` (``ceil(n / hop_length)`` frames), as ``tf.signal.stft``;
    3. a periodic Hann window, real FFT of ``n_fft`` points, magnitude (``power=1``) or power (2);
    4. Slaney mel filter bank (:func:`mel_filterbank`);
    5. ``10 log10(max(x, amin)) - 10 log10(max(ref_value, amin))``, floored per example at its
       maximum minus ``dynamic_range`` (Kapre's ``MagnitudeToDecibel``).

    Input float32 ``(batch, n_samples, 1)``; output float32 ``(batch, frames, n_mels, 1)``. Computed
    in float32 whatever the global precision policy.

    Parameters
    ----------
    sample_rate : int
        [Hz]
    n_fft : int
        Window and FFT length [samples].
    hop_length : int
        [samples]
    n_mels : int
    power : float
        1 (magnitude) or 2 (power).
    pad_begin, pad_end : bool
        See steps 1 and 2.
    f_min, f_max : float
        Filter bank range [Hz] (``f_max`` None: the Nyquist frequency).
    amin, ref_value, dynamic_range : float
        Decibel floor of the input, reference and per-example dynamic range [dB].
    """

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int, power: float = 1.0,
                 pad_begin: bool = False, pad_end: bool = False, f_min: float = 0.0, f_max: float | None = None,
                 amin: float = 1e-5, ref_value: float = 1.0, dynamic_range: float = 80.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.sample_rate, self.n_fft, self.hop_length, self.n_mels = int(sample_rate), int(n_fft), int(hop_length), int(n_mels)
        self.power, self.pad_begin, self.pad_end = float(power), bool(pad_begin), bool(pad_end)
        self.f_min, self.f_max = float(f_min), None if f_max is None else float(f_max)
        self.amin, self.ref_value, self.dynamic_range = float(amin), float(ref_value), float(dynamic_range)
        n = np.arange(self.n_fft)
        self._window = keras.ops.convert_to_tensor((0.5 - 0.5 * np.cos(2 * np.pi * n / self.n_fft)).astype(np.float32))
        self._fb = keras.ops.convert_to_tensor(mel_filterbank(self.sample_rate, self.n_fft, self.n_mels, self.f_min,
                                                              self.f_max))

    def frames(self, n_samples: int) -> int:
        """Frames of an ``n_samples`` input."""
        n = n_samples + (self.n_fft - self.hop_length if self.pad_begin else 0)
        if self.pad_end:
            return -(-n // self.hop_length)
        return 1 + (n - self.n_fft) // self.hop_length

    def call(self, x):
        y = keras.ops.cast(x[..., 0], "float32")
        n = y.shape[-1]
        if self.pad_begin:
            y = keras.ops.pad(y, [[0, 0], [self.n_fft - self.hop_length, 0]])
            n += self.n_fft - self.hop_length
        if self.pad_end:
            total = (self.frames(x.shape[1]) - 1) * self.hop_length + self.n_fft
            y = keras.ops.pad(y, [[0, 0], [0, max(0, total - n)]])
        frames = keras.ops.extract_sequences(y, self.n_fft, self.hop_length)  # (batch, frames, n_fft)
        real, imag = keras.ops.rfft(frames * self._window)
        spec = keras.ops.square(real) + keras.ops.square(imag)
        if self.power != 2.0:
            spec = keras.ops.power(keras.ops.maximum(spec, 0.0), self.power / 2.0)
        mel = keras.ops.matmul(spec, self._fb)  # (batch, frames, n_mels)
        log10 = np.log(10.0)
        db = 10.0 * keras.ops.log(keras.ops.maximum(mel, self.amin)) / log10 \
            - 10.0 * np.log10(max(self.ref_value, self.amin))
        floor = keras.ops.max(db, axis=(1, 2), keepdims=True) - self.dynamic_range
        return keras.ops.maximum(db, floor)[..., None]

    def compute_output_shape(self, input_shape):
        frames = None if input_shape[1] is None else self.frames(int(input_shape[1]))
        return (input_shape[0], frames, self.n_mels, 1)

    def get_config(self):
        return super().get_config() | {
            "sample_rate": self.sample_rate, "n_fft": self.n_fft, "hop_length": self.hop_length, "n_mels": self.n_mels,
            "power": self.power, "pad_begin": self.pad_begin, "pad_end": self.pad_end, "f_min": self.f_min,
            "f_max": self.f_max, "amin": self.amin, "ref_value": self.ref_value, "dynamic_range": self.dynamic_range}


def mfcc_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """DCT-II basis of ``tf.signal.mfccs_from_log_mel_spectrograms`` (HTK's scaling), first ``n_mfcc``.

    ``mfcc[k] = sqrt(2 / N) * sum_n log_mel[n] * cos(pi * k * (2n + 1) / (2N))`` for ``N = n_mels``:
    TensorFlow's unnormalised DCT-II scaled by ``1 / sqrt(2N)`` (HTK scales every basis vector by
    ``sqrt(2/N)``, the 0th too, unlike the orthonormal DCT); Kapre's ``LogmelToMFCC`` wraps it.

    Returns
    -------
    np.ndarray
        float32, shape ``(n_mels, n_mfcc)``: mel band -> coefficient weights.
    """
    n = np.arange(n_mels)[:, None]
    k = np.arange(n_mfcc)[None, :]
    return (np.sqrt(2.0 / n_mels) * np.cos(np.pi * k * (2 * n + 1) / (2 * n_mels))).astype(np.float32)


@keras.saving.register_keras_serializable(package="jazzcnn")
class MFCC(keras.layers.Layer):
    """MFCCs of a dB mel spectrogram, as Kapre's ``LogmelToMFCC``, on any backend.

    Input float32 ``(batch, frames, n_mels, 1)`` (:class:`MelSpectrogram`'s output); output float32
    ``(batch, frames, n_mfcc, 1)``: the DCT-II of :func:`mfcc_matrix` along the mel axis. Computed
    in float32 whatever the global precision policy.

    Parameters
    ----------
    n_mfcc : int
        Coefficients kept (the first ``n_mfcc``, 1 to ``n_mels``).
    """

    def __init__(self, n_mfcc: int, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.n_mfcc = int(n_mfcc)

    def build(self, input_shape):
        n_mels = int(input_shape[2])
        if not 0 < self.n_mfcc <= n_mels:
            raise ValueError(f"n_mfcc must be in 1..{n_mels} (the mel bands), got {self.n_mfcc}")
        self._dct = keras.ops.convert_to_tensor(mfcc_matrix(n_mels, self.n_mfcc))
        super().build(input_shape)

    def call(self, x):
        y = keras.ops.matmul(keras.ops.cast(x[..., 0], "float32"), self._dct)
        return y[..., None]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.n_mfcc, 1)

    def get_config(self):
        return super().get_config() | {"n_mfcc": self.n_mfcc}


@keras.saving.register_keras_serializable(package="jazzcnn")
class RandomGain(keras.layers.Layer):
    """Scale each training clip by a random gain, uniform in decibels; the identity at inference.

    Input and output ``(batch, n_samples, 1)`` audio. Level differs from tape to tape for reasons
    that have nothing to do with style (transfer, cassette deck); random gain keeps a model from
    leaning on it.

    Parameters
    ----------
    max_db : float
        Gains are drawn from ``[-max_db, +max_db]`` dB.
    seed : int, optional
    """

    def __init__(self, max_db: float = 6.0, seed: int | None = None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.max_db = float(max_db)
        self.seed = seed
        self._rng = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or self.max_db == 0:
            return x
        db = keras.random.uniform((keras.ops.shape(x)[0], 1, 1), -self.max_db, self.max_db, seed=self._rng)
        return x * keras.ops.power(10.0, db / 20.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config() | {"max_db": self.max_db, "seed": self.seed}


@keras.saving.register_keras_serializable(package="jazzcnn")
class SpecAugmentMask(keras.layers.Layer):
    """SpecAugment-style masking of a spectrogram during training; the identity at inference.

    Park et al. (2019), "SpecAugment: A Simple Data Augmentation Method for Automatic Speech
    Recognition", Interspeech: ``n_masks`` bands of up to ``freq_mask`` mel bins and ``n_masks``
    stretches of up to ``time_mask`` frames, each of random width and position per example, are
    set to the example's mean. (Kapre's ``SpecAugment`` is TensorFlow-only; this runs on every
    backend.)

    Input and output ``(batch, frames, n_mels, channels)`` (``layout="frames_bands"``, Kapre's)
    or ``(batch, n_mels, frames, channels)`` (``"bands_frames"``, the presets' image).

    Parameters
    ----------
    freq_mask : int
        Widest frequency mask [mel bins].
    time_mask : int
        Widest time mask [frames].
    n_masks : int
        Masks of each kind per example.
    layout : {"frames_bands", "bands_frames"}
        Which of axes 1 and 2 holds the frames.
    seed : int, optional
    """

    def __init__(self, freq_mask: int = 12, time_mask: int = 20, n_masks: int = 2, layout: str = "frames_bands",
                 seed: int | None = None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if layout not in ("frames_bands", "bands_frames"):
            raise ValueError(f"layout must be 'frames_bands' or 'bands_frames', got {layout!r}")
        self.freq_mask, self.time_mask, self.n_masks = int(freq_mask), int(time_mask), int(n_masks)
        self.layout = layout
        self.seed = seed
        self._rng = keras.random.SeedGenerator(seed)

    def _mask(self, batch, length: int, widest: int):
        """bool ``(batch, length)``: True where one of the ``n_masks`` random stretches lies."""
        pos = keras.ops.arange(length, dtype="float32")[None, :]
        keep = keras.ops.ones((batch, length), dtype="bool")
        for _ in range(self.n_masks):
            width = keras.random.uniform((batch, 1), 0, widest + 1, seed=self._rng)
            start = keras.random.uniform((batch, 1), 0, 1, seed=self._rng) * (length - width)
            inside = (pos >= start) & (pos < start + keras.ops.floor(width))
            keep = keep & ~inside
        return ~keep

    def call(self, x, training=None):
        if not training or self.n_masks == 0:
            return x
        batch = keras.ops.shape(x)[0]
        t_axis = 1 if self.layout == "frames_bands" else 2
        frames, mels = x.shape[t_axis], x.shape[3 - t_axis]
        mask_t = self._mask(batch, frames, min(self.time_mask, frames))
        mask_f = self._mask(batch, mels, min(self.freq_mask, mels))
        if t_axis == 1:
            mask_t, mask_f = mask_t[:, :, None, None], mask_f[:, None, :, None]
        else:
            mask_t, mask_f = mask_t[:, None, :, None], mask_f[:, :, None, None]
        mean = keras.ops.mean(x, axis=(1, 2, 3), keepdims=True)
        return keras.ops.where(mask_t | mask_f, mean, x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config() | {"freq_mask": self.freq_mask, "time_mask": self.time_mask,
                                       "n_masks": self.n_masks, "layout": self.layout, "seed": self.seed}


@keras.saving.register_keras_serializable(package="jazzcnn")
class SparseLabelSmoothingLoss(keras.losses.Loss):
    """Cross-entropy of integer labels with label smoothing.

    Szegedy et al. (2016), "Rethinking the Inception architecture for computer vision", CVPR,
    section 7: the target puts ``1 - label_smoothing`` on the true class and spreads
    ``label_smoothing`` evenly over all ``n_classes``. Keras' sparse cross-entropy has no
    smoothing and its categorical one needs one-hot targets, so the integer labels become one-hot
    rows here.

    Parameters
    ----------
    label_smoothing : float
        In [0, 1).
    n_classes : int
    """

    def __init__(self, label_smoothing: float = 0.1, n_classes: int = 2, name: str = "smoothed_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing, self.n_classes = float(label_smoothing), int(n_classes)

    def call(self, y_true, y_pred):
        y = keras.ops.one_hot(keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,)), self.n_classes)
        return keras.losses.categorical_crossentropy(y, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self):
        return super().get_config() | {"label_smoothing": self.label_smoothing, "n_classes": self.n_classes}
