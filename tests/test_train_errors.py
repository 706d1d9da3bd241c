"""Bad input stops with ``error: ...`` and exit status 2 before any training, never a traceback."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from jazzcnn.train.config import PredictConfig, ScoreConfig
from jazzcnn.commands import run_predict
from jazzcnn.commands import run_score
from jazzcnn.testing.shards import tiny_train_config, write_synthetic
from jazzcnn.commands import run_train


@pytest.fixture()
def data(tmp_path):
    return write_synthetic(tmp_path / "c", tapes_per_era=3, segments_per_tape=1, segment_seconds=1.5)


def _fails(rc, capsys, *needles):
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("error: ") and "Traceback" not in err
    for n in needles:
        assert n in err, err
    return err


def _edit(path, fn):
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = fn(df)
    df.to_csv(path, index=False)


def test_missing_shards(data, tmp_path, capsys):
    shutil.rmtree(data["shard_dir"])
    _fails(run_train(tiny_train_config(data, tmp_path / "runs")), capsys, "index.csv not found", "preprocess")
    assert not (tmp_path / "runs").exists()


def test_missing_shard_file(data, tmp_path, capsys):
    next(data["shard_dir"].glob("*.pcm")).unlink()
    _fails(run_train(tiny_train_config(data, tmp_path / "runs")), capsys, "missing")


def test_empty_era(data, tmp_path, capsys):
    with open(data["manifests_dir"] / "eras.csv", "a") as fh:
        fh.write("Fusion,1970,1985\n")
    _fails(run_train(tiny_train_config(data, tmp_path / "runs")), capsys, "Fusion", "no labelled tape")


def test_era_with_too_few_tapes_named(data, tmp_path, capsys):
    _edit(data["manifests_dir"] / "tracks.csv", lambda df: df[df["identifier"] != "bop-tape-00"])
    _fails(run_train(tiny_train_config(data, tmp_path / "runs")), capsys, "era 'Bop' has 2 tapes")


@pytest.mark.parametrize("breakage,needle", [
    (lambda df: df.assign(year_start=df["year_start"].where(df.index != 2, "19x5")), "line 4: year_start '19x5'"),
    (lambda df: df.drop(columns=["year_end"]), "missing column"),
    (lambda df: df.assign(era=df["era"].where(df.index != 0, "Modal")), "'Modal' is not defined"),
])
def test_tracks_schema_break(data, tmp_path, capsys, breakage, needle):
    _edit(data["manifests_dir"] / "tracks.csv", breakage)
    _fails(run_train(tiny_train_config(data, tmp_path / "runs")), capsys, "tracks.csv", needle)
    assert not (tmp_path / "runs").exists()


def test_eras_schema_break(data, tmp_path, capsys):
    _edit(data["manifests_dir"] / "eras.csv", lambda df: df.assign(end_year=df["end_year"].where(df.index != 0, "1935")))
    _fails(run_train(tiny_train_config(data, tmp_path / "runs")), capsys, "eras.csv", "overlaps")


def test_clip_shorter_than_stft(data, tmp_path, capsys):
    # seed3s: a 512-sample STFT window; its network needs 8,000 samples (two valid convolutions per block)
    _fails(run_train(tiny_train_config(data, tmp_path / "runs", clip_seconds=0.02)), capsys, "STFT window")
    _fails(run_train(tiny_train_config(data, tmp_path / "runs", clip_seconds=0.3)), capsys,
           "too short for preset 'seed3s'", "8000 samples")


def test_score_and_predict_bad_model(data, tmp_path, capsys):
    cfg = tiny_train_config(data, tmp_path / "runs", "m", epochs=1, max_examples=8)
    assert run_train(cfg) == 0
    capsys.readouterr()
    run = tmp_path / "runs" / "m"
    sc = ScoreConfig(runs_dir=tmp_path / "runs", run="m", reports_dir=tmp_path / "rep", data_dir=data["data_dir"])
    good = (run / "model.keras").read_bytes()

    # corrupt file
    (run / "model.keras").write_bytes(good[: len(good) // 2])
    _fails(run_score(sc), capsys, "corrupt")
    wav = tmp_path / "x.wav"
    import numpy as np
    import soundfile as sf
    sf.write(wav, 0.3 * np.sin(np.arange(16000 * 3) * 0.1), 16000)
    _fails(run_predict(PredictConfig(audio=wav, runs_dir=tmp_path / "runs", run="m")), capsys, "corrupt")

    # a model of another shape (2 eras, 2-second input) in the run folder
    from jazzcnn.train.models import build_model
    build_model("seed3s", 2, 32000).save(run / "model.keras")
    _fails(run_score(sc), capsys, "does not match")

    # model missing / run missing / audio missing
    (run / "model.keras").unlink()
    _fails(run_score(sc), capsys, "not found")
    _fails(run_score(ScoreConfig(runs_dir=tmp_path / "runs", run="nope", reports_dir=tmp_path / "rep")), capsys, "nope")
    _fails(run_predict(PredictConfig(audio=tmp_path / "none.wav", runs_dir=tmp_path / "runs", run="m")), capsys, "not found")

    # shards gone at scoring time
    (run / "model.keras").write_bytes(good)
    shutil.rmtree(data["shard_dir"])
    _fails(run_score(sc), capsys, "index.csv not found")
    assert not (tmp_path / "rep" / "m" / "report.md").exists()


def test_config_file_trains(data, tmp_path, capsys):
    from jazzcnn.cli import main as cli_main

    base = ["train", "--data-dir", str(data["data_dir"]), "--manifests-dir", str(data["manifests_dir"]),
            "--runs-dir", str(tmp_path / "runs")]
    conf = tmp_path / "c.json"
    conf.write_text('{"preset": "seed3s", "epochs": 1, "clip_seconds": 1, "max_examples": 4, "batch_size": 2}')
    assert cli_main(base + ["--config", str(conf)]) == 0
