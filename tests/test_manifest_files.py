"""Manifest CSVs as spreadsheets and editors leave them: every read is checked, errors name file and line."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from jazzcnn.acquire.manifests import TRACK_COLUMNS, ManifestError, load_eras, load_tracks, read_tracks_or_empty
from jazzcnn.cli import main as cli_main

ERAS = "era,start_year,end_year\nEarly Jazz,1920,1930\nSwing,1931,1944\n"


def _row(ident: str, artist: str = "Someone", year: int = 1925) -> dict:
    return {c: "" for c in TRACK_COLUMNS} | {"identifier": ident, "file": f"{ident}.mp3", "artist": artist,
                                            "year_start": str(year), "year_end": str(year), "format": "VBR MP3"}


@pytest.fixture
def manifests(tmp_path):
    m = tmp_path / "manifests"
    m.mkdir()
    (m / "eras.csv").write_text(ERAS)
    pd.DataFrame([_row("tape-a"), _row("tape-b", year=1935)], columns=TRACK_COLUMNS).to_csv(m / "tracks.csv", index=False)
    return m


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


@pytest.mark.parametrize("damage,needle", [
    (lambda ls: ls[:2] + ['tape-c,"tape-c.mp3,title' + "," * 12 + "\n"], "tracks.csv, line 3: unclosed quote"),
    (lambda ls: ls[:2] + [ls[2].rstrip("\n") + ",extra\n"], "tracks.csv, line 3: 15 fields, the header has 14 (extra value 'extra')"),
    (lambda ls: ls[:2] + ['tape-c,"x"y.mp3' + "," * 12 + "\n"], "tracks.csv, line 3: CSV syntax error (',' expected after '\"')"),
    (lambda ls: ls[:2] + ["tape-c,short\n"], "tracks.csv, line 3: 2 fields, the header has 14"),
    (lambda ls: [], "tracks.csv: empty file"),
    (lambda ls: ["\n", ",,,\n"], "tracks.csv: no header line"),
    (lambda ls: [ls[0].replace("year_end,", "")] + ls[1:2], "missing column(s) ['year_end']"),
    (lambda ls: [ls[0].replace("title", "file")] + ls[1:], "column(s) ['file'] appear more than once"),
    (lambda ls: ls + [",x.mp3" + "," * 12 + "\n"], "tracks.csv, line 4: blank identifier"),
])
def test_broken_tracks_csv_names_file_and_line(manifests, damage, needle):
    path = manifests / "tracks.csv"
    path.write_text("".join(damage(_lines(path))), encoding="utf-8")
    with pytest.raises(ManifestError) as e:
        load_tracks(path, load_eras(manifests / "eras.csv"))
    assert needle in str(e.value) and str(path) in str(e.value)


def test_zero_byte_and_binary_eras_csv(manifests):
    (manifests / "eras.csv").write_bytes(b"")
    with pytest.raises(ManifestError, match=r"eras.csv: empty file; a eras file needs at least its header line \(era,start_year,end_year\)"):
        load_eras(manifests / "eras.csv")
    (manifests / "eras.csv").write_bytes(b"era,start_year\x00,end_year\n")
    with pytest.raises(ManifestError, match="line 1: NUL byte"):
        load_eras(manifests / "eras.csv")
    (manifests / "eras.csv").write_text(ERAS, encoding="utf-16")
    with pytest.raises(ManifestError, match="UTF-16"):
        load_eras(manifests / "eras.csv")


def test_spreadsheet_encodings_and_blank_rows(manifests, caplog):
    rows = [_row("tape-a", "Stéphane Grappelli"), _row("tape-b", "Django Reinhardt", 1935)]
    text = pd.DataFrame(rows, columns=TRACK_COLUMNS).to_csv(index=False)
    # a spreadsheet on Windows: cp1252, CRLF line ends, rows of only commas and an empty line
    blank = "," * (len(TRACK_COLUMNS) - 1)
    lines = text.splitlines()
    spreadsheet = "\r\n".join([lines[0], lines[1], blank, "", lines[2], blank, blank]) + "\r\n"
    path = manifests / "tracks.csv"
    path.write_bytes(spreadsheet.encode("cp1252"))
    with caplog.at_level(logging.WARNING):
        df = load_tracks(path, load_eras(manifests / "eras.csv"))
    assert list(df["identifier"]) == ["tape-a", "tape-b"]  # no phantom tape from the comma rows
    assert df.loc[0, "artist"] == "Stéphane Grappelli"
    assert "not UTF-8" in caplog.text and "Windows-1252" in caplog.text
    # UTF-8 with a byte-order mark (Excel's "CSV UTF-8")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    df = load_tracks(path)
    assert list(df.columns[:2]) == ["identifier", "file"] and df.loc[0, "artist"] == "Stéphane Grappelli"
    # a merge keeps the user's text exactly and writes it back as UTF-8
    assert read_tracks_or_empty(path).loc[0, "artist"] == "Stéphane Grappelli"


def test_line_numbers_count_blank_rows_and_quoted_line_breaks(manifests):
    rows = [_row("tape-a"), _row("tape-b", year=1935) | {"title": "two\nlines"}, _row("tape-c", year=1935)]
    text = pd.DataFrame(rows, columns=TRACK_COLUMNS).to_csv(index=False)
    lines = text.splitlines(keepends=True)
    text = lines[0] + "\n" + "".join(lines[1:])  # an empty line after the header
    text = text.replace("tape-c,tape-c.mp3,,Someone,,1935", "tape-c,tape-c.mp3,,Someone,,19x5")
    (manifests / "tracks.csv").write_text(text)
    with pytest.raises(ManifestError, match=r"tracks.csv, line 6: year_start '19x5' is not a whole number"):
        load_tracks(manifests / "tracks.csv")


def test_cli_reports_a_broken_manifest_without_traceback(manifests, tmp_path, capsys):
    path = manifests / "tracks.csv"
    path.write_text(path.read_text() + 'tape-c,"oops' + "\n")
    rc = cli_main(["validate", "--manifests-dir", str(manifests), "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "Traceback" not in err
    assert f"{path}, line 4: unclosed quote" in err
