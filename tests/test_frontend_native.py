"""The Keras-native mel front end equals Kapre's and librosa's, on TensorFlow and on JAX."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO

#: (n_fft, hop_length, n_mels, pad_begin, pad_end): the seeds' front ends and today's.
CONFIGS = [(512, 256, 64, False, True), (512, 256, 128, False, True), (2048, 512, 64, False, False),
           (512, 256, 64, True, True)]


def _signal(n=48000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n)
    return np.stack([x, 0.5 * x[::-1]])[..., None].astype(np.float32)


def test_filterbank_equals_librosa():
    import librosa

    from jazzcnn.train.layers import mel_filterbank

    for n_fft, n_mels in ((512, 64), (512, 128), (2048, 64)):
        np.testing.assert_allclose(mel_filterbank(16000, n_fft, n_mels),
                                   librosa.filters.mel(sr=16000, n_fft=n_fft, n_mels=n_mels, htk=False, norm="slaney").T,
                                   atol=1e-7)


@pytest.mark.parametrize("n_fft,hop,n_mels,pad_begin,pad_end", CONFIGS)
def test_native_layer_equals_kapre_and_librosa(n_fft, hop, n_mels, pad_begin, pad_end):
    import keras
    import librosa
    from kapre.composed import get_melspectrogram_layer

    from jazzcnn.train.layers import MelSpectrogram

    x = _signal()
    kapre = get_melspectrogram_layer(sample_rate=16000, n_fft=n_fft, hop_length=hop, n_mels=n_mels, pad_begin=pad_begin,
                                     pad_end=pad_end, return_decibel=True, input_data_format="channels_last",
                                     output_data_format="channels_last")
    ref = keras.ops.convert_to_numpy(kapre(x))
    layer = MelSpectrogram(16000, n_fft, hop, n_mels, pad_begin=pad_begin, pad_end=pad_end)
    got = keras.ops.convert_to_numpy(layer(x))
    assert got.shape == ref.shape == (2, layer.frames(48000), n_mels, 1)
    assert np.abs(got - ref).max() < 1e-3  # dB
    # librosa on the same framing: frames of n_fft every hop, no centring, zero-padded as Kapre pads
    y = x[0, :, 0].astype(np.float64)
    if pad_begin:
        y = np.concatenate([np.zeros(n_fft - hop), y])
    total = (layer.frames(48000) - 1) * hop + n_fft
    y = np.concatenate([y, np.zeros(max(0, total - len(y)))])
    mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=n_fft, hop_length=hop, n_mels=n_mels, power=1.0,
                                         center=False, htk=False, norm="slaney", window="hann")
    db = 10 * np.log10(np.maximum(mel, 1e-5))
    db = np.maximum(db, db.max() - 80.0).T
    assert np.abs(got[0, :, :, 0] - db).max() < 1e-3


def test_model_with_the_native_layer_saves_and_reloads_without_custom_objects(tmp_path):
    import keras

    from jazzcnn.train.layers import MelSpectrogram

    inp = keras.Input((48000, 1))
    x = MelSpectrogram(16000, 512, 256, 64, pad_end=True, name="mel")(inp)
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(model.predict(_signal(), verbose=0), again.predict(_signal(), verbose=0))


JAX_SCRIPT = """
import json, sys
import numpy as np
import keras
from jazzcnn.train.layers import BandLimit, MelSpectrogram
x = np.load(sys.argv[1])
cfgs = json.loads(sys.argv[2])
out = {"backend": keras.backend.backend()}
for i, (n_fft, hop, n_mels, pb, pe) in enumerate(cfgs):
    out[str(i)] = keras.ops.convert_to_numpy(MelSpectrogram(16000, n_fft, hop, n_mels, pad_begin=pb, pad_end=pe)(x)).tolist()
