"""Grouped, stratified, seeded splits: no tape or artist on two sides."""

from __future__ import annotations

import pandas as pd
import pytest

from jazzcnn.train.splits import SplitError, check_disjoint, make_split


def _labels(n_per_era=10, artists_per_era=None):
    rows = []
    for era in ("A", "B", "C"):
        for k in range(n_per_era):
            art = f"{era}-artist-{k % (artists_per_era or n_per_era)}"
            rows.append({"identifier": f"{era}-{k:02d}", "artist": art, "era": era})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("group", ["tape", "artist"])
def test_groups_never_on_two_sides(group):
    lab = _labels(12, artists_per_era=4)
    split = make_split(lab, group=group, seed=3)
    check_disjoint(split)
    assert split.groupby("artist" if group == "artist" else "identifier")["split"].nunique().max() == 1
    # stratified: every era in every split
    assert split.groupby("split")["era"].nunique().min() == 3
    assert set(split["split"]) == {"train", "val", "test"}
    assert len(split) == len(lab)


def test_artist_groups_across_eras_stay_together():
    lab = _labels(8, artists_per_era=4)
    lab.loc[lab["identifier"] == "A-00", "artist"] = "B-artist-0"  # one artist recorded in two eras
    split = make_split(lab, group="artist", seed=1)
    sides = split[split["artist"] == "B-artist-0"]["split"].unique()
    assert len(sides) == 1


def test_seeded_and_reproducible():
    lab = _labels(10)
    a, b = make_split(lab, seed=5), make_split(lab, seed=5)
    assert a.equals(b)
    assert not a["split"].equals(make_split(lab, seed=6)["split"])


def test_too_few_groups_names_the_era():
    lab = _labels(6)
    lab = lab[~lab["identifier"].isin(["B-02", "B-03", "B-04", "B-05"])]
    with pytest.raises(SplitError, match="era 'B' has 2 tapes"):
        make_split(lab)
    lab2 = _labels(6, artists_per_era=2)
    with pytest.raises(SplitError, match="era 'A' has 2 artists"):
        make_split(lab2, group="artist")
