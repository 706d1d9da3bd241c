"""Keras on TensorFlow and on JAX: training, scoring and the cross-validation on either backend,
the TensorFlow-free input pipeline, mixed precision, and data parallelism on two virtual CPU devices.

Each JAX run is a subprocess (Keras picks its backend once per process); the test process itself
runs on TensorFlow, so a model trained on JAX is reloaded and compared there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from jazzcnn.testing.shards import write_synthetic

#: What a machine with only a JAX (or PyTorch) GPU stack may lack: ``jazzcnn train`` must not need
#: any of it (the acquire and preprocess stacks, TensorFlow and Kapre, the report's libraries).
ABSENT = ("tensorflow", "kapre", "librosa", "soundfile", "onnxruntime", "soxr", "internetarchive", "tqdm", "jinja2",
          "starlette", "uvicorn", "matplotlib")

#: Prepended to a script: these modules cannot be imported until ``unblock()`` is called, as on
#: a machine where they are not installed.
BLOCKER = f"""
import importlib.abc, sys
class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {ABSENT!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None
_absent = _Absent()
sys.meta_path.insert(0, _absent)
def unblock():
    sys.meta_path.remove(_absent)
"""

SETTINGS = dict(preset="seed3s", clip_seconds=1.0, batch_size=8, learning_rate=1e-3)


def _run(script: str, *args, backend: str = "jax", devices: int = 1, timeout: int = 600) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    run = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, env=env,
                         timeout=timeout)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("backends") / "c", tapes_per_era=4, segments_per_tape=2,
                           segment_seconds=3.0, artists_per_era=2)


JAX_RUN = BLOCKER + """
import json, sys
from pathlib import Path
import numpy as np
data = {"data_dir": Path(sys.argv[1]) / "data", "manifests_dir": Path(sys.argv[1]) / "manifests"}
root = Path(sys.argv[2])
settings = json.loads(sys.argv[3])
import keras
from jazzcnn.cli import main
flags = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
rc = main(["train", "--data-dir", str(data["data_dir"]), "--manifests-dir", str(data["manifests_dir"]),
           "--runs-dir", str(root / "runs"), "--run", "jax", "--epochs", "3", *flags])
assert rc == 0, rc
summary = json.loads((root / "runs" / "jax" / "summary.json").read_text())
imported = sorted(m for m in sys.modules if m.split(".")[0] in ABSENT_NAMES)
probe = np.load(root / "probe.npy")
from jazzcnn.train.models import build_model, load_model
model = load_model(root / "runs" / "jax" / "model.keras")
np.save(root / "jax_probs.npy", model.predict(probe, verbose=0))
# Mixed precision: bfloat16 compute behind the float32 front end, float32 probabilities, no loss scaling.
mixed = build_model("seed3s", 3, 16000, sample_rate=16000, mixed_precision=True)
policies = sorted({l.dtype_policy.name for l in mixed.layers if l.weights})
mixed.fit(probe[:4], np.arange(4) % 3, epochs=1, verbose=0)
kapre_error = ""
try:
    load_model(root / "kapre.keras")
except ValueError as e:
    kapre_error = str(e)
# The other stages need the decoders (score writes listenable clips): now they may be imported.
unblock()
from jazzcnn.train.config import CrossvalConfig, ScoreConfig
from jazzcnn.train.scoring import score
from jazzcnn.train.crossval import crossval
rep = score(ScoreConfig(runs_dir=root / "runs", run="jax", reports_dir=root / "reports", bootstrap=0))
cv = crossval(CrossvalConfig(**data, runs_dir=root / "runs", run="cv", reports_dir=root / "reports", folds=2, group="tape",
                             epochs=1, bootstrap=0, **settings), verbose=0)
print(json.dumps({"summary": summary, "imported_by_training": imported, "policies": policies,
                  "mixed_output": str(mixed.output.dtype), "mixed_optimizer": type(mixed.optimizer).__name__,
                  "kapre_error": kapre_error, "report": str(rep.report_dir), "cv_report": str(cv.report_dir),
                  "cv_backend": json.loads((cv.report_dir / "provenance.json").read_text())["keras_backend"]}))
""".replace("ABSENT_NAMES", repr(ABSENT))


@pytest.mark.slow
def test_trains_scores_and_crossvalidates_on_jax_without_tensorflow(data, tmp_path):
    import keras

    from jazzcnn.train.models import build_model, load_model

    assert keras.backend.backend() == "tensorflow"
    root = tmp_path
    rng = np.random.default_rng(0)
    probe = (0.3 * rng.standard_normal((6, 16000, 1))).astype(np.float32)
    np.save(root / "probe.npy", probe)
    build_model("seed3s", 3, 16000, sample_rate=16000).save(root / "kapre.keras")  # a TensorFlow model, Kapre inside
    got = _run(JAX_RUN, data["manifests_dir"].parent, root, json.dumps(SETTINGS))

    s = got["summary"]
    assert s["keras_backend"] == "jax" and s["input_pipeline"] == "pydataset" and s["epochs_run"] == 3
    assert got["imported_by_training"] == []  # the CLI trained with none of ABSENT installed
    prov = json.loads((root / "runs" / "jax" / "provenance.json").read_text())
    assert prov["keras_backend"] == "jax" and "jax" in prov["versions"]
    # The JAX-trained model loads on TensorFlow and predicts the same.
    model = load_model(root / "runs" / "jax" / "model.keras")
    np.testing.assert_allclose(model.predict(probe, verbose=0), np.load(root / "jax_probs.npy"), atol=1e-4)
    # bfloat16 on JAX (float16 with loss scaling is TensorFlow's), the output kept float32.
    assert "mixed_bfloat16" in got["policies"] and got["mixed_output"] == "float32"
    assert got["mixed_optimizer"] != "LossScaleOptimizer"
    assert "KERAS_BACKEND=tensorflow" in got["kapre_error"]
    # Score and cross-validation ran on JAX and wrote their reports.
    clips = pd.read_csv(Path(got["report"]) / "clip_predictions.csv")
    assert len(clips) > 0 and np.allclose(clips.filter(regex="^p_").sum(axis=1), 1.0, atol=1e-4)
    assert (Path(got["cv_report"]) / "report.md").exists() and got["cv_backend"] == "jax"


TWO_DEVICES = """
import json, sys
from pathlib import Path
if sys.argv[3] == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
data = {"data_dir": Path(sys.argv[1]) / "data", "manifests_dir": Path(sys.argv[1]) / "manifests"}
from jazzcnn.train.config import TrainConfig
from jazzcnn.train.training import train
# 18 validation clips in batches of 8 per device: the last batch (2 clips) splits evenly, 5 would not
res = train(TrainConfig(**data, runs_dir=Path(sys.argv[2]) / "runs", run="two", epochs=2, **json.loads(sys.argv[4])),
            verbose=0)
print(json.dumps(res.summary))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_data_parallel_training_on_two_virtual_cpu_devices(data, tmp_path, backend):
    settings = SETTINGS | {"batch_size": 5}  # global batch 10: odd leftovers in the validation grid
    s = _run(TWO_DEVICES, data["manifests_dir"].parent, tmp_path, backend, json.dumps(settings), backend=backend,
             devices=2)
    assert s["replicas"] == 2 and s["global_batch"] == 10 and s["keras_backend"] == backend
    assert s["distribution"] == {"jax": "DataParallel", "tensorflow": "MirroredStrategy"}[backend]
    assert s["best_val_loss"] is not None and np.isfinite(s["best_val_loss"])


def test_pydataset_pipeline_gives_the_tf_data_clips(data):
    """Both pipelines cut the same grid clips; random batches depend on (seed, epoch, batch) only."""
    from jazzcnn.train.data import ShardReader, eval_batches, grid_clips, load_shard_index, segments_for, train_batches

