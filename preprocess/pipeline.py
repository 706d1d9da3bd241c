"""The preprocess stage: decode, remove commentary and silence, write shards.

For every selected file of ``tracks.csv`` (sorted by identifier and file name) the stage decodes
to 16 kHz mono (:mod:`preprocess.audio`), finds Niven's spoken introductions anywhere in the tape
with silero-vad (:mod:`preprocess.vad`), cuts them, long silences and the fixed head/tail trims,
drops music pieces too short to clip, and appends what is left to the shard store
(:mod:`preprocess.shards`), together with an audit trail of every cut.
"""

from __future__ import annotations

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

from preprocess.audio import AudioError, decode_int16, decode_resample  # noqa: F401  (re-exported)
from preprocess.config import PreprocessConfig
from jazzcnn.errors import NotWritableError
from jazzcnn.files import ensure_writable
from preprocess.shards import ShardError, ShardStore
from preprocess.vad import FRAME, frame_analysis, runs, speech_mask

#: The shard contract's and silero-vad's sample rate [Hz].
SAMPLE_RATE = 16000
#: Removal reasons, in increasing priority where two apply to the same frame.
REASONS = ("silence", "speech", "head", "tail", "short")
#: Settings that change the audio written; a shard folder refuses to mix runs that differ in them.
AUDIO_SETTINGS = (
    "format", "sample_rate", "resample_quality", "vad", "speech_threshold", "neg_threshold", "min_speech_s",
    "min_music_s", "speech_pad_s", "speech_dip_db", "speech_pause_frac", "speech_floor_db", "silence_db",
    "min_silence_s", "trim_head_s", "trim_tail_s", "min_segment_s", "vad_streams", "vad_warmup_s",
)


@dataclass
class CleanResult:
    """Result of :func:`clean_audio`.

    Attributes
    ----------
    segments : list of (float, np.ndarray)
        Kept music: ``(start_s, samples)``, start in the original file [s], samples int16 mono at
        ``cfg.sample_rate``, in time order, each at least ``cfg.min_segment_s`` long.
    removed : list of (float, float, str)
        Every cut ``(start_s, end_s, reason)`` [s], reason one of :data:`REASONS`, in time order;
        together with ``segments`` they tile the whole file.
    duration_s : float
        Length of the decoded file [s].
    """

    segments: list[tuple[float, np.ndarray]] = field(default_factory=list)
    removed: list[tuple[float, float, str]] = field(default_factory=list)
    duration_s: float = 0.0


def _frames(seconds: float, sample_rate: int, up: bool = True) -> int:
    n = seconds * sample_rate / FRAME
    return int(np.ceil(n - 1e-9)) if up else int(np.floor(n + 1e-9))


def remove_commentary(audio: np.ndarray, cfg: PreprocessConfig) -> CleanResult:
    """Cut speech, long silence, head/tail trims and too-short leftovers from a 16 kHz signal.

    Parameters
    ----------
    audio : np.ndarray
        int16, shape ``(n,)``, mono at ``cfg.sample_rate`` (must be 16000 Hz, the rate silero-vad
        was trained at).
    cfg : PreprocessConfig
        Thresholds: ``speech_threshold``, ``neg_threshold``, ``min_speech_s``, ``min_music_s``,
        ``speech_pad_s``, ``speech_dip_db``, ``speech_pause_frac``, ``speech_floor_db``, ``silence_db``, ``min_silence_s``, ``trim_head_s``, ``trim_tail_s``,
        ``min_segment_s``, ``vad``, ``vad_streams``, ``vad_warmup_s``. Decisions are made per
        32 ms frame, so cut positions are multiples of 512 samples (except the file end).

    Returns
    -------
    CleanResult
        What is kept and what was cut, with reasons.

    Raises
    ------
    AudioError
        ``empty`` for no samples, ``silent`` when every frame is below ``cfg.silence_db``.
    ValueError
        If ``cfg.sample_rate`` is not 16000 while ``cfg.vad`` is on.
    """
    sr = int(cfg.sample_rate)
    if cfg.vad and sr != 16000:
        raise ValueError(f"speech detection needs sample_rate 16000 Hz, got {sr}")
    n = len(audio)
    if n == 0:
        raise AudioError("empty", "no audio samples")
    prob, level = frame_analysis(
        audio, vad=cfg.vad, streams=cfg.vad_streams, warmup_frames=_frames(cfg.vad_warmup_s, sr)
    )
    n_frames = len(prob)
    quiet = level < cfg.silence_db
    if quiet.all():
        raise AudioError("silent", f"every frame is below {cfg.silence_db} dBFS")
    label = np.zeros(n_frames, np.uint8)  # 0 = keep, else 1 + index into REASONS
    min_sil = _frames(cfg.min_silence_s, sr)
    for s, e in runs(quiet):
        if e - s >= min_sil:
            label[s:e] = 1
    if cfg.vad:
        speech = speech_mask(
            prob, threshold=cfg.speech_threshold, neg_threshold=cfg.neg_threshold,
            min_speech_frames=_frames(cfg.min_speech_s, sr), min_music_frames=_frames(cfg.min_music_s, sr),
            pad_frames=_frames(cfg.speech_pad_s, sr), level_db=level, min_dip_db=cfg.speech_dip_db,
            min_pause_frac=cfg.speech_pause_frac, floor_margin_db=cfg.speech_floor_db,
        )
        label[speech] = 2
    if cfg.trim_head_s > 0:
        label[:_frames(cfg.trim_head_s, sr)] = 3
    if cfg.trim_tail_s > 0:
        label[_frames(max(0.0, n / sr - cfg.trim_tail_s), sr, up=False):] = 4
    min_seg = cfg.min_segment_s * sr
    result = CleanResult(duration_s=n / sr)
    for s, e in runs(label == 0):
        a, b = s * FRAME, min(e * FRAME, n)
        if b - a < min_seg:
            label[s:e] = 5
        else:
            result.segments.append((a / sr, audio[a:b]))
    # Consecutive frames with the same reason form one removed span.
    change = np.flatnonzero(np.diff(label.astype(np.int16))) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [n_frames]])
    for s, e in zip(starts.tolist(), ends.tolist()):
        if label[s]:
            result.removed.append((s * FRAME / sr, min(e * FRAME, n) / sr, REASONS[label[s] - 1]))
    return result


