"""``jazzcnn download``: scrape the collection into ``tracks.csv``, then download it, verified.

Steps: search + metadata (through the ``internetarchive`` library) -> merge into ``tracks.csv``
(user-edited columns win) -> select rows (format, ``--eras``, ``--limit``, ``--max-examples``)
-> size preflight per era and free-space check -> parallel verified transfers with progress bars.
:func:`download` returns a :class:`DownloadResult` listing every file's outcome and raises on
unusable input; the command line prints the preflight and the summary.
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from jazzcnn.acquire.archive import ScrapeResult, make_session, resolve_base_url, scrape
from jazzcnn.acquire.config import DownloadConfig
from jazzcnn.acquire.manifests import (load_eras, load_tracks, merge_tracks, read_tracks_or_empty, select_tracks,
                                       write_csv_atomic, years_within_eras)
from jazzcnn.acquire.transfer import (Cancellation, TransferCancelled, TransferError, TransferResult, UnsafePathError,
                                      VerifiedRecord, download_file, md5_of_file, safe_target)
from jazzcnn.core.errors import JazzcnnError, SettingsError
from jazzcnn.core.files import ensure_writable, lock_folder, remove_stale_temporaries
from jazzcnn.core.paths import DataPaths, ManifestPaths

log = logging.getLogger(__name__)


class ScrapeError(JazzcnnError, RuntimeError):
    """The collection's search failed (after retries); nothing was downloaded."""


class NotEnoughSpaceError(JazzcnnError, OSError):
    """The disk lacks room for the planned download plus the margin; nothing was downloaded."""


def audio_dir(data_dir: Path) -> Path:
    """Download root ``DATA_DIR/audio``; files land in ``<root>/<identifier>/<file>``."""
    return DataPaths(data_dir).audio


@dataclass
class Plan:
    """What a run will do: rows to fetch, rows already verified, refused rows, bytes per era."""

    todo: pd.DataFrame
    done: list[tuple[str, str]]
    refused: list[TransferResult]
    per_era: pd.DataFrame
    bytes_needed: int
    newly_verified: list[tuple[str, str]] = field(default_factory=list)


def plan_downloads(selected: pd.DataFrame, root: Path, record: VerifiedRecord) -> Plan:
    """Split ``selected`` into files to fetch and files already verified, and tally bytes per era.

    A file on disk that is not in the record (a run killed between rename and record) is
    hashed once and recorded instead of being downloaded again. Unsafe names are refused.

    Parameters
    ----------
    selected : pd.DataFrame
        Output of :func:`select_tracks` (``size_bytes`` [bytes], ``md5``, ``era_of``).
    root : Path
        ``DATA_DIR/audio``.
    record : VerifiedRecord
        The ``verified.csv`` record; files found intact on disk are added to it.

    Returns
    -------
    Plan
        ``bytes_needed`` [bytes] counts what is still missing, net of ``.part`` files.
    """
    todo, done, refused, new = [], [], [], []
    needed = 0
    for r in selected.itertuples(index=False):
        try:
            target = safe_target(root, r.identifier, r.file)
        except UnsafePathError as e:
            refused.append(TransferResult(r.identifier, r.file, "failed", f"refused: {e}"))
            continue
        size = None if pd.isna(r.size_bytes) else int(r.size_bytes)
        if size is not None and record.is_verified(r.identifier, r.file, size, r.md5, target):
            done.append((r.identifier, r.file))
            continue
        # Only a verified transfer is renamed into place, so without an MD5 to check, the size
        # of a file found there is the whole test.
        if target.exists() and size is not None and target.stat().st_size == size \
                and (not r.md5 or md5_of_file(target) == r.md5.lower()):
            record.add(r.identifier, r.file, size, r.md5 or "")
            done.append((r.identifier, r.file))
            new.append((r.identifier, r.file))
            continue
        todo.append(r._asdict())
        part = target.with_name(target.name + ".part")
        have = part.stat().st_size if part.exists() else 0
        needed += max(0, (size or 0) - have)
    todo_df = pd.DataFrame(todo, columns=list(selected.columns))
    sel = selected.assign(size=selected["size_bytes"].fillna(0).astype("int64"))
    per_era = sel.groupby("era_of").agg(files=("file", "size"), bytes=("size", "sum"))
    if len(todo_df):
        t = todo_df.assign(size=pd.array(todo_df["size_bytes"], dtype="Int64").fillna(0).astype("int64"))
        per_era = per_era.join(t.groupby("era_of").agg(to_fetch_files=("file", "size"), to_fetch_bytes=("size", "sum")))
    else:
        per_era = per_era.assign(to_fetch_files=0, to_fetch_bytes=0)
    per_era = per_era.fillna(0).astype("int64")
    return Plan(todo_df, done, refused, per_era, needed, new)


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def preflight_text(plan: Plan) -> str:
    """The size preflight: files and bytes per era, selected and still to fetch.

    Parameters
    ----------
    plan : Plan
        From :func:`plan_downloads`; sizes in bytes, shown in kB/MB/GB (powers of 1000).

    Returns
    -------
    str
        Several lines, the last one the totals.
    """
    lines = ["size preflight (era: files, bytes selected | still to fetch):"]
    for era, r in plan.per_era.iterrows():
        lines.append(f"  {era:<20} {r['files']:>5} files {_human(r['bytes']):>10} | "
                     f"{r['to_fetch_files']:>5} files {_human(r['to_fetch_bytes']):>10}")
    tot = plan.per_era.sum()
    lines.append(f"  {'total':<20} {int(tot.get('files', 0)):>5} files {_human(tot.get('bytes', 0)):>10} | "
                 f"{len(plan.todo):>5} files {_human(plan.bytes_needed):>10} to download")
    return "\n".join(lines)


