"""The preprocess stage: every selected file, cleaned, into the shard folder.

For every selected file of ``tracks.csv`` (sorted by identifier and file name) the stage runs the
per-file cleaner (:func:`jazzcnn.preprocess.cleaning.clean_audio`: decode to 16 kHz mono, cut
Niven's introductions, long silences, trims and too-short leftovers) in worker processes, in
order, and appends what is left to the shard store (:mod:`jazzcnn.preprocess.shards`) together
with the audit trail of every cut. :func:`preprocess` returns what it did and raises on unusable
input; the command line prints.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from jazzcnn.acquire.manifests import load_commentary_overrides, overrides_digest, read_dataset_info
from jazzcnn.acquire.validate import selected_rows
from jazzcnn.core.files import ensure_writable
from jazzcnn.core.paths import DataPaths, ManifestPaths
from jazzcnn.core.errors import JazzcnnError
from jazzcnn.preprocess.audio import AudioError
from jazzcnn.preprocess.audit import AuditResult, write_audit
from jazzcnn.preprocess.cleaning import REASONS, SPEECH_REASONS, CleaningOptions, clean_audio
from jazzcnn.preprocess.config import PreprocessConfig
from jazzcnn.core.settings import replace
from jazzcnn.preprocess.shards import CheckReport, ShardStore, with_corrections

log = logging.getLogger(__name__)

#: The shard contract's and silero-vad's sample rate [Hz].
SAMPLE_RATE = 16000
#: Settings that change the audio written; a shard folder refuses to mix runs that differ in them.
#: (The decode block length does not change the result.)
AUDIO_SETTINGS = ("format", *(n for n in CleaningOptions.names() if n != "block_s"))


def cleaning_options(cfg: PreprocessConfig) -> CleaningOptions:
    """The :class:`CleaningOptions` of a stage config (``vad`` resolved, see :func:`resolve_vad`)."""
    cfg = resolve_vad(cfg)
    return CleaningOptions(**{n: getattr(cfg, n) for n in CleaningOptions.names()})


def resolve_vad(cfg: PreprocessConfig) -> PreprocessConfig:
    """``cfg`` with ``vad`` decided: the setting when given, else the data set's default from
    ``MANIFESTS/dataset.json`` (on for the Niven collection's spoken introductions, off for data
    sets without commentary).

    Raises
    ------
    ManifestError
        ``dataset.json`` unreadable.
    """
    if cfg.vad is not None:
        return cfg
    return replace(cfg, vad=read_dataset_info(cfg.manifests_dir).commentary)


# ------------------------------------------------------------------------------------------------
# the stage


def select_tracks(cfg: PreprocessConfig) -> pd.DataFrame:
    """Rows of ``tracks.csv`` to process, sorted by ``identifier, file``.

    The same selection as ``jazzcnn download`` (:func:`jazzcnn.acquire.manifests.select_tracks`: format,
    ``--eras`` or classes, ``--limit`` tapes and ``--max-examples`` files sampled evenly over the
    eras or classes).

    Raises
    ------
    jazzcnn.acquire.manifests.ManifestError
        Invalid manifest, or an era or class not defined in ``eras.csv`` or ``classes.csv``.
    """
    df = selected_rows(cfg.manifests_dir, cfg.format, list(cfg.eras), cfg.limit, cfg.max_examples)
    return df.drop(columns=["era_of"]).reset_index(drop=True)


def fingerprint(path: Path) -> str:
    """``size:mtime_ns`` of a file, or ``missing``; a failed file is retried when this changes."""
    try:
        st = path.stat()
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


#: A file of a data set that states its clips' durations (FMA) is reported ``truncated``
#: when it decodes to less than this share of the stated duration and at least
#: :data:`SHORT_BY_S` less (FMA's small subset has files with far less than their 30 s).
SHORT_FRACTION = 0.9
SHORT_BY_S = 1.0


def _process_task(task: tuple) -> dict:
    """Worker: clean one file. Never raises for bad input; the failure is part of the result.

    ``task`` is ``(identifier, file, path, expected_size [bytes] or None, options)``, optionally
    followed by the expected duration [s] (data sets that state it; None: not checked) and the
    user's corrections of this file (``commentary_overrides.csv``).
    """
    identifier, file, path, expected_size, options, *rest = task
    expected_s = rest[0] if rest else None
    corrections = rest[1] if len(rest) > 1 else ()
    path = Path(path)
    t0 = time.perf_counter()
    out = {"identifier": identifier, "file": file, "path": str(path), "segments": [], "removed": [],
           "duration_s": 0.0, "error": None, "reason": None, "seconds": 0.0}
    try:
        if expected_size and path.exists() and path.stat().st_size < expected_size:
            raise AudioError("truncated", f"{path}: {path.stat().st_size} bytes, tracks.csv says {expected_size}")
        res = clean_audio(path, options=options, corrections=corrections)
        if expected_s and res.duration_s < SHORT_FRACTION * expected_s and res.duration_s < expected_s - SHORT_BY_S:
            raise AudioError("truncated", f"{path}: {res.duration_s:.1f} s of audio, tracks.csv says {expected_s:g} s")
        out.update(segments=res.segments, removed=res.removed, duration_s=res.duration_s)
    except AudioError as e:
        out.update(error=str(e), reason=e.kind)
    except MemoryError as e:
        out.update(error=f"out of memory: {e}", reason="error")
    except Exception as e:  # noqa: BLE001 - one bad file must not stop a 650-tape run
        out.update(error=f"{type(e).__name__}: {e}", reason="error")
        traceback.print_exc(file=sys.stderr)
    out["seconds"] = time.perf_counter() - t0
    return out


def _rows_for(result: dict) -> tuple[list[dict], dict, dict | None]:
    """Rows of commentary.csv, commentary_summary.csv and failures.csv for one worker result."""
    ident, file = result["identifier"], result["file"]
    commentary = [{"identifier": ident, "file": file, "start_s": round(a, 3), "end_s": round(b, 3), "reason": r}
                  for a, b, r in result["removed"]]
    by = {r: 0.0 for r in REASONS}
    for a, b, r in result["removed"]:
        by[r] += b - a
    kept = sum(len(s) for _, s in result["segments"])
    dur = result["duration_s"]
    sr_kept = kept / SAMPLE_RATE
    summary = {"identifier": ident, "file": file, "duration_s": round(dur, 3), "kept_s": round(sr_kept, 3),
               "removed_s": round(sum(by.values()), 3), **{f"{r}_s": round(v, 3) for r, v in by.items()},
               "segments": len(result["segments"]), "status": "failed" if result["error"] else "ok",
               "error": result["error"] or ""}
    failure = None
    if result["error"]:
        failure = {"identifier": ident, "file": file, "path": result["path"], "reason": result["reason"],
                   "error": result["error"]}
    return commentary, summary, failure


def _watch_parent(parent_pid: int, interval_s: float = 0.5) -> None:
    """Worker initialiser: end this worker when the parent process is gone.

    A parent killed with SIGKILL cannot shut its pool down, and a worker deep in a 90-minute tape
    would otherwise run on for minutes, holding a core and memory. A daemon thread polls the
    parent's pid (re-parented workers see another ``getppid()``) and exits the worker at once.
    """
    def watch():
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _ordered_results(tasks: list[tuple], workers: int) -> Iterator[dict]:
    """Results of :func:`_process_task` in task order, computed by ``workers`` processes.

    At most ``2 * workers`` tasks are in flight, so finished results of long tapes cannot pile up
    in the parent while it waits for an earlier one. A worker that dies (e.g. killed for memory)
    raises ``BrokenProcessPool`` here instead of hanging the run; what was committed stays.
    """
    if workers <= 1:
        yield from map(_process_task, tasks)
        return
    # spawn: onnxruntime's thread pools do not survive fork.
    ex = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_watch_parent,
                             initargs=(os.getpid(),))
    try:
        it = iter(tasks)
        pending = deque(ex.submit(_process_task, t) for _, t in zip(range(2 * workers), it))
        while pending:
            res = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(ex.submit(_process_task, nxt))
            yield res
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _audio_settings(cfg: PreprocessConfig) -> dict:
    d = asdict(cfg)
    return {k: d[k] for k in AUDIO_SETTINGS}


@dataclass
class PreprocessResult:
    """What one ``jazzcnn preprocess`` run did (see :func:`preprocess`).

    Attributes
    ----------
    shard_dir : Path
    selected : int
        Files selected from ``tracks.csv``.
    already_done : int
        Of those, files committed by earlier runs (ok, or failed and unchanged since).
    failed_before : int
        Files committed as failed by earlier runs.
    processed : int
        Files processed by this run (ok or failed).
    failures : list of dict
        Rows of ``failures.csv`` for the files that failed in this run.
    audio_s, kept_s, speech_s : float
        Seconds of audio decoded, kept as music and removed as speech (with or without music under
        it) in this run [s].
    cpu_s, wall_s : float
        Worker time and elapsed time of this run [s].
    workers : int
    check : CheckReport or None
        The shard check's findings (``--check`` runs only).
    to_process : list of (str, str)
        ``--check``: files the next run will process.
    audit : AuditResult or None
        The commentary audit pages written after the run (``cfg.audit``).
    """

    shard_dir: Path
    selected: int = 0
    already_done: int = 0
    failed_before: int = 0
    processed: int = 0
    failures: list[dict] = field(default_factory=list)
    audio_s: float = 0.0
    kept_s: float = 0.0
    speech_s: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    workers: int = 0
    check: CheckReport | None = None
    to_process: list[tuple[str, str]] = field(default_factory=list)
    audit: AuditResult | None = None


def preprocess(cfg: PreprocessConfig, *, progress: bool = True) -> PreprocessResult:
    """Run the stage: every selected, not yet processed file into ``DATA_DIR/shards``.

    With ``cfg.check``, verify the shard folder instead (:meth:`ShardStore.check`) and process nothing.

    Parameters
    ----------
    cfg : PreprocessConfig
    progress : bool
        Show a progress bar on stderr (when it is a terminal).

    Returns
    -------
    PreprocessResult
        A file that cannot be decoded is reported in ``failures`` (and ``failures.csv``) and
        skipped; the rest goes on.

    Raises
    ------
    ManifestError
        ``tracks.csv``/``eras.csv`` unusable, or an unknown era in ``cfg.eras``.
    ShardError
        The shard folder is in use by another run, or was written with other settings.
    NotWritableError
        The shard or manifests folder cannot be written (checked before any decoding).
    """
    cfg = resolve_vad(cfg)
    tracks = select_tracks(cfg)
    data, manifests = DataPaths(cfg.data_dir), ManifestPaths(cfg.manifests_dir)
    # Before hours of decoding: both output folders must take files.
    ensure_writable(data.shards, "shard folder")
    ensure_writable(manifests.root, "manifests folder (commentary.csv is written there)")
    store = ShardStore(data.shards, manifests.root, cfg.shard_bytes, _audio_settings(cfg), cfg.sample_rate)
    try:
        result = PreprocessResult(shard_dir=store.dir, selected=len(tracks))
        if cfg.check:
            result.check = store.check()
            result.to_process = [(r.identifier, r.file) for r in tracks.itertuples(index=False)
                                 if (r.identifier, r.file) not in store.state.entries]
            return result
        result = _run(cfg, tracks, store, result, progress)
    finally:
        store.close()
    if cfg.audit:
        try:
            result.audit = write_audit(cfg.data_dir, cfg.manifests_dir, cfg.audit_dir)
        except (JazzcnnError, OSError) as e:  # the audio work is committed; the pages are only a view of it
            log.warning("commentary audit not written: %s", e)
    return result


def _run(cfg: PreprocessConfig, tracks: pd.DataFrame, store: ShardStore, result: PreprocessResult,
         progress: bool) -> PreprocessResult:
    audio_dir = DataPaths(cfg.data_dir).audio
    options = cleaning_options(cfg)
    # Durations are checked where the data set states each file's own: FMA's metadata does (the
    # Niven collection's lengths are the archive's estimates, GTZAN's a nominal 30 s).
    check_duration = read_dataset_info(cfg.manifests_dir).dataset == "fma"
    corrections_csv = ManifestPaths(cfg.manifests_dir).commentary_overrides
    corrections = load_commentary_overrides(corrections_csv)
    known = set(zip(tracks["identifier"], tracks["file"]))
    for ident, file in sorted(set(corrections) - known):
        log.warning("%s: %s/%s is not among the selected files; its rows are not used", corrections_csv, ident, file)
    tasks, fps = [], []
    for r in tracks.itertuples(index=False):
        path = audio_dir / r.identifier / r.file
        spans = corrections.get((r.identifier, r.file), [])
        # The fingerprint carries the digest of the file's corrections: a file is redone when its
        # rows in commentary_overrides.csv change, and no other file is.
        fp = with_corrections(fingerprint(path), overrides_digest(spans))
        if store.is_done(r.identifier, r.file, fp):
            continue
        size = None if pd.isna(r.size_bytes) else int(r.size_bytes)
        expected_s = float(r.duration_s) if check_duration and not pd.isna(r.duration_s) else None
        tasks.append((r.identifier, r.file, str(path), size, options, expected_s, spans))
        fps.append(fp)
    result.already_done = len(tracks) - len(tasks)
    result.failed_before = sum(r["status"] == "failed" for r in store.done.values())
    if not tasks:
        store.mark_complete()
        return result
    result.workers = min(cfg.workers or os.cpu_count() or 1, len(tasks))
    log.info("preprocess: %d files to do (%d already done), %d worker(s)", len(tasks), result.already_done,
             result.workers)
    t0 = time.perf_counter()
    results = _ordered_results(tasks, result.workers)
    try:
        bar = tqdm(results, total=len(tasks), unit="file", desc="preprocess", file=sys.stderr,
                   disable=None if progress else True, dynamic_ncols=True)
        for fp, res in zip(fps, bar):
            commentary, summary, failure = _rows_for(res)
            # A file that failed on its content is retried only once it changes; one that hit an
            # unexpected error (a bug, memory) is retried by the next run.
            done_fp = "retry" if res["reason"] == "error" else fp
            store.add(res["identifier"], res["file"], done_fp, res["segments"], commentary, summary, failure)
            result.processed += 1
            result.audio_s += res["duration_s"]
            result.kept_s += summary["kept_s"]
            result.speech_s += sum(summary[f"{r}_s"] for r in SPEECH_REASONS)
            result.cpu_s += res["seconds"]
            if failure:
                result.failures.append(failure)
                log.warning("skipped %s/%s: %s", res["identifier"], res["file"], failure["error"])
            bar.set_postfix_str(f"{result.audio_s / 3600:.2f} h audio, "
                                f"{result.audio_s / max(result.cpu_s, 1e-9):.0f}x RT/core")
        store.commit()
        store.mark_complete()
    except BaseException:
        store.abort()
        raise
    finally:
        results.close()  # shuts the worker pool down
    result.wall_s = time.perf_counter() - t0
    return result
