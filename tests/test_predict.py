"""``jazzcnn predict``: era probabilities for a whole file and per clip, via preprocess.clean_audio."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jazzcnn.cli import main as cli_main
from train.synthetic import DEFAULT_ERAS, tiny_train_config, write_synthetic
from train.training import run_train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pred")
    data = write_synthetic(root, tapes_per_era=4, segments_per_tape=2, segment_seconds=3.0)
    assert run_train(tiny_train_config(data, root / "runs", "p", epochs=4, learning_rate=3e-4)) == 0
    return root


def test_predict_file(run, capsys):
    import soundfile as sf

    pytest.importorskip("preprocess.pipeline")
    sr = 16000
    t = np.arange(sr * 6) / sr
    tone = 0.5 * np.sin(2 * np.pi * DEFAULT_ERAS[2][3] * t)  # the "Bop" tone
    wav = run / "bop.wav"
    sf.write(wav, tone, sr)
    out = run / "pred.csv"
    rc = cli_main(["predict", "--audio", str(wav), "--runs-dir", str(run / "runs"), "--run", "p", "--output", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "whole file:" in text and "per clip:" in text
    clips = pd.read_csv(out)
    assert len(clips) >= 5  # ~6 s of music in 1 s clips (cleaning may trim an edge)
    probs = clips[[f"p_{e[0]}" for e in DEFAULT_ERAS]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (clips["pred_era"] == "Bop").mean() > 0.5
    first = text.split("whole file:")[1].split("\n")[1].split()
    assert first[0] == "Bop"
    assert (clips["start_s"].diff().dropna() > 0).all() and clips["end_s"].max() <= 6.0 + 1e-6


def test_predict_uses_the_shards_preprocess_settings(run):
    import json

    from train.predict import _preprocess_config
    from train.scoring import load_run

    r = load_run(run / "runs" / "p")
    meta = run / "data" / "shards" / "meta.json"
    m = json.loads(meta.read_text())
    meta.write_text(json.dumps(m | {"config": {"trim_head_s": 12.5, "vad": False, "not_a_field": 1}}))
    r["config"]["data_dir"] = str(run / "data")
    cfg = _preprocess_config(r)
    assert cfg.trim_head_s == 12.5 and cfg.vad is False and cfg.sample_rate == 16000
    meta.write_text(json.dumps(m))
