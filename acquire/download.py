"""``jazzcnn download``: catalogue a data set into ``tracks.csv``, then download it, verified.

Steps for Internet Archive collections (``niven``, ``ia``): search + metadata (through the
``internetarchive`` library) -> merge into ``tracks.csv`` (user-edited columns win) -> select rows
(format, ``--eras``, ``--limit``, ``--max-examples``, sampled evenly over the eras) -> size
preflight per era (files, bytes, hours) and free-space check -> parallel verified transfers with
progress bars. Packaged data sets (``fma``, ``gtzan``, ``folder``; :mod:`jazzcnn.acquire.datasets`)
take the same steps with a catalogue made from their metadata, listing or labels CSV, and files
placed from a verified archive or a folder (:mod:`jazzcnn.acquire.sources`).
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

from jazzcnn.acquire import datasets
from jazzcnn.acquire.archive import ScrapeResult, http_session, make_session, resolve_base_url, scrape
from jazzcnn.acquire.config import DownloadConfig
from jazzcnn.acquire.manifests import (load_classes, load_eras, load_tracks, merge_tracks, read_tracks_or_empty,
                                       select_tracks, tape_era, write_csv_atomic, years_within_eras)
from jazzcnn.acquire.parsing import NIVEN_RULES
from jazzcnn.acquire.sources import SourceError, list_members, match_members, place_members
from jazzcnn.acquire.transfer import (Cancellation, TransferCancelled, TransferError, TransferResult, UnsafePathError,
                                      VerifiedRecord, download_file, md5_of_file, safe_target)
from jazzcnn.core.errors import JazzcnnError, NotEnoughSpaceError, SettingsError
from jazzcnn.core.files import ensure_writable, lock_folder, remove_stale_temporaries
from jazzcnn.core.paths import DataPaths, ManifestPaths

log = logging.getLogger(__name__)


class ScrapeError(JazzcnnError, RuntimeError):
    """The collection's search failed (after retries); nothing was downloaded."""


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
    notes: list[str] = field(default_factory=list)
    label_name: str = "era"


