"""The recording-technology control: every clip band-limited to one band and brought to one level.

Niven's tapes are transfers of acoustic (before 1925) and electrical 78s, then LPs: bandwidth,
noise floor and frequency response change with the decades exactly as the eras do, so a
classifier can tell eras apart from the recording chain alone. With ``bandlimit_hz`` set, every
clip is low-passed to that frequency (e.g. 3,500 Hz, about the bandwidth of acoustic 78s) and
scaled to one RMS level before the CNN or the linear baseline sees it, so what is left to tell the
eras apart is closer to the music itself. The difference between a run with and without the
control measures how much the recording chain contributed.

The filter is a zero-phase frequency-domain gain over the whole clip: 1 up to
``cutoff - transition``, a raised-cosine (Hann) taper to 0 at ``cutoff``, 0 above. This module
holds the numpy version (the linear baseline's features); :class:`jazzcnn.train.layers.BandLimit`
applies the same gain inside the model with ``keras.ops``, so a saved model carries its control.
"""

from __future__ import annotations

import numpy as np

#: Width of the raised-cosine taper below the cut-off [Hz].
TRANSITION_HZ = 250.0
#: RMS level every clip is scaled to when the level is normalised (-20 dBFS).
TARGET_RMS = 0.1
#: Below this RMS a clip counts as silent and is left unscaled.
SILENT_RMS = 1e-6


def bandlimit_gain(n_samples: int, sample_rate: int, cutoff_hz: float, transition_hz: float = TRANSITION_HZ) -> np.ndarray:
    """The gain of each ``rfft`` bin of an ``n_samples`` clip.

    Parameters
    ----------
    n_samples : int
        Clip length [samples].
    sample_rate : int
        [Hz]
    cutoff_hz : float
        Frequency at and above which the gain is 0 [Hz].
    transition_hz : float
        Width of the taper below ``cutoff_hz`` [Hz].

    Returns
    -------
    np.ndarray
        float32, shape ``(n_samples // 2 + 1,)``, values in [0, 1].

    Raises
    ------
    ValueError
        A cut-off outside (0, Nyquist] or a negative transition.
    """
    nyquist = sample_rate / 2
    if not 0 < cutoff_hz <= nyquist:
        raise ValueError(f"band-limit cut-off {cutoff_hz} Hz is outside (0, {nyquist:g}] Hz")
    if transition_hz < 0:
        raise ValueError(f"transition width {transition_hz} Hz is negative")
    f = np.fft.rfftfreq(n_samples, 1.0 / sample_rate)
    start = max(cutoff_hz - transition_hz, 0.0)
    gain = np.where(f <= start, 1.0, 0.0)
    taper = (f > start) & (f < cutoff_hz)
    if transition_hz > 0:
        gain[taper] = 0.5 * (1 + np.cos(np.pi * (f[taper] - start) / (cutoff_hz - start)))
    return gain.astype(np.float32)


def bandlimit(clips: np.ndarray, sample_rate: int, cutoff_hz: float, *, normalize_level: bool = True,
              transition_hz: float = TRANSITION_HZ) -> np.ndarray:
    """Band-limit clips to ``cutoff_hz`` and scale each to :data:`TARGET_RMS`.

    Parameters
    ----------
    clips : np.ndarray
        float, shape ``(n_clips, n_samples)`` or ``(n_samples,)``, PCM in [-1, 1).
    sample_rate : int
        [Hz]
    cutoff_hz : float
        [Hz], see :func:`bandlimit_gain`.
    normalize_level : bool
        Also scale each clip to :data:`TARGET_RMS` (silent clips stay as they are).

    Returns
    -------
    np.ndarray
        float32, the shape of ``clips``.
    """
    x = np.asarray(clips, np.float32)
    n = x.shape[-1]
    y = np.fft.irfft(np.fft.rfft(x, axis=-1) * bandlimit_gain(n, sample_rate, cutoff_hz, transition_hz), n=n,
                     axis=-1).astype(np.float32)
    if normalize_level:
        rms = np.sqrt(np.mean(np.square(y, dtype=np.float64), axis=-1, keepdims=True))
        y = np.where(rms > SILENT_RMS, y * (TARGET_RMS / np.maximum(rms, SILENT_RMS)), y).astype(np.float32)
    return y
