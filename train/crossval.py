"""``jazzcnn crossval``: K-fold cross-validation with baselines, so every labelled tape is scored once.

Read top to bottom, :func:`crossval` is the whole procedure:

1. labels and the shard index as for training (:func:`jazzcnn.train.training.labelled_tapes`);
2. folds of groups (artist or tape), stratified by era, seeded
   (:func:`jazzcnn.train.splits.make_folds`), saved as ``RUNS_DIR/<run>/folds.csv``;
3. for each fold K: a validation part is carved out of the other folds by group
   (:func:`jazzcnn.train.splits.fold_split`); the CNN is trained on the rest with every training
   setting (``RUNS_DIR/<run>/fold-K``, a normal run folder, resumable; a finished fold is not
   trained again), its hyperparameters chosen on that validation part when the preset has
   candidates (:mod:`jazzcnn.train.tuning`: nested, the test fold is never read); it predicts
   fold K's clips on the fixed grid; every preset in ``compare`` likewise, on the same folds
   (``RUNS_DIR/<run>/compare-<preset>/fold-K``);
4. on the same folds and the same clips: the majority class (most training audio) and the
   linear baseline (:mod:`jazzcnn.train.baselines`: logistic regression on log-mel statistics,
   its C chosen on the fold's validation part);
5. all out-of-fold predictions scored together (:func:`jazzcnn.train.metrics.evaluate`), per fold
   and overall, the CNN against the linear baseline on the same tapes (exact McNemar test and a
   paired bootstrap), and the report written to ``REPORTS_DIR/<run>`` in ``jazzcnn score``'s layout.

With ``bandlimit_hz`` set, the recording-technology control applies to the CNN (inside the model)
and to the baselines' clips alike.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from jazzcnn.core.files import atomic_write_text
from jazzcnn.core.paths import DataPaths, ManifestPaths
from jazzcnn.core.provenance import manifest_hashes, write_provenance
from jazzcnn.core.settings import config_to_dict, fields_of, make_config, replace
from jazzcnn.train.bandlimit import bandlimit
from jazzcnn.train.baselines import LinearBaseline, logmel_stats, majority_proba, mel_settings_of
from jazzcnn.train.config import CrossvalConfig, TrainConfig
from jazzcnn.train.data import PCM_SCALE
from jazzcnn.train.metrics import evaluate, json_ready, mcnemar_exact, paired_bootstrap_difference
from jazzcnn.train.models import PRESETS
from jazzcnn.train.embeddings import MAX_POINTS, embedding_model, plot_embeddings, sample
from jazzcnn.train.report import (TAPE_SCORE, comparison_names, control_line, interval_lines, model_names,
                                  summary_table, write_crossval_report, write_evaluation_files)
from jazzcnn.train.report_html import HtmlReport, write_html_report
from jazzcnn.train.runs import is_complete, load_checked_model, load_run
from jazzcnn.train.scoring import clip_frame, clip_grid, predict_grid, tape_info
from jazzcnn.train.splits import fold_split, make_folds
from jazzcnn.train.training import TrainError, labelled_tapes, resolve_config, train

log = logging.getLogger(__name__)


@dataclass
class CrossvalResult:
    """What ``jazzcnn crossval`` made.

    Attributes
    ----------
    report_dir : Path
        ``REPORTS_DIR/<run>``.
    run_dir : Path
        ``RUNS_DIR/<run>`` (``folds.csv`` and the fold runs).
    metrics : dict
        ``metrics.json``: the CNN's scores, ``baselines`` (``majority``, ``linear``) with the same
        keys, ``comparison``, ``per_fold``.
    folds : pd.DataFrame
        ``folds.csv``.
    trained : list of int
        Folds trained by this call (the others were complete already).
    """

    report_dir: Path
    run_dir: Path
    metrics: dict
    folds: pd.DataFrame
    trained: list[int] = field(default_factory=list)

    @property
    def report(self) -> Path:
        """``report.md``."""
        return self.report_dir / "report.md"


def _fold_config(cfg: CrossvalConfig, root: Path, k: int) -> TrainConfig:
    """The training settings of fold ``k``: every training setting of ``cfg``, run ``fold-K`` under ``root``."""
    values = {name: getattr(cfg, name) for name in fields_of(TrainConfig)}
    values.update(runs_dir=root, run=f"fold-{k}", config=None)
    return resolve_config(make_config(TrainConfig, values))


def _features(reader, grid: dict, clip_samples: int, sample_rate: int, bandlimit_hz: float | None, mel,
              chunk: int = 512) -> np.ndarray:
    """Log-mel statistics of the grid's clips, read and computed ``chunk`` clips at a time (memory
    stays small on the whole collection); band-limited first when the control is on."""
    out = np.empty((len(grid["label"]), 2 * mel.n_mels), np.float32)
    for s in range(0, len(out), chunk):
        sl = slice(s, s + chunk)
        x = reader.fetch(grid["shard"][sl], grid["start"][sl], grid["valid"][sl], clip_samples).astype(np.float32) * PCM_SCALE
        out[sl] = logmel_stats(bandlimit(x, sample_rate, bandlimit_hz) if bandlimit_hz else x, mel)
    return out


def _compare_config(cfg: CrossvalConfig, preset: str) -> CrossvalConfig:
    """Settings of a preset trained for comparison: every shared setting of ``cfg``, its own clip length,
    learning rate, hyperparameters and candidates."""
    if preset not in PRESETS:
        raise TrainError(f"setting compare: unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    return replace(cfg, preset=preset, clip_seconds=None, learning_rate=None, eval_hop_s=None, hparams=[],
                   tune_grid=[], compare=[])


def _cnn_folds(cfg: CrossvalConfig, root: Path, splits: list[pd.DataFrame], index: pd.DataFrame, shard_dir: Path,
               eras: list[str], verbose: int, *, embeddings: bool = False):
    """Train (or find trained) ``cfg.preset`` on every fold under ``root`` and predict each fold's held-out clips.

    Returns
    -------
    frames : list of pd.DataFrame
        Per fold, its clips' predictions (:func:`jazzcnn.train.scoring.clip_frame`, with ``fold``).
    trained : list of int
        Folds trained by this call.
    revisions : list of str
        Git revision each fold was trained at.
    acts : list
        Per fold ``(k, tapes, labels, activations)`` of a sample of held-out clips (``embeddings``).
    """
    resolved = resolve_config(cfg)
    sr = resolved.sample_rate
    clip_samples = int(round(resolved.clip_seconds * sr))
    hop = int(round(resolved.eval_hop_s * sr))
    cls = {e: i for i, e in enumerate(eras)}
    frames, trained, revisions, acts = [], [], [], []
    for k, split in enumerate(splits):
        fold_cfg = _fold_config(cfg, root, k)
        fold_dir = root / fold_cfg.run
        what = f"{resolved.preset}, fold {k + 1} of {len(splits)}"
        if is_complete(fold_dir, config=config_to_dict(fold_cfg), split=split):
            log.info("%s: complete in %s, not trained again", what, fold_dir)
        else:
            log.info("%s: training on %d tapes (%d for validation), %d held out", what,
                     int((split["split"] != "test").sum()), int((split["split"] == "val").sum()),
                     int((split["split"] == "test").sum()))
            train(fold_cfg, split=split, verbose=verbose)
            trained.append(k)
        run = load_run(fold_dir)
        prov = run["dir"] / "provenance.json"
        revisions.append(json.loads(prov.read_text()).get("git_revision", "unknown") if prov.exists() else "unknown")
        test = split.loc[split["split"] == "test", ["identifier", "era"]]
        reader, seg, grid, sub = clip_grid(index, shard_dir, dict(zip(test["identifier"], test["era"].map(cls))),
                                           clip_samples, hop)
        model = load_checked_model(run)
        probs = predict_grid(model, reader, grid, clip_samples, cfg.predict_batch_size)
        frames.append(clip_frame(grid, seg, sub, probs, eras, sr, reader.names).assign(fold=k))
        if embeddings:  # the penultimate layer of this fold's model on its own held-out clips (a sample)
            pick = sample(len(grid["label"]), limit=max(1, MAX_POINTS // len(splits)), seed=cfg.seed)
            acts.append((k, grid["tape"][pick], grid["label"][pick],
                         predict_grid(embedding_model(model), reader, {n: np.asarray(v)[pick] for n, v in grid.items()},
                                      clip_samples, cfg.predict_batch_size)))
    return frames, trained, revisions, acts


def _fold_hyperparameters(root: Path, folds: int) -> list[dict]:
    """Per fold, the learning rate and hyperparameters its model was trained with (from its summary)."""
    out = []
    for k in range(folds):
        summary = json.loads((root / f"fold-{k}" / "summary.json").read_text())
        out.append({"fold": k, "learning_rate": summary.get("learning_rate"),
                    "hyperparameters": summary.get("hyperparameters", {}),
                    "tuned": (summary.get("tuning") or {}).get("chosen_values")})
    return out


def _paired(a_ev: dict, b_ev: dict, info: pd.DataFrame, cfg: CrossvalConfig) -> dict:
    """Exact McNemar test and (when intervals are given) paired bootstrap of two models' tape results."""
    a = pd.Series(a_ev["tape_right"], index=a_ev["tape_ids"])
    b = pd.Series(b_ev["tape_right"], index=b_ev["tape_ids"]).loc[a.index]
    paired = None
    if a_ev["intervals"] is not None:
        paired = paired_bootstrap_difference(a.to_numpy(), b.to_numpy(), info.loc[a.index, "group"].to_numpy(),
                                             info.loc[a.index, "y"].to_numpy(), n_resamples=cfg.bootstrap,
                                             confidence=cfg.confidence, seed=cfg.seed)
    return {"mcnemar": mcnemar_exact(a.to_numpy(), b.to_numpy()), "paired_bootstrap": paired}


