"""The preprocess stage end to end: shard contract, audit trail, resume, determinism, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import soxr

from jazzcnn.acquire.manifests import SUMMARY_COLUMNS, TRACK_COLUMNS
from jazzcnn.preprocess import pipeline
from jazzcnn.preprocess.config import PreprocessConfig
from jazzcnn.commands import run_preprocess
from jazzcnn.preprocess.cleaning import REASONS, clean_audio
from jazzcnn.preprocess.shards import INDEX_COLUMNS, ShardError, load_index, open_shard, read_segment

REPO = Path(__file__).resolve().parents[1]
SHARD_BYTES = 1_500_000  # ~47 s of 16 kHz int16: shards close after one or two files


def _load(path: Path, rate: int) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x
    return soxr.resample(x, sr, rate) if sr != rate else x


def _mini_tape(shared: Path, i: int, rate: int) -> np.ndarray:
    """speech, pause, music, speech, music: about 50 s."""
    speech = sorted((shared / "speech").glob("*.ogg"))
    music = sorted((shared / "music").glob("*.ogg"))
    long_music = [m for m in music if sf.info(m).duration > 20]
    pause = np.zeros((int(0.8 * rate), 2), np.float32)
    parts = [_load(speech[i % 3], rate)[: 8 * rate], pause, _load(long_music[i % len(long_music)], rate)[: 14 * rate],
             pause, _load(speech[(i + 1) % 3], rate)[: 6 * rate], pause,
             _load(long_music[(i + 2) % len(long_music)], rate)[5 * rate: 17 * rate]]
    return np.concatenate(parts).astype(np.float32)


# (identifier, file, rate, channels, libsndfile format, subtype)
LAYOUT = [
    ("tape-a", "a1.mp3", 44100, 2, "MP3", "MPEG_LAYER_III"),
    ("tape-a", "a2.ogg", 22050, 1, "OGG", "VORBIS"),
    ("tape-b", "b1.flac", 48000, 2, "FLAC", "PCM_16"),
    ("tape-c", "c1.wav", 44100, 2, "WAV", "PCM_16"),
    ("tape-c", "c2.wav", 16000, 1, "WAV", "PCM_16"),
]


def _write_manifest(manifests: Path, rows: list[dict]) -> None:
    manifests.mkdir(parents=True, exist_ok=True)
    full = [{c: r.get(c, "") for c in TRACK_COLUMNS} for r in rows]
    pd.DataFrame(full, columns=TRACK_COLUMNS).to_csv(manifests / "tracks.csv", index=False)
    (manifests / "eras.csv").write_text("era,start_year,end_year\nEarly Jazz,1923,1930\nSwing,1931,1944\n")


@pytest.fixture(scope="module")
def collection(shared_audio, tmp_path_factory) -> Path:
    """A small collection (audio + tracks.csv) in every format; copied per test with :func:`_copy`."""
    root = tmp_path_factory.mktemp("collection")
    rows = []
    for i, (ident, name, rate, ch, fmt, subtype) in enumerate(LAYOUT):
        x = _mini_tape(shared_audio, i, rate)
        x = x.mean(axis=1) if ch == 1 else x
        path = root / "data" / "audio" / ident / name
        path.parent.mkdir(parents=True, exist_ok=True)
        kw = {"bitrate_mode": "VARIABLE"} if fmt == "MP3" else {}
        sf.write(path, x, rate, format=fmt, subtype=subtype, **kw)
        rows.append({"identifier": ident, "file": name, "format": "VBR MP3", "year_start": 1925 + 5 * i,
                     "year_end": 1925 + 5 * i, "size_bytes": path.stat().st_size})
    # A row of another format is not this run's business.
    rows.append({"identifier": "tape-a", "file": "a1.wav", "format": "WAVE"})
    _write_manifest(root / "manifests", rows)
    return root


def _copy(collection: Path, dest: Path) -> Path:
    shutil.copytree(collection, dest)
    return dest


def _cfg(root: Path, **kw) -> PreprocessConfig:
    kw.setdefault("workers", 1)
    kw.setdefault("shard_bytes", SHARD_BYTES)
    kw.setdefault("audit_dir", root / "reports" / "commentary")
    return PreprocessConfig(data_dir=root / "data", manifests_dir=root / "manifests", **kw)


def _outputs(root: Path) -> dict[str, bytes]:
    """Every file in the shard and manifest folders (leftover temporaries included), by relative path."""
    out = {}
    for folder in ("data/shards", "manifests"):
        for p in sorted((root / folder).iterdir()):
            out[f"{folder}/{p.name}"] = p.read_bytes()
    return out


def _assert_same_outputs(root: Path, reference: Path) -> None:
    """Byte-identical outputs; a failure names the extra, missing and differing files (not their bytes)."""
    got, want = _outputs(root), _outputs(reference)
    assert sorted(got) == sorted(want), f"extra: {sorted(set(got) - set(want))}, missing: {sorted(set(want) - set(got))}"
    differ = [k for k in want if got[k] != want[k]]
    assert not differ, f"files differ from the uninterrupted run: {differ}"


@pytest.fixture(scope="module")
def reference(collection, tmp_path_factory) -> Path:
    """One uninterrupted single-worker run: what every other run must reproduce."""
    root = _copy(collection, tmp_path_factory.mktemp("ref") / "c")
    assert run_preprocess(_cfg(root)) == 0
    return root


def test_shard_contract(reference):
    shard_dir = reference / "data" / "shards"
    idx = load_index(shard_dir)
    assert list(idx.columns) == INDEX_COLUMNS
    shards = sorted(p.name for p in shard_dir.glob("shard-*.pcm"))
    assert shards == [f"shard-{i:05d}.pcm" for i in range(len(shards))] and len(shards) >= 2
    assert not list(shard_dir.glob("*.part"))
    meta = json.loads((shard_dir / "meta.json").read_text())
    assert meta["sample_rate"] == 16000 and meta["dtype"] == "int16" and meta["files"] == len(LAYOUT)
    assert meta["config"]["vad"] is True and meta["samples"] == int(idx["length"].sum())
    # A file never spans shards; segments are numbered 0.. per file and packed in order.
    assert (idx.groupby(["identifier", "file"])["shard"].nunique() == 1).all()
    for _, g in idx.groupby(["identifier", "file"]):
        assert list(g["segment"]) == list(range(len(g)))
    for name, g in idx.groupby("shard"):
        ends = (g["offset"] + g["length"]).to_numpy()
        assert g["offset"].iloc[0] == 0 and (g["offset"].to_numpy()[1:] == ends[:-1]).all()
        assert ends[-1] == len(np.memmap(shard_dir / name, dtype="<i2", mode="r"))
    assert set(zip(idx["identifier"], idx["file"])) == {(r[0], r[1]) for r in LAYOUT}
    # The stored samples are exactly what clean_audio returns for the file.
    for ident, name, *_ in LAYOUT:
        res = clean_audio(reference / "data" / "audio" / ident / name)
        rows = idx[(idx["identifier"] == ident) & (idx["file"] == name)]
        assert len(rows) == len(res.segments) >= 1
        for (_, row), (start, samples) in zip(rows.iterrows(), res.segments):
            got = read_segment(shard_dir, row)
            assert got.dtype == np.int16 and np.array_equal(got, samples)
            assert abs(row["start_s"] - start) < 1e-6
    assert open_shard(shard_dir, shards[0]).dtype == np.dtype("<i2")


def test_audit_trail(reference):
    com = pd.read_csv(reference / "manifests" / "commentary.csv")
    assert list(com.columns) == ["identifier", "file", "start_s", "end_s", "reason"]
    assert set(com["reason"]) <= {"speech", "speech_over_music", "head", "tail", "short", "silence"}
    assert "speech" in set(com["reason"])
    summ = pd.read_csv(reference / "manifests" / "commentary_summary.csv", keep_default_na=False)
    assert list(summ.columns) == SUMMARY_COLUMNS and {f"{r}_s" for r in REASONS} <= set(summ.columns)
    assert (summ["status"] == "ok").all() and len(summ) == len(LAYOUT)
    # Kept plus removed is the whole file; every file had two stretches of speech (~14 s) cut.
    assert np.allclose(summ["kept_s"] + summ["removed_s"], summ["duration_s"], atol=0.01)
    assert (summ["speech_s"] > 10).all()
    per_file = com[com.reason == "speech"].assign(d=lambda d: d.end_s - d.start_s).groupby(["identifier", "file"])["d"].sum()
    assert np.allclose(per_file.sort_index().to_numpy(), summ.set_index(["identifier", "file"])["speech_s"].sort_index().to_numpy(), atol=0.01)


def test_parallel_run_is_byte_identical(collection, reference, tmp_path):
    root = _copy(collection, tmp_path / "c")
    assert run_preprocess(_cfg(root, workers=2)) == 0
    _assert_same_outputs(root, reference)


def test_rerun_with_nothing_new_touches_nothing(collection, reference, tmp_path, capsys):
    root = _copy(collection, tmp_path / "c")
    assert run_preprocess(_cfg(root)) == 0
    files = sorted((root / "data" / "shards").iterdir()) + sorted((root / "manifests").glob("commentary*"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    assert run_preprocess(_cfg(root)) == 0
    assert "nothing to do" in capsys.readouterr().out
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted((root / "data" / "shards").iterdir())
             + sorted((root / "manifests").glob("commentary*"))}
    assert after == before


def test_resume_after_injected_exception(collection, reference, tmp_path, monkeypatch):
    root = _copy(collection, tmp_path / "c")
    real, calls = pipeline._process_task, []

    def crash_on_fourth(task):
        calls.append(task[1])
        if len(calls) == 4:
            raise KeyboardInterrupt("simulated kill")
        return real(task)

    monkeypatch.setattr(pipeline, "_process_task", crash_on_fourth)
    with pytest.raises(KeyboardInterrupt):
        run_preprocess(_cfg(root))
    shard_dir = root / "data" / "shards"
    assert not list(shard_dir.glob("*.part"))
    done = pd.read_csv(shard_dir / "done.csv")
    assert 1 <= len(done) < len(LAYOUT)
    # What was committed is consistent: every indexed shard exists.
    load_index(shard_dir)
    monkeypatch.setattr(pipeline, "_process_task", real)
    assert run_preprocess(_cfg(root)) == 0
    _assert_same_outputs(root, reference)


KILL_SCRIPT = """
import os, sys, time
from pathlib import Path
import jazzcnn.preprocess.pipeline as pl
from jazzcnn.commands import run_preprocess
from jazzcnn.preprocess.config import PreprocessConfig
real, real_fsync = pl._process_task, os.fsync
def slow(task):
    time.sleep(0.4)  # room for the test to kill between files
    return real(task)
