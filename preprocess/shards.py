"""The shard folder ``DATA_DIR/shards``: its one writer (:class:`ShardStore`) and its one reader.

Layout::

    shard-00000.pcm     raw little-endian int16 mono PCM at 16 kHz, no header: the kept music of
                        one or more files, about ``shard_bytes`` each (a file never spans shards)
    commit-00000.json   the commit record: the shard it committed (name, bytes, SHA-256), the
                        settings the audio was made with, and for each file it holds its status,
                        input fingerprint, segments, removed spans, summary and failure
    index.csv           one row per kept music segment: identifier, file, segment, shard,
                        offset, length [samples], start_s [s] (where it began in the file)
    done.csv            files processed (ok or failed) with their input fingerprint
    failures.csv        files skipped, with the reason
    meta.json           sample rate, dtype, settings, totals
    complete.json       written when a run has finished every file it was asked for: the file
                        count and the SHA-256 of index.csv (the Makefile's target; make may
                        delete it harmlessly)

and, in the manifests folder, ``commentary.csv`` (every removed span) and
``commentary_summary.csv`` (seconds kept and removed per file).

**The commit records are the only source of truth.** Everything else (``index.csv``, ``done.csv``,
``failures.csv``, ``meta.json`` and the two commentary CSVs) is a view rebuilt from them whenever
it is missing or differs, so deleting one (GNU make deletes an interrupted target; a user may
delete ``index.csv`` by hand) loses nothing. A commit is made in this order:

1. the shard is written to ``shard-N.pcm.part``, fsynced and renamed to ``shard-N.pcm``;
2. ``commit-M.json`` is written to a temporary file, fsynced and renamed: **the commit point**;
3. the views are rewritten, each atomically.

A run killed before 2 leaves a shard that no record names; the next run deletes it and redoes
its files. A run killed during 3 leaves stale views; the next run rebuilds them. A committed
shard is never deleted. A committed shard that is missing, has the wrong size (every run checks)
or the wrong SHA-256 (``jazzcnn preprocess --check`` reads them all) is set aside with its record
(both renamed ``*.damaged``) and its files are redone by the next run.

A file that appears in several records (a failed file retried after it changed) takes its
latest entry. Output is deterministic: the same inputs and settings give byte-identical
folders, however often a run was interrupted and resumed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jazzcnn.acquire.manifests import COMMENTARY_COLUMNS, SUMMARY_COLUMNS, commentary_csv
from jazzcnn.core.errors import FolderBusyError, JazzcnnError
from jazzcnn.core.files import atomic_write_text, file_digest, fsync_dir, lock_folder, remove_stale_temporaries

log = logging.getLogger(__name__)

INDEX_COLUMNS = ["identifier", "file", "segment", "shard", "offset", "length", "start_s"]
DONE_COLUMNS = ["identifier", "file", "status", "fingerprint"]
FAILURE_COLUMNS = ["identifier", "file", "path", "reason", "error"]
#: Samples are stored as this numpy dtype (little-endian int16).
DTYPE = "<i2"
SAMPLE_BYTES = 2
#: Views rebuilt from the commit records: in the shard folder, and in the manifests folder.
SHARD_VIEWS = ("index.csv", "done.csv", "failures.csv", "meta.json")
COMMENTARY_VIEWS = ("commentary.csv", "commentary_summary.csv")
#: Written only when a run has finished every selected file (see :meth:`ShardStore.mark_complete`).
COMPLETE_STAMP = "complete.json"
_SHARD_RE = re.compile(r"^shard-(\d{5,})\.pcm$")
_COMMIT_RE = re.compile(r"^commit-(\d{5,})\.json$")


class ShardError(JazzcnnError, ValueError):
    """The shard folder is missing, inconsistent, in use, or was written with other settings."""


def shard_name(number: int) -> str:
    """File name of shard ``number``: ``shard-00000.pcm``."""
    return f"shard-{number:05d}.pcm"


def commit_name(number: int) -> str:
    """File name of commit record ``number``: ``commit-00000.json``."""
    return f"commit-{number:05d}.json"


# ------------------------------------------------------------------------------------------------
# commit records and the state they describe


@dataclass
class FileEntry:
    """What one commit record says about one processed file."""

    identifier: str
    file: str
    status: str  # "ok" or "failed"
    fingerprint: str
    segments: list[dict] = field(default_factory=list)  # segment, shard, offset, length, start_s
    commentary: list[dict] = field(default_factory=list)  # rows of commentary.csv
    summary: dict = field(default_factory=dict)  # row of commentary_summary.csv
    failure: dict | None = None  # row of failures.csv

    @property
    def key(self) -> tuple[str, str]:
        return (self.identifier, self.file)


@dataclass
class FolderState:
    """Every file's latest entry over the valid commit records, and the shards they need.

    Attributes
    ----------
    entries : dict
        ``(identifier, file) -> FileEntry`` in view order (a key re-committed later moves to the end).
    commits : list of dict
        The valid commit records, in order.
    damaged : list of (str, str)
        ``(file name, reason)`` of commit records or shards found damaged (not set aside yet).
    settings : dict or None
        The audio settings the records were made with.
    sample_rate : int or None
    """

    entries: dict[tuple[str, str], FileEntry] = field(default_factory=dict)
    commits: list[dict] = field(default_factory=list)
    damaged: list[tuple[str, str]] = field(default_factory=list)
    damaged_files: list[tuple[str, str]] = field(default_factory=list)
    settings: dict | None = None
    sample_rate: int | None = None

    def index_rows(self) -> list[dict]:
        return [{"identifier": e.identifier, "file": e.file, **s} for e in self.entries.values() for s in e.segments]

    def shards(self) -> list[str]:
        return sorted({c["shard"]["name"] for c in self.commits if c.get("shard")})


def _read_commit(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "files" not in data or "commit" not in data:
        raise ValueError("not a commit record")
    return data


def _check_shard(shard_dir: Path, shard: dict, verify: str) -> str | None:
    """Why the committed shard described by ``shard`` is unusable, or None."""
    path = shard_dir / shard["name"]
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != int(shard["bytes"]):
        return f"{size} bytes, its commit record says {shard['bytes']}"
    if verify == "sha256" and file_digest(path) != shard["sha256"]:
        return "SHA-256 differs from its commit record (the file was altered or the disk damaged it)"
    return None


def read_state(shard_dir: Path, *, verify: str = "size") -> FolderState:
    """Fold the commit records of ``shard_dir`` into the folder's state. Writes nothing.

    Parameters
    ----------
    shard_dir : Path
        ``DATA_DIR/shards``.
    verify : {"size", "sha256"}
        How committed shards are checked: existence and size, or also their SHA-256 (reads every
        shard).

    Returns
    -------
    FolderState
        Commit records that are unreadable, or whose shard fails the check, are listed in
        ``damaged`` and left out (their files count as not processed).
    """
    shard_dir = Path(shard_dir)
    state = FolderState()
    names = sorted(p.name for p in shard_dir.glob("commit-*.json") if _COMMIT_RE.match(p.name)) if shard_dir.is_dir() else []
    for name in names:
        try:
            rec = _read_commit(shard_dir / name)
        except (OSError, ValueError, UnicodeDecodeError) as e:
            state.damaged.append((name, f"unreadable commit record ({e})"))
            continue
        if rec.get("shard"):
            why = _check_shard(shard_dir, rec["shard"], verify)
            if why:
                state.damaged.append((rec["shard"]["name"], why))
                state.damaged.append((name, f"records the damaged {rec['shard']['name']}"))
                state.damaged_files += [(f["identifier"], f["file"]) for f in rec["files"]]
                continue
        if state.settings is None:
            state.settings, state.sample_rate = rec.get("settings"), rec.get("sample_rate")
        state.commits.append(rec)
        for f in rec["files"]:
            entry = FileEntry(**f)
            state.entries.pop(entry.key, None)
            state.entries[entry.key] = entry
    # A file of a damaged commit that a later valid commit re-did is not lost.
    state.damaged_files = [k for k in state.damaged_files if k not in state.entries]
    return state


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def _csv(rows: list[dict], columns: list[str]) -> str:
    return _frame(rows, columns).to_csv(index=False, lineterminator="\n")


def render_views(state: FolderState) -> dict[str, str]:
    """Text of every view (:data:`SHARD_VIEWS` and :data:`COMMENTARY_VIEWS`) of ``state``."""
    entries = list(state.entries.values())
    index = state.index_rows()
    samples = sum(int(r["length"]) for r in index)
    rate = int(state.sample_rate or 16000)
    meta = {
        "sample_rate": rate, "dtype": "int16", "byteorder": "little", "channels": 1,
        "config": state.settings or {},
        "files": len(entries),
        "files_ok": sum(e.status == "ok" for e in entries),
        "files_failed": sum(e.status == "failed" for e in entries),
        "segments": len(index), "samples": samples,
        "hours": round(samples / rate / 3600, 6),
        "shards": sorted({r["shard"] for r in index}),
        "commits": len(state.commits),
    }
    return {
        "index.csv": _csv(index, INDEX_COLUMNS),
        "done.csv": _csv([{"identifier": e.identifier, "file": e.file, "status": e.status, "fingerprint": e.fingerprint}
                          for e in entries], DONE_COLUMNS),
        "failures.csv": _csv([e.failure for e in entries if e.failure], FAILURE_COLUMNS),
        "meta.json": json.dumps(meta, indent=2, sort_keys=True) + "\n",
        "commentary.csv": commentary_csv([r for e in entries for r in e.commentary]),
        "commentary_summary.csv": commentary_csv([e.summary for e in entries], summary=True),
    }


# ------------------------------------------------------------------------------------------------
# the reader


def load_index(shard_dir: Path, *, sample_rate: int | None = None, verify: str = "size") -> pd.DataFrame:
    """The segments of a shard folder, from its commit records, with every shard checked.

    Parameters
    ----------
    shard_dir : Path
        ``DATA_DIR/shards``.
    sample_rate : int, optional
        Expected sample rate [Hz]; the folder's must agree.
    verify : {"size", "sha256"}
        How each committed shard is checked.

    Returns
    -------
    pd.DataFrame
        Columns :data:`INDEX_COLUMNS`; ``segment``, ``offset``, ``length`` int64 [samples],
        ``start_s`` float [s]; identifier, file and shard as str. A folder written before commit
        records existed is read from its ``index.csv``.

    Raises
    ------
    ShardError
        No shard folder or nothing committed; a committed shard missing or damaged (the message
        names it and says to rerun preprocess, which redoes its files); a segment past the end of
        its shard; another sample rate.
    """
    shard_dir = Path(shard_dir)
    has_records = shard_dir.is_dir() and any(shard_dir.glob("commit-*.json"))
    if not has_records:
        return _load_legacy_index(shard_dir, sample_rate)
    state = read_state(shard_dir, verify=verify)
    if state.damaged:
        what = "; ".join(f"{n}: {why}" for n, why in state.damaged if n.startswith("shard-")) or \
            "; ".join(f"{n}: {why}" for n, why in state.damaged)
        raise ShardError(f"{shard_dir}: damaged ({what}); rerun `make preprocess` (jazzcnn preprocess), which redoes "
                         f"the {len(state.damaged_files)} file(s) they held")
    if sample_rate is not None and state.sample_rate not in (None, sample_rate):
        raise ShardError(f"{shard_dir}: sample rate {state.sample_rate} Hz, but {sample_rate} Hz expected")
    df = _frame(state.index_rows(), INDEX_COLUMNS)
    return _typed_index(df, shard_dir, shard_dir / "commit-*.json")


def _typed_index(df: pd.DataFrame, shard_dir: Path, source: Path) -> pd.DataFrame:
    for col in ("identifier", "file", "shard"):
        df[col] = df[col].astype(str)
    for col in ("segment", "offset", "length"):
        try:
            df[col] = df[col].astype("int64")
        except (ValueError, TypeError):
            raise ShardError(f"{source}: column {col} must hold whole numbers of samples") from None
    df["start_s"] = pd.to_numeric(df["start_s"], errors="coerce").astype(float)
    if (df["length"] <= 0).any() or (df["offset"] < 0).any():
        raise ShardError(f"{source}: negative offset or non-positive length")
    for name, group in df.groupby("shard", sort=True):
        shard = shard_dir / name
        if not shard.exists():
            raise ShardError(f"{source} names shard file {shard}, which is missing (rerun `make preprocess`)")
        n = shard.stat().st_size // SAMPLE_BYTES
        end = int((group["offset"] + group["length"]).max())
        if end > n:
            raise ShardError(f"{source}: segments of {name} end at sample {end}, the shard holds {n}")
    return df.reset_index(drop=True)


def _load_legacy_index(shard_dir: Path, sample_rate: int | None) -> pd.DataFrame:
    """``index.csv`` of a folder written before commit records (read-only support)."""
    path = shard_dir / "index.csv"
    if not path.exists():
        raise ShardError(f"{path} not found: run `make preprocess` (jazzcnn preprocess) first")
    meta_path = shard_dir / "meta.json"
    if sample_rate is not None and meta_path.exists():
        try:
            rate = int(json.loads(meta_path.read_text()).get("sample_rate", sample_rate))
        except (ValueError, json.JSONDecodeError) as e:
            raise ShardError(f"{meta_path}: unreadable ({e})") from None
        if rate != sample_rate:
            raise ShardError(f"{meta_path}: sample_rate {rate} but {sample_rate} Hz expected")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ShardError(f"{path}: unreadable ({e})") from None
    missing = [c for c in INDEX_COLUMNS if c not in df.columns]
    if missing:
        raise ShardError(f"{path}: missing column(s) {missing}")
    return _typed_index(df[INDEX_COLUMNS].copy(), shard_dir, path)


def open_shard(shard_dir: Path, name: str) -> np.ndarray:
    """Memory-map one shard read-only.

    Parameters
    ----------
    shard_dir : Path
        ``DATA_DIR/shards``.
    name : str
        Shard file name as in the index (``shard-00000.pcm``).

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
# the writer


