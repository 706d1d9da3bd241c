"""Scores of era predictions: the seed study's confidence table, classification metrics, rank
correlation and cluster-bootstrap intervals. Pure numpy/scipy/scikit-learn; no model, no files.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


def confidence_matrix(y_true: np.ndarray, probs: np.ndarray, n_classes: int) -> np.ndarray:
    """Mean softmax probability per (true era, predicted era): the seed study's table.

    Parameters
    ----------
    y_true : np.ndarray
        int ``(n,)`` true class per clip.
    probs : np.ndarray
        float ``(n, n_classes)`` softmax outputs (rows sum to 1).

    Returns
    -------
    np.ndarray
        ``(n_classes, n_classes)``; row ``i`` is the mean of ``probs`` over clips of era ``i``
        (sums to 1), NaN for an era with no clips.
    """
    out = np.full((n_classes, n_classes), np.nan)
    for k in range(n_classes):
        m = y_true == k
        if m.any():
            out[k] = probs[m].mean(axis=0)
    return out


def by_diagonal(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its diagonal entry (1 on the diagonal; >1 = era confused more than recognised)."""
    d = np.diag(matrix).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return matrix / d[:, None]


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, eras: list[str]) -> dict:
    """Accuracy, balanced accuracy, macro-F1, confusion matrix and per-era P/R/F1 (sklearn).

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy``, ``macro_f1`` (float), ``n`` (int),
        ``confusion`` (list of lists, rows = true era), ``per_era`` (DataFrame with columns
        era, precision, recall, f1, support). Eras absent from ``y_true`` count in macro-F1 only
        if predicted (sklearn ``labels`` = all eras, ``zero_division=0``).
    """
    from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score,
                                 precision_recall_fscore_support)

    labels = list(range(len(eras)))
    present = sorted(set(np.asarray(y_true).tolist()))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "per_era": pd.DataFrame({"era": eras, "precision": p, "recall": r, "f1": f, "support": s}),
    }


def expected_era_index(probs: np.ndarray) -> np.ndarray:
    """``sum_k p_k * k`` per row: the expected chronological era index, shape ``(n,)``."""
    return probs @ np.arange(probs.shape[1], dtype=np.float64)


