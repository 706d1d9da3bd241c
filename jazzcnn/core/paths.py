"""Where a data folder and a manifests folder keep what: the one place these paths are built.

A data folder (``DATA_DIR``, default ``data``) holds the downloads and the shards; a manifests
folder (``MANIFESTS``, default ``manifests``) holds the CSV files users read and edit. Runs and
reports have folders of their own (``RUNS_DIR/<run>``, ``REPORTS_DIR/<run>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class DataPaths:
    """The folders and files under one ``DATA_DIR``.

    Attributes
    ----------
    root : Path
        ``DATA_DIR``.
    """

    root: Path

    @property
    def audio(self) -> Path:
        """``DATA_DIR/audio``: downloads, ``<identifier>/<file>``."""
        return Path(self.root) / "audio"

    @property
    def verified(self) -> Path:
        """``DATA_DIR/audio/verified.csv``: the files whose size and MD5 were checked."""
        return self.audio / "verified.csv"

    @property
    def shards(self) -> Path:
        """``DATA_DIR/shards``: the preprocessed audio (see :mod:`jazzcnn.preprocess.shards`)."""
        return Path(self.root) / "shards"


@dataclass(frozen=True)
class ManifestPaths:
    """The CSV files in one ``MANIFESTS`` folder (their format: :mod:`jazzcnn.acquire.manifests`).

    Attributes
    ----------
    root : Path
        ``MANIFESTS``.
    """

    root: Path

    @property
    def tracks(self) -> Path:
        """``tracks.csv``: one row per audio file of the collection."""
        return Path(self.root) / "tracks.csv"

    @property
    def eras(self) -> Path:
        """``eras.csv``: era names and inclusive year ranges."""
        return Path(self.root) / "eras.csv"

    @property
    def commentary(self) -> Path:
        """``commentary.csv``: every span the preprocess stage removed, with its reason."""
        return Path(self.root) / "commentary.csv"

    @property
    def commentary_summary(self) -> Path:
        """``commentary_summary.csv``: seconds kept and removed per file."""
        return Path(self.root) / "commentary_summary.csv"

    @property
    def commentary_overrides(self) -> Path:
        """``commentary_overrides.csv``: spans the user keeps or removes against the automatic cut."""
        return Path(self.root) / "commentary_overrides.csv"


def default_eras_csv() -> Path:
    """The ``eras.csv`` shipped with the package (the repository's ``manifests/eras.csv``).

    Returns
    -------
    Path
        A readable file (inside the installed package).
    """
    return Path(str(resources.files("jazzcnn") / "data" / "eras.csv"))
