"""Era labels from tracks.csv + eras.csv, and relabelling by editing the CSVs."""

from __future__ import annotations

import pandas as pd
import pytest

from jazzcnn.acquire.manifests import TRACK_COLUMNS, ManifestError, load_eras, load_tracks
from jazzcnn.train.labels import format_left_out, resolve_labels
from jazzcnn.testing.shards import tiny_train_config, write_synthetic
from jazzcnn.commands import run_train


def _manifests(tmp_path, rows):
    pd.DataFrame([("A", 1920, 1929), ("B", 1930, 1944), ("C", 1945, 1959)],
                 columns=["era", "start_year", "end_year"]).to_csv(tmp_path / "eras.csv", index=False)
    full = [{c: "" for c in TRACK_COLUMNS} | {"file": f"{r['identifier']}.mp3"} | r for r in rows]
    pd.DataFrame(full, columns=TRACK_COLUMNS).to_csv(tmp_path / "tracks.csv", index=False)
    eras = load_eras(tmp_path / "eras.csv")
    return load_tracks(tmp_path / "tracks.csv", eras), eras


ROWS = [
    {"identifier": "inside", "year_start": 1925, "year_end": 1928},
    {"identifier": "user", "year_start": 1925, "year_end": 1950, "era": "C"},
    {"identifier": "straddle", "year_start": 1927, "year_end": 1946},
    {"identifier": "noyears"},
    {"identifier": "outside", "year_start": 1970, "year_end": 1971},
]


def test_labels_rules(tmp_path):
    tracks, eras = _manifests(tmp_path, ROWS)
    lab = resolve_labels(tracks, eras).set_index("identifier")
    assert lab.at["inside", "era"] == "A" and lab.at["inside", "era_index"] == 0
    assert lab.at["user", "era"] == "C" and lab.at["user", "label_source"] == "user"
    for t in ("straddle", "noyears", "outside"):
        assert lab.at[t, "status"] == "left_out" and lab.at[t, "reason"]
    text = format_left_out(lab.reset_index())
    assert "straddle" in text and "noyears" in text and text.startswith("3 tape(s) left out")


@pytest.mark.parametrize("policy,era", [("start", "A"), ("end", "C"), ("mid", "B")])
def test_straddle_policies(tmp_path, policy, era):
    tracks, eras = _manifests(tmp_path, ROWS)
    lab = resolve_labels(tracks, eras, policy).set_index("identifier")
    assert lab.at["straddle", "era"] == era


def test_tape_years_span_all_its_files(tmp_path):
    tracks, eras = _manifests(tmp_path, [{"identifier": "t", "file": "a.mp3", "year_start": 1925, "year_end": 1925},
                                         {"identifier": "t", "file": "b.mp3", "year_start": 1932, "year_end": 1933}])
    lab = resolve_labels(tracks, eras)
    assert len(lab) == 1 and lab.iloc[0]["status"] == "left_out"
    assert (lab.iloc[0]["year_start"], lab.iloc[0]["year_end"]) == (1925, 1933)


def test_conflicting_user_eras_is_schema_error(tmp_path):
    tracks, eras = _manifests(tmp_path, [{"identifier": "t", "file": "a.mp3", "era": "A"},
                                         {"identifier": "t", "file": "b.mp3", "era": "B"}])
    with pytest.raises(ManifestError, match="different eras"):
        resolve_labels(tracks, eras)


def test_relabel_by_csv_edit_retrains_without_touching_shards(tmp_path):
    data = write_synthetic(tmp_path / "c", tapes_per_era=4, segments_per_tape=1, segment_seconds=2.0)
    shards = sorted(data["shard_dir"].iterdir())
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in shards}
    cfg = tiny_train_config(data, tmp_path / "runs", "relabel", epochs=1, max_examples=16)
    assert run_train(cfg) == 0
    lab1 = pd.read_csv(tmp_path / "runs/relabel/labels.csv", keep_default_na=False).set_index("identifier")
    assert lab1.at["early-tape-00", "era"] == "Early"

    # the user relabels one tape and renames an era's years: edit only the CSVs
    tracks = pd.read_csv(data["manifests_dir"] / "tracks.csv", dtype=str, keep_default_na=False)
    tracks.loc[tracks["identifier"] == "early-tape-00", "era"] = "Swing"
    tracks.to_csv(data["manifests_dir"] / "tracks.csv", index=False)
    assert run_train(cfg) == 0
    lab2 = pd.read_csv(tmp_path / "runs/relabel/labels.csv", keep_default_na=False).set_index("identifier")
    assert lab2.at["early-tape-00", "era"] == "Swing" and lab2.at["early-tape-00", "label_source"] == "user"
    split = pd.read_csv(tmp_path / "runs/relabel/split.csv", keep_default_na=False).set_index("identifier")
    assert split.at["early-tape-00", "era"] == "Swing"
    # nothing upstream was rewritten
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(data["shard_dir"].iterdir())}
    assert after == before
