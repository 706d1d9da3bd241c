"""The Python API under the command line: a collection you can browse, and the stages as functions.

Example::

    from jazzcnn.api import Collection, DownloadConfig, TrainConfig, download, train, score

    col = Collection("data", "manifests")
    col.tapes()                        # one row per tape: artist, years, era (by the one era rule)
    t = col.track("Benny_Goodman_Tape_5_1933-1934", "Benny_Goodman_Tape_5_1933-1934.mp3")
    y = t.audio(sample_rate=16000)     # float32, shape (n,), mono at 16 kHz
    col.validate()                     # missing and corrupt downloads
    col.segments()                     # the preprocessed music segments, if any

Each stage function takes its stage's config, returns a result object and raises
:class:`jazzcnn.core.errors.JazzcnnError` subclasses on bad input (the command line prints them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jazzcnn.acquire.config import DownloadConfig, ValidateConfig
from jazzcnn.acquire.download import DownloadResult, download
from jazzcnn.acquire.manifests import load_eras, load_tracks, tape_era, tape_user_era, tape_years
from jazzcnn.acquire.transfer import safe_target
from jazzcnn.acquire.validate import ValidationReport, validate
from jazzcnn.core.errors import JazzcnnError
from jazzcnn.core.paths import DataPaths, ManifestPaths
from jazzcnn.preprocess.config import PreprocessConfig
from jazzcnn.preprocess.pipeline import PreprocessResult, preprocess
from jazzcnn.train.config import PredictConfig, ScoreConfig, TrainConfig
from jazzcnn.train.predict import Prediction, predict_file
from jazzcnn.train.scoring import ScoreResult, score
from jazzcnn.train.training import TrainResult, train

__all__ = [
    "Collection", "Track", "JazzcnnError",
    "DownloadConfig", "ValidateConfig", "PreprocessConfig", "TrainConfig", "ScoreConfig", "PredictConfig",
    "download", "validate", "preprocess", "train", "score", "predict_file",
    "DownloadResult", "ValidationReport", "PreprocessResult", "TrainResult", "ScoreResult", "Prediction",
]


@dataclass(frozen=True)
class Track:
    """One audio file of the collection (one row of ``tracks.csv``).

    Attributes
    ----------
    identifier, file : str
        The item and the file name in it.
    artist : str
    year_start, year_end : int or None
        Recording years of the file's tape.
    era : str
        The tape's era by the one era rule (``""`` when it has none).
    format : str
        Archive format (``VBR MP3``, ``WAVE`` ...).
    path : Path
        Where the download lives (``DATA_DIR/audio/<identifier>/<file>``); it may not exist yet.
    """

    identifier: str
    file: str
    artist: str
    year_start: int | None
    year_end: int | None
    era: str
    format: str
    path: Path

    def audio(self, *, sample_rate: int = 16000) -> np.ndarray:
        """The file decoded to mono float32 at ``sample_rate`` [Hz], shape ``(n,)``.

        Raises
        ------
        AudioError
            Missing, unreadable, corrupt or truncated file.
        """
        from jazzcnn.preprocess.audio import decode_resample

        return decode_resample(self.path, sample_rate)


class Collection:
    """A collection on disk: its manifests and its downloads (mirdata-like).

    Parameters
    ----------
    data_dir : Path
        ``DATA_DIR`` (audio in ``DATA_DIR/audio``, shards in ``DATA_DIR/shards``).
    manifests_dir : Path
        The folder of ``tracks.csv`` and ``eras.csv``.
    format : str
        Which format's rows are the collection's tracks.
    straddle : str
        How tapes straddling two eras are labelled (see :func:`jazzcnn.acquire.manifests.tape_era`).

    Raises
    ------
    ManifestError
        When a manifest is read and is unusable (on first use, naming file and line).
    """

    def __init__(self, data_dir: Path = Path("data"), manifests_dir: Path = Path("manifests"), *,
                 format: str = "VBR MP3", straddle: str = "exclude"):
        self.data = DataPaths(Path(data_dir))
        self.manifests = ManifestPaths(Path(manifests_dir))
        self.format = format
        self.straddle = straddle

    @property
    def eras(self) -> pd.DataFrame:
        """``eras.csv``: ``era, start_year, end_year``, sorted by start year."""
        return load_eras(self.manifests.eras)

    @property
    def tracks(self) -> pd.DataFrame:
        """The rows of ``tracks.csv`` of this collection's format."""
        df = load_tracks(self.manifests.tracks, self.eras)
        return df[df["format"] == self.format].reset_index(drop=True)

    def tapes(self) -> pd.DataFrame:
        """One row per tape: ``identifier, artist, year_start, year_end, era, files``.

        ``era`` follows the same rule as training (``""`` for a tape left out).
        """
        eras, rows = self.eras, []
        for ident, g in self.tracks.groupby("identifier", sort=True):
            y0, y1 = tape_years(g)
            era = tape_era(y0, y1, eras, straddle=self.straddle, user_era=tape_user_era(g, ident)).era
            rows.append({"identifier": ident, "artist": next((a for a in g["artist"] if a), ""), "year_start": y0,
                         "year_end": y1, "era": era, "files": len(g)})
        return pd.DataFrame(rows, columns=["identifier", "artist", "year_start", "year_end", "era", "files"])

    def track(self, identifier: str, file: str) -> Track:
        """One file of the collection.

        Raises
        ------
        KeyError
            No such row in ``tracks.csv`` (for this format).
        """
        tracks = self.tracks
        g = tracks[tracks["identifier"] == identifier]
        row = g[g["file"] == file]
        if row.empty:
            raise KeyError(f"{identifier}/{file} is not a {self.format!r} row of {self.manifests.tracks}")
        r = row.iloc[0]
        y0, y1 = tape_years(g)
        era = tape_era(y0, y1, self.eras, straddle=self.straddle, user_era=tape_user_era(g, identifier)).era
        return Track(identifier, file, r["artist"], y0, y1, era, r["format"],
                     safe_target(self.data.audio, identifier, file))

    def validate(self) -> ValidationReport:
        """Check every downloaded file of the collection (size and MD5); see :func:`validate`."""
        return validate(ValidateConfig(data_dir=self.data.root, manifests_dir=self.manifests.root, format=self.format))

    def segments(self) -> pd.DataFrame:
        """The preprocessed music segments (the shard index), one row per segment.

        Raises
        ------
        ShardError
            Nothing preprocessed yet, or a shard missing or damaged.
        """
        from jazzcnn.preprocess.shards import load_index

        return load_index(self.data.shards)