def crossval(cfg: CrossvalConfig, *, verbose: int = 2) -> CrossvalResult:
    """Cross-validate the CNN and the baselines; see the module docstring for the steps.

    Parameters
    ----------
    cfg : CrossvalConfig
    verbose : int
        Keras' per-epoch output while training the folds.

    Returns
    -------
    CrossvalResult

    Raises
    ------
    ManifestError, ShardError, TrainError, SettingsError
        Bad input, found before any fold is trained (``split="fixed"`` too: the folds are the
        cross-validation's own).
    SplitError
        An era has fewer groups than folds (the message names it and suggests a smaller
        ``FOLDS`` or ``GROUP=tape``).
    CheckpointError
        A fold's best checkpoint did not reload cleanly.
    """
    if cfg.split == "fixed":
        raise TrainError("crossval makes its own folds by group; --split fixed (the published split) is for "
                         "`jazzcnn train`: run both and compare")
    resolved = resolve_config(cfg)
    compare = {name: _compare_config(cfg, name) for name in cfg.compare}  # bad names fail before any training
    for other in compare.values():
        resolve_config(other)
    data = labelled_tapes(resolved)
    eras, labels, index = data["eras"], data["labels"], data["index"]
    folds = make_folds(data["usable"], group=cfg.group, folds=cfg.folds, seed=cfg.seed)
    root = Path(cfg.runs_dir) / cfg.run
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "folds.csv", folds.to_csv(index=False))
    shard_dir = DataPaths(cfg.data_dir).shards
    preset = PRESETS[resolved.preset]
    sr = resolved.sample_rate
    clip_samples = int(round(resolved.clip_seconds * sr))
    hop = int(round(resolved.eval_hop_s * sr))
    mel = mel_settings_of(preset, sr)
    cls = {e: i for i, e in enumerate(eras)}
    info = tape_info(folds, labels, eras)

    if cfg.linear_baseline:
        # Once for every tape: a fold's parts are subsets of this grid, in the same order.
        reader_all, _, grid_all, _ = clip_grid(index, shard_dir, dict(zip(folds["identifier"], folds["era"].map(cls))),
                                               clip_samples, hop)
        log.info("linear baseline: log-mel statistics of %d clips", len(grid_all["label"]))
        feats_all = _features(reader_all, grid_all, clip_samples, sr, cfg.bandlimit_hz, mel)

    # -- the CNN (and every preset to compare) on each fold ----------------------------------------
    splits = [fold_split(folds, k, val_fraction=cfg.val_fraction, seed=cfg.seed) for k in range(cfg.folds)]
    cnn, trained, revisions, acts = _cnn_folds(cfg, root, splits, index, shard_dir, eras, verbose, embeddings=True)
    compared = {}
    for name, other in compare.items():
        compared[name] = _cnn_folds(other, root / f"compare-{name}", splits, index, shard_dir, eras, verbose)[0]

    # -- baselines on the main preset's clips -------------------------------------------------
    linear, majority, chosen_c = [], [], {}
    for k, split in enumerate(splits):
        parts = {name: split.loc[split["split"] == name, ["identifier", "era"]] for name in ("train", "val", "test")}
        grids = {name: clip_grid(index, shard_dir, dict(zip(p["identifier"], p["era"].map(cls))), clip_samples, hop)
                 for name, p in parts.items()}
        reader, seg, grid, sub = grids["test"]
        train_lengths = index.merge(parts["train"], on="identifier").groupby("era")["length"].sum()
        maj = majority_proba({cls[e]: float(n) for e, n in train_lengths.items()}, len(eras), len(grid["label"]))
        majority.append(clip_frame(grid, seg, sub, maj, eras, sr, reader.names).assign(fold=k))
        if cfg.linear_baseline:
            feats = {name: feats_all[np.isin(grid_all["tape"], p["identifier"].to_numpy())] for name, p in parts.items()}
            if len(feats["test"]) != len(grid["label"]):
                raise RuntimeError("internal: the linear baseline's test clips differ from the CNN's")
            lin = LinearBaseline(len(eras), seed=cfg.seed).fit(
                feats["train"], grids["train"][2]["label"], feats["val"], grids["val"][2]["label"])
            chosen_c[k] = lin.C
            linear.append(clip_frame(grid, seg, sub, lin.predict_proba(feats["test"]), eras, sr, reader.names).assign(fold=k))

    opts = {"bootstrap": cfg.bootstrap, "confidence": cfg.confidence, "seed": cfg.seed}
    evs = {"cnn": evaluate(pd.concat(cnn, ignore_index=True), info, eras, **opts)}
    for name, frames in compared.items():
        evs[f"cnn:{name}"] = evaluate(pd.concat(frames, ignore_index=True), info, eras, **opts)
    if linear:
        evs["linear"] = evaluate(pd.concat(linear, ignore_index=True), info, eras, **opts)
    evs["majority"] = evaluate(pd.concat(majority, ignore_index=True), info, eras, **opts)
    metrics = json_ready(evs["cnn"]) | {
        "run": cfg.run, "folds": cfg.folds, "group": cfg.group, "preset": resolved.preset,
        "hyperparameters": _fold_hyperparameters(root, cfg.folds),
        "bandlimit_hz": cfg.bandlimit_hz, "confidence": cfg.confidence,
        "tape_score": TAPE_SCORE,
        "compared": {name: json_ready(evs[f"cnn:{name}"]) | {"hyperparameters": _fold_hyperparameters(
            root / f"compare-{name}", cfg.folds)} for name in compared},
        "baselines": {name: json_ready(evs[name]) for name in ("majority", "linear") if name in evs},
        "linear_baseline_C": chosen_c,
    }
    comparisons = {}
    pairs = [("cnn", "linear", "cnn_vs_linear")] if "linear" in evs else []
    pairs += [(f"cnn:{n}", "linear", f"{n}_vs_linear") for n in compared if "linear" in evs]
    pairs += [("cnn", f"cnn:{n}", f"cnn_vs_{n}") for n in compared]
    for a_key, b_key, label in pairs:
        comparisons[label] = _paired(evs[a_key], evs[b_key], info, cfg)
    if comparisons:
        metrics["comparison"] = comparisons

    out = Path(cfg.reports_dir) / cfg.run
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "folds.csv", folds.to_csv(index=False))
    atomic_write_text(out / "clip_predictions.csv", evs_clips(cnn).to_csv(index=False))
    write_evaluation_files(out, evs["cnn"], eras)
    baseline_tapes = [evs[n]["tape_table"].assign(model=n) for n in ("linear", "majority") if n in evs]
    atomic_write_text(out / "baseline_tape_predictions.csv", pd.concat(baseline_tapes).to_csv(index=False))
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2, default=float) + "\n")
    manifests = ManifestPaths(cfg.manifests_dir)
    prov = write_provenance(out / "provenance.json", config=config_to_dict(cfg),
                            manifests=manifest_hashes(manifests.tracks, data["class_file"]),
                            extra={"stage": "crossval", "fold_git_revisions": revisions})
    write_crossval_report(out, cfg, metrics, evs, folds, prov, revisions, config_to_dict(resolved), manifests.root)
    _write_html(out, cfg, resolved, metrics, evs, cnn, acts, info, shard_dir, prov,
                (feats_all, grid_all) if cfg.linear_baseline else None)
    return CrossvalResult(report_dir=out, run_dir=root, metrics=metrics, folds=folds, trained=trained)


