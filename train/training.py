"""``jazzcnn train``: labels -> grouped split -> tf.data pipeline -> Kapre CNN -> run folder.

Read top to bottom, :func:`run_train` is the whole training script:

1. resolve settings (preset defaults for clip length and learning rate; ``--config`` JSON file
   layered under the command-line flags by :mod:`jazzcnn.cli`);
2. resolve one era label per tape from ``tracks.csv`` + ``eras.csv`` (:mod:`train.labels`) and
   list the tapes left out;
3. read the shard index (:mod:`train.data`) and keep labelled tapes that have audio;
4. split tapes (or artists) into train/val/test, stratified by era (:mod:`train.splits`);
5. write ``labels.csv``, ``split.csv``, ``config.json``, ``provenance.json`` to the run folder;
6. build the preset network (:mod:`train.models`) under a distribution strategy and fit it with
   class weights or balanced sampling; every epoch commits its weights, the best checkpoint,
   ``history.csv`` and the early-stopping counter atomically (:mod:`train.checkpoints`), so an
   interrupted run resumes after its last finished epoch;
7. reload and check the best checkpoint, then publish it as ``model.keras``, only when training
   finished, so ``make train`` (whose target is ``model.keras``) reruns and resumes an
   interrupted run.

Every input problem (manifest schema, missing shards, an era without data, too few tapes for a
split) is reported as ``error: ...`` with exit status 2 before any training starts.

Run folder ``RUNS_DIR/<run>/``::

    model.keras        best model (lowest validation loss); load with keras.models.load_model
    config.json        resolved settings (every TrainConfig field, preset defaults filled in)
    classes.json       era names in class-index order, clip length, sample rate
    labels.csv         per tape: years, era, label source, status (labelled/left_out), reason
    left_out.csv       the left-out tapes only
    split.csv          identifier, artist, era, group, split (train/val/test)
    provenance.json    git revision, manifest SHA-256, library versions, config
    history.csv        per-epoch loss/accuracy/val_loss/val_accuracy
    summary.json       clip counts, class weights, epochs run, best validation loss, wall time
    logs/              TensorBoard event files
    backup/            state.json (the commit point of each epoch), the latest weights and the
                       best checkpoint (see :mod:`train.checkpoints`)

Resuming: rerunning the same command with the same labels, split and settings continues from the
last committed epoch, with the optimizer state, history, best checkpoint and early-stopping counter
as they were, and draws new clip positions. Any change of labels, split or settings starts the run
afresh.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from acquire.manifest import ManifestError, load_eras, load_tracks
from jazzcnn.files import atomic_write_text
from jazzcnn.provenance import manifest_hashes, write_provenance
from jazzcnn.settings import SettingsError, config_to_dict, replace
from train.config import TrainConfig
from train.data import ShardError, ShardReader, class_weights, eval_dataset, grid_clips, load_shard_index, segments_for, train_dataset
from train.labels import format_left_out, resolve_labels
from train.checkpoints import CheckpointError, TrainingState
from train.models import PRESETS
from train.splits import SplitError, make_split


class TrainError(ValueError):
    """Bad settings or data found before training; printed as ``error: ...``."""


def resolve_config(cfg: TrainConfig) -> TrainConfig:
    """Fill preset defaults (clip length, learning rate, evaluation hop) and check ranges.

    Raises
    ------
    TrainError
        Unknown preset or an out-of-range setting, naming it.
    """
    if cfg.preset not in PRESETS:
        raise TrainError(f"unknown preset {cfg.preset!r}; choose one of {sorted(PRESETS)}")
    p = PRESETS[cfg.preset]
    clip_seconds = p.clip_seconds if cfg.clip_seconds is None else cfg.clip_seconds
    cfg = replace(
        cfg,
        clip_seconds=float(clip_seconds),
        learning_rate=float(p.learning_rate if cfg.learning_rate is None else cfg.learning_rate),
        eval_hop_s=float(clip_seconds if cfg.eval_hop_s is None else cfg.eval_hop_s),
    )
    if cfg.clip_seconds * cfg.sample_rate < p.n_fft:
        raise TrainError(f"clip_seconds {cfg.clip_seconds} is shorter than the STFT window ({p.n_fft} samples)")
    return cfg


def prepare(cfg: TrainConfig) -> dict:
    """Steps 2-4: labels, shard index, split. Pure data work, no TensorFlow.

    Returns
    -------
    dict
        ``eras`` (list of era names, class order), ``labels`` (all tapes, labels.csv),
        ``split`` (split.csv), ``index`` (shard index rows of the split's tapes),
        ``shard_dir``.

    Raises
    ------
    ManifestError, ShardError, SplitError, TrainError
        Schema errors, missing shards, an era with no tapes with audio, too few groups.
    """
    eras_df = load_eras(cfg.manifests_dir / "eras.csv")
    tracks = load_tracks(cfg.manifests_dir / "tracks.csv", eras_df)
    eras = list(eras_df["era"])
    if len(eras) < 2:
        raise TrainError(f"{cfg.manifests_dir / 'eras.csv'} defines {len(eras)} era(s); at least 2 are needed")
    labels = resolve_labels(tracks, eras_df, cfg.straddle)

    shard_dir = cfg.data_dir / "shards"
    index = load_shard_index(shard_dir, cfg.sample_rate)
    with_audio = set(index["identifier"])
    no_audio = (labels["status"] == "labelled") & ~labels["identifier"].isin(with_audio)
    labels.loc[no_audio, ["status", "reason"]] = ["left_out", "no audio in the shards (not downloaded or all commentary)"]

    unknown = with_audio - set(labels["identifier"])
    if unknown:
        print(f"note: {len(unknown)} tape(s) in the shards are not in tracks.csv and are ignored, e.g. {sorted(unknown)[:3]}")
    usable = labels[labels["status"] == "labelled"]
    counts = usable["era"].value_counts()
    empty = [e for e in eras if counts.get(e, 0) == 0]
    if empty:
        raise TrainError(
            f"era(s) {empty} have no labelled tape with audio (eras.csv defines them; tracks.csv years/eras "
            f"and the shards give none). Remove or merge them in eras.csv, or label tapes with them."
        )
    split = make_split(usable, group=cfg.group, test_fraction=cfg.test_fraction, val_fraction=cfg.val_fraction, seed=cfg.seed)
    index = index[index["identifier"].isin(set(split["identifier"]))].reset_index(drop=True)
    return {"eras": eras, "labels": labels, "split": split, "index": index, "shard_dir": shard_dir}


def select_strategy():
    """Distribution strategy for the devices TensorFlow sees.

    Returns
    -------
    strategy : tf.distribute.Strategy
        ``MirroredStrategy`` over all GPUs when there are several, else the default strategy
        (the single GPU when there is one, otherwise the CPU).
    n_gpus : int
        Number of GPUs seen.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy(), len(gpus)
    return tf.distribute.get_strategy(), len(gpus)


def _write_run_files(cfg: TrainConfig, run_dir: Path, data: dict, extra: dict) -> bool:
    """Write labels/split/config/provenance; return True when an unfinished run may be resumed."""
    split_csv = data["split"].to_csv(index=False)
    conf = json.dumps(config_to_dict(cfg), indent=2, default=str) + "\n"
    same = ((run_dir / "split.csv").exists() and (run_dir / "split.csv").read_text() == split_csv
            and (run_dir / "config.json").exists() and (run_dir / "config.json").read_text() == conf)
    resume = same and (run_dir / "backup" / "state.json").exists()
    if not resume:
        for stale in ("backup", "logs"):
            shutil.rmtree(run_dir / stale, ignore_errors=True)
        # model.keras of an earlier run would not match the new labels/split: remove it now so
        # an interrupted retraining never leaves a stale model that score would pick up.
        for stale in ("history.csv", "checkpoint.keras", "model.keras", "summary.json"):
            (run_dir / stale).unlink(missing_ok=True)
    labels = data["labels"]
    atomic_write_text(run_dir / "labels.csv", labels.to_csv(index=False))
    atomic_write_text(run_dir / "left_out.csv", labels[labels["status"] != "labelled"].to_csv(index=False))
    atomic_write_text(run_dir / "split.csv", split_csv)
    atomic_write_text(run_dir / "config.json", conf)
    atomic_write_text(run_dir / "classes.json", json.dumps(extra, indent=2) + "\n")
    hashes = manifest_hashes(cfg.manifests_dir / "tracks.csv", cfg.manifests_dir / "eras.csv")
    # The shard index as training read it (from the commit records), not the index.csv view.
    hashes["shard index"] = hashlib.sha256(data["index"].to_csv(index=False).encode()).hexdigest()
    write_provenance(run_dir / "provenance.json", config=config_to_dict(cfg), manifests=hashes,
                     extra={"stage": "train", "run": cfg.run})
    return resume


def run_train(cfg: TrainConfig) -> int:
    """Train one run; see the module docstring for the steps and the run folder.

    Parameters
    ----------
    cfg : TrainConfig
        Settings (``jazzcnn train --help``); a ``config`` JSON file is layered by the CLI.

    Returns
    -------
    int
        0 on success, 2 on bad input (message ``error: ...`` on stderr, nothing trained).
    """
    t0 = time.time()
    # -- 1-4: settings, labels, shards, split (errors -> exit 2 before TensorFlow starts) ------
    try:
        cfg = resolve_config(cfg)
        data = prepare(cfg)
    except (ManifestError, ShardError, SplitError, TrainError, SettingsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    eras, split, index = data["eras"], data["split"], data["index"]
    left = format_left_out(data["labels"])
    if left:
        print(left)
    clip_samples = int(round(cfg.clip_seconds * cfg.sample_rate))
    hop_samples = int(round(cfg.eval_hop_s * cfg.sample_rate))
    print(f"{len(split)} tapes: " + ", ".join(f"{s} {int((split['split'] == s).sum())}" for s in ("train", "val", "test")))

    # -- 5: run folder ---------------------------------------------------------------------
    run_dir = cfg.runs_dir / cfg.run
    run_dir.mkdir(parents=True, exist_ok=True)
    classes = {"eras": eras, "clip_samples": clip_samples, "sample_rate": cfg.sample_rate, "preset": cfg.preset,
               "eval_hop_samples": hop_samples}
    resume = _write_run_files(cfg, run_dir, data, classes)

    # -- 6: data pipeline, model, fit ----------------------------------------------------------
    import keras
    import tensorflow as tf

    from train.models import build_model

    keras.utils.set_random_seed(cfg.seed)
    strategy, n_gpus = select_strategy()
    mixed = bool(n_gpus) if cfg.mixed_precision is None else bool(cfg.mixed_precision)
    era_of = dict(zip(split["identifier"], split["era"]))
    cls = {e: i for i, e in enumerate(eras)}
    reader = ShardReader(data["shard_dir"], sorted(index["shard"].unique()))
    seg = {s: segments_for(index, reader.names, {t: cls[era_of[t]] for t in split.loc[split["split"] == s, "identifier"]})
           for s in ("train", "val")}
    train_grid = grid_clips(seg["train"], clip_samples, hop_samples)
    val_grid = grid_clips(seg["val"], clip_samples, hop_samples)
    weights = class_weights(train_grid["label"], len(eras))
    global_batch = cfg.batch_size * max(1, strategy.num_replicas_in_sync)
    n_epoch_clips = len(train_grid["label"]) if cfg.max_examples is None else min(cfg.max_examples, len(train_grid["label"]))
    steps = cfg.steps_per_epoch or max(1, math.ceil(n_epoch_clips / global_batch))
    val_steps = None if cfg.max_examples is None else max(1, math.ceil(cfg.max_examples / global_batch))
    state = TrainingState(run_dir, patience=cfg.patience, resume=resume)
    # A resumed run draws fresh clip positions: the seed includes the epochs already done.
    train_ds = train_dataset(reader, seg["train"], clip_samples, global_batch, len(eras),
                             seed=[cfg.seed, state.epochs_done], balance=cfg.balance, weights=weights)
    val_ds = eval_dataset(reader, val_grid, clip_samples, global_batch)
    if val_steps is not None:
        val_ds = val_ds.take(val_steps)
    print(f"clips: train grid {len(train_grid['label'])}, val grid {len(val_grid['label'])}; "
          f"{steps} steps x {global_batch} clips per epoch; class weights {np.round(weights, 3).tolist()}; "
          f"devices: {n_gpus} GPU(s), mixed precision {'on' if mixed else 'off'}"
          + (f"; resuming after epoch {state.epochs_done}" if state.epochs_done else ""))

    with strategy.scope():
        model = build_model(cfg.preset, len(eras), clip_samples, sample_rate=cfg.sample_rate,
                            learning_rate=cfg.learning_rate, mixed_precision=mixed)
        state.restore(model)
    if not state.finished(cfg.epochs):
        model.fit(train_ds, epochs=cfg.epochs, initial_epoch=state.epochs_done, steps_per_epoch=steps,
                  validation_data=val_ds, verbose=2,
                  callbacks=[state.callback(), keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs"))])

    # -- 7: publish the best model, once it reloads and checks out -----------------------------
    from train.models import load_model

    try:
        state.publish(load_model, n_inputs=clip_samples, n_outputs=len(eras))
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    summary = {
        "train_grid_clips": int(len(train_grid["label"])), "val_grid_clips": int(len(val_grid["label"])),
        "steps_per_epoch": steps, "global_batch": global_batch, "class_weights": weights.tolist(),
        "balance": cfg.balance, "epochs_run": state.epochs_done, "stopped_early": bool(state.state["stopped"]),
        "best_val_loss": state.state["best_val_loss"], "best_epoch": state.state["best_epoch"],
        "gpus": n_gpus, "mixed_precision": mixed, "wall_s": round(time.time() - t0, 1), "tf_version": tf.__version__,
    }
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    # Finished: the backup has served its purpose (a rerun of the same command trains afresh).
    shutil.rmtree(run_dir / "backup", ignore_errors=True)
    print(f"model written to {run_dir / 'model.keras'} (best val_loss {summary['best_val_loss']:.4f} "
          f"at epoch {summary['best_epoch']} of {summary['epochs_run']})")
    return 0