def slow_fsync(fd):
    time.sleep(0.5)  # a slow disk: each atomic write's temporary file lives long enough to be killed in
    return real_fsync(fd)
pl._process_task = slow
if sys.argv[3] == "slow-disk":
    os.fsync = slow_fsync
root = Path(sys.argv[1])
sys.exit(run_preprocess(PreprocessConfig(data_dir=root / "data", manifests_dir=root / "manifests", audit=False,
                                            workers=1, shard_bytes=int(sys.argv[2]))))
"""


@pytest.mark.parametrize("kill_at", ["first-shard", "mid-write"])
def test_resume_after_kill(collection, reference, tmp_path, kill_at):
    """SIGKILL once the first shard is in place, or while a CSV of its commit is half written."""
    root = _copy(collection, tmp_path / "c")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    mode = "slow-disk" if kill_at == "mid-write" else "normal"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(root), str(SHARD_BYTES), mode], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shard_dir = root / "data" / "shards"

    def ready() -> bool:
        if kill_at == "first-shard":
            return (shard_dir / "shard-00000.pcm").exists()
        return shard_dir.exists() and any(shard_dir.glob(".*.tmp"))

    deadline = time.time() + 60
    while not ready() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    if kill_at == "mid-write":
        assert list(shard_dir.glob(".*.tmp")), "the kill did not land inside a write"
    done = pd.read_csv(shard_dir / "done.csv") if (shard_dir / "done.csv").exists() else pd.DataFrame()
    assert len(done) < len(LAYOUT)
    assert run_preprocess(_cfg(root)) == 0
    assert not list(shard_dir.glob("*.part")) and not list(shard_dir.glob(".*.tmp"))
    _assert_same_outputs(root, reference)
    idx = load_index(shard_dir)
    assert not idx.duplicated(["identifier", "file", "segment"]).any()


def test_bad_inputs_are_skipped_and_reported(shared_audio, tmp_path, capsys):
    root = tmp_path / "c"
    audio = root / "data" / "audio" / "tape-x"
    audio.mkdir(parents=True)
    good = _mini_tape(shared_audio, 0, 44100)
    sf.write(audio / "good.mp3", good, 44100, format="MP3")
    sf.write(audio / "full.mp3", good, 44100, format="MP3")
    full = (audio / "full.mp3").read_bytes()
    (audio / "truncated.mp3").write_bytes(full[: len(full) // 2])
    (audio / "corrupt.mp3").write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8)))
    (audio / "empty.mp3").write_bytes(b"")
    sf.write(audio / "silent.mp3", np.zeros((44100 * 10, 2), np.float32), 44100, format="MP3")
    (audio / "short.wav").write_bytes(b"RIFF\x24\x10\x00\x00WAVEfmt ")  # header cut short
    names = ["corrupt.mp3", "empty.mp3", "good.mp3", "missing.mp3", "short.wav", "silent.mp3", "truncated.mp3"]
    rows = [{"identifier": "tape-x", "file": n, "format": "VBR MP3"} for n in names]
    rows[names.index("truncated.mp3")]["size_bytes"] = len(full)
    _write_manifest(root / "manifests", rows)
    assert run_preprocess(_cfg(root)) == 1
    fail = pd.read_csv(root / "data" / "shards" / "failures.csv").set_index("file")
    assert dict(fail["reason"]) == {"corrupt.mp3": "corrupt", "empty.mp3": "empty", "missing.mp3": "unreadable",
                                    "short.wav": "corrupt", "silent.mp3": "silent", "truncated.mp3": "truncated"}
    summ = pd.read_csv(root / "manifests" / "commentary_summary.csv", keep_default_na=False).set_index("file")
    assert summ.loc["good.mp3", "status"] == "ok" and summ.loc["silent.mp3", "status"] == "failed"
    assert summ.loc["silent.mp3", "error"].startswith("silent")
    assert set(load_index(root / "data" / "shards")["file"]) == {"good.mp3"}
    # Unchanged bad files are not retried; a replaced one is, and its failure row goes away.
    capsys.readouterr()
    assert run_preprocess(_cfg(root)) == 0
    assert "nothing to do" in capsys.readouterr().out
    shutil.copy(audio / "full.mp3", audio / "truncated.mp3")
    assert run_preprocess(_cfg(root)) == 0
    fail = pd.read_csv(root / "data" / "shards" / "failures.csv")
    assert "truncated.mp3" not in set(fail["file"]) and len(fail) == 5
    assert set(load_index(root / "data" / "shards")["file"]) == {"good.mp3", "truncated.mp3"}


def test_selection_by_era_limit_and_max_examples(collection, tmp_path):
    root = _copy(collection, tmp_path / "c")
    sel = pipeline.select_tracks(_cfg(root, eras=["Early Jazz"]))
    assert list(sel["file"]) == ["a1.mp3", "a2.ogg"]  # years 1925 and 1930
    assert list(pipeline.select_tracks(_cfg(root, limit=2))["identifier"].unique()) == ["tape-a", "tape-b"]
    assert len(pipeline.select_tracks(_cfg(root, max_examples=1))) == 1


def test_other_settings_refused_on_existing_shards(collection, tmp_path, capsys):
    root = _copy(collection, tmp_path / "c")
    assert run_preprocess(_cfg(root, max_examples=1)) == 0
    assert run_preprocess(_cfg(root, speech_threshold=0.7)) == 2
    assert "speech_threshold" in capsys.readouterr().err


def test_missing_shard_is_named(reference, tmp_path):
    shard_dir = tmp_path / "shards"
    shutil.copytree(reference / "data" / "shards", shard_dir)
    (shard_dir / "shard-00001.pcm").unlink()
    with pytest.raises(ShardError, match="shard-00001.pcm"):
        load_index(shard_dir)


def test_head_tail_trim_and_reasons(reference):
    path = reference / "data" / "audio" / "tape-c" / "c1.wav"
    res = clean_audio(path, trim_head_s=5, trim_tail_s=4)
    assert res.removed[0][:2] == (0.0, pytest.approx(5.0, abs=0.04)) and res.removed[0][2] == "head"
    assert res.removed[-1][2] == "tail" and res.removed[-1][1] == pytest.approx(res.duration_s)
    assert res.removed[-1][0] == pytest.approx(res.duration_s - 4, abs=0.04)
    assert all(start >= 5 for start, _ in res.segments)
    long_min = clean_audio(path, min_segment_s=13)
    assert "short" in {r for *_, r in long_min.removed}
    assert all(len(x) >= 13 * 16000 for _, x in long_min.segments)
    off = clean_audio(path, vad=False)
    assert "speech" not in {r for *_, r in off.removed}


def test_help_documents_units():
    out = subprocess.run([sys.executable, "-m", "jazzcnn.cli", "preprocess", "--help"], capture_output=True,
                         text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True).stdout
    out = out.split("PreprocessConfig settings:", 1)[1]  # past the usage line
    for flag, unit in [("--trim-head-s", "[s]"), ("--shard-bytes", "[bytes]"), ("--sample-rate", "[Hz]"),
                       ("--silence-db", "[dBFS]"), ("--speech-threshold", "[probability]")]:
        assert flag in out
        block = out.split(flag, 1)[1].split("\n  --", 1)[0]
        assert unit in " ".join(block.split()), flag


def test_concurrent_run_is_refused(tmp_path):
    from jazzcnn.preprocess.shards import ShardStore

    first = ShardStore(tmp_path / "shards", tmp_path, 1000, {"vad": True}, 16000)
    with pytest.raises(ShardError, match="in use"):
        ShardStore(tmp_path / "shards", tmp_path, 1000, {"vad": True}, 16000)
    first.close()
    ShardStore(tmp_path / "shards", tmp_path, 1000, {"vad": True}, 16000).close()


def test_second_run_on_the_same_shards_is_refused(collection, tmp_path, capsys):
    from jazzcnn.core.files import lock_folder

    root = _copy(collection, tmp_path / "c")
    lock = lock_folder(root / "data" / "shards", "preprocess")
    try:
        assert run_preprocess(_cfg(root, max_examples=1)) == 2
        assert "is in use by another preprocess run" in capsys.readouterr().err
        assert not list((root / "data" / "shards").glob("shard-*"))
    finally:
        lock.close()
    assert run_preprocess(_cfg(root, max_examples=1)) == 0


def test_deleted_views_are_rebuilt_and_nothing_is_redone(collection, reference, tmp_path, capsys):
    """make deletes an interrupted target (index.csv); users delete files by hand: no audio is lost."""
    root = _copy(reference, tmp_path / "c")
    shard_dir = root / "data" / "shards"
    shards_before = {p.name: p.read_bytes() for p in shard_dir.glob("shard-*.pcm")}
    for name in ("index.csv", "done.csv", "meta.json", "failures.csv"):
        (shard_dir / name).unlink()
    (root / "manifests" / "commentary.csv").unlink()
    capsys.readouterr()
    assert run_preprocess(_cfg(root)) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in shard_dir.glob("shard-*.pcm")} == shards_before
    _assert_same_outputs(root, reference)


def test_check_sets_damaged_shards_aside_and_the_rerun_redoes_their_files(reference, tmp_path, capsys):
    root = _copy(reference, tmp_path / "c")
    shard_dir = root / "data" / "shards"
    idx = load_index(shard_dir)
    in_first = sorted(set(zip(idx.loc[idx["shard"] == "shard-00000.pcm", "identifier"],
                              idx.loc[idx["shard"] == "shard-00000.pcm", "file"])))
    # flip bytes without changing the size: only the SHA-256 check can see it
    data = bytearray((shard_dir / "shard-00000.pcm").read_bytes())
    data[1000:1010] = bytes(b ^ 0xFF for b in data[1000:1010])
    (shard_dir / "shard-00000.pcm").write_bytes(bytes(data))
    load_index(shard_dir)  # a size check passes ...
    capsys.readouterr()
    assert run_preprocess(_cfg(root, check=True)) == 1  # ... the check reads every byte
    out = capsys.readouterr().out
    assert "shard-00000.pcm: SHA-256 differs" in out
    for ident, name in in_first:
        assert f"{ident}/{name} (its shard was damaged)" in out
    assert (shard_dir / "shard-00000.pcm.damaged").exists() and not (shard_dir / "shard-00000.pcm").exists()
    assert run_preprocess(_cfg(root)) == 0
    assert set(zip(load_index(shard_dir)["identifier"], load_index(shard_dir)["file"])) == {(r[0], r[1]) for r in LAYOUT}
    assert run_preprocess(_cfg(root, check=True)) == 0


def test_a_truncated_shard_is_redone_by_the_next_run(reference, tmp_path):
    root = _copy(reference, tmp_path / "c")
    shard_dir = root / "data" / "shards"
    last = sorted(shard_dir.glob("shard-*.pcm"))[-1]
    last.write_bytes(last.read_bytes()[:5000])
    with pytest.raises(ShardError, match=f"{last.name}: 5000 bytes, its commit record says .*rerun `make preprocess`"):
        load_index(shard_dir)
    assert run_preprocess(_cfg(root)) == 0
    idx = load_index(shard_dir)
    assert set(zip(idx["identifier"], idx["file"])) == {(r[0], r[1]) for r in LAYOUT}
    # the redone audio is the same audio
    ref = load_index(reference / "data" / "shards")
    for (_, a), (_, b) in zip(ref.sort_values(["identifier", "file", "segment"]).iterrows(),
                              idx.sort_values(["identifier", "file", "segment"]).iterrows()):
        assert np.array_equal(read_segment(reference / "data" / "shards", a), read_segment(shard_dir, b))


def test_a_folder_written_before_commit_records_is_converted(reference, tmp_path):
    root = _copy(reference, tmp_path / "c")
    shard_dir = root / "data" / "shards"
    for p in shard_dir.glob("commit-*.json"):
        p.unlink()  # what an older jazzcnn left: index.csv, done.csv ... as the record
    before = load_index(shard_dir)
    assert run_preprocess(_cfg(root)) == 0
    assert list(shard_dir.glob("commit-*.json"))
    pd.testing.assert_frame_equal(load_index(shard_dir), before)


def test_nan_stretch_in_a_float_wav_is_reported_not_cut_as_silence(shared_audio, tmp_path):
    root = tmp_path / "c"
    audio = root / "data" / "audio" / "tape-n"
    audio.mkdir(parents=True)
    x = _mini_tape(shared_audio, 0, 16000)
    x[20 * 16000: 21 * 16000] = np.nan
    sf.write(audio / "nan.wav", x, 16000, subtype="FLOAT")
    _write_manifest(root / "manifests", [{"identifier": "tape-n", "file": "nan.wav", "format": "VBR MP3"}])
    assert run_preprocess(_cfg(root)) == 1
    fail = pd.read_csv(root / "data" / "shards" / "failures.csv")
    assert fail.loc[0, "reason"] == "corrupt" and "NaN or infinite samples from 20.00 s on" in fail.loc[0, "error"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_manifests_fail_before_any_decoding(collection, tmp_path, capsys, monkeypatch):
    root = _copy(collection, tmp_path / "c")
    decoded = []
    monkeypatch.setattr(pipeline, "_process_task", lambda task: decoded.append(task) or None)
    (root / "manifests").chmod(0o555)
    try:
        assert run_preprocess(_cfg(root)) == 2
    finally:
        (root / "manifests").chmod(0o755)
    err = capsys.readouterr().err
    assert f"manifests folder (commentary.csv is written there) {root / 'manifests'} is not writable" in err
    assert not decoded


def test_unwritable_shard_folder_fails_before_any_decoding(collection, tmp_path, capsys, monkeypatch):
    root = _copy(collection, tmp_path / "c")
    (root / "data" / "shards").write_text("a file where the shard folder should be")
    decoded = []
    monkeypatch.setattr(pipeline, "_process_task", lambda task: decoded.append(task) or None)
    assert run_preprocess(_cfg(root)) == 2
    err = capsys.readouterr().err
    assert f"shard folder {root / 'data' / 'shards'} is not writable" in err and "Traceback" not in err
    assert not decoded


ORPHAN_SCRIPT = """
import sys, time
from pathlib import Path
import jazzcnn.preprocess.pipeline as pl
from jazzcnn.commands import run_preprocess
from jazzcnn.preprocess.config import PreprocessConfig
root = Path(sys.argv[1])
sys.exit(run_preprocess(PreprocessConfig(data_dir=root / "data", manifests_dir=root / "manifests", workers=2,
                                         audit=False)))
