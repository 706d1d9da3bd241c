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