def plan_downloads(selected: pd.DataFrame, root: Path, record: VerifiedRecord,
                   estimates: dict | None = None) -> Plan:
    """Split ``selected`` into files to fetch and files already verified, and tally files, bytes
    and hours of audio per era (or class).

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
    estimates : dict, optional
        ``(identifier, file) -> bytes`` for rows without a ``size_bytes`` yet (a packaged data
        set's files before they are taken from the archive) [bytes].

    Returns
    -------
    Plan
        ``bytes_needed`` [bytes] counts what is still missing, net of ``.part`` files;
        ``per_era`` has ``files``, ``bytes``, ``hours`` (from ``duration_s``), ``to_fetch_files``
        and ``to_fetch_bytes`` per era.
    """
    estimates = estimates or {}
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
        needed += max(0, (size if size is not None else estimates.get((r.identifier, r.file), 0)) - have)
    todo_df = pd.DataFrame(todo, columns=list(selected.columns))

    def sizes(df: pd.DataFrame) -> pd.Series:
        known = pd.array(df["size_bytes"], dtype="Int64")
        est = pd.array([estimates.get((i, f)) for i, f in zip(df["identifier"], df["file"])], dtype="Int64")
        return pd.Series(known, index=df.index).fillna(pd.Series(est, index=df.index)).fillna(0).astype("int64")

    sel = selected.assign(size=sizes(selected), secs=pd.to_numeric(selected["duration_s"], errors="coerce").fillna(0))
    per_era = sel.groupby("era_of").agg(files=("file", "size"), bytes=("size", "sum"), seconds=("secs", "sum"))
    per_era = per_era.assign(hours=per_era.pop("seconds") / 3600.0)
    if len(todo_df):
        t = todo_df.assign(size=sizes(todo_df))
        per_era = per_era.join(t.groupby("era_of").agg(to_fetch_files=("file", "size"), to_fetch_bytes=("size", "sum")))
    else:
        per_era = per_era.assign(to_fetch_files=0, to_fetch_bytes=0)
    per_era = per_era.fillna(0)
    for col in ("files", "bytes", "to_fetch_files", "to_fetch_bytes"):
        per_era[col] = per_era[col].astype("int64")
    return Plan(todo_df, done, refused, per_era, needed, new)


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def preflight_text(plan: Plan) -> str:
    """The size preflight: files, bytes and hours of audio per era (or class), selected and still
    to fetch, then notes (archives to fetch, estimated sizes).

    Parameters
    ----------
    plan : Plan
        From :func:`plan_downloads`; sizes in bytes, shown in kB/MB/GB (powers of 1000); hours
        from the manifest's durations.

    Returns
    -------
    str
        Several lines: one per era or class, the totals, then the plan's notes.
    """
    lines = [f"size preflight ({plan.label_name}: files, bytes, hours selected | still to fetch):"]
    for era, r in plan.per_era.iterrows():
        lines.append(f"  {era:<20} {int(r['files']):>5} files {_human(r['bytes']):>10} {r['hours']:>8.1f} h | "
                     f"{int(r['to_fetch_files']):>5} files {_human(r['to_fetch_bytes']):>10}")
    tot = plan.per_era.sum()
    lines.append(f"  {'total':<20} {int(tot.get('files', 0)):>5} files {_human(tot.get('bytes', 0)):>10} "
                 f"{float(tot.get('hours', 0)):>8.1f} h | {len(plan.todo):>5} files {_human(plan.bytes_needed):>10} "
                 "to download")
    lines += [f"  note: {n}" for n in plan.notes]
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
    adapter = datasets.DATASETS[cfg.dataset]
    info = datasets.dataset_info(cfg)
    base_url = resolve_base_url(cfg.ia_base_url)
    manifests = ManifestPaths(cfg.manifests_dir)
    root = DataPaths(cfg.data_dir).audio
    if cfg.scrape:
        datasets.check_same_dataset(manifests.root, info)  # before any other work
    notes: list[str] = []
    if info.by_years:
        if cfg.scrape:
            notes += datasets.ensure_eras(manifests.root, cfg.dataset)
        eras = load_eras(manifests.eras)
        if cfg.eras:
            years_within_eras(None, None, eras, list(cfg.eras))  # unknown era names fail early
    else:
        eras = None
        if not adapter.items:
            datasets.file_source(cfg, DataPaths(cfg.data_dir).root / "archives")  # missing settings fail early
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
        if adapter.items:
            result = _download(cfg, base_url, eras, manifests.tracks, root, on_plan, progress, info=info,
                               rules=adapter.rules, notes=notes)
        else:
            result = _download_packaged(cfg, info, manifests.root, root, on_plan, progress)
        return result
    finally:
        if lock is not None:
            lock.close()


def _download(cfg: DownloadConfig, base_url: str, eras: pd.DataFrame, tracks_path: Path, root: Path,
              on_plan, progress: bool, *, info=None, rules=None, notes: list[str] | None = None) -> DownloadResult:
    """The body of :func:`download` for Internet Archive collections, run while holding the lock on ``root``."""
    result = DownloadResult(base_url=base_url, dry_run=cfg.dry_run)
    era_names = list(eras["era"])
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

        def label_of(identifier, years):
            return tape_era(years.start, years.end, eras).era if years.start is not None else None

        try:
            scraped = scrape(session, cfg.collection, cfg.format, keep=keep, limit=cfg.limit, timeout_s=cfg.timeout_s,
                             workers=cfg.workers, session_for=_local_session(cfg, base_url), log=log.debug,
                             rules=rules or NIVEN_RULES, label_of=label_of,
                             classes=[e for e in era_names if not cfg.eras or e in cfg.eras])
        except Exception as e:  # search failures come as requests or ValueError from the library
            raise ScrapeError(f"scraping {cfg.collection!r} at {base_url} failed: {e}") from None
        scraped.notes[:0] = list(notes or [])
        result.scraped = scraped
        result.problems.extend(scraped.problems)
        result.results += [TransferResult(i, "*", "failed", why) for i, why in scraped.failed]
        result.results += [TransferResult(i, f, "failed", why) for i, f, why in scraped.refused]
        merged = merge_tracks(read_tracks_or_empty(tracks_path), scraped.rows)
        write_csv_atomic(merged, tracks_path)
        if info is not None and info.dataset != "niven":
            # A folder without dataset.json holds the Niven collection: its manifests stay as they were.
            datasets.write_info(tracks_path.parent, info)
        result.tracks_rows = len(merged)
    tracks = load_tracks(tracks_path, eras)
    if not cfg.scrape:
        result.tracks_rows = len(tracks)
    selected = select_tracks(tracks, eras, cfg.format, list(cfg.eras), cfg.limit, max_files=cfg.max_examples)

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


