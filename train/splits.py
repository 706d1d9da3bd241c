"""Train/validation/test split by group (tape or artist), stratified by era, seeded.

The seed study split clips at random, so clips of one tape landed in both training and test data
and test scores measured tape recognition, not era recognition. Here the unit of the split is a
group: a tape (``identifier``) or, with ``group="artist"``, every tape of one artist. Groups are
assigned with :class:`sklearn.model_selection.StratifiedGroupKFold` (one fold held out for test,
then one fold of the rest for validation), so each era's share is roughly kept in every split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from jazzcnn.core.errors import JazzcnnError

SPLITS = ("train", "val", "test")


class SplitError(JazzcnnError, ValueError):
    """Too little data to split: the message names the era and the counts."""


def _group_keys(labels: pd.DataFrame, group: str) -> pd.Series:
    if group == "tape":
        return labels["identifier"].astype(str)
    if group == "artist":
        # A tape with no artist is its own group, so unknown artists are not merged into one.
        art = labels["artist"].astype(str).str.strip().str.lower()
        return art.where(art != "", "tape:" + labels["identifier"].astype(str))
    raise ValueError(f"group must be 'tape' or 'artist', got {group!r}")


def _one_fold(y: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the held-out fold: about ``fraction`` of the groups, stratified by ``y``."""
    # Every era should be able to reach every fold: at most as many folds as the era with the
    # fewest groups has groups. With few tapes the held-out share therefore grows above
    # ``fraction`` so that every era can still be represented.
    smallest = min(len(np.unique(groups[y == c])) for c in np.unique(y))
    k = int(max(2, min(round(1.0 / fraction), smallest)))
    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    _, held = next(iter(sgkf.split(np.zeros(len(y)), y, groups)))
    mask = np.zeros(len(y), bool)
    mask[held] = True
    return mask


def make_split(labels: pd.DataFrame, *, group: str = "tape", test_fraction: float = 0.2,
               val_fraction: float = 0.15, seed: int = 1234, tries: int = 50) -> pd.DataFrame:
    """Assign every labelled tape to train, val or test, keeping each group on one side.

    Parameters
    ----------
    labels : pd.DataFrame
        Labelled tapes (columns ``identifier``, ``artist``, ``era``), e.g. the labelled rows of
        :func:`jazzcnn.train.labels.resolve_labels` that have audio.
    group : {"tape", "artist"}
        Split unit. ``artist`` keeps all tapes of one artist on one side.
    test_fraction, val_fraction : float
        Approximate share of groups for test, and of the remaining groups for validation.
    seed : int
        Seed of the group shuffle. The split is reproducible for a given seed and label set.
    tries : int
        Shuffles tried (seeds ``seed, seed+1, ...``) until every era appears in every split.

    Returns
    -------
    pd.DataFrame
        Columns ``identifier, artist, era, group, split`` sorted by identifier.

    Raises
    ------
    SplitError
        An era has fewer than 3 groups (one per split needed), or no shuffle put every era in
        every split; the message names the era.
    """
    df = labels[["identifier", "artist", "era"]].copy().reset_index(drop=True)
    df["group"] = _group_keys(df, group).to_numpy()
    unit = "tapes" if group == "tape" else "artists"
    # A group's era for the checks below: every era needs >= 3 groups containing it.
    for era, g in df.groupby("era"):
        n = g["group"].nunique()
        if n < 3:
            raise SplitError(
                f"era {era!r} has {n} {unit} with audio; at least 3 are needed (one each for train, "
                f"val and test). Add tapes, merge the era in eras.csv, or use --group tape."
            )
    y = df["era"].to_numpy()
    groups = df["group"].to_numpy()
    eras = sorted(set(y))
    last_missing = None
    for t in range(tries):
        s = seed + t
        try:
            test = _one_fold(y, groups, test_fraction, s)
            rest = np.flatnonzero(~test)
            val_rest = _one_fold(y[rest], groups[rest], val_fraction, s + 7919)
        except ValueError as e:  # sklearn: a class too small for the folds
            last_missing = (str(e), None)
            continue
        split = np.full(len(y), "train", dtype=object)
        split[test] = "test"
        split[rest[val_rest]] = "val"
        missing = [(e, sp) for e in eras for sp in SPLITS if not np.any((y == e) & (split == sp))]
        if not missing:
            df["split"] = split
            return df.sort_values("identifier").reset_index(drop=True)
        last_missing = missing[0]
    era, sp = last_missing
    if sp is None:
        raise SplitError(f"cannot split: {era}")
    raise SplitError(f"era {era!r}: could not place at least one of its {unit} in the {sp} split "
                     f"({tries} shuffles tried); add tapes of this era or merge it with a neighbour")


def check_disjoint(split: pd.DataFrame) -> None:
    """Check that no tape and no group appears in two splits (or two folds).

    Raises
    ------
    SplitError
        Naming the first few tapes or groups found on both sides.
    """
    for col in ("identifier", "group"):
        if col not in split:
            continue
        n = split.groupby(col)["split"].nunique()
        bad = n[n > 1]
        if not bad.empty:
            raise SplitError(f"{col} in more than one split: {list(bad.index)[:5]}")
