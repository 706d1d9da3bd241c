"""``jazzcnn download``: scrape the collection into ``tracks.csv``, then download it, verified.

Steps: search + metadata (through the ``internetarchive`` library) -> merge into ``tracks.csv``
(user-edited columns win) -> select rows (format, ``--eras``, ``--limit``, ``--max-examples``)
-> size preflight per era and free-space check -> parallel verified transfers with progress bars
-> summary listing every failure. The exit status is non-zero when any file failed.
"""

from __future__ import annotations

import shutil
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from acquire.archive import make_session, resolve_base_url, scrape
from acquire.config import DownloadConfig
from acquire.manifest import (ManifestError, select_tracks, load_eras, load_tracks, merge_tracks,
                              read_tracks_or_empty, write_csv_atomic, years_within_eras)
from acquire.transfer import (Cancellation, TransferCancelled, TransferError, TransferResult, UnsafePathError,
                              VerifiedRecord, download_file,
                              md5_of_file, safe_target)
from jazzcnn.errors import NotWritableError
from jazzcnn.files import FolderBusyError, ensure_writable, lock_folder, remove_stale_temporaries

#: Exit statuses of :func:`run_download`.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_SPACE = 0, 1, 2, 3


def audio_dir(data_dir: Path) -> Path:
    """Download root ``DATA_DIR/audio``; files land in ``<root>/<identifier>/<file>``."""
    return Path(data_dir) / "audio"


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


def print_preflight(plan: Plan, out=None) -> None:
    """Print files and bytes per era, selected and still to fetch.

    Parameters
    ----------
    plan : Plan
        From :func:`plan_downloads`; sizes in bytes, printed in kB/MB/GB (powers of 1000).
    out : file, optional
        Where to print; default stdout.
    """
    out = out or sys.stdout
    print("size preflight (era: files, bytes selected | still to fetch):", file=out)
    for era, r in plan.per_era.iterrows():
        print(f"  {era:<20} {r['files']:>5} files {_human(r['bytes']):>10} | "
              f"{r['to_fetch_files']:>5} files {_human(r['to_fetch_bytes']):>10}", file=out)
    tot = plan.per_era.sum()
    print(f"  {'total':<20} {int(tot.get('files', 0)):>5} files {_human(tot.get('bytes', 0)):>10} | "
          f"{len(plan.todo):>5} files {_human(plan.bytes_needed):>10} to download", file=out)


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


def run_download(cfg: DownloadConfig) -> int:
    """Run ``jazzcnn download``.

    Parameters
    ----------
    cfg : DownloadConfig

    Returns
    -------
    int
        0 when every selected file is verified on disk (or on a dry run); 1 when any file failed;
        2 on a manifest or usage error; 3 when the disk lacks room.
    """
    base_url = resolve_base_url(cfg.ia_base_url)
    manifests = Path(cfg.manifests_dir)
    tracks_path, eras_path = manifests / "tracks.csv", manifests / "eras.csv"
    root = audio_dir(cfg.data_dir)
    try:
        eras = load_eras(eras_path)
        if cfg.eras:
            years_within_eras(None, None, eras, list(cfg.eras))  # unknown era names fail early
    except ManifestError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE

    try:  # before any network work: both folders must take files
        if cfg.scrape:
            ensure_writable(manifests, "manifests folder (tracks.csv is written there)")
        if not cfg.dry_run:
            ensure_writable(root, "audio folder")
    except NotWritableError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    # One run per audio folder: two would write the same .part files. A dry run on a fresh machine
    # creates no folder, so it takes no lock.
    lock = None
    if root.exists() or not cfg.dry_run:
        try:
            lock = lock_folder(root, "download")
        except FolderBusyError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_USAGE
        # A run killed inside an atomic write leaves its temporary file behind; holding the lock
        # makes removing it safe.
        remove_stale_temporaries(root, ["verified.csv"])
        remove_stale_temporaries(manifests, ["tracks.csv"])
    try:
        return _download(cfg, base_url, eras, tracks_path, root)
    finally:
        if lock is not None:
            lock.close()