@dataclass
class CheckReport:
    """Outcome of :meth:`ShardStore.check`: what is damaged and what the next run will redo."""

    shards_checked: int = 0
    damaged: list[tuple[str, str]] = field(default_factory=list)
    files_to_redo: list[tuple[str, str]] = field(default_factory=list)
    stale_views: list[str] = field(default_factory=list)


class ShardStore:
    """The writer: appends processed files to shards and commits them (see module docstring).

    Opening the store takes the folder's lock, removes what a killed run left half-written, sets
    aside damaged shards, and rebuilds any view that is missing or stale.

    Parameters
    ----------
    shard_dir : Path
        ``DATA_DIR/shards`` (created).
    commentary_dir : Path
        Where ``commentary.csv`` and ``commentary_summary.csv`` go (``MANIFESTS_DIR``).
    shard_bytes : int
        Target shard size [bytes].
    settings : dict
        Settings that change the audio written; stored in each commit record and compared on reopen.
    sample_rate : int
        [Hz], recorded in each commit record.
    verify : {"size", "sha256"}
        How committed shards are checked on opening.

    Raises
    ------
    ShardError
        If the folder was written with different ``settings``, or another run holds it.
    """

    def __init__(self, shard_dir: Path, commentary_dir: Path, shard_bytes: int, settings: dict, sample_rate: int,
                 *, verify: str = "size"):
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
        try:
            self._open(verify)
        except BaseException:
            self._lock.close()
            raise

    def _open(self, verify: str) -> None:
        # Temporary files of writes a killed run was inside (safe: we hold the folder lock).
        remove_stale_temporaries(self.dir, [*SHARD_VIEWS, COMPLETE_STAMP, "commit-*.json"])
        remove_stale_temporaries(self.commentary_dir, list(COMMENTARY_VIEWS))
        _migrate_legacy(self.dir, self.commentary_dir, self.sample_rate)
        state = read_state(self.dir, verify=verify)
        if state.settings is not None and state.settings != self.settings:
            old = state.settings
            diff = {k: (old.get(k), self.settings.get(k)) for k in sorted(set(old) | set(self.settings))
                    if old.get(k) != self.settings.get(k)}
            raise ShardError(
                f"{self.dir} was written with other settings {diff} (old, new); restore them, or delete "
                f"{self.dir} and {self.commentary_dir}/commentary*.csv to rebuild")
        self.set_aside = self._set_aside(state)
        self.lost_files = list(state.damaged_files)
        self.state = state
        used = set(state.shards())
        # Shards no commit record names were written by a run killed before its commit: remove them.
        for p in sorted(self.dir.glob("shard-*.pcm*")):
            if p.name not in used and not p.name.endswith(".damaged"):
                p.unlink()
        numbers = [int(m.group(1)) for p in self.dir.glob("commit-*.json") if (m := _COMMIT_RE.match(p.name))]
        self.next_commit = 1 + max(numbers, default=-1)
        self.next_shard = 1 + max((int(_SHARD_RE.match(s).group(1)) for s in used), default=-1)
        self.write_views()
        self._reset_pending()

    def _set_aside(self, state: FolderState) -> list[tuple[str, str]]:
        """Rename damaged shards and their records to ``*.damaged``; return what was set aside."""
        out = []
        for name, why in state.damaged:
            path = self.dir / name
            if path.exists():
                os.replace(path, path.with_name(name + ".damaged"))
            out.append((name, why))
            log.warning("%s: %s; set aside as %s.damaged, its files will be redone", path, why, name)
        if out:
            fsync_dir(self.dir)
        return out

    def write_views(self) -> list[str]:
        """Rewrite every view that is missing or differs from the commit records; return their names."""
        written = []
        for name, text in render_views(self.state).items():
            folder = self.commentary_dir if name in COMMENTARY_VIEWS else self.dir
            path = folder / name
            try:
                if path.read_text(encoding="utf-8") == text:
                    continue
            except (OSError, UnicodeDecodeError):
                pass
            atomic_write_text(path, text)
            written.append(name)
        return written

    def mark_complete(self) -> bool:
        """Record that every selected file is processed: write :data:`COMPLETE_STAMP` if it changed.

        The Makefile's preprocess target is this file, so a run interrupted after some commits
        (whose ``index.csv`` is valid and new) is not taken for a finished one.

        Returns
        -------
        bool
            True when the stamp was (re)written.
        """
        index = render_views(self.state)["index.csv"]
        text = json.dumps({"files": len(self.state.entries), "commits": len(self.state.commits),
                           "index_sha256": hashlib.sha256(index.encode()).hexdigest()}, indent=2) + "\n"
        path = self.dir / COMPLETE_STAMP
        try:
            if path.read_text() == text:
                return False
        except OSError:
            pass
        atomic_write_text(path, text)
        return True

    def check(self) -> CheckReport:
        """Read every committed shard (SHA-256) and every view; set aside what is damaged.

        Returns
        -------
        CheckReport
            Damaged shards and records, the files the next run redoes, views that were stale.
        """
        state = read_state(self.dir, verify="sha256")
        report = CheckReport(shards_checked=len(self.state.shards()))
        report.damaged = self.set_aside + self._set_aside(state)
        lost = set(self.lost_files) | (set(self.state.entries) - set(state.entries)) | set(state.damaged_files)
        report.files_to_redo = sorted(lost)
        self.state = state
        report.stale_views = self.write_views()
        return report

    def close(self) -> None:
        """Drop uncommitted work (see :meth:`abort`) and release the folder lock."""
        self.abort()
        if not self._lock.closed:
            self._lock.close()

    def _reset_pending(self) -> None:
        self._part = None
        self._part_samples = 0
        self._hash = hashlib.sha256()
        self.pending_entries: list[FileEntry] = []

    @property
    def done(self) -> dict[tuple[str, str], dict]:
        """``(identifier, file) -> done.csv row`` of every committed file."""
        return {k: {"identifier": e.identifier, "file": e.file, "status": e.status, "fingerprint": e.fingerprint}
                for k, e in self.state.entries.items()}

    def is_done(self, identifier: str, file: str, fingerprint: str) -> bool:
        """True if the file was committed ``ok`` with the same commentary corrections, or committed
        ``failed`` and has not changed since (see :func:`with_corrections`)."""
        e = self.state.entries.get((identifier, file))
        if e is None:
            return False
        if e.status == "ok":
            return corrections_digest(e.fingerprint) == corrections_digest(fingerprint)
        return e.fingerprint == fingerprint

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
        rows = []
        for i, (start_s, samples) in enumerate(segments):
            data = np.ascontiguousarray(samples, dtype=DTYPE).tobytes()
            self._part.write(data)
            self._hash.update(data)
            rows.append({"segment": i, "shard": name, "offset": self._part_samples, "length": len(data) // SAMPLE_BYTES,
                         "start_s": round(float(start_s), 6)})
            self._part_samples += len(data) // SAMPLE_BYTES
        self.pending_entries.append(FileEntry(identifier, file, "failed" if failure else "ok", fingerprint,
                                              rows, list(commentary), dict(summary), failure))
        if self._part_samples * SAMPLE_BYTES >= self.shard_bytes:
            self.commit()

    @property
    def pending(self) -> bool:
        """True when files were added since the last commit."""
        return bool(self.pending_entries)

    def commit(self) -> None:
        """Make the current shard and every file added so far durable (see module docstring)."""
        if not self.pending:
            return
        shard = None
        if self._part is not None:
            name = shard_name(self.next_shard)
            self._part.flush()
            os.fsync(self._part.fileno())
            self._part.close()
            self._part = None
            os.replace(self.dir / (name + ".part"), self.dir / name)
            fsync_dir(self.dir)
            shard = {"name": name, "bytes": self._part_samples * SAMPLE_BYTES, "sha256": self._hash.hexdigest()}
            self.next_shard += 1
        record = {
            "commit": self.next_commit, "format": 1, "sample_rate": self.sample_rate, "dtype": "int16",
            "settings": self.settings, "shard": shard,
            "files": [e.__dict__ for e in self.pending_entries],
        }
        # The commit point: the files are done once this record is in place.
        atomic_write_text(self.dir / commit_name(self.next_commit), json.dumps(record, indent=1, default=_json_default) + "\n",
                          durable=True)
        self.next_commit += 1
        self.state.commits.append(record)
        self.state.settings, self.state.sample_rate = self.settings, self.sample_rate
        for e in self.pending_entries:
            self.state.entries.pop(e.key, None)
            self.state.entries[e.key] = e
        self._reset_pending()
        self.write_views()

    def abort(self) -> None:
        """Drop everything added since the last commit (the half-written shard included)."""
        if self._part is not None:
            self._part.close()
            (self.dir / (shard_name(self.next_shard) + ".part")).unlink(missing_ok=True)
        self._reset_pending()


