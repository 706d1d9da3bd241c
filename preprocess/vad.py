"""Speech detection with silero-vad's ONNX model run directly on onnxruntime (no torch).

The model (shipped inside the ``silero_vad`` wheel, installed with ``--no-deps``) takes, per call,
one 32 ms frame of 512 samples at 16 kHz preceded by the 64 samples before it (its "context"),
plus a recurrent state of shape ``(2, batch, 128)``; it returns one speech probability per batch
row and the new state. The batch axis lets independent streams run in one call, which is where
the speed comes from: a tape is cut into ``streams`` contiguous pieces that are run side by side,
each with its own state. Every piece except the first starts ``warmup`` frames early, so its state
has settled by the time its own frames begin, and those warm-up outputs are dropped.

:func:`speech_labels` turns the per-frame probabilities and levels into Niven's introductions
(speech, or speech over music at an edge bordering a tune) and :func:`rescore_onsets` gives the
frames before each onset a second opinion from a fresh detector state.
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


def rescore_onsets(audio: np.ndarray, prob: np.ndarray, onsets: list[int], *, lookback_frames: int,
                   neg_threshold: float, settle_frames: int = 16, rounds: int = 2) -> np.ndarray:
    """Second opinion on the frames before each speech onset, from a detector with a fresh state.

    silero-vad is recurrent: after a minute of music its state needs up to 1-1.5 s of a voice
    before it scores the frames as speech, so an introduction that starts as a record ends (or
    while its last chord rings) is found late. Run from a zeroed state a little before the onset,
    the same model finds it within about 0.1-0.5 s (measured on the test tapes of
    :mod:`jazzcnn.testing.niven_tapes`). For each onset the model is run again on
    ``[onset - lookback_frames, onset + settle_frames)`` and each frame keeps the larger of the
    two probabilities; if speech then reaches back to the start of that window, the window is
    moved back once more (at most ``rounds`` windows).

    Parameters
    ----------
    audio : np.ndarray
        The 16 kHz signal that ``prob`` was computed from, shape ``(n,)`` (int16 or float32).
    prob : np.ndarray
        float32, shape ``(ceil(n / 512),)``: per-frame speech probability (:func:`frame_analysis`).
    onsets : list of int
        First frame of each speech span [frames].
    lookback_frames : int
        How far before an onset the fresh detector starts [frames].
    neg_threshold : float
        Probability at or above which a frame continues speech (to see where speech now starts).
    settle_frames : int
        Frames after the onset included in the window [frames].
    rounds : int
        Most windows per onset.

    Returns
    -------
    np.ndarray
        A copy of ``prob`` with the rescored frames.
    """
    prob = prob.copy()
    for k in onsets:
        for _ in range(rounds):
            a = max(0, k - lookback_frames)
            if a >= k:
                break
            fresh, _ = frame_analysis(audio[a * FRAME:(k + settle_frames) * FRAME], streams=1)
            m = min(len(fresh), len(prob) - a)
            prob[a:a + m] = np.maximum(prob[a:a + m], fresh[:m])
            j = min(k, len(prob))
            while j > a and prob[j - 1] >= neg_threshold:
                j -= 1
            if j > a:
                break
            k = a
    return prob


def moving_min(x: np.ndarray, width: int) -> np.ndarray:
    """Minimum of ``x`` over a centred window of ``width`` samples (edges repeated), same shape as ``x``."""
    width = max(1, int(width))
    padded = np.pad(x, (width // 2, width - 1 - width // 2), mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, width).min(axis=1)


#: Frame labels of :func:`speech_labels`.
KEEP, SPEECH, SPEECH_OVER_MUSIC = 0, 1, 2


def noise_floor(level_db: np.ndarray) -> float:
    """A file's noise floor [dBFS]: 5th percentile of the frame levels above -90 dBFS (digital silence ignored)."""
    audible = level_db[level_db > -90.0]
    return float(np.percentile(audible, 5)) if audible.size else -90.0


