"""Settings of the preprocess stage (``jazzcnn preprocess``); cleaning defaults from :class:`CleaningOptions`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from jazzcnn.core.settings import setting, stage_config
from jazzcnn.preprocess.cleaning import CleaningOptions

#: Defaults of the per-file cleaning options come from one place.
_D = CleaningOptions()


@stage_config
class PreprocessConfig:
    """Decoding, commentary removal and sharding settings."""

    data_dir: Path = setting(Path("data"), "input audio under DATA_DIR/audio, shards written to DATA_DIR/shards")
    manifests_dir: Path = setting(Path("manifests"), "folder holding tracks.csv; commentary.csv is written here")
    format: str = setting("VBR MP3", "which format's rows of tracks.csv to process")
    sample_rate: int = setting(_D.sample_rate, "output sample rate (the shard format and silero-vad need 16000)", "Hz", ge=16000, le=16000)
    workers: int = setting(0, "worker processes (0 = all cores)", "processes", ge=0, le=256)
    block_s: float = setting(_D.block_s, "decode/resample block length (memory does not grow with tape length)", "s", gt=0, le=3600)
    resample_quality: Literal["HQ", "VHQ"] = setting(_D.resample_quality, "soxr resampling quality (HQ = librosa's soxr_hq default)")
    vad: bool | None = setting(None, "remove speech found by the silero-vad detector (default: on for the niven data "
                                     "set's spoken introductions, off for the others, as MANIFESTS/dataset.json says)")
    speech_threshold: float = setting(_D.speech_threshold, "speech probability at or above which a 32 ms frame starts speech (silero-vad's default)", "probability", ge=0, le=1)
    neg_threshold: float = setting(_D.neg_threshold, "a speech run spans the frames around a start whose probability stays at or above this, back to where it first rose above it and on until it falls below it (silero-vad: threshold - 0.15)", "probability", ge=0, le=1)
    min_speech_s: float = setting(_D.min_speech_s, "speech runs shorter than this are ignored (false alarms in music) unless confident (see speaker_prob)", "s", ge=0)
    speaker_prob: float = setting(_D.speaker_prob, "a run whose mean speech probability reaches this is a confident, spoken run; every cut needs one (sung runs scored at most 0.90 on the test tapes, spoken ones 0.97 on average)", "probability", ge=0, le=1)
    min_music_s: float = setting(_D.min_music_s, "gaps shorter than this between speech runs are cut with them whatever they hold (music too short to keep)", "s", ge=0)
    max_pause_s: float = setting(_D.max_pause_s, "longest gap between two speech runs joined into one cut as a speaker's pause (between sentences of one introduction)", "s", ge=0)
    pause_depth_db: float = setting(_D.pause_depth_db, "a gap holds no music (and is joined) if its clear frames (probability < 0.2) stay this far below the speech on either side (90th percentile against median)", "dB", ge=0)
    onset_lookback_s: float = setting(_D.onset_lookback_s, "rerun the detector from a fresh state this far before every speech onset, so a voice that starts as a record ends is found where it starts (0 = off)", "s", ge=0, le=10)
    speech_pad_s: float = setting(_D.speech_pad_s, "cut this much extra before and after every speech span", "s", ge=0)
    speech_dip_db: float = setting(_D.speech_dip_db, "a cut not joined across a pause counts as speech (not singing) if its quiet frames (10th-percentile level) fall this far below its median level ...", "dB", ge=0)
    speech_pause_frac: float = setting(_D.speech_pause_frac, "... or if this share of its frames are clear pauses (probability < 0.2) ... (this and speech_dip_db 0 = every such cut is speech)", "fraction", ge=0, le=1)
    speech_floor_db: float = setting(_D.speech_floor_db, "... and its quiet frames come within this of the file's noise floor (hiss fills a speaker's pauses, a band fills a singer's); unconfident runs at the edge of a cut whose quiet frames lie further above the floor are sung and kept", "dB", ge=0)
    syllable_db: float = setting(_D.syllable_db, "an unconfident run at the edge of a cut is kept as sung only if its level changes less than this from frame to frame (standard deviation); speech jumps between syllables and gaps, singing over a band is smoother", "dB", ge=0)
    music_margin_db: float = setting(_D.music_margin_db, "at an end of a cut that borders music, frames whose background level stays this far above that of the cut's speech are speech over music (0 = never)", "dB", ge=0)
    music_bed_s: float = setting(_D.music_bed_s, "window over which a frame's background level (the minimum level) is taken", "s", gt=0, le=10)
    keep_speech_over_music: bool = setting(_D.keep_speech_over_music, "keep speech over music (Niven talking over the first bars of a tune) in the shards instead of cutting it")
    silence_db: float = setting(_D.silence_db, "frames below this RMS level (dBFS) count as silence and are cut", "dBFS", le=0)
    min_silence_s: float = setting(_D.min_silence_s, "silences shorter than this are kept", "s", ge=0)
    vad_streams: int = setting(_D.vad_streams, "a tape is cut into this many pieces run as one batch through the detector (speed)", "streams", ge=1, le=1024)
    vad_warmup_s: float = setting(_D.vad_warmup_s, "each piece after the first starts this early so the detector state settles (its outputs are dropped)", "s", ge=0)
    trim_head_s: float = setting(_D.trim_head_s, "fixed cut at the start of every file (the seed study used 300)", "s", ge=0)
    trim_tail_s: float = setting(_D.trim_tail_s, "fixed cut at the end of every file (the seed study used 300)", "s", ge=0)
    min_segment_s: float = setting(_D.min_segment_s, "music segments shorter than this (the shortest clip length) are dropped", "s", ge=0)
    shard_bytes: int = setting(256 * 1024 * 1024, "target size of one shard file", "bytes", ge=1 << 16)
    check: bool = setting(False, "verify every committed shard (size and SHA-256) against its commit record and rebuild "
                                 "missing views; set damaged shards aside, list the files the next run redoes, "
                                 "process nothing")
    audit: bool = setting(True, "write the commentary audit pages (AUDIT_DIR/index.html) after processing")
    audit_dir: Path = setting(Path("reports/commentary"), "where the commentary audit pages go")
    eras: list[str] = setting([], "only tapes in these eras (or classes, for data sets with their own labels); "
                                  "empty = all")
    limit: int | None = setting(None, "only N tapes, sampled evenly over the eras or classes as download samples them",
                                "items", ge=1)
    max_examples: int | None = setting(None, "smoke switch: process at most this many files, sampled evenly over the "
                                             "eras or classes", "files", ge=1)


@stage_config
class AuditConfig:
    """The commentary audit pages (``jazzcnn audit``), from the commentary CSVs of a preprocess run."""

    data_dir: Path = setting(Path("data"), "the downloads the players play are in DATA_DIR/audio")
    manifests_dir: Path = setting(Path("manifests"), "folder holding commentary.csv and commentary_summary.csv")
    audit_dir: Path = setting(Path("reports/commentary"), "where the pages go (index.html, tapes/)")
