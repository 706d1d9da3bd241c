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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jazzcnn.core.files import atomic_write_text
from jazzcnn.core.provenance import file_sha256, write_provenance
from jazzcnn.core.settings import config_to_dict
from jazzcnn.train.config import ScoreConfig
from jazzcnn.train.data import ShardReader, eval_dataset, grid_clips, load_shard_index, segments_for
from jazzcnn.train.metrics import (bootstrap_intervals, by_diagonal, classification_metrics, confidence_matrix,  # noqa: F401
                                   expected_era_index, spearman)
from jazzcnn.train.report import curves_plot, era_vs_year_plot, heatmap, matrix_df, write_report
from jazzcnn.train.runs import RunError, ScoreError, load_checked_model, load_run, read_history  # noqa: F401


@dataclass
class ScoreResult:
    """What ``jazzcnn score`` wrote: the report folder and its ``metrics.json`` content."""

    report_dir: Path
    metrics: dict

    @property
    def report(self) -> Path:
        """``report.md``."""
        return self.report_dir / "report.md"


def score(cfg: ScoreConfig) -> ScoreResult:
    """Predict the run's held-out tapes and write the report folder.

    Returns
    -------
    ScoreResult

    Raises
    ------
    RunError
        Incomplete run, corrupt or mismatched model, a held-out tape missing from the shards.
    ShardError
        The shards are missing or damaged.
    """
    run = load_run(cfg.runs_dir / cfg.run)
    # The shards the run was trained on, unless the user points elsewhere (a moved data folder).
    data_dir = Path(cfg.data_dir) if cfg.data_dir is not None else run["data_dir"]
    eras = run["classes"]["eras"]
    K = len(eras)
    clip_samples = int(run["classes"]["clip_samples"])
    hop = int(run["classes"].get("eval_hop_samples", clip_samples))
    split = run["split"]
    test = split[split["split"] == cfg.split]
    if test.empty:
        raise RunError(f"run {cfg.run} has no {cfg.split} tapes in split.csv")
    index = load_shard_index(data_dir / "shards", int(run["classes"]["sample_rate"]))
    absent = sorted(set(test["identifier"]) - set(index["identifier"]))
    if absent:
        raise RunError(f"{len(absent)} {cfg.split} tape(s) of run {cfg.run} are not in {data_dir / 'shards'}: "
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
    atomic_write_text(out / "confidence_matrix.csv", matrix_df(conf, eras).to_csv(index=False))
    atomic_write_text(out / "confidence_by_diagonal.csv", matrix_df(by_diagonal(conf), eras).to_csv(index=False))
    atomic_write_text(out / "confusion_clip.csv", matrix_df(np.array(clip_m["confusion"]), eras).to_csv(index=False))
    atomic_write_text(out / "confusion_tape.csv", matrix_df(np.array(tape_m["confusion"]), eras).to_csv(index=False))
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

    heatmap(conf, eras, "era confidence: mean softmax (clips)", out / "confidence_matrix.png")
    heatmap(by_diagonal(conf), eras, "era confidence / diagonal", out / "confidence_by_diagonal.png")
    heatmap(np.array(clip_m["confusion"], float), eras, "confusion (clips)", out / "confusion_clip.png", fmt="{:.0f}")
    heatmap(np.array(tape_m["confusion"], float), eras, "confusion (tapes)", out / "confusion_tape.png", fmt="{:.0f}")
    era_vs_year_plot(tape_df, eras, rho, out / "era_vs_year.png")
    history = read_history(run["dir"])
    has_curves = len(history) > 0
    if has_curves:
        curves_plot(history, out / "training_curves.png")

    model_path = run["dir"] / "model.keras"
    prov = write_provenance(out / "provenance.json", config=config_to_dict(cfg),
                            manifests=json.loads((run["dir"] / "provenance.json").read_text()).get("manifest_sha256", {})
                            if (run["dir"] / "provenance.json").exists() else {},
                            extra={"stage": "score", "train_config": run["config"], "model_sha256": file_sha256(model_path)})
    write_report(out, cfg, run, metrics, conf, clip_m, tape_m, prov, has_curves)
    return ScoreResult(report_dir=out, metrics=metrics)
