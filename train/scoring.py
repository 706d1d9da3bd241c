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
from jazzcnn.train.data import ShardReader, eval_batches, grid_clips, load_shard_index, segments_for
from jazzcnn.train.metrics import (bootstrap_intervals, by_diagonal, classification_metrics, clopper_pearson,  # noqa: F401
                                   confidence_matrix, evaluate, expected_era_index, spearman)
from jazzcnn.train.report import TAPE_SCORE, curves_plot, write_evaluation_files, write_report
from jazzcnn.train.report_html import HtmlReport, write_html_report
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


def tape_info(tapes: pd.DataFrame, labels: pd.DataFrame, eras: list[str]) -> pd.DataFrame:
    """Per tape: class index ``y``, ``year`` (middle of its range) and ``group`` (and ``fold`` if given).

    Parameters
    ----------
    tapes : pd.DataFrame
        Rows of a split or of ``folds.csv``: ``identifier``, ``era``, ``group`` (and ``fold``).
    labels : pd.DataFrame
        ``labels.csv``: ``identifier``, ``year_start``, ``year_end``.
    """
    cls = {e: i for i, e in enumerate(eras)}
    lab = labels.set_index("identifier")
    def middle(t) -> float:  # NaN without years (a data set labelled by genre has none)
        ys = [pd.to_numeric(lab.at[t, c], errors="coerce") for c in ("year_start", "year_end")] if t in lab.index else []
        ys = [float(y) for y in ys if pd.notna(y)]
        return float(np.mean(ys)) if ys else np.nan

    years = [middle(t) for t in tapes["identifier"]]
    out = pd.DataFrame({"y": [cls[e] for e in tapes["era"]], "year": np.asarray(years, float),
                        "group": tapes["group"].to_numpy() if "group" in tapes else tapes["identifier"].to_numpy()},
                       index=pd.Index(tapes["identifier"], name="identifier"))
    if "fold" in tapes:
        out["fold"] = tapes["fold"].to_numpy()
    return out


def clip_grid(index: pd.DataFrame, shard_dir: Path, tape_class: dict[str, int], clip_samples: int, hop: int):
    """The fixed evaluation grid of clips over some tapes' segments.

    Returns
    -------
    reader : ShardReader
    seg : Segments
    grid : dict
        See :func:`jazzcnn.train.data.grid_clips`.
    sub : pd.DataFrame
        The index rows of these tapes.
    """
    sub = index[index["identifier"].isin(set(tape_class))]
    reader = ShardReader(shard_dir, sorted(sub["shard"].unique()))
    seg = segments_for(sub, reader.names, tape_class)
    return reader, seg, grid_clips(seg, clip_samples, hop), sub


def clip_frame(grid: dict, seg, sub: pd.DataFrame, probs: np.ndarray, eras: list[str], sample_rate: int,
               shard_names: list[str]) -> pd.DataFrame:
    """One row per clip: ``identifier, segment, clip_start_s, shard, shard_offset, samples, y, true_era,
    pred_era, p_<era>`` (``clip_start_s`` in the original file [s]; ``shard_offset`` and ``samples``
    where its audio lies in the shard [samples], for listening to it)."""
    seg_no = np.asarray(sub["segment"])[grid["seg"]] if "segment" in sub else grid["seg"]
    y = grid["label"].astype(int)
    df = pd.DataFrame({"identifier": grid["tape"], "segment": seg_no,
                       "clip_start_s": seg.start_s[grid["seg"]] + grid["within"] / sample_rate,
                       "shard": np.asarray(shard_names, dtype=object)[grid["shard"]] if len(grid["shard"]) else [],
                       "shard_offset": grid["start"], "samples": grid["valid"], "y": y,
                       "true_era": [eras[i] for i in y], "pred_era": [eras[i] for i in probs.argmax(1)]})
    for k, e in enumerate(eras):
        df[f"p_{e}"] = probs[:, k]
    return df