    index = load_shard_index(data["shard_dir"])
    reader = ShardReader(data["shard_dir"], sorted(index["shard"].unique()))
    tapes = {t: i % 3 for i, t in enumerate(sorted(index["identifier"].unique()))}
    seg = segments_for(index, reader.names, tapes)
    grid = grid_clips(seg, 16000, 8000)
    tf_x = np.concatenate([x.numpy() for x, _ in eval_batches(reader, grid, 16000, 7, pipeline="tf.data")])
    py = eval_batches(reader, grid, 16000, 7, pipeline="pydataset")
    py_x = np.concatenate([py[i][0] for i in range(len(py))])
    assert len(py) == -(-len(grid["label"]) // 7) and py_x.dtype == np.float32
    np.testing.assert_array_equal(py_x, tf_x)
    padded = eval_batches(reader, grid, 16000, 7, pipeline="pydataset", multiple=2)
    x, y, w = padded[len(padded) - 1]
    real = len(grid["label"]) - 7 * (len(padded) - 1)
    assert len(x) % 2 == 0 and w[:real].tolist() == [1.0] * real and not w[real:].any() and not x[real:].any()

    train = train_batches(reader, seg, 16000, 8, 3, steps=4, seed=[5, 0], pipeline="pydataset")
    first, again = train[2], train[2]
    assert len(train) == 4 and all(np.array_equal(a, b) for a, b in zip(first, again))
    train.on_epoch_end()
    assert not np.array_equal(train[2][0], first[0])  # a new epoch draws new positions
    x, y, w = first
    assert x.shape == (8, 16000, 1) and set(y.tolist()) <= {0, 1, 2} and np.abs(x).max() < 1.0
