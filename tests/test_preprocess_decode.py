"""Decoding and resampling: every format and channel layout, against reference signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from jazzcnn.preprocess.audio import AudioError, decode_int16, decode_resample, iter_decode
from jazzcnn.preprocess.config import PreprocessConfig
from jazzcnn.preprocess.pipeline import clean_audio

# (libsndfile format, subtype, extension)
FORMATS = [
    ("WAV", "PCM_16", "wav"),
    ("WAV", "FLOAT", "wav"),
    ("FLAC", "PCM_24", "flac"),
    ("OGG", "VORBIS", "ogg"),
    ("MP3", "MPEG_LAYER_III", "mp3"),
]


def tone(freq: float, rate: int, seconds: float, channels: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


def write(path: Path, x: np.ndarray, rate: int, fmt: str, subtype: str) -> Path:
    kwargs = {}
    if fmt == "MP3":
        kwargs["bitrate_mode"] = "VARIABLE"  # the collection's "VBR MP3" derivatives
    sf.write(path, x, rate, format=fmt, subtype=subtype, **kwargs)
    return path


def peak_freq(y: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    k = int(np.argmax(spec))
    # Parabolic interpolation of the peak bin: sub-bin frequency accuracy.
    a, b, c = np.log(spec[k - 1:k + 2] + 1e-20)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / len(y)


def rms_db(y: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(y.astype(np.float64)))))


@pytest.mark.parametrize("fmt,subtype,ext", FORMATS)
@pytest.mark.parametrize("rate,channels", [(44100, 2), (48000, 1), (22050, 2), (16000, 1), (8000, 1)])
def test_every_format_rate_and_layout_decodes_to_16k_mono(tmp_path, fmt, subtype, ext, rate, channels):
    seconds = 3.0
    path = write(tmp_path / f"x.{ext}", tone(1000, rate, seconds, channels), rate, fmt, subtype)
    y = decode_resample(path, sample_rate=16000, block_s=0.7)  # many blocks, odd size
    assert y.dtype == np.float32 and y.ndim == 1
    # Lossy codecs add encoder delay/padding (MP3 ~1 frame); PCM must match exactly.
    tol = 0.1 * 16000 if fmt in ("MP3", "OGG") else 2
    assert abs(len(y) - seconds * 16000) <= tol
    mid = y[len(y) // 4: 3 * len(y) // 4]
    assert abs(peak_freq(mid, 16000) - 1000) < 1.0
    assert abs(rms_db(mid) - rms_db(np.float32(0.5) * np.sin(np.linspace(0, 2000 * np.pi, 16000)))) < 0.5


@pytest.mark.parametrize("rate", [44100, 48000, 22050, 8000])
def test_resampled_tone_keeps_frequency_and_level(tmp_path, rate):
    """Reference: a 1 kHz tone stays at 1 kHz and its level changes by less than 0.1 dB."""
    x = tone(1000, rate, 4.0, 2, amp=0.5)
    path = write(tmp_path / "t.wav", x, rate, "WAV", "FLOAT")
    y = decode_resample(path, sample_rate=16000, block_s=1.3)
    assert len(y) == round(4.0 * 16000)
    mid = y[16000:-16000]
    assert abs(peak_freq(mid, 16000) - 1000.0) < 0.05
    assert abs(rms_db(mid) - rms_db(x[rate:-rate, 0])) < 0.1


def test_blockwise_resampling_equals_one_shot(tmp_path):
    """The streaming resampler gives the same signal whatever the block length."""
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal((44100 * 5, 2))).astype(np.float32)
    path = write(tmp_path / "n.wav", x, 44100, "WAV", "FLOAT")
    a = decode_resample(path, block_s=0.37)
    b = decode_resample(path, block_s=60)
    np.testing.assert_allclose(a, b, atol=1e-5)
    import soxr

    ref = soxr.resample(x.mean(axis=1), 44100, 16000, quality="HQ")
    assert len(ref) == len(a)
    np.testing.assert_allclose(a, ref, atol=1e-4)


def test_stereo_is_averaged_to_mono(tmp_path):
    rate = 16000
    left = tone(500, rate, 2.0, 1, amp=0.4)
    x = np.stack([left, np.zeros_like(left)], axis=1)
    y = decode_resample(write(tmp_path / "s.wav", x, rate, "WAV", "FLOAT"))
    np.testing.assert_allclose(y, left / 2, atol=1e-6)


def test_int16_conversion_clips_and_rounds(tmp_path):
    x = np.array([0.0, 0.5, -1.0, 1.0, 1.2, -1.2] * 1000, np.float32)
    y = decode_int16(write(tmp_path / "c.wav", x, 16000, "WAV", "FLOAT"))
    assert y.dtype == np.int16
    assert list(y[:6]) == [0, 16384, -32767, 32767, 32767, -32768]


@pytest.mark.parametrize("fmt,subtype,ext", [("WAV", "PCM_16", "wav"), ("OGG", "VORBIS", "ogg"), ("MP3", "MPEG_LAYER_III", "mp3")])
def test_truncated_files_are_detected(tmp_path, fmt, subtype, ext):
    rng = np.random.default_rng(2)
    x = (0.2 * rng.standard_normal((44100 * 6, 2))).astype(np.float32)
    full = write(tmp_path / f"full.{ext}", x, 44100, fmt, subtype)
    data = full.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: len(data) // 2])
    decode_resample(full)  # the whole file is fine
    with pytest.raises(AudioError) as e:
        decode_resample(cut)
    assert e.value.kind == "truncated"


def test_bad_inputs_raise_with_kind(tmp_path):
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF" + bytes(range(256)) * 50)
    flac = write(tmp_path / "x.flac", tone(440, 44100, 3, 2), 44100, "FLAC", "PCM_16")
    data = bytearray(flac.read_bytes())
    data[len(data) // 3:] = np.random.default_rng(3).integers(0, 256, len(data) - len(data) // 3, dtype=np.uint8).tobytes()
    broken = tmp_path / "broken.flac"
    broken.write_bytes(bytes(data))
    zero_frames = write(tmp_path / "zero.wav", np.zeros((0, 2), np.float32), 44100, "WAV", "PCM_16")
    silent = write(tmp_path / "silent.wav", np.zeros((44100 * 5, 2), np.float32), 44100, "WAV", "PCM_16")
    cases = {
        tmp_path / "missing.mp3": "unreadable",
        tmp_path: "unreadable",
        empty: "empty",
        zero_frames: "empty",
        junk: "corrupt",
        broken: "corrupt",
        silent: "silent",
    }
    for path, kind in cases.items():
        with pytest.raises(AudioError) as e:
            clean_audio(path)
        assert e.value.kind == kind, (path, e.value)
        assert str(path) in str(e.value)


def test_iter_decode_memory_is_blockwise(tmp_path):
    """Each yielded block is about block_s long: decoding never holds the whole file."""
    x = tone(300, 44100, 20.0, 2)
    path = write(tmp_path / "long.wav", x, 44100, "WAV", "PCM_16")
    sizes = [len(b) for b in iter_decode(path, 16000, block_s=2.0)]
    assert max(sizes) <= 2.1 * 16000  # soxr holds back a few hundred samples of filter delay
    assert abs(sum(sizes) - 20 * 16000) <= 1
