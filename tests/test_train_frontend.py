"""The Kapre front ends inside the models against librosa, at the shards' 16 kHz.

The seed study built its mel layer for a 32 Hz sample rate; these tests would catch that: the band
holding a 1 kHz tone, and every value, must match librosa's mel spectrogram computed at 16 kHz.
For the seeds' presets the frames must also be the seeds' own: Kapre 0.1's strided convolution with
'same' padding, 188 frames for 3 s and 938 for 15 s (seed 001's table).
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from jazzcnn.train.frontends import KapreMel, same_padding
from jazzcnn.train.models import PRESETS, build_model

SR = 16000


def _signal(seconds: float) -> np.ndarray:
    """1 kHz at -6 dBFS, 3 kHz at -26 dBFS and faint noise: peaks a wrong rate would misplace."""
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(7)
    y = 0.5 * np.sin(2 * np.pi * 1000 * t) + 0.05 * np.sin(2 * np.pi * 3000 * t) + 1e-3 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def _front_end_output(preset: str, y: np.ndarray) -> np.ndarray:
    """The model's image for one clip, ``(bands, frames)``, through the model's own layers."""
    import keras

    model = build_model(preset, 4, y.size, sample_rate=SR)
    front = keras.Model(model.input, model.get_layer("band_frame").output)
    return front(y[None, :, None]).numpy()[0, :, :, 0]


@pytest.mark.parametrize("preset,frames", [("seed3s", 188), ("seed15s", 938)])
def test_seed_mel_front_end_matches_librosa_at_16k(preset, frames):
    p = PRESETS[preset]
    y = _signal(p.clip_seconds)
    got = _front_end_output(preset, y)

    # The seed's settings spelled out for librosa: |STFT| (power 1), periodic Hann, n_fft 512, hop 256,
    # Slaney mel filters from 0 Hz to Nyquist, 10 log10 with amin 1e-10 and an 80 dB range; frames
    # taken from the signal zero-padded by the 'same' rule, as the seed's strided convolution did.
    before, after = same_padding(y.size, 512, 256)
    padded = np.pad(y, (before, after))
    mel = librosa.feature.melspectrogram(y=padded, sr=SR, n_fft=512, hop_length=256, n_mels=p.front_end.n_mels,
                                         power=1.0, center=False, window="hann", htk=False, norm="slaney")
    want = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0)
    assert got.shape == want.shape == (p.front_end.n_mels, frames)
    diff = np.abs(got - want)  # dB
    # Measured: largest 0.003 dB (3 s) and 0.05 dB (15 s, at the quietest cell, about -57 dB, where the
    # float32 STFT's rounding shows); 99.9% of the cells within 0.002 dB.
    assert diff.max() < 0.1 and np.quantile(diff, 0.999) < 0.01

    # The loudest band is the one whose centre lies nearest 1 kHz on librosa's 16 kHz mel scale.
    centres = librosa.mel_frequencies(n_mels=p.front_end.n_mels + 2, fmin=0.0, fmax=SR / 2)[1:-1]
    assert int(np.argmax(got.mean(axis=1))) == int(np.argmin(np.abs(centres - 1000)))


def test_same_framing_is_the_strided_convolution_of_kapre_01():
    """Frame i starts where a 'SAME'-padded strided convolution (Kapre 0.1's STFT) put it."""
    import tensorflow as tf

    for n, n_fft, hop in [(48000, 512, 256), (240000, 512, 256), (480000, 744, 186), (1000, 512, 256)]:
        x = np.arange(1, n + 1, dtype=np.float32)
        tap = np.zeros((n_fft, 1, 1), np.float32)
        tap[0] = 1.0  # the convolution returns the first sample of each window (0 in the padding)
        conv = tf.nn.conv1d(x[None, :, None], tap, stride=hop, padding="SAME").numpy()[0, :, 0]
        before, after = same_padding(n, n_fft, hop)
        framed = np.pad(x, (before, after))
        ours = framed[np.arange(KapreMel(64, n_fft, hop).n_frames(n)) * hop]
        assert len(ours) == len(conv) == -(-n // hop)
        np.testing.assert_array_equal(ours, conv)
        assert (before + n + after - n_fft) % hop == 0  # the last frame ends exactly at the padded end


def test_mfcc_front_end_is_the_dct_of_the_db_mel_spectrogram():
    """The MFCC presets' image: the first 10 coefficients of the DCT-II of the model's dB mel
    spectrogram, scaled as TensorFlow (and Kapre's LogmelToMFCC) do."""
    import keras
    import scipy.fft

    y = _signal(1.0)
    model = build_model("mfcc-mlp", 4, y.size, sample_rate=SR)
    mel_db = keras.Model(model.input, model.get_layer("melspectrogram").output)(y[None, :, None]).numpy()[0, :, :, 0]
    mfcc = keras.Model(model.input, model.get_layer("band_frame").output)(y[None, :, None]).numpy()[0, :, :, 0]
    assert mfcc.shape == (10, -(-y.size // 186))
    # tf.signal.mfccs_from_log_mel_spectrograms = DCT-II scaled by 1/sqrt(2 n_mels) (HTK convention)
    want = scipy.fft.dct(mel_db, type=2, axis=1)[:, :10].T / np.sqrt(2 * 128)
    np.testing.assert_allclose(mfcc, want, rtol=1e-4, atol=1e-3)


def test_a_32_hz_layer_would_be_caught():
    """The seed's setting gives a spectrum nothing like librosa's at 16 kHz: the check above has teeth."""
    from kapre.composed import get_melspectrogram_layer

    y = _signal(3.0)
    wrong = get_melspectrogram_layer(n_fft=512, hop_length=256, sample_rate=32, n_mels=64, return_decibel=True,
                                     db_amin=1e-10, input_data_format="channels_last",
                                     output_data_format="channels_last")
    got = wrong(y[None, :, None]).numpy()[0, :, :, 0].T
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=512, hop_length=256, n_mels=64, power=1.0, center=False)
    want = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0)
    assert np.abs(got - want).max() > 10
