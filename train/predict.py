"""``jazzcnn predict``: era probabilities of any audio file with a trained run's model.

The file goes through exactly the preprocess stage's per-file work -
:func:`jazzcnn.preprocess.cleaning.clean_audio` (decode to 16 kHz mono, remove spoken commentary and
silence) with the settings the run's shards were built with (their commit records, found through
the run's ``inputs.json``; an error when they cannot be read) - then every kept music segment is cut
into clips on the run's evaluation grid, each clip is classified, and the whole-file probability
is the mean over the clips (the same rule as a tape's score in :mod:`jazzcnn.train.scoring`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jazzcnn.core.paths import DataPaths
from jazzcnn.preprocess.cleaning import CleaningOptions, CleanResult, clean_audio
from jazzcnn.train.data import audio_clips
from jazzcnn.train.runs import RunError, load_checked_model, load_run


def cleaning_options_of(run: dict) -> CleaningOptions:
    """The cleaning options the run's shards were made with (their commit records).

    Raises
    ------
    RunError
        The run's shard folder has no readable record of its settings (the message names it).
    """
    from jazzcnn.preprocess.shards import read_state

    shard_dir = DataPaths(run["data_dir"]).shards
    state = read_state(shard_dir)
    settings = state.settings
    if settings is None:  # a folder written before commit records kept them in meta.json
        meta = shard_dir / "meta.json"
        try:
            settings = json.loads(meta.read_text()).get("config")
        except (OSError, ValueError):
            settings = None
    if not isinstance(settings, dict):
        raise RunError(f"run {run['dir']} was trained on {shard_dir}, which records no preprocessing settings: "
                       "predict needs them to clean a file the same way (is the data folder still there?)")
    names = set(CleaningOptions.names())
    return CleaningOptions(**{k: v for k, v in settings.items() if k in names})


@dataclass
class Prediction:
    """Era probabilities of one audio file (see :func:`predict_file`).

    Attributes
    ----------
    clips : pd.DataFrame
        One row per clip: ``start_s``, ``end_s`` (in the original file [s]), ``pred_era`` and
        ``p_<era>`` per era.
    probabilities : np.ndarray
        ``(n_eras,)`` mean clip probability for the whole file.
    eras : list of str
        Era names in class order.
    cleaned : CleanResult
        The preprocess result (kept segments, removed spans, duration).
    """

    clips: pd.DataFrame
    probabilities: np.ndarray
    eras: list[str]
    cleaned: CleanResult

    def __iter__(self):  # (clips, probabilities, eras, cleaned), as the function once returned
        return iter((self.clips, self.probabilities, self.eras, self.cleaned))


class Predictor:
    """A trained run, loaded once, that classifies audio files (``jazzcnn predict``, ``jazzcnn serve``).

    Parameters
    ----------
    run_dir : Path
        Trained run folder (``model.keras``, ``classes.json``, ``inputs.json`` ...).
    batch_size : int
        Clips per prediction batch.

    Raises
    ------
    RunError
        Missing, corrupt or mismatched model or run files; no record of how the run's audio was cleaned.
    """

    def __init__(self, run_dir: Path, batch_size: int = 64):
        self.run = load_run(run_dir)
        self.model = load_checked_model(self.run)
        self.options = cleaning_options_of(self.run)
        self.batch_size = int(batch_size)
        self.eras = list(self.run["classes"]["eras"])
        self.sample_rate = int(self.run["classes"]["sample_rate"])
        self.clip_samples = int(self.run["classes"]["clip_samples"])
        self.hop_samples = int(self.run["classes"].get("eval_hop_samples", self.clip_samples))

    def predict(self, audio: Path) -> Prediction:
        """Classify one audio file: clean it as the run's shards were, cut clips, average their probabilities.

        Parameters
        ----------
        audio : Path
            Any file the preprocess stage decodes (WAV, FLAC, Ogg, MP3, ...).

        Returns
        -------
        Prediction

        Raises
        ------
        RunError
            No music left after cleaning.
        AudioError
            Unreadable, corrupt, empty or silent audio.
        """
        sr, clip, hop = self.sample_rate, self.clip_samples, self.hop_samples
        cleaned = clean_audio(Path(audio), options=self.options)
        xs, rows = [], []
        for start_s, samples in cleaned.segments:
            x, starts = audio_clips(np.asarray(samples, dtype=np.int16), clip, hop)
            xs.append(x)
            for s in starts:
                t0 = start_s + s / sr
                rows.append({"start_s": round(t0, 3), "end_s": round(min(t0 + clip / sr, start_s + len(samples) / sr), 3)})
        if not xs:
            raise RunError(f"{audio}: no music left after removing commentary and silence "
                           f"({cleaned.duration_s:.1f} s decoded); nothing to classify")
        probs = np.asarray(self.model.predict(np.concatenate(xs), batch_size=self.batch_size, verbose=0), dtype=np.float64)
        clips = pd.DataFrame(rows)
        clips["pred_era"] = [self.eras[i] for i in probs.argmax(1)]
        for k, e in enumerate(self.eras):
            clips[f"p_{e}"] = probs[:, k]
        return Prediction(clips, probs.mean(0), self.eras, cleaned)


def predict_file(audio: Path, run_dir: Path, batch_size: int = 64) -> Prediction:
    """Classify one audio file with a trained run (see :class:`Predictor`).

    Raises
    ------
    RunError
        Missing/corrupt/mismatched model or run files, or no music left after cleaning.
    AudioError
        Unreadable, corrupt, empty or silent audio.
    """
    return Predictor(run_dir, batch_size).predict(audio)
