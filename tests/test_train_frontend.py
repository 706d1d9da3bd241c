"""The Kapre mel front end inside the model against librosa, at the shards' 16 kHz.

The seed study built this layer for a 32 Hz sample rate; these tests would catch that: the band
holding a 1 kHz tone, and every value, must match librosa's mel spectrogram computed at 16 kHz.
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from jazzcnn.train.models import PRESETS, build_model

SR = 16000


def _signal(seconds: float) -> np.ndarray:
    """1 kHz at -6 dBFS, 3 kHz at -26 dBFS and faint noise: peaks a wrong rate would misplace."""
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(7)
    y = 0.5 * np.sin(2 * np.pi * 1000 * t) + 0.05 * np.sin(2 * np.pi * 3000 * t) + 1e-3 * rng.standard_normal(t.size)
    return y.astype(np.float32)


@pytest.mark.parametrize("preset", ["seed3s", "seed15s"])
def test_mel_layer_matches_librosa_at_16k(preset):
    p = PRESETS[preset]
    n = int(p.clip_seconds * SR)
    y = _signal(p.clip_seconds)
    model = build_model(preset, 4, n, sample_rate=SR)
    got = model.get_layer("melspectrogram")(y[None, :, None]).numpy()[0, :, :, 0]  # (frames, mels)

    # Kapre's settings spelled out for librosa: |STFT| (power 1), periodic Hann, no centring,
    # Slaney mel filters from 0 Hz to Nyquist, 10 log10 with amin 1e-5 and an 80 dB range.
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=p.n_fft, hop_length=p.hop_length, n_mels=p.n_mels,
                                         power=1.0, center=False, window="hann", htk=False, norm="slaney")
    want = librosa.power_to_db(mel, ref=1.0, amin=1e-5, top_db=80.0).T
    assert got.shape == want.shape == (1 + (n - p.n_fft) // p.hop_length, p.n_mels)
    assert np.abs(got - want).max() < 0.01  # dB, every frame and band (measured: under 0.001)

    # The loudest band is the one whose centre lies nearest 1 kHz on librosa's 16 kHz mel scale.
    centres = librosa.mel_frequencies(n_mels=p.n_mels + 2, fmin=0.0, fmax=SR / 2)[1:-1]
    assert int(np.argmax(got.mean(axis=0))) == int(np.argmin(np.abs(centres - 1000)))


def test_a_32_hz_layer_would_be_caught():
    """The seed's setting gives a spectrum nothing like librosa's at 16 kHz: the check above has teeth."""
    from kapre.composed import get_melspectrogram_layer

    p = PRESETS["seed3s"]
    y = _signal(p.clip_seconds)
    wrong = get_melspectrogram_layer(n_fft=p.n_fft, hop_length=p.hop_length, sample_rate=32, n_mels=p.n_mels,
                                     return_decibel=True, input_data_format="channels_last",
                                     output_data_format="channels_last")
    got = wrong(y[None, :, None]).numpy()[0, :, :, 0]
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=p.n_fft, hop_length=p.hop_length, n_mels=p.n_mels,
                                         power=1.0, center=False)
    want = librosa.power_to_db(mel, ref=1.0, amin=1e-5, top_db=80.0).T
    assert np.abs(got - want).max() > 10