def _bytes_bar(progress: bool, desc: str):
    """A tqdm byte counter on stderr (hidden when ``progress`` is False)."""
    return tqdm(total=None, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, mininterval=0.5,
                dynamic_ncols=True, disable=None if progress else True, file=sys.stderr)


def _download_packaged(cfg: DownloadConfig, info, manifests_dir: Path, root: Path, on_plan,
                       progress: bool) -> DownloadResult:
    """The body of :func:`download` for packaged data sets (fma, gtzan, folder), holding the lock.

    Catalogue -> ``tracks.csv``, ``classes.csv``, ``dataset.json`` -> select (classes, limit,
    max_examples, sampled evenly) -> preflight -> the archive fetched and verified (if any file is
    still to place) -> each selected file placed from it (or copied from the folder) through a
    ``.part`` with its MD5, recorded in ``verified.csv`` and in ``tracks.csv``.
    """
    tracks_path = ManifestPaths(manifests_dir).tracks
    archives = DataPaths(cfg.data_dir).root / "archives"
    session = http_session(cfg.retries, cfg.backoff_s, max_retry_after_s=cfg.max_retry_after_s)
    record = VerifiedRecord(root / "verified.csv")
    source = datasets.file_source(cfg, archives)
    result = DownloadResult(base_url=source.url or str(source.path), dry_run=cfg.dry_run)
    estimates: dict = {}
    class_notes: list[str] = []
    if cfg.scrape:
        bar = _bytes_bar(progress, "catalogue")
        try:
            cat = datasets.catalogue(cfg, archives, session, progress=bar.update)
        finally:
            bar.close()
        scraped, estimates = cat.scraped, cat.estimates
        result.scraped = scraped
        result.problems.extend(scraped.problems)
        result.results += [TransferResult(i, f, "failed", why) for i, f, why in scraped.refused]
        rows = datasets.fill_from_record(scraped.rows, record)
        merged = merge_tracks(read_tracks_or_empty(tracks_path), rows)
        write_csv_atomic(merged, tracks_path)
        datasets.write_info(manifests_dir, info)
        classes, class_notes = datasets.ensure_classes(manifests_dir, cat.classes)
        scraped.notes += class_notes
        result.tracks_rows = len(merged)
    classes = load_classes(ManifestPaths(manifests_dir).root / "classes.csv")
    tracks = load_tracks(tracks_path)
    if not cfg.scrape:
        result.tracks_rows = len(tracks)
    if cfg.scrape:
        # Rows of files no longer in the source (kept in tracks.csv, as a re-scrape keeps every row)
        # are not selected: only what this catalogue found can be placed.
        tracks = tracks[tracks.set_index(["identifier", "file"]).index.isin(
            list(zip(scraped.rows["identifier"], scraped.rows["file"])))].reset_index(drop=True)
    selected = select_tracks(tracks, None, None, list(cfg.eras), cfg.limit, classes=classes,
                             max_files=cfg.max_examples)
    plan = plan_downloads(selected, root, record, estimates)
    plan.label_name = info.label_name
    result.plan = plan
    result.results += list(plan.refused)
    result.results += [TransferResult(i, f, "skipped", "already verified") for i, f in plan.done]
    if len(plan.todo) and source.is_archive:
        part = Path(str(source.path) + ".part")
        if source.path.is_file():
            plan.notes.append(f"{source.path.name} is on disk; its SHA-1 is checked before files are taken from it")
        else:
            size = datasets.remote_size(session, source.url, cfg.timeout_s)
            total = size if size is not None else source.published_bytes
            have = part.stat().st_size if part.exists() else 0
            plan.bytes_needed += max(0, (total or 0) - have)
            plan.notes.append(f"the archive {source.path.name} is fetched whole from {source.url}"
                              + (f" ({_human(size)})" if size is not None else
                                 f" (about {_human(source.published_bytes)} as published)" if source.published_bytes
                                 else "")
                              + (f", {_human(have)} of it already in {part.name}" if have else "")
                              + ", verified" + (" by SHA-1" if source.sha1 else "")
                              + "; the selected files are then taken from it")
    if estimates and len(plan.todo):
        plan.notes.append("sizes of files not yet taken from the archive are estimated (bit rate x duration)")
    if on_plan is not None:
        on_plan(result)
    if cfg.dry_run:
        record.save()
        return result
    ok, free = check_free_space(root, plan.bytes_needed, cfg.free_space_margin_bytes)
    if not ok:
        raise NotEnoughSpaceError(
            f"not enough disk space under {root}: {_human(plan.bytes_needed)} to download and place + "
            f"{_human(cfg.free_space_margin_bytes)} margin, {_human(free)} free; nothing downloaded")
    if not len(plan.todo):
        return result
    placed: dict[tuple[str, str], tuple[int, str]] = {}
    try:
        result.results += _place_all(cfg, source, session, plan, root, record, placed, progress)
    finally:
        record.save()  # also after Ctrl-C: what was placed stays recorded
        if placed:
            _record_in_tracks(tracks_path, placed)
    return result


