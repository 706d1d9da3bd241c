"""The Python API: a collection to browse, and the stages as functions returning results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import jazzcnn
from jazzcnn.acquire.manifests import TRACK_COLUMNS
from jazzcnn.api import Collection, JazzcnnError, PreprocessConfig, preprocess
from jazzcnn.core.errors import ManifestError


@pytest.fixture
def collection(tmp_path):
    man = tmp_path / "manifests"
    man.mkdir()
    (man / "eras.csv").write_text("era,start_year,end_year\nEarly,1920,1930\nSwing,1931,1944\n")
    rows = []
    for ident, years, hz in (("a-tape", (1925, 1925), 440.0), ("b-tape", (1929, 1933), 660.0), ("c-tape", (1935, 1936), 880.0)):
        path = tmp_path / "data" / "audio" / ident / f"{ident}.wav"
        path.parent.mkdir(parents=True)
        t = np.arange(44100 * 6) / 44100
        sf.write(path, 0.3 * np.sin(2 * np.pi * hz * t), 44100)
        rows.append({c: "" for c in TRACK_COLUMNS} | {"identifier": ident, "file": path.name, "artist": ident.upper(),
                                                      "year_start": years[0], "year_end": years[1], "format": "VBR MP3",
                                                      "size_bytes": path.stat().st_size})
    pd.DataFrame(rows, columns=TRACK_COLUMNS).to_csv(man / "tracks.csv", index=False)
    return tmp_path


def test_collection_tapes_tracks_audio_validate_and_segments(collection):
    col = jazzcnn.Collection(collection / "data", collection / "manifests")
    assert isinstance(col, Collection)
    tapes = col.tapes().set_index("identifier")
    assert tapes.loc["a-tape", "era"] == "Early" and tapes.loc["c-tape", "era"] == "Swing"
    assert tapes.loc["b-tape", "era"] == ""  # 1929-1933 straddles two eras: left out by the one rule
    track = col.track("c-tape", "c-tape.wav")
    y = track.audio(sample_rate=16000)
    assert y.dtype == np.float32 and abs(len(y) - 6 * 16000) <= 16
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * 16000 / len(y) - 880) < 2
    with pytest.raises(KeyError, match="nope.wav"):
        col.track("c-tape", "nope.wav")
    rep = col.validate()
    assert (rep.checked, rep.ok, rep.missing, rep.corrupt) == (3, 3, [], [])
    res = preprocess(PreprocessConfig(data_dir=collection / "data", manifests_dir=collection / "manifests",
                                      workers=1, vad=False, audit_dir=collection / "audit"), progress=False)
    assert res.audit is not None and res.audit.index.exists()
    assert (res.selected, res.processed, res.failures) == (3, 3, [])
    assert set(col.segments()["identifier"]) == {"a-tape", "b-tape", "c-tape"}


def test_library_functions_raise_the_one_error_family(collection):
    (collection / "manifests" / "eras.csv").write_text("era,start_year,end_year\nA,1920,1935\nB,1930,1940\n")
    with pytest.raises(ManifestError, match="overlaps") as e:
        preprocess(PreprocessConfig(data_dir=collection / "data", manifests_dir=collection / "manifests",
                                    audit_dir=collection / "audit"))
    assert isinstance(e.value, JazzcnnError)
    with pytest.raises(ManifestError):
        jazzcnn.Collection(collection / "data", collection / "manifests").tapes()
