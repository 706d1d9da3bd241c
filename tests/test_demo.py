"""End to end: the demo runs every real stage against a local archive server and beats the baseline."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jazzcnn.demo import DemoConfig, run_demo, speech_removal_scores
from jazzcnn.testing.demo_tapes import ERA_STYLES, TAPE_RATE, make_tape


def test_speech_removal_scores_weigh_time():
    truth = pd.DataFrame([("a", 0.0, 10.0, "speech"), ("a", 10.0, 30.0, "music")], columns=["identifier", "start_s", "end_s", "kind"])
    removed = pd.DataFrame([("a", 0.0, 9.0), ("a", 28.0, 30.0)], columns=["identifier", "start_s", "end_s"])
    s = speech_removal_scores(truth, removed, {"a": 30.0})
    assert s["speech_removed"] == pytest.approx(0.9, abs=0.01)
    assert s["music_kept"] == pytest.approx(0.9, abs=0.01)


def test_generated_tape_alternates_speech_and_music_with_era_bandwidth():
    rng = np.random.default_rng(3)
    early, cool = make_tape(ERA_STYLES[0], 0, 40, rng), make_tape(ERA_STYLES[3], 0, 40, rng)
    for tape in (early, cool):
        assert tape.audio.shape[1] == 2 and tape.speech_spans and tape.music_spans
        assert tape.speech_spans[0][0] == 0.0 and tape.music_spans[0][0] > tape.speech_spans[0][1]
        assert tape.year_start <= tape.year_end and tape.identifier.startswith(tape.artist.replace(" ", "_"))

    def energy_above(tape, hz):
        a, b = tape.music_spans[0]
        y = tape.audio[int(a * TAPE_RATE): int(b * TAPE_RATE), 0]
        spec = np.abs(np.fft.rfft(y)) ** 2
        f = np.fft.rfftfreq(len(y), 1 / TAPE_RATE)
        return spec[f > hz].sum() / spec.sum()

    # 78s-era transfers are band-limited near 3 kHz; the 1950s masters are not.
    assert energy_above(early, 4000) < 1e-3 < energy_above(cool, 4000)


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, capsys):
    cfg = DemoConfig(work_dir=tmp_path / "demo", tapes_per_era=4, tape_seconds=60, epochs=6, steps_per_epoch=12, workers=2,
                     crossval_epochs=3)
    assert run_demo(cfg) == 0
    out = capsys.readouterr().out
    work = cfg.work_dir
    report = work / "reports" / "demo"
    for path in [
        work / "manifests" / "tracks.csv", work / "manifests" / "commentary.csv", work / "manifests" / "commentary_summary.csv",
        work / "data" / "audio" / "verified.csv", work / "data" / "shards" / "index.csv", work / "data" / "shards" / "meta.json",
        work / "runs" / "demo" / "model.keras", work / "runs" / "demo" / "split.csv", work / "runs" / "demo" / "provenance.json",
        report / "report.md", report / "metrics.json", report / "confidence_matrix.png", report / "confusion_tape.png",
        report / "era_vs_year.png", report / "training_curves.png",
    ]:
        assert path.exists() and path.stat().st_size > 0, path
    tracks = pd.read_csv(work / "manifests" / "tracks.csv")
    assert len(tracks) == 16 and set(tracks["format"]) == {"VBR MP3"}  # the catalogue PDF item was skipped
    assert len(list((work / "data" / "shards").glob("shard-*.pcm"))) >= 1
    summary = json.loads((work / "demo_summary.json").read_text())
    assert summary["tape_accuracy"] > summary["tape_majority_baseline"]
    assert summary["commentary"]["speech_removed"] >= 0.9 and summary["commentary"]["music_kept"] >= 0.9
    assert "Commentary removed" in (report / "report.md").read_text()
    assert "report:" in out and "tape accuracy:" in out
    # the cross-validation: every tape scored once, the CNN beside both baselines
    cv = summary["crossval_tape_accuracy"]
    assert set(cv) == {"cnn", "linear", "majority"} and cv["cnn"] > cv["majority"]
    assert "cross-validated:   tape accuracy CNN" in out
    assert (work / "reports" / "demo-crossval" / "report.md").exists()