def predict_grid(model, reader, grid: dict, clip_samples: int, batch_size: int) -> np.ndarray:
    """Softmax outputs ``(n_clips, n_eras)`` of ``model`` on the grid's clips, float64."""
    if len(grid["label"]) == 0:
        return np.zeros((0, model.output_shape[-1]))
    ds = eval_batches(reader, grid, clip_samples, batch_size, with_labels=False)
    return np.asarray(model.predict(ds, verbose=0), dtype=np.float64)


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
    sr = int(run["classes"]["sample_rate"])
    clip_samples = int(run["classes"]["clip_samples"])
    hop = int(run["classes"].get("eval_hop_samples", clip_samples))
    split = run["split"]
    test = split[split["split"] == cfg.split]
    if test.empty:
        raise RunError(f"run {cfg.run} has no {cfg.split} tapes in split.csv")
    index = load_shard_index(data_dir / "shards", sr)
    absent = sorted(set(test["identifier"]) - set(index["identifier"]))
    if absent:
        raise RunError(f"{len(absent)} {cfg.split} tape(s) of run {cfg.run} are not in {data_dir / 'shards'}: "
                       f"{absent[:5]} (were the shards rebuilt without them?)")
    model = load_checked_model(run)  # checked before any prediction work

    cls = {e: i for i, e in enumerate(eras)}
    reader, seg, grid, sub = clip_grid(index, data_dir / "shards", dict(zip(test["identifier"], test["era"].map(cls))),
                                       clip_samples, hop)
    probs = predict_grid(model, reader, grid, clip_samples, cfg.batch_size)
    clips = clip_frame(grid, seg, sub, probs, eras, sr, reader.names)
    ev = evaluate(clips, tape_info(test, run["labels"], eras), eras, bootstrap=cfg.bootstrap,
                  confidence=cfg.confidence, seed=cfg.seed)
    # majority-class baselines, from the training split (clips: audio length; tapes: count)
    y = clips["y"].to_numpy(int)
    tape_y = ev["tape_table"]["true_index"].to_numpy(int)
    train_ids = split.loc[split["split"] == "train", ["identifier", "era"]]
    lengths = index.merge(train_ids, on="identifier").groupby("era")["length"].sum()
    maj_clip = cls[lengths.idxmax()] if len(lengths) else 0
    maj_tape = cls[train_ids["era"].value_counts().idxmax()] if len(train_ids) else 0
    base_clip = classification_metrics(y, np.full_like(y, maj_clip), eras)
    base_tape = classification_metrics(tape_y, np.full_like(tape_y, maj_tape), eras)

    def scalars(m):
        return {k: m[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1")} | {"confusion": m["confusion"]}

    metrics = {
        "run": cfg.run, "split": cfg.split, "eras": eras, "n_test_tapes": ev["n_tapes"], "n_test_clips": ev["n_clips"],
        "clip": scalars(ev["clip"]) | {"majority_baseline_accuracy": base_clip["accuracy"]},
        "tape": scalars(ev["tape"]) | {"majority_baseline_accuracy": base_tape["accuracy"]},
        "baseline_clip": scalars(base_clip) | {"majority_era": eras[maj_clip]},
        "baseline_tape": scalars(base_tape) | {"majority_era": eras[maj_tape]},
        "confidence_matrix": ev["confidence_matrix"],
        "spearman_year_vs_expected_era_index": ev["spearman_year_vs_expected_era_index"],
        "tape_accuracy_exact_interval": ev["tape_accuracy_exact_interval"],
        "baseline_tape_exact_interval": clopper_pearson(int(np.sum(tape_y == maj_tape)), len(tape_y), cfg.confidence),
        "intervals": ev["intervals"], "interval_note": ev["interval_note"], "groups_per_era": ev["groups_per_era"],
        "bandlimit_hz": run["config"].get("bandlimit_hz"),
        "split_kind": run["config"].get("split", "grouped"),
        "preset": run["config"].get("preset"), "learning_rate": run["summary"].get("learning_rate"),
        "hyperparameters": run["summary"].get("hyperparameters", {}), "tuning": run["summary"].get("tuning"),
        "tape_score": TAPE_SCORE,
    }

    # -- write --------------------------------------------------------------------------------
    out = cfg.reports_dir / cfg.run
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "clip_predictions.csv", clips.drop(columns=["y"]).to_csv(index=False))
    write_evaluation_files(out, ev, eras)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    history = read_history(run["dir"])
    has_curves = len(history) > 0
    if has_curves:
        curves_plot(history, out / "training_curves.png")
    model_path = run["dir"] / "model.keras"
    prov = write_provenance(out / "provenance.json", config=config_to_dict(cfg),
                            manifests=json.loads((run["dir"] / "provenance.json").read_text()).get("manifest_sha256", {})
                            if (run["dir"] / "provenance.json").exists() else {},
                            extra={"stage": "score", "train_config": run["config"], "model_sha256": file_sha256(model_path)})
    write_report(out, cfg, run, metrics, ev, prov, has_curves)
    # -- report.html: the clips behind the numbers, and the embeddings ----------------------------
    from jazzcnn.train.baselines import logmel_stats, mel_settings_of
    from jazzcnn.train.embeddings import embedding_model, plot_embeddings, sample
    from jazzcnn.train.models import PRESETS
    from jazzcnn.train.report import control_line, interval_lines, model_lines, summary_table

    pick = sample(len(clips), seed=cfg.seed)
    sub_grid = {k: np.asarray(v)[pick] for k, v in grid.items()}
    acts = predict_grid(embedding_model(model), reader, sub_grid, clip_samples, cfg.batch_size)
    audio = reader.fetch(sub_grid["shard"], sub_grid["start"], sub_grid["valid"], clip_samples).astype(np.float32) / 32768
    mel = mel_settings_of(PRESETS.get(run["classes"].get("preset")), sr)
    year_of = ev["tape_table"].set_index("identifier")["year"]
    yy, years = clips["y"].to_numpy()[pick], year_of.loc[clips["identifier"].to_numpy()[pick]].to_numpy(float)
    plot_embeddings([("penultimate layer", acts), ("input log-mel statistics", logmel_stats(audio, mel))],
                    [yy, yy], [years, years], eras, out / "embeddings.png")
    models = {"model": ev, "majority baseline": {"tape": metrics["baseline_tape"], "clip": metrics["baseline_clip"],
                                                 "tape_accuracy_exact_interval": metrics["baseline_tape_exact_interval"]}}
    html = HtmlReport(
        title=f"Era scores for run {cfg.run} ({cfg.split} tapes)",
        intro=[f"{metrics['n_test_tapes']} held-out tapes, {metrics['n_test_clips']} clips of {clip_samples / sr:g} s "
               f"(preset {run['config'].get('preset')}, split by {run['config'].get('group')}). None of these tapes was "
               "used for training or early stopping. For figures one can cite, run make crossval.",
               control_line(run["config"]).replace("**", "").replace("`", ""),
               model_lines(run["summary"], run["config"])[0].replace("`", "")],
        summary=summary_table(models), notes=[line for line in interval_lines(ev, "split groups") if line],
        evaluation=ev, eras=eras, clips=clips, shard_dir=data_dir / "shards", sample_rate=sr,
        provenance=[f"git revision (scoring): {prov['git_revision']}", f"model sha256: {prov.get('model_sha256')}",
                    *[f"{k} sha256: {v}" for k, v in prov["manifest_sha256"].items()]],
        embeddings="embeddings.png", curves=has_curves,
        embeddings_note=(f"{len(pick)} of the {len(clips)} scored clips. Top: the activations feeding the model's output "
                         "layer; bottom: the mean and standard deviation of each input mel band, as the FMA-small study "
                         "plotted its inputs. Left by era, right by recording year."))
    write_html_report(out, html)
    return ScoreResult(report_dir=out, metrics=metrics)
