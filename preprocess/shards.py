"""The shard store: the contract between the preprocess stage (writer) and the train stage (reader).

Layout of ``DATA_DIR/shards/``:

``shard-00000.pcm``, ``shard-00001.pcm``, ...
    Raw little-endian int16 mono PCM at 16 kHz, no header (``np.memmap(path, dtype="<i2")``).
    Each is about ``shard_bytes``: a shard is closed after the file that reaches the target, so a
    file's segments never span two shards.
``index.csv``
    One row per kept music segment: ``identifier, file, segment, shard, offset, length, start_s``;
    ``segment`` is 0-based within the file, ``shard`` the shard file name, ``offset`` and
    ``length`` are in samples within the shard, ``start_s`` is where the segment began in the
    original file [s]. Clip length is not baked in: the reader cuts clips from segments.
``meta.json``
    ``{"sample_rate": 16000, "dtype": "int16", "byteorder": "little", "config": {...},
    "files": N, ...}``.
``done.csv``
    Files already processed (``ok`` or ``failed``) -- the commit record that lets a run resume.
``failures.csv``
    Files skipped, with the reason.

Writes are atomic. A shard is written to ``.part``, fsynced and renamed; only then are the CSVs
that describe it rewritten (each to a temporary file, fsynced, renamed), ``done.csv`` last. So a
killed run leaves at worst a shard, CSV rows that ``done.csv`` does not yet know of, or a
temporary file of an unfinished write; the next run drops them and redoes those files, giving
output identical to an uninterrupted run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jazzcnn.files import FolderBusyError, atomic_write_text, fsync_dir, lock_folder, remove_stale_temporaries

INDEX_COLUMNS = ["identifier", "file", "segment", "shard", "offset", "length", "start_s"]
DONE_COLUMNS = ["identifier", "file", "status", "fingerprint"]
FAILURE_COLUMNS = ["identifier", "file", "path", "reason", "error"]
COMMENTARY_COLUMNS = ["identifier", "file", "start_s", "end_s", "reason"]
SUMMARY_COLUMNS = [
    "identifier", "file", "duration_s", "kept_s", "removed_s", "speech_s", "silence_s", "head_s", "tail_s",
    "short_s", "segments", "status", "error",
]
#: Samples are stored as this numpy dtype (little-endian int16).
DTYPE = "<i2"
SAMPLE_BYTES = 2


class ShardError(ValueError):
    """The shard folder is missing, inconsistent, or was written with other settings."""


def shard_name(number: int) -> str:
    """File name of shard ``number``: ``shard-00000.pcm``."""
    return f"shard-{number:05d}.pcm"


def open_shard(shard_dir: Path, name: str) -> np.memmap:
    """Memory-map one shard read-only.

    Parameters
    ----------
    shard_dir : Path
        ``DATA_DIR/shards``.
    name : str
        Shard file name as in ``index.csv`` (``shard-00000.pcm``).

    Returns
    -------
    np.memmap
        dtype ``<i2``, shape ``(n_samples,)``, 16 kHz mono.

    Raises
    ------
    ShardError
        If the shard file does not exist.
    """
    path = Path(shard_dir) / name
    if not path.exists():
        raise ShardError(f"shard file {path} is missing (rerun `make preprocess` to rebuild it)")
    if path.stat().st_size == 0:
        return np.zeros(0, DTYPE)  # mmap of an empty file is an error; an empty shard is not
    return np.memmap(path, dtype=DTYPE, mode="r")


def load_index(shard_dir: Path) -> pd.DataFrame:
    """Load and validate ``index.csv``.

    Parameters
    ----------
    shard_dir : Path
        ``DATA_DIR/shards``.

    Returns
    -------
    pd.DataFrame
        Columns :data:`INDEX_COLUMNS`; ``segment``, ``offset``, ``length`` int64 [samples],
        ``start_s`` float [s]; identifier and file as str.

    Raises
    ------
    ShardError
        Missing index, missing columns, a shard file named by the index that does not exist
        (the message names it), or a segment that runs past the end of its shard.
    """
    shard_dir = Path(shard_dir)
    path = shard_dir / "index.csv"
    if not path.exists():
        raise ShardError(f"{path} not found (run `make preprocess` first)")
    df = pd.read_csv(path, dtype={"identifier": str, "file": str, "shard": str}, keep_default_na=False)
    missing = [c for c in INDEX_COLUMNS if c not in df.columns]
    if missing:
        raise ShardError(f"{path}: missing column(s) {missing}")
    for col in ("segment", "offset", "length"):
        df[col] = df[col].astype("int64")
    df["start_s"] = df["start_s"].astype(float)
    for name, group in df.groupby("shard", sort=True):
        shard = shard_dir / name
        if not shard.exists():
            raise ShardError(f"{path} names shard file {shard}, which is missing")
        n = shard.stat().st_size // SAMPLE_BYTES
        end = int((group["offset"] + group["length"]).max())
        if end > n:
            raise ShardError(f"{path}: segments of {name} end at sample {end}, the shard holds {n}")
    if (df["length"] <= 0).any() or (df["offset"] < 0).any():
        raise ShardError(f"{path}: negative offset or non-positive length")
    return df


def read_segment(shard_dir: Path, row: Any) -> np.ndarray:
    """The samples of one index row.

    Parameters
    ----------
    shard_dir : Path
        ``DATA_DIR/shards``.
    row : mapping or pd.Series
        A row of :func:`load_index` (needs ``shard``, ``offset``, ``length``).

    Returns
    -------
    np.ndarray
        int16, shape ``(length,)``, 16 kHz mono (a copy, not a view of the memmap).

    Raises
    ------
    ShardError
        If the shard file is missing or shorter than the row says.
    """
    mm = open_shard(shard_dir, row["shard"])
    off, n = int(row["offset"]), int(row["length"])
    if off + n > len(mm):
        raise ShardError(f"{row['shard']}: segment [{off}, {off + n}) past the end ({len(mm)} samples)")
    return np.array(mm[off:off + n])


# ------------------------------------------------------------------------------------------------
# writing


def write_csv_atomic(rows: list[dict], columns: list[str], path: Path) -> None:
    """Write ``rows`` as CSV with ``columns`` atomically and durably (fsynced before the rename)."""
    df = pd.DataFrame(rows, columns=columns)
    atomic_write_text(path, df.to_csv(index=False, lineterminator="\n"), durable=True)


def _read_rows(path: Path, columns: list[str]) -> list[dict]:
    if not path.exists():
        return []
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for c in columns:
        if c not in df.columns:
            raise ShardError(f"{path}: missing column {c!r}")
    return df[columns].to_dict("records")


class ShardStore:
    """Appends processed files to shards and commits them atomically (see module docstring).

    Parameters
    ----------
    shard_dir : Path
        ``DATA_DIR/shards`` (created).
    commentary_dir : Path
        Where ``commentary.csv`` and ``commentary_summary.csv`` go (``MANIFESTS_DIR``).
    shard_bytes : int
        Target shard size [bytes].
    settings : dict
        Settings that change the audio written; stored in ``meta.json`` and compared on reopen.
    sample_rate : int
        [Hz], recorded in ``meta.json``.

    Raises
    ------
    ShardError
        If the folder was written with different ``settings``, or another run holds it.
    """

    def __init__(self, shard_dir: Path, commentary_dir: Path, shard_bytes: int, settings: dict, sample_rate: int):
        self.dir = Path(shard_dir)
        self.commentary_dir = Path(commentary_dir)
        self.shard_bytes = int(shard_bytes)
        self.settings = settings
        self.sample_rate = int(sample_rate)
        # Two runs appending to the same shards would interleave them.
        try:
            self._lock = lock_folder(self.dir, "preprocess")
        except FolderBusyError as e:
            raise ShardError(str(e)) from None
        meta_path = self.dir / "meta.json"
        self.meta: dict = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        done = _read_rows(self.dir / "done.csv", DONE_COLUMNS)
        if done and self.meta.get("config") not in (None, settings):
            old = self.meta["config"]
            diff = {k: (old.get(k), settings.get(k)) for k in set(old) | set(settings) if old.get(k) != settings.get(k)}
            raise ShardError(
                f"{self.dir} was written with other settings {diff} (old, new); restore them, or delete "
                f"{self.dir} and {self.commentary_dir}/commentary*.csv to rebuild"
            )
        self.done = {(r["identifier"], r["file"]): r for r in done}
        keys = set(self.done)

        def committed(rows: list[dict]) -> list[dict]:
            # Rows written ahead of done.csv by a killed run are dropped; their files get redone.
            return [r for r in rows if (r["identifier"], r["file"]) in keys]

        self.index = committed(_read_rows(self.dir / "index.csv", INDEX_COLUMNS))
        self.failures = committed(_read_rows(self.dir / "failures.csv", FAILURE_COLUMNS))
        self.commentary = committed(_read_rows(self.commentary_dir / "commentary.csv", COMMENTARY_COLUMNS))
        self.summary = committed(_read_rows(self.commentary_dir / "commentary_summary.csv", SUMMARY_COLUMNS))
        used = {r["shard"] for r in self.index}
        self.next_shard = 1 + max((int(s[6:11]) for s in used), default=-1)
        # Remove leftovers of a killed run: .part files, shards no committed row points to, and the
        # temporary files of CSV/JSON writes it was killed in (safe: we hold the folder lock).
        for p in sorted(self.dir.glob("shard-*.pcm*")):
            if p.name not in used:
                p.unlink()
        remove_stale_temporaries(self.dir, ["index.csv", "failures.csv", "meta.json", "done.csv"])
        remove_stale_temporaries(self.commentary_dir, ["commentary.csv", "commentary_summary.csv"])
        self._reset_pending()

    def close(self) -> None:
        """Drop uncommitted work (see :meth:`abort`) and release the folder lock."""
        self.abort()
        if not self._lock.closed:
            self._lock.close()

    def _reset_pending(self) -> None:
        self._part = None
        self._part_samples = 0
        self.p_index: list[dict] = []
        self.p_done: list[dict] = []
        self.p_failures: list[dict] = []
        self.p_commentary: list[dict] = []
        self.p_summary: list[dict] = []

    def is_done(self, identifier: str, file: str, fingerprint: str) -> bool:
        """True if the file was committed ``ok``, or committed ``failed`` and has not changed since."""
        r = self.done.get((identifier, file))
        return r is not None and (r["status"] == "ok" or r["fingerprint"] == fingerprint)

    def add(self, identifier: str, file: str, fingerprint: str, segments: list[tuple[float, np.ndarray]],
            commentary: list[dict], summary: dict, failure: dict | None) -> None:
        """Append one processed file; commit when the shard has reached ``shard_bytes``.

        Parameters
        ----------
        identifier, file : str
            The file's key in ``tracks.csv``.
        fingerprint : str
            ``size:mtime_ns`` of the input, so a failed file is retried once it changes.
        segments : list of (float, np.ndarray)
            ``(start_s, int16 samples)`` of the kept music [s], in order.
        commentary : list of dict
            Rows of ``commentary.csv`` for this file.
        summary : dict
            Its row of ``commentary_summary.csv``.
        failure : dict or None
            Its row of ``failures.csv`` if it failed.
        """
        name = shard_name(self.next_shard)
        if segments and self._part is None:
            self._part = open(self.dir / (name + ".part"), "wb")
        for i, (start_s, samples) in enumerate(segments):
            data = np.ascontiguousarray(samples, dtype=DTYPE)
            self._part.write(data.tobytes())
            self.p_index.append({"identifier": identifier, "file": file, "segment": i, "shard": name,
                                 "offset": self._part_samples, "length": len(data), "start_s": round(start_s, 6)})
            self._part_samples += len(data)
        status = "failed" if failure else "ok"
        self.p_done.append({"identifier": identifier, "file": file, "status": status, "fingerprint": fingerprint})
        self.p_commentary += commentary
        self.p_summary.append(summary)
        if failure:
            self.p_failures.append(failure)
        if self._part_samples * SAMPLE_BYTES >= self.shard_bytes:
            self.commit()

    @property
    def pending(self) -> bool:
        """True when files were added since the last commit."""
        return bool(self.p_done)

    def commit(self) -> None:
        """Close the current shard and make it and every row added so far durable (done.csv last)."""
        if not self.pending:
            return
        if self._part is not None:
            name = shard_name(self.next_shard)
            self._part.flush()
            os.fsync(self._part.fileno())
            self._part.close()
            os.replace(self.dir / (name + ".part"), self.dir / name)
            fsync_dir(self.dir)
            self.next_shard += 1
        new = {(r["identifier"], r["file"]) for r in self.p_done}

        def merge(old: list[dict], add: list[dict]) -> list[dict]:
            # A retried (previously failed) file replaces its old rows.
            return [r for r in old if (r["identifier"], r["file"]) not in new] + add

        self.index = merge(self.index, self.p_index)
        self.failures = merge(self.failures, self.p_failures)
        self.commentary = merge(self.commentary, self.p_commentary)
        self.summary = merge(self.summary, self.p_summary)
        for r in self.p_done:
            self.done.pop((r["identifier"], r["file"]), None)
            self.done[(r["identifier"], r["file"])] = r
        write_csv_atomic(self.index, INDEX_COLUMNS, self.dir / "index.csv")
        write_csv_atomic(self.failures, FAILURE_COLUMNS, self.dir / "failures.csv")
        write_csv_atomic(self.commentary, COMMENTARY_COLUMNS, self.commentary_dir / "commentary.csv")
        write_csv_atomic(self.summary, SUMMARY_COLUMNS, self.commentary_dir / "commentary_summary.csv")
        samples = sum(int(r["length"]) for r in self.index)
        meta = {
            "sample_rate": self.sample_rate, "dtype": "int16", "byteorder": "little", "channels": 1,
            "config": self.settings,
            "files": len(self.done),
            "files_ok": sum(r["status"] == "ok" for r in self.done.values()),
            "files_failed": sum(r["status"] == "failed" for r in self.done.values()),
            "segments": len(self.index), "samples": samples,
            "hours": round(samples / self.sample_rate / 3600, 6),
            "shards": sorted({r["shard"] for r in self.index}),
        }
        atomic_write_text(self.dir / "meta.json", json.dumps(meta, indent=2, sort_keys=True) + "\n", durable=True)
        # The commit point: a file is done only once it is listed here.
        write_csv_atomic(list(self.done.values()), DONE_COLUMNS, self.dir / "done.csv")
        self.meta = meta
        self._reset_pending()

    def abort(self) -> None:
        """Drop everything added since the last commit (the half-written shard included)."""
        if self._part is not None:
            self._part.close()
            (self.dir / (shard_name(self.next_shard) + ".part")).unlink(missing_ok=True)
        self._reset_pending()