def clean_audio(path: Path, cfg: PreprocessConfig | None = None) -> CleanResult:
    """Decode any audio file and remove commentary: the whole per-file work of the stage.

    Parameters
    ----------
    path : Path
        WAV, FLAC, Ogg Vorbis or MP3 file; any rate, mono or stereo.
    cfg : PreprocessConfig, optional
        Settings (defaults: :class:`PreprocessConfig`); see :func:`remove_commentary`.

    Returns
    -------
    CleanResult
        ``segments`` (start_s, int16 samples at ``cfg.sample_rate``), ``removed``
        (start_s, end_s, reason) and ``duration_s``.

    Raises
    ------
    AudioError
        ``unreadable``, ``corrupt``, ``truncated``, ``empty`` or ``silent`` (``.kind`` says which).
    """
    cfg = cfg or PreprocessConfig()
    audio = decode_int16(Path(path), cfg.sample_rate, cfg.block_s, cfg.resample_quality)
    try:
        return remove_commentary(audio, cfg)
    except AudioError as e:
        raise AudioError(e.kind, f"{path}: {str(e).split(': ', 1)[1]}") from None


# ------------------------------------------------------------------------------------------------
# the stage


def select_tracks(cfg: PreprocessConfig) -> pd.DataFrame:
    """Rows of ``tracks.csv`` to process, sorted by ``identifier, file``.

    The same selection as ``jazzcnn download`` (:func:`acquire.manifest.select_tracks`: format,
    ``--eras``, ``--limit``), then at most ``cfg.max_examples`` files.

    Raises
    ------
    acquire.manifest.ManifestError
        Invalid manifest, or an era not defined in ``eras.csv``.
    """
    from acquire.manifest import ERA_COLUMNS, load_eras, load_tracks, select_tracks as select_manifest_rows

    eras_path = cfg.manifests_dir / "eras.csv"
    eras = load_eras(eras_path) if cfg.eras or eras_path.exists() else pd.DataFrame(columns=ERA_COLUMNS)
    df = select_manifest_rows(load_tracks(cfg.manifests_dir / "tracks.csv", eras), eras, cfg.format, list(cfg.eras), cfg.limit)
    if cfg.max_examples is not None:
        df = df.head(cfg.max_examples)
    return df.drop(columns=["era_of"]).reset_index(drop=True)


def fingerprint(path: Path) -> str:
    """``size:mtime_ns`` of a file, or ``missing``; a failed file is retried when this changes."""
    try:
        st = path.stat()
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _process_task(task: tuple) -> dict:
    """Worker: clean one file. Never raises for bad input; the failure is part of the result."""
    identifier, file, path, expected_size, cfg = task
    path = Path(path)
    t0 = time.perf_counter()
    out = {"identifier": identifier, "file": file, "path": str(path), "segments": [], "removed": [],
           "duration_s": 0.0, "error": None, "reason": None, "seconds": 0.0}
    try:
        if expected_size and path.exists() and path.stat().st_size < expected_size:
            raise AudioError("truncated", f"{path}: {path.stat().st_size} bytes, tracks.csv says {expected_size}")
        res = clean_audio(path, cfg)
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