def check_free_space(path: Path, needed: int, margin: int) -> tuple[bool, int]:
    """Whether the disk holding ``path`` has ``needed + margin`` bytes free.

    Parameters
    ----------
    path : Path
        Download folder (need not exist yet: its nearest existing parent is measured).
    needed, margin : int
        Bytes to download and bytes to keep free [bytes].

    Returns
    -------
    ok : bool
    free : int
        Free bytes on that disk [bytes].
    """
    probe = Path(path).resolve()
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    return free >= needed + margin, free


def _local_session(cfg: DownloadConfig, base_url: str, cancellation: Cancellation | None = None):
    """One library session per worker thread (requests sessions are not guaranteed thread-safe)."""
    store = threading.local()

    def get():
        if not hasattr(store, "session"):
            store.session = make_session(base_url, cfg.retries, cfg.backoff_s, pool_size=2,
                                         max_retry_after_s=cfg.max_retry_after_s,
                                         cancel=cancellation.event if cancellation else None)
        return store.session

    return get


@dataclass
class DownloadResult:
    """What one ``jazzcnn download`` run did.

    Attributes
    ----------
    base_url : str
        The server talked to.
    scraped : ScrapeResult or None
        The scrape (None with ``scrape=False``): rows, notes, problems, failures.
    tracks_rows : int
        Rows in ``tracks.csv`` after the merge.
    plan : Plan or None
        Files to fetch and already verified, bytes per era.
    results : list of TransferResult
        One per file: ``downloaded``, ``skipped`` (already verified) or ``failed`` (with the
        reason); scrape failures and refused names appear as ``failed`` too.
    problems : list of str
        Implausible years and unparseable durations found in the metadata.
    warnings : list of str
        Files verified by size only (no MD5 in the metadata).
    dry_run : bool
    """

    base_url: str
    scraped: ScrapeResult | None = None
    tracks_rows: int = 0
    plan: Plan | None = None
    results: list[TransferResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def failed(self) -> list[TransferResult]:
        """The files that failed, sorted by identifier and file."""
        return sorted((r for r in self.results if r.status == "failed"), key=lambda r: (r.identifier, r.file))

    def count(self, status: str) -> int:
        """Files with ``status`` (``downloaded``, ``skipped`` or ``failed``)."""
        return sum(r.status == status for r in self.results)


def download(cfg: DownloadConfig, *, on_plan: Callable[[DownloadResult], None] | None = None,
             progress: bool = True) -> DownloadResult:
    """Run ``jazzcnn download``: scrape, merge ``tracks.csv``, plan, and fetch every selected file.

    Parameters
    ----------
    cfg : DownloadConfig
    on_plan : callable, optional
        Called with the result so far (scrape, plan, problems) once the plan is made and before
        any transfer starts, e.g. to show the size preflight.
    progress : bool
        Show progress bars on stderr.

    Returns
    -------
    DownloadResult
        Failed files are listed, not raised: the other files go on.

    Raises
    ------
    ManifestError
        ``eras.csv``/``tracks.csv`` unusable, or an unknown era in ``cfg.eras``.
    SettingsError
        ``cfg.ia_base_url`` is not an http(s) URL.
    FolderBusyError
        Another download holds ``DATA_DIR/audio``.
    NotWritableError
        The manifests or audio folder cannot be written (checked before any network work).
    ScrapeError
        The collection's search failed.
    NotEnoughSpaceError
        The disk lacks room for the planned download.
    """
    base_url = resolve_base_url(cfg.ia_base_url)
    manifests = ManifestPaths(cfg.manifests_dir)
    root = DataPaths(cfg.data_dir).audio
    eras = load_eras(manifests.eras)
    if cfg.eras:
        years_within_eras(None, None, eras, list(cfg.eras))  # unknown era names fail early
    # before any network work: both folders must take files
    if cfg.scrape:
        ensure_writable(manifests.root, "manifests folder (tracks.csv is written there)")
    if not cfg.dry_run:
        ensure_writable(root, "audio folder")
    # One run per audio folder: two would write the same .part files. A dry run on a fresh machine
    # creates no folder, so it takes no lock.
    lock = None
    if root.exists() or not cfg.dry_run:
        lock = lock_folder(root, "download")
        # A run killed inside an atomic write leaves its temporary file behind; holding the lock
        # makes removing it safe.
        remove_stale_temporaries(root, ["verified.csv"])
        remove_stale_temporaries(manifests.root, ["tracks.csv"])
    try:
        return _download(cfg, base_url, eras, manifests.tracks, root, on_plan, progress)
    finally:
        if lock is not None:
            lock.close()


def _download(cfg: DownloadConfig, base_url: str, eras: pd.DataFrame, tracks_path: Path, root: Path,
              on_plan, progress: bool) -> DownloadResult:
    """The body of :func:`download`, run while holding the lock on ``root``."""
    result = DownloadResult(base_url=base_url, dry_run=cfg.dry_run)
    if cfg.scrape:
        try:
            session = make_session(base_url, cfg.retries, cfg.backoff_s, max_retry_after_s=cfg.max_retry_after_s)
        except ValueError as e:  # a bad URL, or half of the IA_* key pair set in the environment
            raise SettingsError(str(e)) from None

        def keep(identifier, years):
            if not cfg.eras:
                return True
            # Search fields may lack years the metadata has; only drop items that clearly miss.
            if years.start is None:
                return True
            return years_within_eras(years.start, years.end, eras, list(cfg.eras))

        try:
            scraped = scrape(session, cfg.collection, cfg.format, keep=keep, limit=cfg.limit, timeout_s=cfg.timeout_s,
                             workers=cfg.workers, session_for=_local_session(cfg, base_url), log=log.debug)
        except Exception as e:  # search failures come as requests or ValueError from the library
            raise ScrapeError(f"scraping {cfg.collection!r} at {base_url} failed: {e}") from None
        result.scraped = scraped
        result.problems.extend(scraped.problems)
        result.results += [TransferResult(i, "*", "failed", why) for i, why in scraped.failed]
        result.results += [TransferResult(i, f, "failed", why) for i, f, why in scraped.refused]
        merged = merge_tracks(read_tracks_or_empty(tracks_path), scraped.rows)
        write_csv_atomic(merged, tracks_path)
        result.tracks_rows = len(merged)
    tracks = load_tracks(tracks_path, eras)
    if not cfg.scrape:
        result.tracks_rows = len(tracks)
    selected = select_tracks(tracks, eras, cfg.format, list(cfg.eras), cfg.limit)
    if cfg.max_examples is not None:
        selected = selected.head(cfg.max_examples)

    record = VerifiedRecord(root / "verified.csv")
    plan = plan_downloads(selected, root, record)
    result.plan = plan
    result.results += list(plan.refused)
    result.results += [TransferResult(i, f, "skipped", "already verified") for i, f in plan.done]
    if on_plan is not None:
        on_plan(result)
    if cfg.dry_run:
        record.save()  # files found intact on disk while planning stay recorded
        return result
    ok, free = check_free_space(root, plan.bytes_needed, cfg.free_space_margin_bytes)
    if not ok:
        raise NotEnoughSpaceError(
            f"not enough disk space under {root}: {_human(plan.bytes_needed)} to download + "
            f"{_human(cfg.free_space_margin_bytes)} margin, {_human(free)} free; nothing downloaded")
    try:
        result.results += _transfer_all(cfg, result, plan, root, record, progress)
    finally:
        record.save()  # also after Ctrl-C: what was verified stays recorded
    return result


def _transfer_all(cfg: DownloadConfig, result: DownloadResult, plan: Plan, root: Path, record: VerifiedRecord,
                  progress: bool) -> list[TransferResult]:
    if not len(plan.todo):
        return []
    cancellation = Cancellation()
    session_for = _local_session(cfg, result.base_url, cancellation)
    total_bytes = int(pd.array(plan.todo["size_bytes"], dtype="Int64").fillna(0).sum())
    hide = None if progress else True
    bytes_bar = tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="bytes", position=0,
                     mininterval=0.5, dynamic_ncols=True, disable=hide, file=sys.stderr)
    files_bar = tqdm(total=len(plan.todo), unit="file", desc="files", position=1, mininterval=0.5,
                     dynamic_ncols=True, disable=hide, file=sys.stderr)
    lock = threading.Lock()

    def progress(n: int) -> None:
        if cancellation.is_set():
            raise TransferCancelled("cancelled")
        with lock:
            bytes_bar.update(n)

    def one(row: dict) -> TransferResult:
        ident, name = row["identifier"], row["file"]
        size = None if pd.isna(row["size_bytes"]) else int(row["size_bytes"])
        target = safe_target(root, ident, name)
        session = session_for()
        # Build the URL with the library, exactly as its own File.download would.
        url = session.get_item(ident, item_metadata={"metadata": {"identifier": ident}}).get_file(name).url
        part = target.with_name(target.name + ".part")
        if part.exists():
            progress(part.stat().st_size)  # bytes already on disk count as done
        try:
            got, resumed = download_file(
                session, url, target, size, row["md5"], timeout_s=cfg.timeout_s, attempts=cfg.retries,
                backoff_s=cfg.backoff_s, progress=progress, params={"cnt": "0"}, cancellation=cancellation,
            )
        except TransferError as e:
            record.discard(ident, name)
            return TransferResult(ident, name, "failed", str(e))
        except OSError as e:
            return TransferResult(ident, name, "failed", f"local file error: {e}")
        if size is not None:
            # Without an MD5 in the metadata the size is all there is to check (download_file did);
            # recording it keeps a re-run from fetching the file again.
            if not row["md5"]:
                result.warnings.append(f"{ident}/{name}: the metadata has no MD5; verified by size only")
            record.add(ident, name, size, row["md5"] or "")
        return TransferResult(ident, name, "downloaded", bytes_received=got, resumed=resumed)

    results = []
    pool = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="download")
    try:
        futures = [pool.submit(one, row) for row in plan.todo.to_dict("records")]
        for fut in as_completed(futures):
            res = fut.result()
            results.append(res)
            files_bar.update(1)
            if res.status == "failed":
                log.warning("failed: %s/%s: %s", res.identifier, res.file, res.reason)
    except BaseException:
        # Ctrl-C: abort open transfers (even one blocked on a hung connection) and retry waits,
        # so the workers stop within a second; their .part files stay for the next run.
        cancellation.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        bytes_bar.close()
        files_bar.close()
    return results