def with_corrections(fingerprint: str, digest: str) -> str:
    """A file's fingerprint with the digest of its commentary corrections appended.

    Parameters
    ----------
    fingerprint : str
        ``size:mtime_ns`` of the input (or ``missing``/``retry``).
    digest : str
        :func:`jazzcnn.acquire.manifests.overrides_digest` of the file's rows in
        ``commentary_overrides.csv``; ``""`` when it has none (the fingerprint is unchanged, so
        folders written before corrections existed stay done).

    Returns
    -------
    str
        ``fingerprint|corrections:<digest>``, or ``fingerprint``.
    """
    return f"{fingerprint}|corrections:{digest}" if digest else fingerprint


def corrections_digest(fingerprint: str) -> str:
    """The corrections digest a fingerprint carries (``""`` for none); see :func:`with_corrections`."""
    return fingerprint.partition("|corrections:")[2]


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _read_rows(path: Path, columns: list[str]) -> list[dict]:
    if not path.exists():
        return []
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return df.reindex(columns=columns, fill_value="").to_dict("records")


def _migrate_legacy(shard_dir: Path, commentary_dir: Path, sample_rate: int) -> None:
    """Turn a folder written before commit records (``done.csv`` the commit point) into one record.

    Only what ``done.csv`` lists is carried over, exactly as the old reader trusted it; shards
    and rows it does not cover are left for the caller to drop.
    """
    if any(shard_dir.glob("commit-*.json")) or not (shard_dir / "done.csv").exists():
        return
    done = _read_rows(shard_dir / "done.csv", DONE_COLUMNS)
    if not done:
        return
    meta = json.loads((shard_dir / "meta.json").read_text()) if (shard_dir / "meta.json").exists() else {}
    keys = {(r["identifier"], r["file"]) for r in done}

    def by_key(rows: Iterable[dict]) -> dict[tuple[str, str], list[dict]]:
        out: dict[tuple[str, str], list[dict]] = {}
        for r in rows:
            if (r["identifier"], r["file"]) in keys:
                out.setdefault((r["identifier"], r["file"]), []).append(r)
        return out

    index = by_key(_read_rows(shard_dir / "index.csv", INDEX_COLUMNS))
    failures = by_key(_read_rows(shard_dir / "failures.csv", FAILURE_COLUMNS))
    commentary = by_key(_read_rows(commentary_dir / "commentary.csv", COMMENTARY_COLUMNS))
    summary = by_key(_read_rows(commentary_dir / "commentary_summary.csv", SUMMARY_COLUMNS))
    shards = sorted({r["shard"] for rows in index.values() for r in rows})
    # One record per shard with the files whose audio it holds, then one for files without audio.
    records = []
    for name in shards:
        path = shard_dir / name
        files = [_legacy_entry(d, [r for r in index.get((d["identifier"], d["file"]), []) if r["shard"] == name],
                               commentary, failures, summary)
                 for d in done if any(r["shard"] == name for r in index.get((d["identifier"], d["file"]), []))]
        records.append({"shard": {"name": name, "bytes": path.stat().st_size if path.exists() else -1,
                                  "sha256": file_digest(path) if path.exists() else ""}, "files": files})
    rest = [_legacy_entry(d, [], commentary, failures, summary) for d in done if (d["identifier"], d["file"]) not in index]
    if rest:
        records.append({"shard": None, "files": rest})
    for i, rec in enumerate(records):
        rec = {"commit": i, "format": 1, "sample_rate": int(meta.get("sample_rate", sample_rate)), "dtype": "int16",
               "settings": meta.get("config", {}), **rec}
        atomic_write_text(shard_dir / commit_name(i), json.dumps(rec, indent=1) + "\n", durable=True)
    log.info("%s: converted to commit records (%d files)", shard_dir, len(done))


def _legacy_entry(d: dict, segs: list[dict], commentary, failures, summary) -> dict:
    k = (d["identifier"], d["file"])
    num = {"duration_s", "kept_s", "removed_s", "speech_s", "speech_over_music_s", "silence_s", "head_s", "tail_s",
           "short_s"}
    summ = (summary.get(k) or [{}])[0]
    summ = {c: (float(v) if c in num and v != "" else int(v) if c == "segments" and v != "" else v)
            for c, v in summ.items()}
    return {
        "identifier": d["identifier"], "file": d["file"], "status": d["status"], "fingerprint": d["fingerprint"],
        "segments": [{"segment": int(r["segment"]), "shard": r["shard"], "offset": int(r["offset"]),
                      "length": int(r["length"]), "start_s": float(r["start_s"])} for r in segs],
        "commentary": [{"identifier": r["identifier"], "file": r["file"], "start_s": float(r["start_s"]),
                        "end_s": float(r["end_s"]), "reason": r["reason"]} for r in commentary.get(k, [])],
        "summary": summ,
        "failure": (failures.get(k) or [None])[0],
    }
