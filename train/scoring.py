"""``jazzcnn score``: held-out evaluation of a run and the study's era-progression report.

The seed study reported, per true era, the mean softmax confidence of each predicted era (its
"era confidence" table) - computed on training data. Here every number comes from the run's
held-out **test tapes** (never seen in training or model selection), at two levels:

* **clip level**: every clip of the fixed evaluation grid of every test tape;
* **tape level**: a tape's probability vector is the mean over its clips; its prediction the argmax.

Both are compared with a majority-class baseline (always predicting the era with most training
clips, resp. training tapes).

The research question - does the CNN's confidence follow how styles progressed over time? - is
answered with each test tape's mean probability per era plotted against its recording year and
the Spearman rank correlation between the year (middle of the tape's year range) and the expected
era index ``sum_k p_k * k`` (eras numbered chronologically from 0).

A test set of a few dozen tapes leaves wide uncertainty, so the report gives percentile
bootstrap intervals for the tape and clip scores, the Spearman rho and every cell of the
confidence table, resampling the split's groups (tapes or artists) within each era
(:func:`bootstrap_intervals`).

Report folder ``REPORTS_DIR/<run>/``::

    report.md                      everything below, together, with provenance
    metrics.json                   all scalar metrics, both levels, baselines, Spearman, and
                                   bootstrap confidence intervals (resampling test groups)
    confidence_matrix.csv/.png     mean softmax, rows = true era, columns = predicted era
    confidence_by_diagonal.csv/.png  each row divided by its diagonal entry
    confusion_clip.csv/.png        clip-level confusion matrix (counts)
    confusion_tape.csv/.png        tape-level confusion matrix (counts)
    per_era_clip.csv, per_era_tape.csv  precision/recall/F1/support per era
    clip_predictions.csv           identifier, segment, clip start, true era, probabilities
    tape_predictions.csv           identifier, year, true era, mean probabilities, expected index
    era_vs_year.png                per-era probability and expected era index against year
    training_curves.png            loss/accuracy per epoch from the run's history.csv
    provenance.json                git revision, manifest hashes, run config
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from jazzcnn.files import atomic_write_text
from jazzcnn.provenance import file_sha256, write_provenance
from jazzcnn.settings import config_to_dict
from train.config import ScoreConfig
from train.data import ShardError, ShardReader, eval_dataset, grid_clips, load_shard_index, segments_for


class ScoreError(ValueError):
    """Run folder incomplete, model mismatched, or test tapes missing from the shards."""


# --------------------------------------------------------------------------------------------
# metrics (pure numpy/sklearn; unit-tested on their own)
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# loading a run
# --------------------------------------------------------------------------------------------

def load_run(run_dir: Path) -> dict:
    """Read a run folder's ``config.json``, ``classes.json``, ``split.csv``, ``labels.csv``.

    Raises
    ------
    ScoreError
        A file is missing or unreadable, naming it.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ScoreError(f"run folder {run_dir} not found: train it first (jazzcnn train --run {run_dir.name})")
    out = {"dir": run_dir}
    try:
        out["config"] = json.loads((run_dir / "config.json").read_text())
        out["classes"] = json.loads((run_dir / "classes.json").read_text())
        out["split"] = pd.read_csv(run_dir / "split.csv", dtype={"identifier": str, "artist": str, "group": str},
                                   keep_default_na=False)
        out["labels"] = pd.read_csv(run_dir / "labels.csv", dtype={"identifier": str, "artist": str}, keep_default_na=False)
    except FileNotFoundError as e:
        raise ScoreError(f"run {run_dir} is incomplete: {Path(e.filename).name} missing (rerun jazzcnn train)") from None
    except (json.JSONDecodeError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ScoreError(f"run {run_dir}: unreadable run file ({e})") from None
    return out


def load_checked_model(run: dict):
    """The run's ``model.keras``, checked against its ``classes.json`` (input length, era count).

    Raises
    ------
    ScoreError
        Missing, corrupt or mismatched model file.
    """
    from train.models import load_model

    path = run["dir"] / "model.keras"
    try:
        model = load_model(path)
    except ValueError as e:
        raise ScoreError(str(e)) from None
    n_in, n_out = model.input_shape[1], model.output_shape[-1]
    want_in, want_out = run["classes"]["clip_samples"], len(run["classes"]["eras"])
    if n_in != want_in or n_out != want_out:
        raise ScoreError(f"model file {path} does not match its run: it takes {n_in} samples and predicts "
                         f"{n_out} eras, the run has {want_in}-sample clips and {want_out} eras")
    return model


# --------------------------------------------------------------------------------------------
# plots and report
# --------------------------------------------------------------------------------------------

def _heatmap(matrix: np.ndarray, eras: list[str], title: str, path: Path, fmt: str = "{:.2f}", xlabel="predicted era") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(eras) + 3, 1.0 * len(eras) + 2.5))
    im = ax.imshow(np.nan_to_num(matrix.astype(float)), cmap="viridis")
    ax.set_xticks(range(len(eras)), eras, rotation=45, ha="right")
    ax.set_yticks(range(len(eras)), eras)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("true era")
    ax.set_title(title)
    hi = np.nanmax(matrix) if np.isfinite(matrix).any() else 1
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            v = matrix[i, j]
            ax.text(j, i, "-" if not np.isfinite(v) else fmt.format(v), ha="center", va="center",
                    color="black" if np.isfinite(v) and v > 0.6 * hi else "white", fontsize=8)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _era_vs_year_plot(tapes: pd.DataFrame, eras: list[str], rho: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for k, era in enumerate(eras):
        a1.scatter(tapes["year"], tapes[f"p_{era}"], s=18, label=era, alpha=0.8)
    a1.set_xlabel("recording year (middle of the tape's range)")
    a1.set_ylabel("mean probability over the tape's clips")
    a1.set_title("test tapes: era probabilities against year")
    a1.legend(fontsize=7)
    sc = a2.scatter(tapes["year"], tapes["expected_index"], c=tapes["true_index"], cmap="viridis", s=18)
    a2.set_yticks(range(len(eras)), eras)
    a2.set_xlabel("recording year")
    a2.set_ylabel("expected era index  sum_k p_k k")
    a2.set_title(f"Spearman rho = {rho['rho']:.3f} (p = {rho['p_value']:.3g}, n = {rho['n']})")
    fig.colorbar(sc, ax=a2, label="true era index")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _curves_plot(history: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    x = history["epoch"] + 1 if "epoch" in history else np.arange(1, len(history) + 1)
    for ax, key in zip(axes, ("loss", "accuracy")):
        for col, style in ((key, "-"), (f"val_{key}", "--")):
            if col in history:
                ax.plot(x, history[col], style, marker="o", label=col)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _md_table(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [floatfmt.format(v) if isinstance(v, (float, np.floating)) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _matrix_df(m: np.ndarray, eras: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(m, columns=eras)
    df.insert(0, "true \\ predicted", eras)
    return df


# --------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------

def score_run(cfg: ScoreConfig) -> dict:
    """Predict the run's held-out tapes and write the report folder; returns ``metrics``.

    Raises
    ------
    ScoreError, ShardError
        Incomplete run, corrupt or mismatched model, shards missing or lacking a test tape.
    """
    run = load_run(cfg.runs_dir / cfg.run)
    # The shards the run was trained on, unless the user points elsewhere (a moved data folder).
    data_dir = Path(cfg.data_dir if cfg.data_dir is not None else run["config"].get("data_dir", "data"))
    eras = run["classes"]["eras"]
    K = len(eras)
    clip_samples = int(run["classes"]["clip_samples"])
    hop = int(run["classes"].get("eval_hop_samples", clip_samples))
    split = run["split"]
    test = split[split["split"] == cfg.split]
    if test.empty:
        raise ScoreError(f"run {cfg.run} has no {cfg.split} tapes in split.csv")
    index = load_shard_index(data_dir / "shards", int(run["classes"]["sample_rate"]))
    absent = sorted(set(test["identifier"]) - set(index["identifier"]))
    if absent:
        raise ScoreError(f"{len(absent)} {cfg.split} tape(s) of run {cfg.run} are not in {data_dir / 'shards'}: "
                         f"{absent[:5]} (were the shards rebuilt without them?)")
    model = load_checked_model(run)  # checked before any prediction work

    cls = {e: i for i, e in enumerate(eras)}
    sub = index[index["identifier"].isin(set(test["identifier"]))]
    reader = ShardReader(data_dir / "shards", sorted(sub["shard"].unique()))
    seg = segments_for(sub, reader.names, {t: cls[e] for t, e in zip(test["identifier"], test["era"])})
    grid = grid_clips(seg, clip_samples, hop)
    probs = model.predict(eval_dataset(reader, grid, clip_samples, cfg.batch_size, with_labels=False), verbose=0)
    probs = np.asarray(probs, dtype=np.float64)
    y = grid["label"].astype(int)

    # clip level
    clip_m = classification_metrics(y, probs.argmax(1), eras)
    conf = confidence_matrix(y, probs, K)
    # tape level: mean probability over a tape's clips
    tape_ids = pd.unique(grid["tape"])
    tape_probs = np.stack([probs[grid["tape"] == t].mean(0) for t in tape_ids])
    tape_y = np.array([cls[e] for e in test.set_index("identifier").loc[tape_ids, "era"]])
    tape_m = classification_metrics(tape_y, tape_probs.argmax(1), eras)
    # majority-class baselines, from the training split (clips: audio length; tapes: count)
    train_ids = split.loc[split["split"] == "train", ["identifier", "era"]]
    lengths = index.merge(train_ids, on="identifier").groupby("era")["length"].sum()
    maj_clip = cls[lengths.idxmax()] if len(lengths) else 0
    maj_tape = cls[train_ids["era"].value_counts().idxmax()] if len(train_ids) else 0
    base_clip = classification_metrics(y, np.full_like(y, maj_clip), eras)
    base_tape = classification_metrics(tape_y, np.full_like(tape_y, maj_tape), eras)
    # the study's question: probability against year
    lab = run["labels"].set_index("identifier")
    years = np.array([np.nanmean([pd.to_numeric(lab.at[t, "year_start"], errors="coerce"),
                                  pd.to_numeric(lab.at[t, "year_end"], errors="coerce")]) if t in lab.index else np.nan
                      for t in tape_ids], dtype=float)
    exp_idx = expected_era_index(tape_probs)
    rho = spearman(years, exp_idx)
    intervals = None
    if cfg.bootstrap > 0:
        in_tape = [grid["tape"] == t for t in tape_ids]
        correct = probs.argmax(1) == y
        group_of = dict(zip(test["identifier"], test["group"] if "group" in test else test["identifier"]))
        intervals = bootstrap_intervals(
            tape_y, tape_probs, np.array([correct[m].sum() for m in in_tape]), np.array([m.sum() for m in in_tape]),
            np.stack([probs[m].sum(0) for m in in_tape]), years, np.array([group_of[t] for t in tape_ids]),
            n_resamples=cfg.bootstrap, confidence=cfg.confidence, seed=cfg.seed,
        )

    # -- write --------------------------------------------------------------------------------
    out = cfg.reports_dir / cfg.run
    out.mkdir(parents=True, exist_ok=True)
    seg_no = np.asarray(sub["segment"])[grid["seg"]] if "segment" in sub else grid["seg"]
    clip_df = pd.DataFrame({"identifier": grid["tape"], "segment": seg_no,
                            "clip_start_s": seg.start_s[grid["seg"]] + grid["within"] / run["classes"]["sample_rate"],
                            "true_era": [eras[i] for i in y], "pred_era": [eras[i] for i in probs.argmax(1)]})
    for k, e in enumerate(eras):
        clip_df[f"p_{e}"] = probs[:, k]
    tape_df = pd.DataFrame({"identifier": tape_ids, "year": years, "true_era": [eras[i] for i in tape_y],
                            "true_index": tape_y, "pred_era": [eras[i] for i in tape_probs.argmax(1)],
                            "n_clips": [int((grid["tape"] == t).sum()) for t in tape_ids]})
    for k, e in enumerate(eras):
        tape_df[f"p_{e}"] = tape_probs[:, k]
    tape_df["expected_index"] = exp_idx
    atomic_write_text(out / "clip_predictions.csv", clip_df.to_csv(index=False))
    atomic_write_text(out / "tape_predictions.csv", tape_df.to_csv(index=False))
    atomic_write_text(out / "confidence_matrix.csv", _matrix_df(conf, eras).to_csv(index=False))
    atomic_write_text(out / "confidence_by_diagonal.csv", _matrix_df(by_diagonal(conf), eras).to_csv(index=False))
    atomic_write_text(out / "confusion_clip.csv", _matrix_df(np.array(clip_m["confusion"]), eras).to_csv(index=False))
    atomic_write_text(out / "confusion_tape.csv", _matrix_df(np.array(tape_m["confusion"]), eras).to_csv(index=False))
    atomic_write_text(out / "per_era_clip.csv", clip_m["per_era"].to_csv(index=False))
    atomic_write_text(out / "per_era_tape.csv", tape_m["per_era"].to_csv(index=False))

    def scalars(m):
        return {k: m[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1")} | {"confusion": m["confusion"]}

    metrics = {
        "run": cfg.run, "split": cfg.split, "eras": eras, "n_test_tapes": int(len(tape_ids)), "n_test_clips": int(len(y)),
        "clip": scalars(clip_m) | {"majority_baseline_accuracy": base_clip["accuracy"]},
        "tape": scalars(tape_m) | {"majority_baseline_accuracy": base_tape["accuracy"]},
        "baseline_clip": scalars(base_clip) | {"majority_era": eras[maj_clip]},
        "baseline_tape": scalars(base_tape) | {"majority_era": eras[maj_tape]},
        "confidence_matrix": np.where(np.isfinite(conf), conf, None).tolist(),
        "spearman_year_vs_expected_era_index": rho,
        "intervals": intervals,
    }
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")

    _heatmap(conf, eras, "era confidence: mean softmax (clips)", out / "confidence_matrix.png")
    _heatmap(by_diagonal(conf), eras, "era confidence / diagonal", out / "confidence_by_diagonal.png")
    _heatmap(np.array(clip_m["confusion"], float), eras, "confusion (clips)", out / "confusion_clip.png", fmt="{:.0f}")
    _heatmap(np.array(tape_m["confusion"], float), eras, "confusion (tapes)", out / "confusion_tape.png", fmt="{:.0f}")
    _era_vs_year_plot(tape_df, eras, rho, out / "era_vs_year.png")
    history_path = run["dir"] / "history.csv"
    has_curves = history_path.exists() and history_path.stat().st_size > 0
    if has_curves:
        _curves_plot(pd.read_csv(history_path), out / "training_curves.png")

    model_path = run["dir"] / "model.keras"
    prov = write_provenance(out / "provenance.json", config=config_to_dict(cfg),
                            manifests=json.loads((run["dir"] / "provenance.json").read_text()).get("manifest_sha256", {})
                            if (run["dir"] / "provenance.json").exists() else {},
                            extra={"stage": "score", "train_config": run["config"], "model_sha256": file_sha256(model_path)})
    _write_report(out, cfg, run, metrics, conf, clip_m, tape_m, prov, has_curves)
    return metrics


def _commentary_section(manifests_dir: Path, split: pd.DataFrame, which: str) -> list[str]:
    """Markdown lines showing what the preprocess stage cut from the scored tapes, and why.

    Reads ``commentary_summary.csv`` and ``commentary.csv`` from ``manifests_dir``; returns a short
    note instead when preprocessing left no audit trail there.
    """
    summary_path, spans_path = manifests_dir / "commentary_summary.csv", manifests_dir / "commentary.csv"
    if not summary_path.exists():
        return ["## Commentary removed", "", f"No commentary audit found at `{summary_path}`.", ""]
    summary = pd.read_csv(summary_path, dtype={"identifier": str}, keep_default_na=False)
    tapes = set(split.loc[split["split"] == which, "identifier"])
    mine = summary[summary["identifier"].isin(tapes)]
    cols = [c for c in ("duration_s", "kept_s", "speech_s", "silence_s", "head_s", "tail_s", "short_s") if c in summary]
    totals = summary[cols].apply(pd.to_numeric, errors="coerce").sum()
    md = [
        "## Commentary removed", "",
        f"Whole collection: {totals.get('duration_s', 0) / 3600:.2f} h of audio, {totals.get('kept_s', 0) / 3600:.2f} h kept as "
        f"music, {totals.get('speech_s', 0) / 3600:.2f} h of speech (Niven's introductions) removed. "
        f"Every removed span is listed in `{spans_path}` so it can be listened to.", "",
        f"Scored tapes ({which}), seconds per file:", "",
        _md_table(mine[["identifier"] + cols].reset_index(drop=True), "{:.1f}"), "",
    ]
    if spans_path.exists():
        spans = pd.read_csv(spans_path, dtype={"identifier": str}, keep_default_na=False)
        spans = spans[spans["identifier"].isin(tapes)].head(12)
        if len(spans):
            md += ["First removed spans of these tapes:", "", _md_table(spans.reset_index(drop=True), "{:.2f}"), ""]
    return md


def _interval_table(conf: np.ndarray, iv: dict, eras: list[str]) -> list[str]:
    """Markdown lines: the confidence matrix as ``mean [low, high]`` per cell."""
    lo, hi = iv["confidence_matrix_low"], iv["confidence_matrix_high"]
    cells = [[("n/a" if lo[i][j] is None or not np.isfinite(conf[i, j])
               else f"{conf[i, j]:.2f} [{lo[i][j]:.2f}, {hi[i][j]:.2f}]") for j in range(len(eras))]
             for i in range(len(eras))]
    table = _matrix_df(np.array(cells, dtype=object), eras)
    return [f"With {iv['confidence']:.0%} bootstrap intervals (resampling test groups within each era):", "",
            _md_table(table), ""]


def _write_report(out: Path, cfg: ScoreConfig, run: dict, metrics: dict, conf: np.ndarray, clip_m: dict, tape_m: dict,
                  prov: dict, has_curves: bool) -> None:
    eras = metrics["eras"]
    rows = []
    for level in ("clip", "tape"):
        for name, key in ((f"model ({level}s)", level), (f"majority baseline ({level}s)", f"baseline_{level}")):
            m = metrics[key]
            rows.append({"": name, "n": m["n"], "accuracy": m["accuracy"], "balanced accuracy": m["balanced_accuracy"],
                         "macro-F1": m["macro_f1"]})
    rho = metrics["spearman_year_vs_expected_era_index"]
    iv = metrics.get("intervals")
    tc = run["config"]
    ci_lines = []
    if iv:
        pct = f"{iv['confidence']:.0%}"

        def ci(key):
            lo, hi = iv[key]
            return "n/a" if lo is None else f"{lo:.3f} to {hi:.3f}"

        ci_lines = [
            f"{pct} confidence intervals ({iv['n_resamples']} bootstrap resamples of the {iv['n_groups']} test groups "
            f"- split by `{tc.get('group')}` - within each era; clips of one group are not independent, so groups are "
            f"the unit): tape accuracy {ci('tape_accuracy')}, tape balanced accuracy {ci('tape_balanced_accuracy')}, "
            f"tape macro-F1 {ci('tape_macro_f1')}, clip accuracy {ci('clip_accuracy')}.", "",
        ]
        few = [f"{e} ({n})" for e, n in zip(eras, iv["groups_per_era"]) if n < 5]
        if few:
            ci_lines += [f"Caution: eras with fewer than 5 test groups - {', '.join(few)} - give the bootstrap too "
                         "little to resample; these intervals understate the uncertainty.", ""]
    md = [
        f"# Era scores for run `{cfg.run}` ({cfg.split} tapes)",
        "",
        f"{metrics['n_test_tapes']} held-out tapes, {metrics['n_test_clips']} clips of "
        f"{run['classes']['clip_samples'] / run['classes']['sample_rate']:g} s (preset `{tc.get('preset')}`, "
        f"split by `{tc.get('group')}`, straddle policy `{tc.get('straddle')}`). None of these tapes was used for "
        "training or early stopping.",
        "",
        "## Summary", "", _md_table(pd.DataFrame(rows)), "", *ci_lines,
        "## Era confidence (the seed study's table)", "",
        "Mean softmax probability over the clips of each true era (rows sum to 1).", "",
        _md_table(_matrix_df(conf, eras)), "", *(_interval_table(conf, iv, eras) if iv else []),
        "![confidence](confidence_matrix.png)", "",
        "Each row divided by its diagonal entry (values above 1: the era is taken for another more than for itself).", "",
        _md_table(_matrix_df(by_diagonal(conf), eras)), "", "![by diagonal](confidence_by_diagonal.png)", "",
        "## Confusion matrices", "",
        "Clips:", "", _md_table(_matrix_df(np.array(clip_m["confusion"]), eras), "{:.0f}"), "",
        "Tapes (mean probability over a tape's clips):", "", _md_table(_matrix_df(np.array(tape_m["confusion"]), eras), "{:.0f}"), "",
        "![confusion clips](confusion_clip.png) ![confusion tapes](confusion_tape.png)", "",
        "## Per-era precision, recall, F1", "", "Clips:", "", _md_table(clip_m["per_era"]), "",
        "Tapes:", "", _md_table(tape_m["per_era"]), "",
        "## Does the confidence follow the years?", "",
        f"Spearman rank correlation between a test tape's recording year and its expected era index "
        f"(sum_k p_k k, eras numbered chronologically): **rho = {rho['rho']:.3f}** (p = {rho['p_value']:.3g}, "
        f"n = {rho['n']} tapes" + (f"; {iv['confidence']:.0%} interval {ci('spearman_rho')}" if iv else "") + ").",
        "", "![era vs year](era_vs_year.png)", "",
    ]
    if has_curves:
        md += ["## Training curves", "", "![training curves](training_curves.png)", ""]
    md += _commentary_section(Path(tc.get("manifests_dir", "manifests")), run["split"], cfg.split)
    md += [
        "## Provenance", "",
        f"- git revision (scoring): `{prov['git_revision']}`",
        f"- git revision (training): `{json.loads((run['dir'] / 'provenance.json').read_text()).get('git_revision') if (run['dir'] / 'provenance.json').exists() else 'unknown'}`",
        f"- model sha256: `{prov.get('model_sha256')}`",
    ] + [f"- {name} sha256: `{h}`" for name, h in prov["manifest_sha256"].items()] + [
        "", "Training configuration:", "", "```json", json.dumps(tc, indent=2), "```", "",
        "Files: metrics.json, confidence_matrix.csv, confidence_by_diagonal.csv, confusion_clip.csv, confusion_tape.csv, "
        "per_era_clip.csv, per_era_tape.csv, clip_predictions.csv, tape_predictions.csv, provenance.json.", "",
    ]
    atomic_write_text(out / "report.md", "\n".join(md))


def run_score(cfg: ScoreConfig) -> int:
    """Score a trained run on its held-out tapes and write ``REPORTS_DIR/<run>/``.

    Returns
    -------
    int
        0 on success, 2 on bad input (``error: ...`` on stderr).
    """
    try:
        metrics = score_run(cfg)
    except (ScoreError, ShardError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rho = metrics["spearman_year_vs_expected_era_index"]
    print(f"{metrics['n_test_tapes']} {cfg.split} tapes, {metrics['n_test_clips']} clips: "
          f"clip accuracy {metrics['clip']['accuracy']:.3f} (baseline {metrics['baseline_clip']['accuracy']:.3f}), "
          f"tape accuracy {metrics['tape']['accuracy']:.3f} (baseline {metrics['baseline_tape']['accuracy']:.3f}), "
          f"Spearman rho {rho['rho']:.3f}")
    iv = metrics["intervals"]
    if iv and iv["tape_accuracy"][0] is not None:
        print(f"{iv['confidence']:.0%} interval of tape accuracy: {iv['tape_accuracy'][0]:.3f} to {iv['tape_accuracy'][1]:.3f} "
              f"({iv['n_resamples']} resamples of {iv['n_groups']} test groups)")
    print(f"report: {cfg.reports_dir / cfg.run / 'report.md'}")
    return 0
