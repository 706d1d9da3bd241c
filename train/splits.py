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


def make_folds(labels: pd.DataFrame, *, group: str = "artist", folds: int = 5, seed: int = 1234) -> pd.DataFrame:
    """Assign every labelled tape to one of ``folds`` folds, groups never split, stratified by era.

    Uses :class:`sklearn.model_selection.StratifiedGroupKFold` (shuffled, seeded), as scikit-learn's
    model-selection guide recommends for grouped, imbalanced classes.

    Parameters
    ----------
    labels : pd.DataFrame
        Labelled tapes with audio: ``identifier``, ``artist``, ``era``.
    group : {"tape", "artist"}
        Fold unit.
    folds : int
        Number of folds (at least 2).
    seed : int
        The same seed and labels give the same folds.

    Returns
    -------
    pd.DataFrame
        ``identifier, artist, era, group, fold`` (fold 0 .. folds-1), sorted by identifier.

    Raises
    ------
    SplitError
        An era has fewer groups than folds (the message names it and suggests a smaller
        ``FOLDS`` or ``GROUP=tape``), or a fold would leave an era with fewer than 2 training
        groups (one to train on, one to validate with).
    """
    df = labels[["identifier", "artist", "era"]].copy().reset_index(drop=True)
    df["group"] = _group_keys(df, group).to_numpy()
    unit = "tapes" if group == "tape" else "artists"
    for era, g in df.groupby("era"):
        n = g["group"].nunique()
        if n < folds:
            raise SplitError(f"era {era!r} has {n} {unit} with audio, fewer than the {folds} folds: use a smaller "
                             f"FOLDS (at most {n})" + (" or GROUP=tape" if group == "artist" else "")
                             + ", or add tapes of this era")
    sgkf = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold = np.full(len(df), -1)
    for k, (_, held) in enumerate(sgkf.split(np.zeros(len(df)), df["era"].to_numpy(), df["group"].to_numpy())):
        fold[held] = k
    df["fold"] = fold
    for k in range(folds):
        rest = df[df["fold"] != k]
        for era in sorted(df["era"].unique()):
            n = rest.loc[rest["era"] == era, "group"].nunique()
            if n < 2:
                raise SplitError(f"fold {k}: era {era!r} keeps {n} {unit} outside the fold, 2 are needed (train and "
                                 f"validation); use a smaller FOLDS")
    return df.sort_values("identifier").reset_index(drop=True)


def fold_split(folds: pd.DataFrame, k: int, *, val_fraction: float = 0.15, seed: int = 1234,
               tries: int = 50) -> pd.DataFrame:
    """The train/val/test split of fold ``k``: its own tapes are the test, a validation part is
    carved out of the other folds by group (stratified by era) for early stopping.

    Parameters
    ----------
    folds : pd.DataFrame
        Output of :func:`make_folds`.
    k : int
        The held-out fold.
    val_fraction : float
        Approximate share of the other folds' groups used for validation.
    seed : int
        Seed of the validation draw (shuffles ``seed, seed+1, ...`` until every era is in both
        the train and the validation part).

    Returns
    -------
    pd.DataFrame
        ``identifier, artist, era, group, split`` (as :func:`make_split`), sorted by identifier.

    Raises
    ------
    SplitError
        No draw put every era in both parts.
    """
    df = folds.drop(columns=["fold"]).copy()
    df["split"] = np.where(folds["fold"].to_numpy() == k, "test", "train")
    rest = np.flatnonzero(df["split"].to_numpy() == "train")
    y, groups = df["era"].to_numpy()[rest], df["group"].to_numpy()[rest]
    for t in range(tries):
        try:
            val = _one_fold(y, groups, val_fraction, seed + 7919 * (k + 1) + t)
        except ValueError:
            continue
        if set(y[val]) == set(y) and set(y[~val]) == set(y):
            split = df["split"].to_numpy().copy()
            split[rest[val]] = "val"
            df["split"] = split
            return df.sort_values("identifier").reset_index(drop=True)
    raise SplitError(f"fold {k}: no validation draw put every era in both the train and the validation part "
                     f"({tries} tried); use a smaller FOLDS or GROUP=tape")


def fixed_split(labels: pd.DataFrame, *, group: str = "tape") -> pd.DataFrame:
    """The data set's published split (FMA's ``set/split``, GTZAN's fault-filtered lists, a folder's
    ``split`` column), used exactly as published.

    Parameters
    ----------
    labels : pd.DataFrame
        Labelled tapes with audio (:func:`jazzcnn.train.labels.resolve_labels`): ``identifier``,
        ``artist``, ``era`` and ``fixed_split`` (``train``, ``val``, ``test`` or ``""``). Tapes
        with no part (clips the filtered split leaves out) are not used.
    group : {"tape", "artist"}
        The group recorded for each tape (the bootstrap's resampling unit); with ``artist`` the
        published split must keep every artist on one side, which is checked.

    Returns
    -------
    pd.DataFrame
        ``identifier, artist, era, group, split`` (as :func:`make_split`), sorted by identifier.

    Raises
    ------
    SplitError
        No tape has a published split, a class has no training tape, or (``group="artist"``) an
        artist is in two parts.
    """
    df = labels[["identifier", "artist", "era"]].copy().reset_index(drop=True)
    df["group"] = _group_keys(df, group).to_numpy()
    part = labels["fixed_split"].fillna("").astype(str).to_numpy() if "fixed_split" in labels else np.full(len(df), "")
    df["split"] = part
    df = df[df["split"] != ""]
    if df.empty:
        raise SplitError("no labelled tape with audio has a published split (tracks.csv's split column is blank): "
                         "use the grouped split (SPLIT=grouped), or give the data set's split (e.g. GTZAN_SPLIT)")
    for sp in ("train", "val", "test"):
        if not (df["split"] == sp).any():
            raise SplitError(f"the published split has no {sp} tape among the labelled tapes with audio; use the "
                             f"grouped split (SPLIT=grouped) or a larger LIMIT")
    for era in sorted(set(labels["era"])):
        if not ((df["era"] == era) & (df["split"] == "train")).any():
            raise SplitError(f"class {era!r} has no training tape in the published split; leave it out (CLASSES) or "
                             f"use the grouped split")
    check_disjoint(df)
    return df.sort_values("identifier").reset_index(drop=True)
