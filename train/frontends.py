"""Front ends: the first layers of every preset, from a raw audio clip to a time-frequency image.

A front end is a separable piece of a preset (:mod:`jazzcnn.train.presets`): it takes the model
input, a clip of raw audio ``(batch, clip_samples, 1)`` float32 in [-1, 1), and returns an image
``(batch, bands, frames, 1)`` whose rows are mel bands (or MFCCs) from low to high and whose
columns are frames, the layout of the seed studies' tables (Kapre 0.1's ``channels_last``
output, ``(None, 128, 938, 1)`` in ``001_d4a53e509879d3ab.txt``). What follows the image (the
per-clip standardisation, the network) belongs to the preset's body.

:class:`KapreMel` builds it from Kapre 0.4 layers, which register themselves with Keras'
serialisation when ``kapre`` is imported, so a saved model reloads with plain
:func:`keras.models.load_model`. Kapre runs on TensorFlow only: on the JAX and PyTorch backends
the same front end is built from this project's Keras-native layers
(:class:`jazzcnn.train.layers.MelSpectrogram`, :class:`jazzcnn.train.layers.MFCC`). Everything runs in float32 (Kapre's STFT fails under a float16
policy); the caller builds the front end before switching to a mixed-precision policy.

Framing (``padding``):

``"same"``
    The seeds' framing. Kapre 0.1's ``Melspectrogram`` computed its STFT as a strided
    convolution with ``padding='same'`` (its default), i.e. TensorFlow's rule: ``ceil(n / hop)``
    frames, ``max((frames - 1) * hop + n_fft - n, 0)`` zeros split as evenly as possible with
    the odd one at the end. Here the same zeros are added by a ``ZeroPadding1D`` layer in front
    of Kapre 0.4's STFT, which then frames without padding, so frame ``i`` covers the samples
    the seed's frame ``i`` covered: 188 frames for 3 s and 938 for 15 s at 16 kHz with hop 256.
``"end"``
    Kapre 0.4's ``pad_end``: zeros at the end only, also ``ceil(n / hop)`` frames.
``"none"``
    No padding: ``1 + (n - n_fft) // hop`` frames (Kapre 0.4's default).

Decibels: Kapre 0.4's ``MagnitudeToDecibel``, ``10 log10(max(x, amin))`` with the values below
``max - dynamic_range`` (per clip) raised to that floor, as Kapre 0.1's ``amplitude_to_decibel``
did; Kapre 0.1 also subtracted each clip's maximum, a shift the per-clip standardisation that
follows in every preset removes again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["KapreMel", "same_padding"]


def same_padding(n_samples: int, n_fft: int, hop_length: int) -> tuple[int, int]:
    """Zeros before and after a signal under TensorFlow's ``'same'`` rule for a strided window.

    Parameters
    ----------
    n_samples : int
        Signal length [samples].
    n_fft, hop_length : int
        Window length and hop [samples].

    Returns
    -------
    (int, int)
        Zeros added before and after [samples]; the framed signal then has ``ceil(n_samples /
        hop_length)`` frames. Source: TensorFlow's convolution padding rule, which Kapre 0.1's
        STFT (a strided ``conv2d``) used.
    """
    frames = math.ceil(n_samples / hop_length)
    total = max((frames - 1) * hop_length + n_fft - n_samples, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class KapreMel:
    """A Kapre 0.4 mel-spectrogram (optionally MFCC) front end in decibels.

    Attributes
    ----------
    n_mels : int
        Mel bands (Slaney mel scale and Slaney area normalisation, as Kapre 0.1 and librosa by
        default), from 0 Hz to the Nyquist frequency of the sample rate the model is built for.
    n_fft : int
        STFT window and FFT length [samples] (periodic Hann window).
    hop_length : int
        Hop between frames [samples].
    padding : {"same", "end", "none"}
        Framing, see the module docstring.
    db_amin : float
        Smallest magnitude before the logarithm (Kapre 0.1's default was 1e-10, 0.4's is 1e-5).
    db_range : float
        Dynamic range kept below each clip's maximum [dB].
    n_mfcc : int or None
        If set, the image holds this many MFCCs per frame instead of the mel bands: the DCT-II
        of the dB mel spectrogram (Kapre's ``LogmelToMFCC``, TensorFlow's HTK-style scaling).
    """

    n_mels: int
    n_fft: int
    hop_length: int
    padding: Literal["same", "end", "none"] = "same"
    db_amin: float = 1e-5
    db_range: float = 80.0
    n_mfcc: int | None = None

    def __post_init__(self):
        if self.padding not in ("same", "end", "none"):
            raise ValueError(f"padding must be 'same', 'end' or 'none', got {self.padding!r}")
        if self.n_mfcc is not None and not 0 < self.n_mfcc <= self.n_mels:
            raise ValueError(f"n_mfcc must be in 1..n_mels ({self.n_mels}), got {self.n_mfcc}")

    @property
    def bands(self) -> int:
        """Rows of the image: MFCCs if ``n_mfcc`` is set, else mel bands."""
        return self.n_mfcc or self.n_mels

    def n_frames(self, clip_samples: int) -> int:
        """Columns of the image for a clip of ``clip_samples`` samples [frames].

        Raises
        ------
        ValueError
            The clip is shorter than one STFT window (``padding="none"``) or empty.
        """
        if clip_samples < 1 or (self.padding == "none" and clip_samples < self.n_fft):
            raise ValueError(f"clip of {clip_samples} samples is shorter than the STFT window ({self.n_fft})")
        if self.padding == "none":
            return 1 + (clip_samples - self.n_fft) // self.hop_length
        return math.ceil(clip_samples / self.hop_length)

    def image_shape(self, clip_samples: int) -> tuple[int, int, int]:
        """Shape of the image for one clip: ``(bands, frames, 1)``."""
        return (self.bands, self.n_frames(clip_samples), 1)

    def describe(self) -> str:
        """One line for tables, e.g. ``mel 64, n_fft 512, hop 256, 'same', dB``."""
        what = f"MFCC {self.n_mfcc} of mel {self.n_mels}" if self.n_mfcc else f"mel {self.n_mels}"
        return f"{what}, n_fft {self.n_fft}, hop {self.hop_length}, '{self.padding}', dB"

    def build(self, audio, *, clip_samples: int, sample_rate: int, native: bool | None = None):
        """Apply the front end to the symbolic model input.

        Parameters
        ----------
        audio : KerasTensor
            ``(batch, clip_samples, 1)`` float32 PCM in [-1, 1).
        clip_samples : int
            Clip length [samples].
        sample_rate : int
            Sample rate of the audio [Hz], given explicitly to the mel filter bank (the seed's
            flaw was ``sr=32``).
        native : bool, optional
            Build :mod:`jazzcnn.train.layers`' Keras-native layers instead of Kapre's; default:
            on every backend but TensorFlow (Kapre's only one).

        Returns
        -------
        KerasTensor
            ``(batch, bands, frames, 1)`` float32, dB mel bands or MFCCs.

        Layers (names): ``padding`` (``"same"`` only), ``melspectrogram`` (Kapre's composed
        STFT, magnitude, mel filter bank and decibel layers), ``mfcc`` (if ``n_mfcc``),
        ``band_frame`` (the transpose from Kapre's frames-first layout).

        On the JAX and PyTorch backends (Kapre runs on TensorFlow only), ``melspectrogram`` and
        ``mfcc`` are :class:`jazzcnn.train.layers.MelSpectrogram` and
        :class:`jazzcnn.train.layers.MFCC`, which compute the same (within 1e-3 dB, tested).
        """
        import keras

        self.n_frames(clip_samples)  # raises for a clip shorter than the window
        x = audio
        if self.padding == "same":
            x = keras.layers.ZeroPadding1D(same_padding(clip_samples, self.n_fft, self.hop_length), name="padding")(x)
        if native is None:
            native = keras.backend.backend() != "tensorflow"
        if native:
            from jazzcnn.train.layers import MFCC, MelSpectrogram

            x = MelSpectrogram(sample_rate, self.n_fft, self.hop_length, self.n_mels, power=1.0,
                               pad_end=self.padding == "end", amin=self.db_amin, dynamic_range=self.db_range,
                               name="melspectrogram")(x)
            if self.n_mfcc:
                x = MFCC(self.n_mfcc, name="mfcc")(x)
            return keras.layers.Permute((2, 1, 3), name="band_frame")(x)
        from kapre import LogmelToMFCC
        from kapre.composed import get_melspectrogram_layer

        x = get_melspectrogram_layer(
            n_fft=self.n_fft, hop_length=self.hop_length, sample_rate=sample_rate, n_mels=self.n_mels,
            pad_end=self.padding == "end", return_decibel=True, db_amin=self.db_amin,
            db_dynamic_range=self.db_range, input_data_format="channels_last",
            output_data_format="channels_last", name="melspectrogram",
        )(x)  # (batch, frames, mels, 1)
        if self.n_mfcc:
            x = LogmelToMFCC(n_mfccs=self.n_mfcc, data_format="channels_last", name="mfcc")(x)
        return keras.layers.Permute((2, 1, 3), name="band_frame")(x)
