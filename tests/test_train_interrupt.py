"""Training survives a kill at the dangerous moments: inside the backup, checkpoint and model writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from jazzcnn.testing.shards import tiny_train_config, write_synthetic
from jazzcnn.commands import run_train

# The child trains with every fsync slowed down, so each atomic write's temporary file lives long
# enough for the test to kill the process inside it.
KILL_SCRIPT = """
import os, sys, time
from pathlib import Path
real_fsync = os.fsync
def slow_fsync(fd):
    time.sleep(0.4)
    return real_fsync(fd)
os.fsync = slow_fsync
from jazzcnn.testing.shards import tiny_train_config
from jazzcnn.commands import run_train
data = {"data_dir": Path(sys.argv[1]) / "data", "manifests_dir": Path(sys.argv[1]) / "manifests"}
sys.exit(run_train(tiny_train_config(data, Path(sys.argv[2]), "k", epochs=3, max_examples=8, patience=10)))
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("kill") / "c", tapes_per_era=3, segments_per_tape=1,
                           segment_seconds=1.5)


@pytest.mark.parametrize("kill_in", ["weights", "best", "model"])
def test_kill_inside_a_training_write_then_rerun_finishes(data, tmp_path, kill_in):
    runs = tmp_path / "runs"
    run = runs / "k"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(data["data_dir"].parent), str(runs)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # weights/best: the second epoch's write (a backup already exists); model: the final publish
    pattern, folder = {"weights": (".weights-e0002*.tmp", "backup"), "best": (".best-e0002*.tmp", "backup"),
                       "model": (".model.keras.*.tmp", ".")}[kill_in]
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline and not list((run / folder).glob(pattern)):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be killed"
    assert list((run / folder).glob(pattern)), "the kill did not land inside the write"
    state = json.loads((run / "backup" / "state.json").read_text())
    assert not (run / "model.keras").exists() or kill_in == "model"

    cfg = tiny_train_config(data, runs, "k", epochs=3, max_examples=8, patience=10)
    assert run_train(cfg) == 0
    assert not list(run.rglob(".*.tmp")) and not (run / "backup").exists()
    hist = pd.read_csv(run / "history.csv")
    assert list(hist["epoch"]) == [0, 1, 2]  # each epoch once: committed ones were not redone
    if kill_in != "model":
        assert state["epochs_done"] == 1  # killed inside epoch 2's commit: it was redone
    import keras

    model = keras.models.load_model(run / "model.keras")
    p = model.predict(np.zeros((2, 16000, 1), np.float32), verbose=0)
    assert p.shape == (2, 3) and np.allclose(p.sum(1), 1, atol=1e-5)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_run"] == 3 and summary["best_val_loss"] == pytest.approx(hist["val_loss"].min())


def test_finished_but_unpublished_run_publishes_a_checked_model(data, tmp_path, monkeypatch):
    """Killed after the last epoch's commit, before the publish: the rerun trains nothing."""
    from jazzcnn.train import checkpoints

    cfg = tiny_train_config(data, tmp_path / "runs", "p", epochs=2, max_examples=8, patience=10)

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints.TrainingState, "publish", killed)
    with pytest.raises(KeyboardInterrupt):
        run_train(cfg)
    monkeypatch.undo()
    run = tmp_path / "runs" / "p"
    assert json.loads((run / "backup" / "state.json").read_text())["epochs_done"] == 2
    # A truncated best checkpoint (written by anything but us) is refused, never published.
    best = run / "backup" / json.loads((run / "backup" / "state.json").read_text())["best"]
    good = best.read_bytes()
    best.write_bytes(good[:1000])
    assert run_train(cfg) == 1 and not (run / "model.keras").exists()
    best.write_bytes(good)
    assert run_train(cfg) == 0
    assert len(pd.read_csv(run / "history.csv")) == 2 and (run / "model.keras").exists()
