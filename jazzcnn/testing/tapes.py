"""Test tapes built from real recordings: Niven-style commentary between pieces of music.

Used by the tests and the benchmark (never by the stage). The recordings themselves stay in
``../shared/audio`` (see its README); only generated tapes are written, to temporary folders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

TAPE_RATE = 44100


def _load(path: Path, rate: int) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    if x.shape[1] == 1:
        x = np.repeat(x, 2, axis=1)
    x = x[:, :2]
    # Leading and trailing digital silence is not music: trim it, so the answer key marks only
    # audible music (a pause on the tape is cut as silence, correctly).
    loud = np.flatnonzero(np.abs(x).max(axis=1) > 10 ** (-50 / 20))
    if loud.size:
        x = x[loud[0]:loud[-1] + 1]
    if sr != rate:
        x = soxr.resample(x, sr, rate, quality="HQ")
    return np.ascontiguousarray(x, dtype=np.float32)


def build_tape(shared_audio: Path, *, cassette: bool = False, rate: int = TAPE_RATE, seed: int = 0,
               music_limit_s: float | None = None, hiss_db: float = -48.0) -> tuple[np.ndarray, list[tuple[float, float]], list[tuple[float, float]]]:
    """A stereo tape: speech, short pause, music, speech, music, ... and the answer key.

    Parameters
    ----------
    shared_audio : Path
        Folder with ``speech/*.ogg`` and ``music/*.ogg``.
    cassette : bool
        Band-limit to 4.5 kHz and add tape hiss (a cassette transfer of a 78 rpm record).
    rate : int
        Tape sample rate [Hz].
    seed : int
        Seed of the pause lengths and the hiss.
    music_limit_s : float, optional
        Use at most this much of each music recording [s] (shorter tapes for quick tests).
    hiss_db : float
        RMS level of the white noise added as hiss with ``cassette`` [dBFS], before its 1 kHz
        high-pass (tape hiss is mostly treble).

    Returns
    -------
    tape : np.ndarray
        float32, shape ``(n, 2)`` at ``rate``.
    speech : list of (float, float)
        True speech spans [s].
    music : list of (float, float)
        True music spans [s].
    """
    rng = np.random.default_rng(seed)
    speech = [_load(p, rate) for p in sorted((shared_audio / "speech").glob("*.ogg"))]
    music = [_load(p, rate) for p in sorted((shared_audio / "music").glob("*.ogg"))]
    parts, speech_spans, music_spans, t = [], [], [], 0
    for i, m in enumerate(music):
        if music_limit_s:
            m = m[: int(music_limit_s * rate)]
        # Niven's speech is recorded at a different level from the records; vary it.
        s = speech[i % len(speech)] * np.float32(10 ** (rng.uniform(-6, 0) / 20))
        for seg, spans in ((s, speech_spans), (None, None), (m, music_spans), (None, None)):
            if seg is None:
                seg = np.zeros((int(rng.uniform(0.3, 1.5) * rate), 2), np.float32)
            else:
                spans.append((t / rate, (t + len(seg)) / rate))
            parts.append(seg)
            t += len(seg)
    tape = np.concatenate(parts)
    if cassette:
        from scipy.signal import butter, sosfilt

        sos = butter(8, 4500, btype="lowpass", fs=rate, output="sos")
        tape = sosfilt(sos, tape, axis=0).astype(np.float32)
        hiss = rng.normal(0, 10 ** (hiss_db / 20), tape.shape).astype(np.float32)
        hiss = sosfilt(butter(2, 1000, btype="highpass", fs=rate, output="sos"), hiss, axis=0)
        tape = tape + hiss.astype(np.float32)
    peak = np.abs(tape).max()
    if peak > 0.99:
        tape *= np.float32(0.99 / peak)
    return tape.astype(np.float32), speech_spans, music_spans


def span_overlap(spans: list[tuple[float, float]], other: list[tuple[float, float]]) -> float:
    """Total time [s] where intervals of ``spans`` overlap intervals of ``other``."""
    total = 0.0
    for a, b in spans:
        for c, d in other:
            total += max(0.0, min(b, d) - max(a, c))
    return total