out["bandlimit"] = keras.ops.convert_to_numpy(BandLimit(3500, 16000)(x)).tolist()
out["imported"] = sorted(m for m in ("tensorflow", "kapre", "librosa", "soundfile", "onnxruntime") if m in sys.modules)
print(json.dumps(out))
"""


def test_the_same_on_jax_without_tensorflow_kapre_or_librosa(tmp_path):
    pytest.importorskip("jax")
    import keras

    from jazzcnn.train.layers import BandLimit, MelSpectrogram

    x = _signal()
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path / "x.npy"), json.dumps(CONFIGS)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["backend"] == "jax" and got["imported"] == []
    for i, (n_fft, hop, n_mels, pb, pe) in enumerate(CONFIGS):
        tf_out = keras.ops.convert_to_numpy(MelSpectrogram(16000, n_fft, hop, n_mels, pad_begin=pb, pad_end=pe)(x))
        assert np.abs(np.array(got[str(i)]) - tf_out).max() < 1e-3
    np.testing.assert_allclose(np.array(got["bandlimit"]), keras.ops.convert_to_numpy(BandLimit(3500, 16000)(x)),
                               atol=1e-5)


def _librosa_db(y: np.ndarray, fe) -> np.ndarray:
    """float64 reference of a preset's front end: (bands, frames), framed exactly as the preset frames."""
    import librosa
    import scipy.fft

    from jazzcnn.train.frontends import same_padding

    y = y.astype(np.float64)
    n = len(y)
    if fe.padding == "same":
        a, b = same_padding(n, fe.n_fft, fe.hop_length)
        y = np.concatenate([np.zeros(a), y, np.zeros(b)])
    elif fe.padding == "end":
        total = (fe.n_frames(n) - 1) * fe.hop_length + fe.n_fft
        y = np.concatenate([y, np.zeros(max(0, total - n))])
    mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=fe.n_fft, hop_length=fe.hop_length, n_mels=fe.n_mels,
                                         power=1.0, center=False, htk=False, norm="slaney", window="hann")
    db = 10 * np.log10(np.maximum(mel, fe.db_amin))
    db = np.maximum(db, db.max() - fe.db_range)
    if fe.n_mfcc:  # TensorFlow's (and so Kapre's) MFCC: unnormalised DCT-II over the bands, / sqrt(2 N)
        db = scipy.fft.dct(db, type=2, axis=0)[:fe.n_mfcc] / np.sqrt(2 * fe.n_mels)
    return db


@pytest.mark.parametrize("preset", ["seed3s", "seed15s", "gtzan-first", "mfcc-cnn", "jazzcnn-lite", "jazzcnn"])
def test_every_presets_native_front_end_equals_kapre_and_librosa(preset):
    """What JAX and PyTorch train on is what TensorFlow trains on (the presets not listed share these front ends)."""
    import keras

    from jazzcnn.train.presets import PRESETS

    p = PRESETS[preset]
    n = int(round(p.clip_seconds * 16000))
    x = _signal(n, seed=1)[:1]
    out = {}
    for native in (False, True):
        inp = keras.Input((n, 1))
        model = keras.Model(inp, p.front_end.build(inp, clip_samples=n, sample_rate=16000, native=native))
        out[native] = keras.ops.convert_to_numpy(model(x))[0, :, :, 0]
    ref = _librosa_db(x[0, :, 0], p.front_end)
    assert out[True].shape == out[False].shape == ref.shape == p.front_end.image_shape(n)[:2]
    assert np.abs(out[True] - ref).max() < 1e-3  # dB (or MFCC units)
    # Kapre's own float32 STFT strays from float64 by up to ~1.3e-3 dB in rare cells of a long clip.
    diff = np.abs(out[True] - out[False])
    assert np.quantile(diff, 0.9999) < 1e-3 and diff.max() < 3e-3


def test_presets_build_the_native_front_end_on_jax(tmp_path):
    """On JAX every preset builds without Kapre or TensorFlow, its image shape the same as on TensorFlow."""
    script = ("import json, sys, keras\n"
              "from jazzcnn.train.models import PRESETS, build_model\n"
              "out = {}\n"
              "for name, p in PRESETS.items():\n"
              "    n = int(round(p.clip_seconds * 16000))\n"
              "    m = build_model(name, 3, n, sample_rate=16000)\n"
              "    out[name] = [type(m.get_layer('melspectrogram')).__module__, m.count_params()]\n"
              "out['imported'] = sorted(x for x in ('tensorflow', 'kapre', 'librosa') if x in sys.modules)\n"
              "print(json.dumps(out))\n")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got.pop("imported") == []
    from jazzcnn.train.models import PRESETS, build_model

    for name, (module, params) in got.items():
        assert module == "jazzcnn.train.layers"
        p = PRESETS[name]
        assert params == build_model(name, 3, int(round(p.clip_seconds * 16000)), sample_rate=16000).count_params()
