"""The per-file work of the preprocess stage: decode, then cut commentary, silence and trims.

:func:`clean_audio` decodes any audio file to 16 kHz mono int16 (:mod:`jazzcnn.preprocess.audio`)
and :func:`remove_commentary` finds Niven's spoken introductions anywhere in it with silero-vad
(:mod:`jazzcnn.preprocess.vad`), cuts them, long silences and the fixed head/tail trims, and drops
music pieces too short to clip. Both take their settings as keyword-only options
(:class:`CleaningOptions`), so the stage and ``jazzcnn predict`` share them without the stage's
config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jazzcnn.preprocess.audio import AudioError, decode_int16
from jazzcnn.preprocess.vad import FRAME, SPEECH, SPEECH_OVER_MUSIC, frame_analysis, rescore_onsets, runs, speech_labels

#: Removal reasons, in increasing priority where two apply to the same frame.
#: ``override`` is a span the user removes in ``manifests/commentary_overrides.csv``.
REASONS = ("silence", "speech", "speech_over_music", "head", "tail", "override", "short")
#: The reasons that are Niven's commentary.
SPEECH_REASONS = ("speech", "speech_over_music")


@dataclass(frozen=True)
class CleaningOptions:
    """Every setting of :func:`clean_audio`, with its default (units in brackets).

    The preprocess stage's config (:class:`jazzcnn.preprocess.config.PreprocessConfig`) documents
    each one and takes its default from here.
    """

    sample_rate: int = 16000  # output rate [Hz]; silero-vad needs 16000
    block_s: float = 30.0  # decode/resample block [s]; bounds memory, not the result
    resample_quality: str = "HQ"  # soxr recipe, "HQ" (librosa's soxr_hq) or "VHQ"
    vad: bool = True  # remove speech found by silero-vad
    speech_threshold: float = 0.5  # probability that starts speech (silero-vad's default)
    neg_threshold: float = 0.35  # a speech run spans the frames at or above this (threshold - 0.15)
    min_speech_s: float = 0.5  # shorter speech runs are ignored unless confident [s]
    speaker_prob: float = 0.9  # mean probability of a confident (spoken, not sung) run [probability]
    min_music_s: float = 1.0  # shorter gaps between speech runs are cut with them whatever they hold [s]
    max_pause_s: float = 5.0  # longest gap joined as a speaker's pause [s]
    pause_depth_db: float = 6.0  # a pause's clear frames stay this far below the speech around it [dB]
    onset_lookback_s: float = 1.0  # fresh-state second opinion this far before every onset [s]; 0 = off
    speech_pad_s: float = 0.2  # extra cut before and after every speech span [s]
    speech_dip_db: float = 12.0  # a speaker's quiet frames fall this far below the median [dB]
    speech_pause_frac: float = 0.07  # ... or this share of frames are clear pauses [fraction]
    speech_floor_db: float = 15.0  # ... within this of the file's noise floor [dB]
    syllable_db: float = 4.0  # spoken runs change level this much from frame to frame (std) [dB]
    music_margin_db: float = 3.0  # speech over music: background this far above the speaker's [dB]; 0 = off
    music_bed_s: float = 0.5  # window of the background level (its minimum) [s]
    keep_speech_over_music: bool = False  # keep speech over music instead of cutting it
    silence_db: float = -50.0  # frames below this RMS level are silence [dBFS]
    min_silence_s: float = 1.0  # shorter silences are kept [s]
    vad_streams: int = 32  # pieces of a tape run as one detector batch (speed)
    vad_warmup_s: float = 4.0  # each piece starts this early so the detector settles [s]
    trim_head_s: float = 0.0  # fixed cut at the start of every file [s] (the seed study used 300)
    trim_tail_s: float = 0.0  # fixed cut at the end of every file [s] (the seed study used 300)
    min_segment_s: float = 3.0  # shorter music segments are dropped [s]

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))


def _options(options: CleaningOptions | None, overrides: dict) -> CleaningOptions:
    base = options or CleaningOptions()
    unknown = sorted(set(overrides) - set(CleaningOptions.names()))
    if unknown:
        raise TypeError(f"unknown cleaning option(s) {unknown}; known: {list(CleaningOptions.names())}")
    return dataclasses.replace(base, **overrides) if overrides else base


@dataclass
class CleanResult:
    """Result of :func:`clean_audio`.

    Attributes
    ----------
    segments : list of (float, np.ndarray)
        Kept music: ``(start_s, samples)``, start in the original file [s], samples int16 mono at
        ``sample_rate``, in time order, each at least ``min_segment_s`` long.
    removed : list of (float, float, str)
        Every cut ``(start_s, end_s, reason)`` [s], reason one of :data:`REASONS`, in time order;
        together with ``segments`` they tile the whole file.
    duration_s : float
        Length of the decoded file [s].
    """

    segments: list[tuple[float, np.ndarray]] = field(default_factory=list)
    removed: list[tuple[float, float, str]] = field(default_factory=list)
    duration_s: float = 0.0


def _frames(seconds: float, sample_rate: int, up: bool = True) -> int:
    n = seconds * sample_rate / FRAME
    return int(np.ceil(n - 1e-9)) if up else int(np.floor(n + 1e-9))


def remove_commentary(audio: np.ndarray, *, options: CleaningOptions | None = None,
                      corrections: Sequence[tuple[float, float, str]] = (), **overrides) -> CleanResult:
    """Cut speech, long silence, head/tail trims and too-short leftovers from a 16 kHz signal.

    Parameters
    ----------
    audio : np.ndarray
        int16, shape ``(n,)``, mono at ``sample_rate`` (16000 Hz, the rate silero-vad was trained at).
    options : CleaningOptions, optional
        All settings at once (default: :class:`CleaningOptions`'s defaults).
    corrections : sequence of (float, float, str)
        The user's word on this file, ``(start_s, end_s, action)`` [s] from
        ``commentary_overrides.csv`` (:func:`jazzcnn.acquire.manifests.load_commentary_overrides`):
        ``keep`` keeps every frame the span touches whatever was detected there (silence, speech,
        trims), ``remove`` cuts them with reason ``override``. Applied before the short-segment
        rule, so a kept span that is shorter than ``min_segment_s`` with no music beside it is
        still dropped (``short``): no clip could be cut from it.
    **overrides
        Any field of :class:`CleaningOptions` by name, e.g. ``trim_head_s=300``. Decisions are made
        per 32 ms frame, so cut positions are multiples of 512 samples (except the file end).

    Returns
    -------
    CleanResult
        What is kept and what was cut, with reasons.

    Raises
    ------
    AudioError
        ``empty`` for no samples, ``silent`` when every frame is below ``silence_db``.
    ValueError
        If ``sample_rate`` is not 16000 while ``vad`` is on, or a correction's action is neither
        ``keep`` nor ``remove``.
    TypeError
        An unknown option name.
    """
    cfg = _options(options, overrides)
    sr = int(cfg.sample_rate)
    if cfg.vad and sr != 16000:
        raise ValueError(f"speech detection needs sample_rate 16000 Hz, got {sr}")
    n = len(audio)
    if n == 0:
        raise AudioError("empty", "no audio samples")
    prob, level = frame_analysis(
        audio, vad=cfg.vad, streams=cfg.vad_streams, warmup_frames=_frames(cfg.vad_warmup_s, sr)
    )
    n_frames = len(prob)
    quiet = level < cfg.silence_db
    if quiet.all():
        raise AudioError("silent", f"every frame is below {cfg.silence_db} dBFS")
    label = np.zeros(n_frames, np.uint8)  # 0 = keep, else 1 + index into REASONS
    min_sil = _frames(cfg.min_silence_s, sr)
    for s, e in runs(quiet):
        if e - s >= min_sil:
            label[s:e] = 1 + REASONS.index("silence")
    if cfg.vad:
        kw = dict(
            threshold=cfg.speech_threshold, neg_threshold=cfg.neg_threshold,
            min_speech_frames=_frames(cfg.min_speech_s, sr), speaker_prob=cfg.speaker_prob,
            min_music_frames=_frames(cfg.min_music_s, sr), max_pause_frames=_frames(cfg.max_pause_s, sr, up=False),
            pause_depth_db=cfg.pause_depth_db, min_dip_db=cfg.speech_dip_db, min_pause_frac=cfg.speech_pause_frac,
            floor_margin_db=cfg.speech_floor_db, syllable_db=cfg.syllable_db, music_margin_db=cfg.music_margin_db,
            bed_frames=_frames(cfg.music_bed_s, sr),
        )
        if cfg.onset_lookback_s > 0:
            # Onsets found late after music get a second opinion; then label with the new probabilities.
            bare = speech_labels(prob, level, pad_frames=0, **kw)
            prob = rescore_onsets(audio, prob, [s for s, _ in runs(bare > 0)],
                                  lookback_frames=_frames(cfg.onset_lookback_s, sr), neg_threshold=cfg.neg_threshold)
        speech = speech_labels(prob, level, pad_frames=_frames(cfg.speech_pad_s, sr), **kw)
        label[speech == SPEECH] = 1 + REASONS.index("speech")
        if not cfg.keep_speech_over_music:
            label[speech == SPEECH_OVER_MUSIC] = 1 + REASONS.index("speech_over_music")
    if cfg.trim_head_s > 0:
        label[:_frames(cfg.trim_head_s, sr)] = 1 + REASONS.index("head")
    if cfg.trim_tail_s > 0:
        label[_frames(max(0.0, n / sr - cfg.trim_tail_s), sr, up=False):] = 1 + REASONS.index("tail")
    for start_s, end_s, action in corrections:
        if action not in ("keep", "remove"):
            raise ValueError(f"correction action must be 'keep' or 'remove', got {action!r}")
        span = slice(_frames(start_s, sr, up=False), _frames(end_s, sr))
        label[span] = 0 if action == "keep" else 1 + REASONS.index("override")
    min_seg = cfg.min_segment_s * sr
    result = CleanResult(duration_s=n / sr)
    for s, e in runs(label == 0):
        a, b = s * FRAME, min(e * FRAME, n)
        if b - a < min_seg:
            label[s:e] = 1 + REASONS.index("short")
        else:
            result.segments.append((a / sr, audio[a:b]))
    # Consecutive frames with the same reason form one removed span.
    change = np.flatnonzero(np.diff(label.astype(np.int16))) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [n_frames]])
    for s, e in zip(starts.tolist(), ends.tolist()):
        if label[s]:
            result.removed.append((s * FRAME / sr, min(e * FRAME, n) / sr, REASONS[label[s] - 1]))
    return result


def clean_audio(path: Path, *, options: CleaningOptions | None = None,
                corrections: Sequence[tuple[float, float, str]] = (), **overrides) -> CleanResult:
    """Decode any audio file and remove commentary: the whole per-file work of the stage.

    ``jazzcnn preprocess`` runs this on every file; ``jazzcnn predict`` runs it on the user's file
    with the options its run's shards were made with.

    Parameters
    ----------
    path : Path
        WAV, FLAC, Ogg Vorbis or MP3 file; any rate, mono or stereo.
    options : CleaningOptions, optional
        All settings at once (default: :class:`CleaningOptions`'s defaults).
    corrections : sequence of (float, float, str)
        The user's keep/remove spans of this file [s] (see :func:`remove_commentary`).
    **overrides
        Any field of :class:`CleaningOptions` by name (see :func:`remove_commentary`).

    Returns
    -------
    CleanResult
        ``segments`` (start_s, int16 samples at ``sample_rate``), ``removed``
        (start_s, end_s, reason) and ``duration_s``.

    Raises
    ------
    AudioError
        ``unreadable``, ``corrupt``, ``truncated``, ``empty`` or ``silent`` (``.kind`` says which).
    TypeError
        An unknown option name.
    """
    cfg = _options(options, overrides)
    audio = decode_int16(Path(path), cfg.sample_rate, cfg.block_s, cfg.resample_quality)
    try:
        return remove_commentary(audio, options=cfg, corrections=corrections)
    except AudioError as e:
        raise AudioError(e.kind, f"{path}: {str(e).split(': ', 1)[1]}") from None
