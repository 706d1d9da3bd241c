"""Speech detection with silero-vad's ONNX model run directly on onnxruntime (no torch).

The model (shipped inside the ``silero_vad`` wheel, installed with ``--no-deps``) takes, per call,
one 32 ms frame of 512 samples at 16 kHz preceded by the 64 samples before it (its "context"),
plus a recurrent state of shape ``(2, batch, 128)``; it returns one speech probability per batch
row and the new state. The batch axis lets independent streams run in one call, which is where
the speed comes from: a tape is cut into ``streams`` contiguous pieces that are run side by side,
each with its own state. Every piece except the first starts ``warmup`` frames early, so its state
has settled by the time its own frames begin, and those warm-up outputs are dropped.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

#: silero-vad's frame at 16 kHz [samples] and the context it expects before each frame [samples].
FRAME = 512
CONTEXT = 64
VAD_RATE = 16000
#: A frame scored below this is a clear pause (silero-vad's probabilities in speech pauses and in
#: noise fall well below it; sung notes over a band rarely do).
PAUSE_PROB = 0.2


def model_path() -> Path:
    """Path of ``silero_vad.onnx`` inside the installed ``silero_vad`` wheel (not imported: it needs torch).

    Raises
    ------
    FileNotFoundError
        If the wheel is not installed (``pip install --no-deps silero-vad``).
    """
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("silero-vad is not installed; run `pip install --no-deps silero-vad==6.2.3`")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad.onnx"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found in the silero-vad wheel")
    return path


@lru_cache(maxsize=1)
def _session():
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # One thread per worker process: parallelism comes from the worker pool, and extra ORT threads
    # would only fight over the same cores.
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(model_path()), sess_options=opts, providers=["CPUExecutionProvider"])


def frame_analysis(
    audio: np.ndarray, *, vad: bool = True, streams: int = 32, warmup_frames: int = 64, min_stream_frames: int = 600
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame speech probability and RMS level of a 16 kHz signal.

    Parameters
    ----------
    audio : np.ndarray
        int16 (scaled by 1/32768) or float32 in [-1, 1], shape ``(n,)``, 16 kHz mono.
    vad : bool
        Run the speech model; when False the probabilities are all 0 (levels are still computed).
    streams : int
        Most pieces the signal is cut into and run as one batch.
    warmup_frames : int
        Frames each piece after the first is started early to settle the model state [frames].
    min_stream_frames : int
        Pieces are at least this long [frames], so short files are not cut into tiny streams.

    Returns
    -------
    prob : np.ndarray
        float32, shape ``(ceil(n / 512),)``: speech probability of frame ``k`` = samples
        ``[512 k, 512 (k + 1))``.
    level_db : np.ndarray
        float32, same shape: RMS level of each frame [dBFS], floor -120.
    """
    scale = np.float32(1 / 32768) if audio.dtype == np.int16 else np.float32(1)
    n = len(audio)
    n_frames = -(-n // FRAME)
    prob = np.zeros(n_frames, np.float32)
    power = np.zeros(n_frames, np.float32)
    if n_frames == 0:
        return prob, power
    if not vad:
        # Level only: square in chunks so no float copy of the whole tape is made.
        step = 4096 * FRAME
        for s in range(0, n, step):
            x = audio[s:s + step].astype(np.float32) * scale
            pad = (-len(x)) % FRAME
            if pad:
                x = np.concatenate([x, np.zeros(pad, np.float32)])
            power[s // FRAME:s // FRAME + len(x) // FRAME] = np.mean(np.square(x.reshape(-1, FRAME)), axis=1)
    else:
        sess = _session()
        n_streams = int(max(1, min(streams, n_frames // max(1, min_stream_frames))))
        per = -(-n_frames // n_streams)
        warm = np.where(np.arange(n_streams) == 0, 0, warmup_frames)
        first = np.arange(n_streams) * per - warm          # first frame each stream runs
        steps = per + int(warm.max())
        state = np.zeros((2, n_streams, 128), np.float32)
        sr = np.array(VAD_RATE, dtype=np.int64)
        offs = np.arange(-CONTEXT, FRAME)
        rows = np.arange(n_streams)
        for t in range(steps):
            frame = first + t
            idx = frame[:, None] * FRAME + offs[None, :]
            valid = (idx >= 0) & (idx < n)
            x = np.where(valid, audio[np.clip(idx, 0, n - 1)], 0).astype(np.float32) * scale
            out, state = sess.run(None, {"input": x, "state": state, "sr": sr})
            # Keep outputs of frames the stream owns: past its warm-up and inside the signal.
            own = (t >= warm) & (frame < n_frames) & (frame < (rows + 1) * per)
            if own.any():
                f = frame[own]
                prob[f] = out[own, 0]
                power[f] = np.mean(np.square(x[own, CONTEXT:]), axis=1)
    # The last frame is zero-padded: rescale its mean square to the samples really there.
    tail = n - (n_frames - 1) * FRAME
    power[-1] *= FRAME / tail
    level_db = (10 * np.log10(np.maximum(power, 1e-12))).astype(np.float32)
    return prob, level_db


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``(start, end)`` index ranges where boolean ``mask`` is True, in order."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def speech_mask(
    prob: np.ndarray, *, threshold: float, neg_threshold: float, min_speech_frames: int,
    min_music_frames: int, pad_frames: int, level_db: np.ndarray | None = None, min_dip_db: float = 0.0,
    min_pause_frac: float = 0.0, floor_margin_db: float = 15.0,
) -> np.ndarray:
    """Smooth per-frame probabilities into a boolean "cut as speech" mask.

    Hysteresis as in silero's own ``get_speech_timestamps``: a speech run starts at a frame with
    ``prob >= threshold`` and continues while ``prob >= neg_threshold``. Runs shorter than
    ``min_speech_frames`` are dropped (isolated false alarms in music); gaps shorter than
    ``min_music_frames`` between runs are cut with them (pauses between Niven's sentences, and
    music too short to keep).

    Then each merged span must show the pauses of a speaker, because silero-vad also scores
    singing as speech and vocal records must stay. A speaker alone stops between phrases: the
    level falls towards the tape's noise floor and the model scores those frames clearly
    non-speech (below :data:`PAUSE_PROB`); a singer's pauses are filled by the band. A span is
    kept as speech if its quiet frames (10th percentile of ``level_db``) lie at least
    ``min_dip_db`` below its median level, or -- for tapes whose hiss fills those dips -- if at
    least ``min_pause_frac`` of its frames are such pauses and its quiet frames come within
    ``floor_margin_db`` of the file's noise floor (5th percentile of the frame levels above
    -90 dBFS, i.e. ignoring digital silence). With ``min_dip_db`` and ``min_pause_frac`` both 0
    the check is off. On the test tapes (read speech between real recordings, clean and with
    -48 to -30 dBFS hiss) speech spans had 15-38 dB dips without hiss and 5-19 dB with loud hiss,
    9-14 % pause frames and quiet frames at most 12 dB above the floor; sung spans had at most
    8 dB dips and their quiet frames lay 17 dB or more above the floor.

    Finally each run is widened by ``pad_frames`` on both sides.

    Returns
    -------
    np.ndarray
        bool, same shape as ``prob``.
    """
    n = len(prob)
    high = prob >= threshold
    low = prob >= neg_threshold
    mask = np.zeros(n, bool)
    for s, e in runs(low):
        # A "low" run is speech only if it reaches the high threshold somewhere; it then spans from
        # its first high frame to its end (the onset needs confidence, the offset only persistence).
        hi = np.flatnonzero(high[s:e])
        if hi.size:
            mask[s + hi[0]:e] = True
    for s, e in runs(mask):
        if e - s < min_speech_frames:
            mask[s:e] = False
    spans = runs(mask)
    for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
        if s1 - e0 < min_music_frames:
            mask[e0:s1] = True
    if level_db is not None and (min_pause_frac > 0 or min_dip_db > 0):
        audible = level_db[level_db > -90.0]
        floor = np.percentile(audible, 5) if audible.size else -90.0
        for s, e in runs(mask):
            p10, p50 = np.percentile(level_db[s:e], [10, 50])
            dipped = min_dip_db > 0 and p50 - p10 >= min_dip_db
            paused = (min_pause_frac > 0 and np.mean(prob[s:e] < PAUSE_PROB) >= min_pause_frac
                      and p10 - floor <= floor_margin_db)
            if not (paused or dipped):
                mask[s:e] = False
    if pad_frames:
        out = mask.copy()
        for s, e in runs(mask):
            out[max(0, s - pad_frames):min(n, e + pad_frames)] = True
        mask = out
    return mask
