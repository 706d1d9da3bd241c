"""``jazzcnn predict``: era probabilities for a whole file and per clip, via jazzcnn.preprocess.clean_audio."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jazzcnn.cli import main as cli_main
from jazzcnn.testing.shards import DEFAULT_ERAS, tiny_train_config, write_synthetic
from jazzcnn.commands import run_train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pred")
    data = write_synthetic(root, tapes_per_era=4, segments_per_tape=2, segment_seconds=3.0)
    assert run_train(tiny_train_config(data, root / "runs", "p", epochs=4, learning_rate=3e-4)) == 0
    return root


def test_predict_file(run, capsys):
    import soundfile as sf

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


def test_predict_uses_the_shards_preprocess_settings(run, tmp_path):
    import json
    import shutil

    from jazzcnn.train.predict import cleaning_options_of
    from jazzcnn.train.runs import RunError, load_run

    r = load_run(run / "runs" / "p")
    assert r["data_dir"] == (run / "data").resolve()  # recorded by training, not guessed from the cwd
    record = sorted((run / "data" / "shards").glob("commit-*.json"))[0]
    original = record.read_text()
    rec = json.loads(original)
    record.write_text(json.dumps(rec | {"settings": {"trim_head_s": 12.5, "vad": False, "not_a_field": 1}}))
    try:
        opts = cleaning_options_of(r)
        assert opts.trim_head_s == 12.5 and opts.vad is False and opts.sample_rate == 16000
    finally:
        record.write_text(original)
    # A run whose data folder has gone: a clear error, never silent defaults.
    moved = tmp_path / "moved"
    shutil.copytree(run / "runs" / "p", moved)
    (moved / "inputs.json").write_text(json.dumps({"data_dir": str(tmp_path / "gone"), "manifests_dir": str(tmp_path)}))
    with pytest.raises(RunError, match="records no preprocessing settings"):
        cleaning_options_of(load_run(moved))