def _download(cfg: DownloadConfig, base_url: str, eras: pd.DataFrame, tracks_path: Path, root: Path) -> int:
    """The body of :func:`run_download`, run while holding the lock on ``root``."""
    problems: list[str] = []
    scrape_failures: list[TransferResult] = []
    if cfg.scrape:
        print(f"scraping collection {cfg.collection!r} from {base_url} (format {cfg.format!r})")
        try:
            session = make_session(base_url, cfg.retries, cfg.backoff_s, max_retry_after_s=cfg.max_retry_after_s)
        except ValueError as e:  # a bad URL, or half of the IA_* key pair set in the environment
            print(f"error: {e}", file=sys.stderr)
            return EXIT_USAGE

        def keep(identifier, years):
            if not cfg.eras:
                return True
            # Search fields may lack years the metadata has; only drop items that clearly miss.
            if years.start is None:
                return True
            return years_within_eras(years.start, years.end, eras, list(cfg.eras))

        try:
            scraped = scrape(session, cfg.collection, cfg.format, keep=keep, limit=cfg.limit, timeout_s=cfg.timeout_s,
                             workers=cfg.workers, session_for=_local_session(cfg, base_url))
        except Exception as e:  # search failures come as requests or ValueError from the library
            print(f"error: scraping {cfg.collection!r} at {base_url} failed: {e}", file=sys.stderr)
            return EXIT_FAILED
        problems.extend(scraped.problems)
        scrape_failures = [TransferResult(i, "*", "failed", why) for i, why in scraped.failed]
        scrape_failures += [TransferResult(i, f, "failed", why) for i, f, why in scraped.refused]
        for p in scraped.problems:
            print(f"warning: {p}")
        try:
            merged = merge_tracks(read_tracks_or_empty(tracks_path), scraped.rows)
        except (ValueError, KeyError) as e:
            print(f"error: {tracks_path}: {e}", file=sys.stderr)
            return EXIT_USAGE
        write_csv_atomic(merged, tracks_path)
        print(f"{tracks_path}: {len(scraped.rows)} rows scraped from {len(scraped.identifiers)} items, {len(merged)} rows in all")
    try:
        tracks = load_tracks(tracks_path, eras)
        selected = select_tracks(tracks, eras, cfg.format, list(cfg.eras), cfg.limit)
    except ManifestError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    if cfg.max_examples is not None:
        selected = selected.head(max(0, cfg.max_examples))

    record = VerifiedRecord(root / "verified.csv")
    plan = plan_downloads(selected, root, record)
    print_preflight(plan)
    if cfg.dry_run:
        record.save()  # files found intact on disk while planning stay recorded
        print("dry run: nothing downloaded")
        return _summary(scrape_failures + list(plan.refused)
                        + [TransferResult(i, f, "skipped", "already verified") for i, f in plan.done], problems)
    ok, free = check_free_space(root, plan.bytes_needed, cfg.free_space_margin_bytes)
    if not ok:
        print(f"error: not enough disk space under {root}: {_human(plan.bytes_needed)} to download + "
              f"{_human(cfg.free_space_margin_bytes)} margin, {_human(free)} free; nothing downloaded",
              file=sys.stderr)
        return EXIT_NO_SPACE

    results = scrape_failures + list(plan.refused)
    results += [TransferResult(i, f, "skipped", "already verified") for i, f in plan.done]
    try:
        results += _transfer_all(cfg, base_url, plan, root, record)
    finally:
        record.save()  # also after Ctrl-C: what was verified stays recorded
    return _summary(results, problems)


def _transfer_all(cfg: DownloadConfig, base_url: str, plan: Plan, root: Path, record: VerifiedRecord) -> list[TransferResult]:
    if not len(plan.todo):
        return []
    cancellation = Cancellation()
    session_for = _local_session(cfg, base_url, cancellation)
    total_bytes = int(pd.array(plan.todo["size_bytes"], dtype="Int64").fillna(0).sum())
    bytes_bar = tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="bytes", position=0,
                     mininterval=0.5, dynamic_ncols=True)
    files_bar = tqdm(total=len(plan.todo), unit="file", desc="files", position=1, mininterval=0.5, dynamic_ncols=True)
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
                tqdm.write(f"warning: {ident}/{name}: the metadata has no MD5; verified by size only")
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
                tqdm.write(f"failed: {res.identifier}/{res.file}: {res.reason}")
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


def _summary(results: list[TransferResult], problems: list[str]) -> int:
    counts = {s: sum(r.status == s for r in results) for s in ("downloaded", "skipped", "failed")}
    got = sum(r.bytes_received for r in results)
    print(f"summary: {counts['downloaded']} downloaded ({_human(got)}), {counts['skipped']} already verified, "
          f"{counts['failed']} failed")
    if problems:
        print(f"metadata problems ({len(problems)}):")
        for p in problems:
            print(f"  {p}")
    failed = [r for r in results if r.status == "failed"]
    if failed:
        print(f"failures ({len(failed)}):")
        for r in sorted(failed, key=lambda r: (r.identifier, r.file)):
            print(f"  {r.identifier}/{r.file}: {r.reason}")
        return EXIT_FAILED
    return EXIT_OK