"""


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_workers_end_when_the_parent_is_killed(collection, tmp_path):
    root = _copy(collection, tmp_path / "c")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT, str(root)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    workers: list[int] = []
    while time.time() < deadline and proc.poll() is None:
        # the pool's resource tracker is a child too; workers are the python children doing the work
        kids = _children(proc.pid)
        workers = [k for k in kids if "multiprocessing.spawn" in Path(f"/proc/{k}/cmdline").read_text(errors="ignore")
                   or "spawn_main" in Path(f"/proc/{k}/cmdline").read_text(errors="ignore")] if kids else []
        if len(workers) >= 2:
            break
        time.sleep(0.05)
    assert len(workers) >= 2, "the pool never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 5
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "workers lived on after their parent was killed"


def test_commentary_overrides_redo_that_file_only(reference, tmp_path, capsys, monkeypatch):
    """A span the user marks keep is kept, one marked remove is cut; no other file is redone."""
    root = _copy(reference, tmp_path / "c")
    com = pd.read_csv(root / "manifests" / "commentary.csv")
    mine = com[(com.identifier == "tape-a") & (com.file == "a1.mp3") & (com.reason == "speech")].iloc[0]
    idx_before = load_index(root / "data" / "shards")
    (root / "manifests" / "commentary_overrides.csv").write_text(
        "identifier,file,start_s,end_s,action,note\n"
        f"tape-a,a1.mp3,{mine.start_s},{mine.end_s},keep,it is music to me\n"
        "tape-a,a1.mp3,12.0,16.0,remove,\n")
    real, calls = pipeline._process_task, []

    def record(task):
        calls.append(task[:2])
        return real(task)

    monkeypatch.setattr(pipeline, "_process_task", record)
    assert run_preprocess(_cfg(root)) == 0
    assert calls == [("tape-a", "a1.mp3")]
    com = pd.read_csv(root / "manifests" / "commentary.csv")
    a1 = com[(com.identifier == "tape-a") & (com.file == "a1.mp3")]
    # The kept span is no longer cut by anything; the removed one is cut as "override".
    assert not ((a1.start_s < mine.end_s) & (a1.end_s > mine.start_s)).any()
    ovr = a1[a1.reason == "override"]
    assert len(ovr) == 1 and abs(ovr.start_s.iloc[0] - 12.0) < 0.04 and abs(ovr.end_s.iloc[0] - 16.0) < 0.04
    idx = load_index(root / "data" / "shards")
    seg = idx[(idx.identifier == "tape-a") & (idx.file == "a1.mp3")]
    assert seg.start_s.min() <= mine.start_s + 1e-6
    others = lambda d: d[~((d.identifier == "tape-a") & (d.file == "a1.mp3"))].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(others(idx), others(idx_before))
    summ = pd.read_csv(root / "manifests" / "commentary_summary.csv").set_index(["identifier", "file"])
    assert abs(summ.loc[("tape-a", "a1.mp3"), "override_s"] - 4.0) < 0.1
    # Unchanged overrides: nothing to do; a malformed row is named by its line.
    calls.clear()
    capsys.readouterr()
    assert run_preprocess(_cfg(root)) == 0 and calls == []
    assert "nothing to do" in capsys.readouterr().out
    with open(root / "manifests" / "commentary_overrides.csv", "a") as f:
        f.write("tape-b,b1.flac,20,10,keep,\n")
    assert run_preprocess(_cfg(root)) == 2
    err = capsys.readouterr().err
    assert "commentary_overrides.csv, line 4" in err and "not after start_s" in err and calls == []