def evs_clips(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The CNN's out-of-fold clip predictions as written to ``clip_predictions.csv``."""
    df = pd.concat(frames, ignore_index=True)
    return df[["identifier", "fold"] + [c for c in df.columns if c not in ("identifier", "fold", "y")]]


def _write_html(out: Path, cfg: CrossvalConfig, resolved: TrainConfig, metrics: dict, evs: dict, cnn: list[pd.DataFrame],
                acts: list, info: pd.DataFrame, shard_dir: Path, prov: dict, features) -> None:
    """``report.html`` of the cross-validation, with embeddings of every fold's model."""
    eras = metrics["eras"]
    years = info["year"]
    panels, ys, yrs = [], [], []
    for k, tapes, y, a in acts:
        panels.append((f"fold {k}: penultimate layer", a))
        ys.append(np.asarray(y))
        yrs.append(years.loc[np.asarray(tapes)].to_numpy(float))
    if features is not None:
        feats_all, grid_all = features
        pick = sample(len(feats_all), seed=cfg.seed)
        panels.append(("input log-mel statistics", feats_all[pick]))
        ys.append(grid_all["label"][pick])
        yrs.append(years.loc[grid_all["tape"][pick]].to_numpy(float))
    plot_embeddings(panels, ys, yrs, eras, out / "embeddings.png")
    names = model_names(resolved.preset, evs)
    per_fold = pd.DataFrame(evs["cnn"]["per_fold"])
    for key in [k for k in evs if k != "cnn"]:
        per_fold[f"{key.partition(':')[2] or key}_tape_accuracy"] = pd.DataFrame(evs[key]["per_fold"])["tape_accuracy"].to_numpy()
    notes = [line for line in interval_lines(evs["cnn"], f"folds by {cfg.group}") if line]
    for label, comp in metrics.get("comparison", {}).items():
        a, b = comparison_names(label, resolved.preset)
        mc = comp["mcnemar"]
        notes.append(f"{a} against {b} on the same tapes: {mc['a_only']} tapes right only for the first, "
                     f"{mc['b_only']} only for the second; exact McNemar p = {mc['p_value']:.3g}.")
    notes.append(f"A tape's score is {TAPE_SCORE}.")
    html = HtmlReport(
        title=f"Cross-validated era scores: {cfg.run}",
        intro=[f"{metrics['n_tapes']} labelled tapes in {cfg.folds} folds by {cfg.group}; each fold's model never saw "
               "its fold's tapes, so every tape below was predicted exactly once, out of fold.",
               control_line(config_to_dict(resolved)).replace("**", "").replace("`", "")],
        summary=summary_table({names[k]: ev for k, ev in evs.items()}), notes=notes, evaluation=evs["cnn"], eras=eras,
        clips=pd.concat(cnn, ignore_index=True), shard_dir=shard_dir, sample_rate=resolved.sample_rate,
        tables=[("Per fold", per_fold)],
        provenance=[f"git revision (report): {prov['git_revision']}",
                    *[f"{k} sha256: {v}" for k, v in prov["manifest_sha256"].items()]],
        embeddings="embeddings.png",
        embeddings_note=("Each fold's model on a sample of its own held-out clips (penultimate layer: the activations "
                         "feeding the output layer), and the input log-mel statistics of the clips (the mean and "
                         "standard deviation of each mel band, as the FMA-small study plotted its inputs). Left by era, "
                         "right by recording year."))
    write_html_report(out, html)
