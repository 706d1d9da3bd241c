"""Training end to end on separable synthetic tones: loss falls, run folder, reload, resume, config file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jazzcnn.cli import main as cli_main
from jazzcnn.train.splits import check_disjoint
from jazzcnn.testing.shards import tiny_train_config, write_synthetic
from jazzcnn.commands import run_train

RUN_FILES = ["model.keras", "config.json", "classes.json", "provenance.json", "split.csv", "labels.csv",
             "left_out.csv", "history.csv", "summary.json"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    data = write_synthetic(root, tapes_per_era=5, segments_per_tape=2, segment_seconds=3.0, artists_per_era=5)
    cfg = tiny_train_config(data, root / "runs", "sep", epochs=4, learning_rate=3e-4)
    assert run_train(cfg) == 0
    return data, cfg, root / "runs" / "sep"


def test_run_folder_complete(trained):
    data, cfg, run = trained
    for f in RUN_FILES:
        assert (run / f).exists(), f
    assert (run / "logs").is_dir() and any((run / "logs").rglob("*tfevents*"))
    assert not (run / "backup").exists() and not (run / "checkpoint.keras").exists()
    conf = json.loads((run / "config.json").read_text())
    assert conf["clip_seconds"] == 1.0 and conf["preset"] == "seed3s" and conf["learning_rate"] == 3e-4
    prov = json.loads((run / "provenance.json").read_text())
    assert set(prov["manifest_sha256"]) >= {"tracks.csv", "eras.csv"} and prov["git_revision"]
    classes = json.loads((run / "classes.json").read_text())
    assert classes["eras"] == ["Early", "Swing", "Bop"] and classes["clip_samples"] == 16000


def test_loss_falls_on_separable_data(trained):
    hist = pd.read_csv(trained[2] / "history.csv")
    assert len(hist) >= 2
    assert hist["loss"].iloc[-1] < 0.7 * hist["loss"].iloc[0]
    assert hist["val_loss"].min() < np.log(3)  # better than chance on held-out tapes


def test_split_saved_grouped(trained):
    split = pd.read_csv(trained[2] / "split.csv", keep_default_na=False)
    check_disjoint(split)
    assert list(split.columns[:3]) == ["identifier", "artist", "era"] and set(split["split"]) == {"train", "val", "test"}
    assert split.groupby("split")["era"].nunique().min() == 3


def test_keras_save_load_identical_predictions(trained, tmp_path):
    import keras

    from jazzcnn.train.models import load_model

    model = load_model(trained[2] / "model.keras")
    x = np.random.default_rng(0).standard_normal((6, 16000, 1)).astype("float32") * 0.3
    p1 = model.predict(x, verbose=0)
    model.save(tmp_path / "again.keras")
    p2 = keras.models.load_model(tmp_path / "again.keras").predict(x, verbose=0)  # no custom objects
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_allclose(p1.sum(1), 1.0, rtol=1e-5)
    fb = [layer for layer in model.get_layer("melspectrogram").layers if hasattr(layer, "filterbank_kwargs")][0]
    assert fb.filterbank_kwargs["sample_rate"] == 16000  # the seed had 32 Hz here


def test_group_by_artist(tmp_path):
    data = write_synthetic(tmp_path, tapes_per_era=6, segments_per_tape=1, segment_seconds=1.5, artists_per_era=3)
    assert run_train(tiny_train_config(data, tmp_path / "runs", "art", group="artist", balance="sampling", epochs=1, max_examples=8)) == 0
    split = pd.read_csv(tmp_path / "runs/art/split.csv", keep_default_na=False)
    assert split.groupby("artist")["split"].nunique().max() == 1
    check_disjoint(split)


def test_config_file_under_flags_and_debug_config(tmp_path, capsys):
    data = write_synthetic(tmp_path, tapes_per_era=3, segments_per_tape=1, segment_seconds=1.5)
    conf = tmp_path / "c.json"
    conf.write_text(json.dumps({"preset": "seed3s", "epochs": 1, "batch_size": 4, "clip_seconds": 1.0, "max_examples": 8,
                                "seed": 7}))
    rc = cli_main(["train", "--data-dir", str(data["data_dir"]), "--manifests-dir", str(data["manifests_dir"]),
                   "--runs-dir", str(tmp_path / "runs"), "--run", "cf", "--config", str(conf), "--batch-size", "2"])
    assert rc == 0
    resolved = json.loads((tmp_path / "runs/cf/config.json").read_text())
    assert resolved["epochs"] == 1 and resolved["seed"] == 7  # from the file
    assert resolved["batch_size"] == 2  # the flag wins over the file
    rc = cli_main(["train", "--data-dir", str(data["data_dir"]), "--manifests-dir", str(data["manifests_dir"]),
                   "--runs-dir", str(tmp_path / "runs"), "--run", "dbg", "--config", "train/configs/debug.json",
                   "--epochs", "1"])
    assert rc == 0 and (tmp_path / "runs/dbg/model.keras").exists()


def test_resume_after_interruption(tmp_path, monkeypatch):
    import keras

    data = write_synthetic(tmp_path, tapes_per_era=3, segments_per_tape=1, segment_seconds=1.5)
    cfg = tiny_train_config(data, tmp_path / "runs", "res", epochs=3, max_examples=8, patience=10)

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    real_tb = keras.callbacks.TensorBoard
    monkeypatch.setattr(keras.callbacks, "TensorBoard", lambda **kw: Crash())
    with pytest.raises(KeyboardInterrupt):
        run_train(cfg)
    run = tmp_path / "runs/res"
    assert (run / "backup").exists() and not (run / "model.keras").exists()
    monkeypatch.setattr(keras.callbacks, "TensorBoard", real_tb)
    assert run_train(cfg) == 0
    hist = pd.read_csv(run / "history.csv")
    assert list(hist["epoch"]) == [0, 1, 2]  # 0-1 before the crash, 2 after resuming
    assert (run / "model.keras").exists() and not (run / "backup").exists()


def test_seed15s_and_mixed_precision_build():
    import keras

    from jazzcnn.train.models import build_model

    m = build_model("seed15s", 4, 16000 * 15, mixed_precision=True)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored afterwards
    pol = {layer.name: layer.dtype_policy.name for layer in m.layers}
    assert pol["padding"] == pol["melspectrogram"] == pol["band_frame"] == "float32"  # the Kapre front end
    assert pol["conv2d_1"] == "mixed_float16" and pol["era"] == "float32"
    assert type(m.optimizer).__name__ == "LossScaleOptimizer"
    assert type(m.optimizer.inner_optimizer).__name__ == "RMSprop"
    assert m.get_layer("band_frame").output.shape[1:] == (128, 938, 1)
    assert [m.get_layer(f"dense_{i}").units for i in range(1, 5)] == [32, 512, 512, 512]


def test_mixed_precision_model_saves_and_reloads(tmp_path):
    import keras

    from jazzcnn.train.models import build_model

    m = build_model("seed3s", 3, 16000, mixed_precision=True)
    x = np.random.default_rng(1).standard_normal((8, 16000, 1)).astype("float32") * 0.2
    m.fit(x, np.arange(8) % 3, epochs=1, batch_size=4, verbose=0)
    m.save(tmp_path / "mp.keras")
    m2 = keras.models.load_model(tmp_path / "mp.keras")
    np.testing.assert_array_equal(m.predict(x, verbose=0), m2.predict(x, verbose=0))
    assert m2.get_layer("conv2d_1").dtype_policy.name == "mixed_float16"
    assert m2.get_layer("melspectrogram").dtype_policy.name == "float32"
