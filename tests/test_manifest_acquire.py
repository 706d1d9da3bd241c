"""Manifest loading errors (file, line, value), merging a re-scrape, era selection."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from jazzcnn.core.files import FILE_MODE
from jazzcnn.acquire.manifests import (TRACK_COLUMNS, ManifestError, era_for_years, load_eras, load_tracks, merge_tracks,
                              read_tracks_or_empty, write_csv_atomic, years_within_eras)

REPO = Path(__file__).resolve().parents[1]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_repo_eras_load():
    eras = load_eras(REPO / "manifests" / "eras.csv")
    assert list(eras["era"])[:2] == ["Early Jazz", "Swing/Big Band"]


def test_eras_overlap_names_file_line_and_value(tmp_path):
    p = _write(tmp_path / "eras.csv", "era,start_year,end_year\nA,1920,1935\nB,1935,1940\n")
    with pytest.raises(ManifestError) as e:
        load_eras(p)
    msg = str(e.value)
    assert str(p) in msg and "line 3" in msg and "'B'" in msg and "1935" in msg and "line 2" in msg


def test_eras_non_numeric_year_names_file_line_and_value(tmp_path):
    p = _write(tmp_path / "eras.csv", "era,start_year,end_year\nA,1920,1930\nB,19x5,1940\n")
    with pytest.raises(ManifestError, match=r"eras.csv, line 3: start_year '19x5' is not a whole year"):
        load_eras(p)


def test_unknown_era_in_tracks_names_file_line_and_value(tmp_path):
    eras = load_eras(REPO / "manifests" / "eras.csv")
    row = dict.fromkeys(TRACK_COLUMNS, "")
    row.update(identifier="a", file="a.mp3", era="Free Jazz")
    p = tmp_path / "tracks.csv"
    write_csv_atomic(pd.DataFrame([row], columns=TRACK_COLUMNS), p)
    with pytest.raises(ManifestError, match=r"tracks.csv, line 2: era 'Free Jazz' is not defined"):
        load_tracks(p, eras)


def test_unknown_era_name_in_selection():
    eras = load_eras(REPO / "manifests" / "eras.csv")
    with pytest.raises(ManifestError, match="Hard Bop"):
        years_within_eras(1950, 1950, eras, ["Hard Bop"])


def test_era_for_years_and_within():
    eras = load_eras(REPO / "manifests" / "eras.csv")
    assert era_for_years(1933, 1934, eras) == "Swing/Big Band"
    assert era_for_years(1940, 1954, eras) is None          # straddles Swing, Bop and Cool
    assert era_for_years(pd.NA, pd.NA, eras) is None
    assert years_within_eras(1940, 1954, eras, ["Swing/Big Band", "Bop", "Cool Jazz"])
    assert not years_within_eras(1940, 1954, eras, ["Swing/Big Band"])


def _rows(**over):
    base = dict.fromkeys(TRACK_COLUMNS, "")
    base.update(identifier="t1", file="t1.mp3", year_start="1933", year_end="1934", year_source="metadata",
                format="VBR MP3", size_bytes="10", md5="aa")
    base.update(over)
    return base


def test_merge_keeps_user_columns_and_appends_new_rows():
    old = pd.DataFrame([_rows(era="Early Jazz", year_start="1930", note="mine"), _rows(identifier="gone", file="g.mp3")])
    new = pd.DataFrame([_rows(size_bytes="11", md5="bb"), _rows(identifier="t2", file="t2.mp3")], columns=TRACK_COLUMNS)
    out = merge_tracks(old, new)
    assert list(out["identifier"]) == ["t1", "gone", "t2"]
    t1 = out.iloc[0]
    assert (t1["era"], t1["year_start"], t1["year_end"], t1["year_source"]) == ("Early Jazz", "1930", "1934", "user")
    assert (t1["size_bytes"], t1["md5"], t1["note"]) == ("11", "bb", "mine")  # scraped columns refresh


def test_merge_blank_user_value_takes_scrape():
    old = pd.DataFrame([_rows(year_start="", year_end="", year_source="missing")])
    out = merge_tracks(old, pd.DataFrame([_rows()]))
    assert (out.iloc[0]["year_start"], out.iloc[0]["year_source"]) == ("1933", "metadata")


def test_read_tracks_or_empty(tmp_path):
    assert list(read_tracks_or_empty(tmp_path / "none.csv").columns) == TRACK_COLUMNS
    p = tmp_path / "t.csv"
    write_csv_atomic(pd.DataFrame([_rows()]), p)
    assert read_tracks_or_empty(p).iloc[0]["md5"] == "aa"
    assert p.stat().st_mode & 0o777 == FILE_MODE  # follows the umask, not mkstemp's 0600