def spearman(x: np.ndarray, y: np.ndarray) -> dict:
    """Spearman rank correlation with p-value; NaN when fewer than 3 points or a constant input."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return {"rho": float("nan"), "p_value": float("nan"), "n": int(ok.sum())}
    r = spearmanr(x[ok], y[ok])
    return {"rho": float(r.statistic), "p_value": float(r.pvalue), "n": int(ok.sum())}


def bootstrap_intervals(
    tape_y: np.ndarray, tape_probs: np.ndarray, clip_correct: np.ndarray, clip_n: np.ndarray,
    clip_prob_sum: np.ndarray, years: np.ndarray, groups: np.ndarray, *, n_resamples: int = 1000,
    confidence: float = 0.95, seed: int = 1234,
) -> dict:
    """Percentile confidence intervals of the held-out scores, resampling split groups.

    Clips of one tape are not independent, nor (with ``GROUP=artist``) tapes of one artist, so
    the resampling unit is the split's group: a cluster bootstrap. Groups are drawn with
    replacement within each era (the era of a group's first tape), keeping every era's number of
    groups as in the test split, which is stratified by era. Intervals are percentiles of the
    bootstrap distribution (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 13).

    Parameters
    ----------
    tape_y : np.ndarray
        int, shape ``(n_tapes,)``: true era index per test tape.
    tape_probs : np.ndarray
        float, shape ``(n_tapes, n_eras)``: mean softmax over each tape's clips.
    clip_correct, clip_n : np.ndarray
        int, shape ``(n_tapes,)``: correctly predicted clips, and clips, per tape.
    clip_prob_sum : np.ndarray
        float, shape ``(n_tapes, n_eras)``: sum of the clips' softmax outputs per tape.
    years : np.ndarray
        float, shape ``(n_tapes,)``: recording year (NaN if unknown).
    groups : np.ndarray
        shape ``(n_tapes,)``: split group of each tape (its identifier, or its artist).
    n_resamples : int
        Bootstrap resamples.
    confidence : float
        Coverage of the intervals, in (0, 1).
    seed : int
        Seed of the resampling.

    Returns
    -------
    dict
        ``{"tape_accuracy", "tape_balanced_accuracy", "tape_macro_f1", "clip_accuracy",
        "spearman_rho"}`` each ``[low, high]``; ``"confidence_matrix_low"``,
        ``"confidence_matrix_high"``: ``(n_eras, n_eras)`` lists; plus ``n_resamples``,
        ``confidence``, ``n_groups`` and ``groups_per_era``. An era with a single test group
        adds no spread, so with few groups per era the intervals are too narrow (the report
        says so).

    Raises
    ------
    ValueError
        If ``confidence`` is not in (0, 1) or ``n_resamples`` < 1.
    """
    from sklearn.metrics import balanced_accuracy_score, f1_score

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    n_eras = tape_probs.shape[1]
    pred = tape_probs.argmax(1)
    exp_idx = expected_era_index(tape_probs)
    uniq, first, inverse = np.unique(np.asarray(groups).astype(str), return_index=True, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(uniq))]
    strata = [np.flatnonzero(tape_y[first] == k) for k in range(n_eras)]
    rng = np.random.default_rng(seed)
    scalars = np.full((n_resamples, 5), np.nan)
    conf = np.full((n_resamples, n_eras, n_eras), np.nan)
    for b in range(n_resamples):
        drawn = np.concatenate([rng.choice(st, size=len(st), replace=True) for st in strata if len(st)])
        idx = np.concatenate([members[g] for g in drawn])
        y, p = tape_y[idx], pred[idx]
        scalars[b] = [np.mean(y == p), balanced_accuracy_score(y, p),
                      f1_score(y, p, labels=sorted(set(y.tolist())), average="macro", zero_division=0),
                      clip_correct[idx].sum() / max(1, clip_n[idx].sum()), spearman(years[idx], exp_idx[idx])["rho"]]
        for k in range(n_eras):
            m = y == k
            if m.any():
                conf[b, k] = clip_prob_sum[idx][m].sum(0) / clip_n[idx][m].sum()
    q = [50 * (1 - confidence), 50 * (1 + confidence)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells: an era with no test tape
        lo_hi = np.nanpercentile(scalars, q, axis=0)
        c_lo, c_hi = np.nanpercentile(conf, q, axis=0)

    def clean(v):
        return [None if not np.isfinite(x) else float(x) for x in v]

    names = ["tape_accuracy", "tape_balanced_accuracy", "tape_macro_f1", "clip_accuracy", "spearman_rho"]
    out = {name: clean(lo_hi[:, i]) for i, name in enumerate(names)}
    out["confidence_matrix_low"] = np.where(np.isfinite(c_lo), c_lo, None).tolist()
    out["confidence_matrix_high"] = np.where(np.isfinite(c_hi), c_hi, None).tolist()
    out.update(n_resamples=int(n_resamples), confidence=float(confidence), n_groups=int(len(uniq)),
               groups_per_era=[int(len(st)) for st in strata])
    return out


#: A percentile bootstrap interval is given only when every era has at least this many groups
#: (tapes or artists) to resample; with fewer the resamples barely vary and the interval would
#: look far more certain than the data allow.
MIN_GROUPS_FOR_INTERVAL = 5


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> list[float | None]:
    """Exact (Clopper-Pearson) binomial interval of a proportion ``k / n``.

    Clopper & Pearson (1934), *Biometrika* 26(4); computed with :func:`scipy.stats.binomtest`.
    It treats the ``n`` items as independent trials, which tapes of one artist are not: with
    ``GROUP=artist`` read it as a lower bound on the uncertainty.

    Returns
    -------
    list
        ``[low, high]`` in [0, 1]; ``[None, None]`` when ``n`` is 0.
    """
    from scipy.stats import binomtest

    if n <= 0:
        return [None, None]
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return [float(ci.low), float(ci.high)]


def mcnemar_exact(a_right: np.ndarray, b_right: np.ndarray) -> dict:
    """Exact McNemar test of two classifiers judged on the same items.

    Only the discordant items count: ``b`` where A is right and B wrong, ``c`` the reverse; under
    the null hypothesis of equal accuracy ``b ~ Binomial(b + c, 1/2)`` (McNemar 1947,
    *Psychometrika* 12(2); the exact form with :func:`scipy.stats.binomtest`, two-sided).

    Parameters
    ----------
    a_right, b_right : np.ndarray
        bool, shape ``(n,)``: whether each classifier got each item right.

    Returns
    -------
    dict
        ``a_only`` (b), ``b_only`` (c), ``n``, ``p_value`` (1.0 when there is no discordant item).
    """
    from scipy.stats import binomtest

    a, b = np.asarray(a_right, bool), np.asarray(b_right, bool)
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
    p = 1.0 if a_only + b_only == 0 else float(binomtest(a_only, a_only + b_only, 0.5).pvalue)
    return {"a_only": a_only, "b_only": b_only, "n": int(a.size), "p_value": p}


def paired_bootstrap_difference(a_right: np.ndarray, b_right: np.ndarray, groups: np.ndarray, strata: np.ndarray, *,
                                n_resamples: int = 1000, confidence: float = 0.95, seed: int = 1234) -> dict:
    """Bootstrap interval of ``accuracy(A) - accuracy(B)`` on the same items, resampling groups.

    Groups (tapes or artists) are drawn with replacement within each stratum (era), as
    :func:`bootstrap_intervals` does; both classifiers are scored on the same resample, so the
    interval reflects their paired difference.

    Returns
    -------
    dict
        ``difference`` (observed), ``interval`` ``[low, high]``, ``p_value`` (two-sided share of
        resamples on the other side of 0, doubled, at most 1), ``n_resamples``.
    """
    a, b = np.asarray(a_right, float), np.asarray(b_right, float)
    uniq, first, inverse = np.unique(np.asarray(groups).astype(str), return_index=True, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(uniq))]
    strata = np.asarray(strata)
    blocks = [np.flatnonzero(strata[first] == s) for s in np.unique(strata[first])]
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_resamples)
    for i in range(n_resamples):
        idx = np.concatenate([members[g] for st in blocks for g in rng.choice(st, size=len(st), replace=True)])
        diffs[i] = a[idx].mean() - b[idx].mean()
    q = [50 * (1 - confidence), 50 * (1 + confidence)]
    p = min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    return {"difference": float(a.mean() - b.mean()), "interval": np.percentile(diffs, q).tolist(),
            "p_value": float(p), "n_resamples": int(n_resamples)}


def _level(y: np.ndarray, probs: np.ndarray, eras: list[str]) -> dict:
    m = classification_metrics(y, probs.argmax(1), eras)
    per_era = m.pop("per_era")
    return m | {"per_era": per_era.to_dict("records")}


def evaluate(clips: pd.DataFrame, tapes: pd.DataFrame, eras: list[str], *, bootstrap: int = 1000,
             confidence: float = 0.95, seed: int = 1234, min_groups: int = MIN_GROUPS_FOR_INTERVAL) -> dict:
    """Every score of one set of era predictions, at clip and tape level.

    A tape's probability vector is the mean over its clips; its prediction the argmax.

    Parameters
    ----------
    clips : pd.DataFrame
        One row per clip: ``identifier``, ``y`` (true class index) and ``p_<era>`` per era.
    tapes : pd.DataFrame
        One row per tape (index ``identifier``): ``y``, ``year`` (middle of its range, NaN if
        unknown), ``group`` (the resampling unit: the tape or its artist) and optionally ``fold``.
    eras : list of str
        Class order.
    bootstrap : int
        Resamples for the percentile intervals (0: none).
    confidence : float
        Coverage of every interval.
    seed : int
        Seed of the resampling.
    min_groups : int
        Fewest groups per era for a bootstrap interval (see :data:`MIN_GROUPS_FOR_INTERVAL`).

    Returns
    -------
    dict
        ``eras``, ``n_tapes``, ``n_clips``, ``clip`` and ``tape`` (``n``, ``accuracy``,
        ``balanced_accuracy``, ``macro_f1``, ``confusion``, ``per_era``), ``confidence_matrix``
        (clips; rows = true era), ``spearman_year_vs_expected_era_index``,
        ``tape_accuracy_exact_interval`` (Clopper-Pearson), ``intervals`` (bootstrap, or None)
        with ``interval_note`` saying why not, and ``per_fold`` when ``tapes`` has a ``fold``.
        Also ``tape_table`` and ``clip_probs`` (not JSON: for the report's tables and plots).
    """
    cols = [f"p_{e}" for e in eras]
    probs = clips[cols].to_numpy(np.float64)
    y = clips["y"].to_numpy(int)
    ids = pd.unique(clips["identifier"])
    grouped = clips.groupby("identifier", sort=False)
    tape_probs = grouped[cols].mean().loc[ids].to_numpy(np.float64)
    tape_info = tapes.loc[ids]
    tape_y = tape_info["y"].to_numpy(int)
    years = tape_info["year"].to_numpy(float)
    exp_idx = expected_era_index(tape_probs)
    out = {
        "eras": list(eras), "n_tapes": int(len(ids)), "n_clips": int(len(y)),
        "clip": _level(y, probs, eras), "tape": _level(tape_y, tape_probs, eras),
    }
    conf = confidence_matrix(y, probs, len(eras))
    out["confidence_matrix"] = np.where(np.isfinite(conf), conf, None).tolist()
    out["spearman_year_vs_expected_era_index"] = spearman(years, exp_idx)
    right = tape_probs.argmax(1) == tape_y
    out["tape_accuracy_exact_interval"] = clopper_pearson(int(right.sum()), len(right), confidence)
    groups = tape_info["group"].to_numpy() if "group" in tape_info else np.asarray(ids)
    group_era = pd.Series(tape_y, index=groups).groupby(level=0).first()
    per_era_groups = [int((group_era == k).sum()) for k in range(len(eras))]
    out["groups_per_era"] = per_era_groups
    present = [g for g in per_era_groups if g > 0]
    out["intervals"], out["interval_note"] = None, ""
    if bootstrap <= 0:
        out["interval_note"] = "bootstrap intervals switched off (--bootstrap 0)"
    elif not present or min(present) < min_groups:
        out["interval_note"] = (f"too few tapes for an interval: an era has only {min(present) if present else 0} "
                                f"group(s) (tapes or artists) to resample, an interval needs at least {min_groups}")
    else:
        n_clips = grouped.size().loc[ids].to_numpy()
        correct = (clips.assign(ok=probs.argmax(1) == y).groupby("identifier", sort=False)["ok"].sum()
                   .loc[ids].to_numpy())
        sums = grouped[cols].sum().loc[ids].to_numpy(np.float64)
        out["intervals"] = bootstrap_intervals(tape_y, tape_probs, correct, n_clips, sums, years, groups,
                                               n_resamples=bootstrap, confidence=confidence, seed=seed)
    tape_table = pd.DataFrame({"identifier": ids, "year": years, "true_era": [eras[i] for i in tape_y],
                               "true_index": tape_y, "pred_era": [eras[i] for i in tape_probs.argmax(1)],
                               "n_clips": grouped.size().loc[ids].to_numpy()})
    for k, e in enumerate(eras):
        tape_table[f"p_{e}"] = tape_probs[:, k]
    tape_table["expected_index"] = exp_idx
    if "fold" in tape_info:
        tape_table.insert(1, "fold", tape_info["fold"].to_numpy())
        rows = []
        for fold, sub in tape_table.groupby("fold"):
            c = clips[clips["identifier"].isin(set(sub["identifier"]))]
            cp = c[cols].to_numpy(np.float64)
            rows.append({"fold": int(fold), "tapes": int(len(sub)), "clips": int(len(c)),
                         "tape_accuracy": float((sub["pred_era"] == sub["true_era"]).mean()),
                         "clip_accuracy": float((cp.argmax(1) == c["y"].to_numpy(int)).mean())})
        out["per_fold"] = rows
        acc = np.array([r["tape_accuracy"] for r in rows])
        out["fold_spread"] = {"tape_accuracy_mean": float(acc.mean()), "tape_accuracy_sd": float(acc.std(ddof=1)) if
                              len(acc) > 1 else 0.0, "tape_accuracy_min": float(acc.min()), "tape_accuracy_max": float(acc.max())}
    out["tape_table"] = tape_table
    out["tape_right"] = right
    out["tape_ids"] = list(ids)
    return out


def json_ready(evaluation: dict) -> dict:
    """The JSON-serialisable part of :func:`evaluate`'s result (tables and arrays left out)."""
    return {k: v for k, v in evaluation.items() if k not in ("tape_table", "tape_right", "tape_ids")}
