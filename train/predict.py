"""``jazzcnn predict``: era probabilities of any audio file with a trained run's model.

The file goes through exactly the preprocess stage's per-file work -
:func:`preprocess.pipeline.clean_audio` (decode to 16 kHz mono, remove spoken commentary and
silence) with the settings the run's shards were built with (``DATA_DIR/shards/meta.json``
``config``; the stage defaults when that is not available) - then every kept music segment is cut
into clips on the run's evaluation grid, each clip is classified, and the whole-file probability
is the mean over the clips (the same rule as a tape's score in :mod:`train.scoring`).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from train.config import PredictConfig
from train.data import audio_clips
from train.scoring import ScoreError, load_checked_model, load_run


def _preprocess_config(run: dict):
    """The PreprocessConfig the run's shards were built with (from meta.json), else the defaults."""
    from preprocess.config import PreprocessConfig

    fields = {f.name for f in dataclasses.fields(PreprocessConfig)}
    settings = {}
    meta = Path(run["config"].get("data_dir", "data")) / "shards" / "meta.json"
    if meta.exists():
        try:
            settings = json.loads(meta.read_text()).get("config", {}) or {}
        except (json.JSONDecodeError, AttributeError):
            settings = {}
    settings = {k: v for k, v in settings.items() if k in fields and k not in ("data_dir", "manifests_dir", "eras")}
    settings["sample_rate"] = int(run["classes"]["sample_rate"])
    try:
        return PreprocessConfig(**settings)
    except TypeError:
        return PreprocessConfig(sample_rate=settings["sample_rate"])


def predict_file(audio: Path, run_dir: Path, batch_size: int = 64) -> tuple[pd.DataFrame, np.ndarray, list[str], object]:
    """Classify one audio file.

    Parameters
    ----------
    audio : Path
        Any file the preprocess stage decodes (WAV, FLAC, Ogg, MP3, ...).
    run_dir : Path
        Trained run folder (``model.keras``, ``classes.json``, ``config.json``).

    Returns
    -------
    clips : pd.DataFrame
        One row per clip: ``start_s``, ``end_s`` (in the original file [s]), ``pred_era`` and
        ``p_<era>`` per era.
    file_probs : np.ndarray
        ``(n_eras,)`` mean clip probability for the whole file.
    eras : list of str
        Era names in class order.
    cleaned : CleanResult
        The preprocess result (kept segments, removed spans, duration).

    Raises
    ------
    ScoreError
        Missing/corrupt/mismatched model or run files, or no music left after cleaning.
    preprocess.audio.AudioError
        Unreadable, corrupt, empty or silent audio.
    """
    from preprocess.pipeline import clean_audio

    run = load_run(run_dir)
    model = load_checked_model(run)
    eras = run["classes"]["eras"]
    sr = int(run["classes"]["sample_rate"])
    clip = int(run["classes"]["clip_samples"])
    hop = int(run["classes"].get("eval_hop_samples", clip))
    cleaned = clean_audio(Path(audio), _preprocess_config(run))
    xs, rows = [], []
    for start_s, samples in cleaned.segments:
        x, starts = audio_clips(np.asarray(samples, dtype=np.int16), clip, hop)
        xs.append(x)
        for s in starts:
            t0 = start_s + s / sr
            rows.append({"start_s": round(t0, 3), "end_s": round(min(t0 + clip / sr, start_s + len(samples) / sr), 3)})
    if not xs:
        raise ScoreError(f"{audio}: no music left after removing commentary and silence "
                         f"({cleaned.duration_s:.1f} s decoded); nothing to classify")
    probs = np.asarray(model.predict(np.concatenate(xs), batch_size=batch_size, verbose=0), dtype=np.float64)
    clips = pd.DataFrame(rows)
    clips["pred_era"] = [eras[i] for i in probs.argmax(1)]
    for k, e in enumerate(eras):
        clips[f"p_{e}"] = probs[:, k]
    return clips, probs.mean(0), eras, cleaned


def run_predict(cfg: PredictConfig) -> int:
    """Print era probabilities for ``cfg.audio``: whole file, then per clip.

    Returns
    -------
    int
        0 on success, 2 on bad input (``error: ...`` on stderr).
    """
    if cfg.audio is None:
        print("error: --audio FILE is required", file=sys.stderr)
        return 2
    if not Path(cfg.audio).exists():
        print(f"error: audio file {cfg.audio} not found", file=sys.stderr)
        return 2
    try:
        from preprocess.audio import AudioError
    except ImportError:  # preprocess not installed yet: only our own errors can be named
        AudioError = ScoreError  # noqa: N806
    try:
        clips, file_probs, eras, cleaned = predict_file(Path(cfg.audio), cfg.runs_dir / cfg.run)
    except (ScoreError, AudioError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{cfg.audio}: {cleaned.duration_s:.1f} s decoded, {len(cleaned.segments)} music segment(s), "
          f"{len(clips)} clip(s) classified with run {cfg.run}")
    print("whole file:")
    order = np.argsort(-file_probs)
    for k in order:
        print(f"  {eras[k]:<24s} {file_probs[k]:.3f}")
    print("per clip:")
    with pd.option_context("display.max_rows", 200, "display.width", 200, "display.float_format", "{:.3f}".format):
        print(clips.to_string(index=False))
    if cfg.output:
        out = Path(cfg.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        clips.to_csv(out, index=False)
        print(f"per-clip probabilities written to {out}")
    return 0
