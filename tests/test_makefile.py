"""Make targets declare inputs and outputs: an era edit reruns training only, nothing new does nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

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
                             "data/shards/index.csv", "runs/r/model.keras", "reports/r/report.md"]):
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
