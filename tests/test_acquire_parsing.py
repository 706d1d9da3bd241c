"""Parsing of archive metadata: years (incl. implausible ones), durations, artist, tape, safe paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from jazzcnn.acquire.parsing import first_value, parse_artist, parse_duration, parse_tape, parse_years, years_in_text
from jazzcnn.acquire.transfer import UnsafePathError, safe_target


@pytest.mark.parametrize("identifier, start, end", [
    ("Benny_Goodman_Tape_5_1933-1934", 1933, 1934),
    ("Benny_Goodman_Tape_8_June_6,_1935", 1935, 1935),
    ("Bud_Freeman_Tape_4A_1940-1954", 1940, 1954),
    ("Duke_Ellington_Tape_88_1963", 1963, 1963),
    ("Count_Basie_Tape_3_1937-39", 1937, 1939),
])
def test_years_from_identifier(identifier, start, end):
    info = parse_years({}, "", identifier)
    assert (info.start, info.end, info.source) == (start, end, "identifier")
    assert info.problems == []


def test_tape_numbers_and_dates_are_not_year_ranges():
    assert years_in_text("Artist_Tape_1001_1950") == [1950]
    assert years_in_text("1935-06-06") == [1935]
    assert years_in_text("1935-06") == [1935]


def test_metadata_years_win_string_or_list():
    assert (parse_years({"date": "1938"}, "X Tape 1 1940", "X_Tape_1_1940").start) == 1938
    info = parse_years({"date": ["1933", "1934"]}, "", "Benny_Goodman_Tape_5")
    assert (info.start, info.end, info.source) == (1933, 1934, "metadata")
    info = parse_years({"year": "1950", "date": "1950-05-02"}, "", "")
    assert (info.start, info.end, info.source) == (1950, 1950, "metadata")


def test_metadata_year_inside_title_range_keeps_the_range():
    info = parse_years({"year": "1940"}, "Bud Freeman Tape 4A 1940-1954", "Bud_Freeman_Tape_4A_1940-1954")
    assert (info.start, info.end) == (1940, 1954)


def test_implausible_metadata_year_is_corrected_from_title_and_reported():
    info = parse_years({"date": "2343"}, "Jimmie Lunceford Tape 2 1943", "Jimmie_Lunceford_Tape_2")
    assert (info.start, info.end, info.source) == (1943, 1943, "title")
    assert len(info.problems) == 1 and "2343" in info.problems[0] and "1943" in info.problems[0]


def test_implausible_year_everywhere_is_left_blank_and_reported():
    info = parse_years({"date": "2343"}, "Somebody Tape 2 2343", "Somebody_Tape_2_1899")
    assert (info.start, info.end, info.source) == (None, None, "invalid")
    assert len(info.problems) == 3 and "left blank" in info.problems[-1]


def test_no_year_anywhere_is_missing():
    info = parse_years({"title": "Radio interview"}, "", "Radio_Interview_Tape_7")
    assert (info.start, info.source, info.problems) == (None, "missing", [])


@pytest.mark.parametrize("value, seconds", [
    ("205.3", 205.3), ("3:25", 205.0), ("03:25", 205.0), ("1:02:03", 3723.0), ("00:00:01.5", 1.5),
    (["4:00"], 240.0), (12, 12.0), ("", None), (None, None),
])
def test_parse_duration(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["abc", "1:2:3:4", "3:75", "-5", "1:xx"])
def test_parse_duration_rejects(value):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_artist_and_tape():
    assert parse_artist("Bud_Freeman_Tape_4A_1940-1954", {}) == "Bud Freeman"
    assert parse_artist("x", {"creator": ["Benny Goodman", "Gene Krupa"]}) == "Benny Goodman"
    assert parse_tape("Bud_Freeman_Tape_4A_1940-1954") == "4A"
    assert parse_tape("Duke_Ellington_Tape_88_1963") == "88"
    assert parse_tape("nothing", "Some Tape 12 title") == "12"
    assert first_value(["", " a "]) == "a" and first_value(None, "d") == "d"


@pytest.mark.parametrize("name", ["../evil.mp3", "/etc/x", "a/../../b.mp3", "a//b", "", "a\\..\\b", "./x"])
def test_safe_target_refuses_escaping_names(tmp_path: Path, name):
    with pytest.raises(UnsafePathError):
        safe_target(tmp_path, "item", name)


def test_safe_target_allows_subfolders(tmp_path: Path):
    assert safe_target(tmp_path, "item", "disc1/a.mp3") == tmp_path / "item" / "disc1" / "a.mp3"
    with pytest.raises(UnsafePathError):
        safe_target(tmp_path, "..", "a.mp3")
