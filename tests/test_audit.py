"""The commentary audit: every removed span can be heard, with a few seconds either side of each cut."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import SCREENSHOTS, PageCheck, file_of
from jazzcnn.cli import main as cli_main
from jazzcnn.commands import run_preprocess
from jazzcnn.preprocess.config import PreprocessConfig
from test_preprocess_pipeline import _mini_tape, _write_manifest


@pytest.fixture(scope="module")
def preprocessed(shared_audio, tmp_path_factory):
    root = tmp_path_factory.mktemp("audit")
    rows = []
    for i, (ident, name, fmt) in enumerate([("tape-a", "a.mp3", "MP3"), ("tape-b", "b.wav", "WAV")]):
        path = root / "data" / "audio" / ident / name
        path.parent.mkdir(parents=True)
        sf.write(path, _mini_tape(shared_audio, i, 44100), 44100, format=fmt)
        rows.append({"identifier": ident, "file": name, "format": "VBR MP3"})
    _write_manifest(root / "manifests", rows)
    assert run_preprocess(PreprocessConfig(data_dir=root / "data", manifests_dir=root / "manifests", workers=1,
                                           audit_dir=root / "reports" / "commentary")) == 0
    return root


def test_audit_pages_play_every_removed_span_and_its_cuts(browser, preprocessed, tmp_path):
    root = preprocessed
    audit = root / "reports" / "commentary"
    spans = pd.read_csv(root / "manifests" / "commentary.csv")
    assert len(spans) >= 4 and "speech" in set(spans["reason"])
    page = PageCheck(browser, (audit / "index.html").as_uri(), (SCREENSHOTS or tmp_path) / "audit_index.png")
    try:
        assert page.errors == [] and page.broken_images() == []
        links = page.page.evaluate("Array.from(document.querySelectorAll('a')).map(a => a.href)")
        assert len(links) == 2
        assert "commentary_overrides.csv" in page.page.inner_text("body")
    finally:
        page.close()
    heard = 0
    for link in links:
        page = PageCheck(browser, link, (SCREENSHOTS or tmp_path) / "audit_tape.png")
        try:
            assert page.errors == [], page.errors
            srcs = page.audio_sources()
            ident = file_of(link).stem
            mine = spans[spans["identifier"] == ident]
            assert len(srcs) == 3 * len(mine)  # the span, around its start, around its end
            assert page.page.locator("svg rect").count() == len(mine) + 1  # the strip: one band per span
            # the browser really plays the longest span, from the original file, starting at the span
            k = int((mine["end_s"] - mine["start_s"]).to_numpy().argmax())
            start = float(mine["start_s"].iloc[k])
            page.page.evaluate(f"document.querySelectorAll('audio')[{3 * k}].play()")
            page.page.wait_for_function(f"document.querySelectorAll('audio')[{3 * k}].currentTime > {start + 0.3}",
                                        timeout=20_000)
        finally:
            page.close()
        for src, (_, s) in zip(srcs[::3], mine.iterrows()):
            path = file_of(src)
            assert path.is_file()
            y, sr = sf.read(path, dtype="float32")  # the project's decoder reads what the page plays
            assert len(y) / sr >= s["end_s"] - 0.1
            start, end = (float(v) for v in src.split("#t=")[1].split(","))
            assert start == pytest.approx(s["start_s"], abs=0.01) and end == pytest.approx(s["end_s"], abs=0.01)
            heard += 1
    assert heard == len(spans)


def test_jazzcnn_audit_rebuilds_the_pages(preprocessed, tmp_path, capsys):
    out = tmp_path / "again"
    rc = cli_main(["audit", "--data-dir", str(preprocessed / "data"), "--manifests-dir", str(preprocessed / "manifests"),
                   "--audit-dir", str(out)])
    assert rc == 0 and (out / "index.html").exists() and len(list((out / "tapes").glob("*.html"))) == 2
    assert "removed spans" in capsys.readouterr().out
    rc = cli_main(["audit", "--manifests-dir", str(tmp_path / "nowhere"), "--audit-dir", str(out)])
    assert rc == 2 and "commentary_summary.csv" in capsys.readouterr().err