def run_preprocess(cfg: PreprocessConfig) -> int:
    """Run the stage: every selected, not yet processed file into ``DATA_DIR/shards``.

    Parameters
    ----------
    cfg : PreprocessConfig

    Returns
    -------
    int
        Exit status: 0 when every file of this run was processed, 1 when some failed (listed in
        ``DATA_DIR/shards/failures.csv`` and ``commentary_summary.csv``), 2 when the manifests or
        the shard folder are unusable.
    """
    from acquire.manifest import ManifestError

    try:
        tracks = select_tracks(cfg)
        # Before hours of decoding: both output folders must take files.
        ensure_writable(cfg.data_dir / "shards", "shard folder")
        ensure_writable(cfg.manifests_dir, "manifests folder (commentary.csv is written there)")
        store = ShardStore(cfg.data_dir / "shards", cfg.manifests_dir, cfg.shard_bytes, _audio_settings(cfg),
                           cfg.sample_rate)
    except (ManifestError, ShardError, NotWritableError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        if cfg.check:
            return _check(store, tracks)
        return _run(cfg, tracks, store)
    finally:
        store.close()


def _check(store: ShardStore, tracks: pd.DataFrame) -> int:
    """``jazzcnn preprocess --check``: report damage and what the next run will redo."""
    rep = store.check()
    todo = [(r.identifier, r.file) for r in tracks.itertuples(index=False)
            if (r.identifier, r.file) not in store.state.entries]
    print(f"checked {rep.shards_checked} shard(s) of {store.dir} (size and SHA-256): "
          f"{len(rep.damaged)} damaged or missing file(s)")
    for name, why in rep.damaged:
        print(f"  {name}: {why} (set aside as {name}.damaged)")
    if rep.stale_views:
        print(f"rebuilt from the commit records: {', '.join(rep.stale_views)}")
    if todo:
        print(f"the next `make preprocess` will process {len(todo)} file(s):")
        for ident, name in todo:
            why = "its shard was damaged" if (ident, name) in set(rep.files_to_redo) else "not processed yet"
            print(f"  {ident}/{name} ({why})")
    return 1 if rep.damaged else 0


def _run(cfg: PreprocessConfig, tracks: pd.DataFrame, store: ShardStore) -> int:
    audio_dir = cfg.data_dir / "audio"
    tasks, fps = [], []
    for r in tracks.itertuples(index=False):
        path = audio_dir / r.identifier / r.file
        fp = fingerprint(path)
        if store.is_done(r.identifier, r.file, fp):
            continue
        size = None if pd.isna(r.size_bytes) else int(r.size_bytes)
        tasks.append((r.identifier, r.file, str(path), size, cfg))
        fps.append(fp)
    if not tasks:
        store.mark_complete()
        failed = sum(r["status"] == "failed" for r in store.done.values())
        print(f"preprocess: nothing to do ({len(tracks)} files already processed"
              + (f", {failed} failed earlier: see {store.dir / 'failures.csv'}" if failed else "") + ")")
        return 0
    workers = min(cfg.workers or os.cpu_count() or 1, len(tasks))
    print(f"preprocess: {len(tasks)} files to do ({len(tracks) - len(tasks)} already done), {workers} worker(s)")
    t0 = time.perf_counter()
    audio_s = kept_s = speech_s = cpu_s = 0.0
    n_failed = 0
    results = _ordered_results(tasks, workers)
    try:
        bar = tqdm(results, total=len(tasks), unit="file", desc="preprocess", file=sys.stderr,
                   disable=None, dynamic_ncols=True)
        for fp, res in zip(fps, bar):
            commentary, summary, failure = _rows_for(res)
            # A file that failed on its content is retried only once it changes; one that hit an
            # unexpected error (a bug, memory) is retried by the next run.
            done_fp = "retry" if res["reason"] == "error" else fp
            store.add(res["identifier"], res["file"], done_fp, res["segments"], commentary, summary, failure)
            audio_s += res["duration_s"]
            kept_s += summary["kept_s"]
            speech_s += summary["speech_s"]
            cpu_s += res["seconds"]
            if failure:
                n_failed += 1
                tqdm.write(f"skipped {res['identifier']}/{res['file']}: {failure['error']}", file=sys.stderr)
            bar.set_postfix_str(f"{audio_s / 3600:.2f} h audio, {audio_s / max(cpu_s, 1e-9):.0f}x RT/core")
        store.commit()
        store.mark_complete()
    except BaseException:
        store.abort()
        raise
    finally:
        results.close()  # shuts the worker pool down
    wall = time.perf_counter() - t0
    print(f"preprocess: {len(tasks) - n_failed} files ok, {n_failed} failed; {audio_s / 3600:.2f} h audio, "
          f"{kept_s / 3600:.2f} h kept, {speech_s / 3600:.2f} h speech removed; "
          f"{audio_s / max(wall, 1e-9):.0f}x real time ({audio_s / max(cpu_s, 1e-9):.0f}x per core); "
          f"shards in {store.dir}")
    if n_failed:
        print(f"preprocess: failures listed in {store.dir / 'failures.csv'}", file=sys.stderr)
    return 1 if n_failed else 0