def speech_labels(
    prob: np.ndarray, level_db: np.ndarray, *, threshold: float, neg_threshold: float, min_speech_frames: int,
    speaker_prob: float, min_music_frames: int, max_pause_frames: int, pause_depth_db: float, pad_frames: int,
    min_dip_db: float, min_pause_frac: float, floor_margin_db: float, syllable_db: float, music_margin_db: float,
    bed_frames: int,
) -> np.ndarray:
    """Label every frame keep (:data:`KEEP`), speech (:data:`SPEECH`) or speech over music (:data:`SPEECH_OVER_MUSIC`).

    1. **Runs.** Hysteresis as in silero's own ``get_speech_timestamps``, both ways: a run is a
       stretch of frames with ``prob >= neg_threshold`` that reaches ``threshold`` somewhere, so
       it starts where the probability first rose above the lower threshold and ends where it
       fell below it. Runs shorter than ``min_speech_frames`` are dropped as false alarms unless
       their mean probability reaches ``speaker_prob`` (a first word before a breath).
    2. **Joins.** Neighbouring runs at most ``max_pause_frames`` apart are joined into one cut
       when the gap holds no music: its clear frames (``prob <`` :data:`PAUSE_PROB`) have a 90th
       percentile level at least ``pause_depth_db`` below the median level of the quieter of the
       two runs (a speaker's pause: tape hiss or room noise between sentences), or it has no
       clear frame at all (speech-like). Gaps shorter than ``min_music_frames`` are joined
       whatever they hold (music too short to keep).
    3. **Speaker, not singer.** silero-vad also scores singing as speech. A joined chain is kept
       only if it holds a confident run (at least ``min_speech_frames`` long, mean probability at
       least ``speaker_prob``: on the test tapes spoken runs had a mean of 0.97 on average, sung
       runs at most 0.90). Runs at either end of the chain that are not confident, have the band
       under them (10th-percentile level more than ``floor_margin_db`` above the file's noise
       floor) and change level smoothly (standard deviation of the frame-to-frame level change
       below ``syllable_db``; syllabic modulation is a classic speech/music cue, Scheirer and
       Slaney, ICASSP 1997) are sung phrases of the neighbouring tune and are left out. A chain that
       was joined across a speaker's pause is speech; otherwise it must show a speaker's pauses
       itself: its quiet frames (10th percentile of the level) lie ``min_dip_db`` below its
       median level, or at least ``min_pause_frac`` of its frames are clear pauses and its quiet
       frames come within ``floor_margin_db`` of the floor (a singer's pauses are filled by the
       band). With ``min_dip_db`` and ``min_pause_frac`` both 0 that last check is off.
    4. **Speech over music.** At an end of a span that borders music, the frames where the
       background level (the minimum level over ``bed_frames``) stays ``music_margin_db`` or
       more above the background of the span's confident speech frames, without a break up to
       that end, are labelled speech over music (the last chord under the first words, the
       first bars under the last ones). ``music_margin_db`` 0 turns this off.
    5. **Padding.** Every span is widened by ``pad_frames`` on both sides (with the label of the
       frame it borders).

    Parameters
    ----------
    prob, level_db : np.ndarray
        float32, shape ``(n_frames,)``: per-frame speech probability and RMS level [dBFS] from
        :func:`frame_analysis` (32 ms frames).
    threshold, neg_threshold, speaker_prob : float
        Probabilities in [0, 1].
    min_speech_frames, min_music_frames, max_pause_frames, pad_frames, bed_frames : int
        Lengths [frames].
    pause_depth_db, min_dip_db, floor_margin_db, syllable_db, music_margin_db : float
        Level differences [dB].
    min_pause_frac : float
        Fraction of frames in [0, 1].

    Returns
    -------
    np.ndarray
        int8, shape ``(n_frames,)``: 0, 1 or 2.
    """
    n = len(prob)
    high = prob >= threshold
    rs = [(s, e) for s, e in runs(prob >= neg_threshold)
          if high[s:e].any() and (e - s >= min_speech_frames or prob[s:e].mean() >= speaker_prob)]
    floor = noise_floor(level_db)
    chains: list[list[int]] = []
    pause = np.zeros(len(rs), bool)  # pause[i]: the gap before run i is a speaker's pause
    for i, (s1, e1) in enumerate(rs):
        if i:
            s0, e0 = rs[i - 1]
            gap = s1 - e0
            join = False
            if gap <= max_pause_frames:
                clear = level_db[e0:s1][prob[e0:s1] < PAUSE_PROB]
                ref = min(np.median(level_db[s0:e0]), np.median(level_db[s1:e1]))
                if clear.size and np.percentile(clear, 90) <= ref - pause_depth_db:
                    join = pause[i] = True
                elif not clear.size or gap < min_music_frames:
                    join = True
            if join:
                chains[-1].append(i)
                continue
        chains.append([i])
    confident = [prob[s:e].mean() >= speaker_prob for s, e in rs]
    anchor = [c and e - s >= min_speech_frames for c, (s, e) in zip(confident, rs)]
    sung = [not a and np.percentile(level_db[s:e], 10) - floor > floor_margin_db
            and (e - s < 3 or np.std(np.diff(level_db[s:e])) < syllable_db) for a, (s, e) in zip(anchor, rs)]
    mask = np.zeros(n, bool)
    for chain in chains:
        if not any(anchor[i] for i in chain):
            continue
        while sung[chain[0]]:
            chain = chain[1:]
        while sung[chain[-1]]:
            chain = chain[:-1]
        first, last = chain[0], chain[-1]
        s, e = rs[first][0], rs[last][1]
        if not pause[first + 1:last + 1].any() and (min_pause_frac > 0 or min_dip_db > 0):
            p10, p50 = np.percentile(level_db[s:e], [10, 50])
            dipped = min_dip_db > 0 and p50 - p10 >= min_dip_db
            paused = (min_pause_frac > 0 and np.mean(prob[s:e] < PAUSE_PROB) >= min_pause_frac
                      and p10 - floor <= floor_margin_db)
            if not (paused or dipped):
                continue
        mask[s:e] = True
    labels = mask.astype(np.int8)
    if music_margin_db > 0 and mask.any():
        bed = moving_min(level_db, bed_frames)
        for s, e in runs(mask):
            talk = high[s:e]
            ref = np.median(bed[s:e][talk]) if talk.any() else np.median(bed[s:e])
            over = bed >= ref + music_margin_db
            if s > 0 and over[max(0, s - bed_frames):s].mean() > 0.5:
                k = s
                while k < e and over[k]:
                    k += 1
                labels[s:k] = SPEECH_OVER_MUSIC
            if e < n and over[e:e + bed_frames].mean() > 0.5:
                k = e
                while k > s and over[k - 1]:
                    k -= 1
                labels[k:e] = SPEECH_OVER_MUSIC
    out = labels.copy()
    for s, e in runs(mask):
        for a, b, lab in ((max(0, s - pad_frames), s, labels[s]), (e, min(n, e + pad_frames), labels[e - 1])):
            out[a:b] = np.where(labels[a:b] == KEEP, np.maximum(out[a:b], lab), labels[a:b])
    return out
