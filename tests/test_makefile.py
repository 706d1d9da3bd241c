"""Make targets declare inputs and outputs: an era edit reruns training only, nothing new does nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _plan(tmp_path, *targets, dry_run=True):
    """Commands `make -n` would run for ``targets`` on the files under ``tmp_path`` (or run them)."""
    # VENV points at an existing, up-to-date stamp so the plan shows only the stage commands.
    venv = tmp_path / "venv"
    args = [f"DATA_DIR={tmp_path}/data", f"MANIFESTS={tmp_path}/manifests", f"RUNS_DIR={tmp_path}/runs",
            f"REPORTS_DIR={tmp_path}/reports", f"VENV={venv}", "RUN=r"]
    out = subprocess.run(["make", *(["-n"] if dry_run else []), "-C", str(REPO), *targets, *args], capture_output=True, text=True)
    return out.returncode, out.stdout + out.stderr


def _touch(path, t):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path, (t, t))


@pytest.fixture
def built(tmp_path):
    """A pipeline whose every output is newer than its inputs."""
    t = time.time() - 1000
    _touch(tmp_path / "venv" / ".installed", time.time())
    for i, rel in enumerate(["data/audio/verified.csv", "manifests/tracks.csv", "manifests/eras.csv",
                             "data/shards/complete.json", "runs/r/model.keras", "reports/r/report.md"]):
        _touch(tmp_path / rel, t + 10 * i)
    return tmp_path


def test_nothing_new_does_nothing(built):
    rc, out = _plan(built, "preprocess", "train", "score")
    assert rc == 0
    assert "jazzcnn preprocess" not in out and "jazzcnn train" not in out and "jazzcnn score" not in out


def test_era_edit_reruns_training_and_scoring_only(built):
    _touch(built / "manifests" / "eras.csv", time.time())
    rc, out = _plan(built, "preprocess", "train", "score")
    assert rc == 0
    assert "jazzcnn preprocess" not in out
    assert "jazzcnn train" in out and "jazzcnn score" in out


def test_new_download_reruns_preprocess(built):
    _touch(built / "data" / "audio" / "verified.csv", time.time())
    rc, out = _plan(built, "preprocess")
    assert rc == 0 and "jazzcnn preprocess" in out


def test_preprocess_without_download_says_what_to_do(tmp_path):
    _touch(tmp_path / "venv" / ".installed", time.time())
    rc, out = _plan(tmp_path, "preprocess", dry_run=False)
    assert rc != 0 and "run 'make download' first" in out and "jazzcnn preprocess" not in out


def _tone_collection(data_dir, manifests, seconds=90.0, tapes_per_era=4):
    """Tapes of era-specific tones as verified downloads, with tracks.csv and eras.csv."""
    import numpy as np
    import pandas as pd
    import soundfile as sf

    from jazzcnn.acquire.manifests import TRACK_COLUMNS

    manifests.mkdir(parents=True, exist_ok=True)
    (manifests / "eras.csv").write_text("era,start_year,end_year\nEarly,1920,1930\nSwing,1931,1944\nBop,1945,1959\n")
    rng = np.random.default_rng(0)
    rows = []
    for era, year, hz in (("early", 1925, 300.0), ("swing", 1935, 900.0), ("bop", 1950, 2500.0)):
        for k in range(tapes_per_era):
            ident = f"{era}-tape-{k}"
            t = np.arange(int(seconds * 16000)) / 16000
            x = 0.3 * np.sin(2 * np.pi * hz * (1 + 0.01 * k) * t) + 0.02 * rng.standard_normal(len(t))
            path = data_dir / "audio" / ident / f"{ident}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, x.astype("float32"), 16000, subtype="PCM_16")
            rows.append({c: "" for c in TRACK_COLUMNS} | {"identifier": ident, "file": path.name, "artist": f"{era} {k}",
                                                          "year_start": year, "year_end": year, "format": "VBR MP3"})
    pd.DataFrame(rows, columns=TRACK_COLUMNS).to_csv(manifests / "tracks.csv", index=False)
    (data_dir / "audio" / "verified.csv").write_text("identifier,file,size_bytes,md5\n")
    return rows


def test_ctrl_c_of_make_preprocess_loses_nothing_with_an_awkward_data_path(tmp_path):
    """SIGINT to make's whole process group after the first shard commit, in a folder named with a
    space, an apostrophe and non-ASCII letters; then make preprocess and make train succeed."""
    import signal
    import sys

    import pandas as pd

    from jazzcnn.preprocess.shards import load_index

    base = tmp_path / "Niven's jazz ü"
    data_dir, manifests = base / "dåta dir", base / "manifests"
    rows = _tone_collection(data_dir, manifests)
    venv = Path(sys.executable).parent.parent
    make = ["make", "-C", str(REPO), "-o", f"{venv}/.installed", f"VENV={venv}", f"DATA_DIR={data_dir}",
            f"MANIFESTS={manifests}", f"RUNS_DIR={base / 'my runs'}", f"REPORTS_DIR={base / 'reports'}", "RUN=it's"]
    pre = [*make, "preprocess", "VAD=false", "SHARD_BYTES=1000000", "WORKERS=1"]
    proc = subprocess.Popen(pre, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    shard_dir = data_dir / "shards"
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline and not (shard_dir / "commit-00000.json").exists():
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0, "make preprocess finished before it could be interrupted:\n" + out
    assert "Deleting file" not in out, out
    committed = len(list(shard_dir.glob("commit-*.json")))
    assert 1 <= committed < len(rows)

    rerun = subprocess.run(pre, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    idx = load_index(shard_dir)
    assert set(idx["identifier"]) == {r["identifier"] for r in rows}  # every file's audio is there
    assert set(pd.read_csv(shard_dir / "index.csv")["identifier"]) == set(idx["identifier"])

    train = subprocess.run([*make, "train", "EPOCHS=1", "STEPS_PER_EPOCH=2", "CLIP_SECONDS=1", "BATCH_SIZE=4",
                            "GROUP=tape"], capture_output=True, text=True)
    assert train.returncode == 0, train.stdout + train.stderr
    assert (base / "my runs" / "it's" / "model.keras").exists()
    again = subprocess.run([*make, "-n", "preprocess", "train"], capture_output=True, text=True)
    assert "jazzcnn preprocess" not in again.stdout and "jazzcnn train" not in again.stdout, again.stdout