def _place_all(cfg: DownloadConfig, source, session, plan: Plan, root: Path, record: VerifiedRecord,
               placed: dict, progress: bool) -> list[TransferResult]:
    """Fetch the archive if needed, then place every file of ``plan.todo``; one result per file."""
    rows = plan.todo.to_dict("records")
    if source.is_archive:
        bar = _bytes_bar(progress, source.path.name)
        try:
            path, got = datasets.fetch_archive(source, session, cfg, progress=bar.update)
        except SourceError as e:
            # one line for the archive, not one per file: none of them can be placed
            return [TransferResult(source.path.name, "*", "failed",
                                   f"{e}; none of the {len(rows)} selected files placed (rerun to retry)")]
        finally:
            bar.close()
    else:
        path, got = source.path, 0
    try:
        members = match_members(list_members(path), [r["source_file"] for r in rows])
    except SourceError as e:
        return [TransferResult(r["identifier"], r["file"], "failed", str(e)) for r in rows]
    results, wanted, key_of = [], {}, {}
    for r in rows:
        ident, name = r["identifier"], r["file"]
        m = members.get(r["source_file"])
        if m is None:
            results.append(TransferResult(ident, name, "failed", f"{r['source_file']} is not in {path.name}"))
            continue
        try:
            target = safe_target(root, ident, name)
        except UnsafePathError as e:
            results.append(TransferResult(ident, name, "failed", f"refused: {e}"))
            continue
        wanted[m.name] = target
        key_of[m.name] = (ident, name)
    files_bar = tqdm(total=len(wanted), unit="file", desc="files", mininterval=0.5, dynamic_ncols=True,
                     disable=None if progress else True, file=sys.stderr)
    first = True
    try:
        for member, outcome, why in place_members(path, wanted):
            ident, name = key_of[member]
            files_bar.update(1)
            if outcome is None:
                record.discard(ident, name)
                results.append(TransferResult(ident, name, "failed", why))
                log.warning("failed: %s/%s: %s", ident, name, why)
                continue
            size, md5 = outcome
            record.add(ident, name, size, md5)
            placed[(ident, name)] = (size, md5)
            # the archive's bytes count once, with the first file taken from it
            results.append(TransferResult(ident, name, "downloaded", bytes_received=got if first else 0))
            first = False
    finally:
        files_bar.close()
    return results


def _record_in_tracks(tracks_path: Path, placed: dict) -> None:
    """Write the size and MD5 of placed files into ``tracks.csv`` (their checksums become known
    only when they are taken from the archive or folder), keeping every other value as it is."""
    df = read_tracks_or_empty(tracks_path)
    for i, (ident, name) in enumerate(zip(df["identifier"], df["file"])):
        got = placed.get((ident, name))
        if got is not None:
            df.at[i, "size_bytes"], df.at[i, "md5"] = str(got[0]), got[1]
    write_csv_atomic(df, tracks_path)


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
