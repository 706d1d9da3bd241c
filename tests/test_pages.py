"""The pages a researcher opens: report.html from disk in a real browser, every picture and clip working."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import SCREENSHOTS, PageCheck, file_of
from jazzcnn.commands import run_score, run_train
from jazzcnn.testing.shards import tiny_train_config, write_synthetic
from jazzcnn.train.config import ScoreConfig


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    root = tmp_path_factory.mktemp("pages")
    data = write_synthetic(root, tapes_per_era=5, segments_per_tape=2, segment_seconds=3.0)
    assert run_train(tiny_train_config(data, root / "runs", "pg", epochs=2)) == 0
    assert run_score(ScoreConfig(runs_dir=root / "runs", run="pg", reports_dir=root / "reports")) == 0
    return root / "reports" / "pg", data


def check_report_page(browser, report_dir, shard_dir, screenshot):
    """Open report.html from disk; everything loads, every clip decodes and is the clip it claims to be."""
    from jazzcnn.preprocess.shards import read_segment

    page = PageCheck(browser, (report_dir / "report.html").as_uri(), screenshot)
    try:
        assert page.errors == [], page.errors
        assert page.broken_images() == []
        srcs = page.audio_sources()
        assert srcs, "no clips to listen to"
        entries = page.page.evaluate("Array.from(document.querySelectorAll('.clip')).map(c => c.innerText)")
    finally:
        page.close()
    clips = pd.read_csv(report_dir / "clip_predictions.csv")
    for src, text in zip(srcs, entries):
        path = file_of(src)
        y, sr = sf.read(path, dtype="float32")  # the project's decoder reads it
        ident, minutes, seconds = re.search(r"(\S+) at (\d+):([\d.]+)", text).groups()
        start = int(minutes) * 60 + float(seconds)
        row = clips[(clips["identifier"] == ident) & (np.abs(clips["clip_start_s"] - start) < 0.06)]
        assert len(row) >= 1, f"{ident} at {start} s is not in clip_predictions.csv"
        r = row.iloc[0]
        assert sr == 16000 and abs(len(y) - r["samples"]) < 1600
        pcm = read_segment(shard_dir, {"shard": r["shard"], "offset": r["shard_offset"], "length": r["samples"]})
        ref = pcm.astype(np.float32) / 32768
        n = min(len(y), len(ref))
        assert np.corrcoef(y[:n], ref[:n])[0, 1] > 0.9  # Vorbis is lossy; it must still be that clip


def test_score_report_opens_from_disk_with_every_picture_and_clip(browser, scored, tmp_path):
    out, data = scored
    shot = (SCREENSHOTS or tmp_path) / "report_html.png"
    check_report_page(browser, out, data["shard_dir"], shot)
    assert shot.exists() and shot.stat().st_size > 10_000
    html = (out / "report.html").read_text()
    for section in ("Summary", "Era confidence", "Confusion matrices", "Listen", "Embeddings", "Per-era"):
        assert section in html, section
    assert (out / "embeddings.png").exists()
    assert sum(p.stat().st_size for p in (out / "clips").iterdir()) < 5_000_000  # a few MB at most
