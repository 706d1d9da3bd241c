"""``jazzcnn train``: labels -> grouped split -> input pipeline -> Kapre CNN -> run folder.

Read top to bottom, :func:`run_train` is the whole training script:

1. resolve settings (preset defaults for clip length and learning rate; ``--config`` JSON file
   layered under the command-line flags by :mod:`jazzcnn.cli`);
2. resolve one class per tape from ``tracks.csv`` + ``eras.csv`` (eras by years) or + ``classes.csv``
   (data sets with their own labels, such as genres) (:mod:`jazzcnn.train.labels`) and list the
   tapes left out;
3. read the shard index (:mod:`jazzcnn.train.data`) and keep labelled tapes that have audio;
4. split tapes (or artists) into train/val/test, stratified by class, or take the data set's
   published split (``--split fixed``) (:mod:`jazzcnn.train.splits`);
5. write ``labels.csv``, ``split.csv``, ``config.json``, ``provenance.json`` to the run folder;
6. build the preset network (:mod:`jazzcnn.train.models`) on the devices :func:`select_devices`
   finds (every GPU, data-parallel; on any Keras backend) and fit it with
   class weights or balanced sampling; every epoch commits its weights, the best checkpoint,
   ``history.csv`` and the early-stopping counter atomically (:mod:`jazzcnn.train.checkpoints`), so an
   interrupted run resumes after its last finished epoch;
7. reload and check the best checkpoint, then publish it as ``model.keras``, only when training
   finished, so ``make train`` (whose target is ``model.keras``) reruns and resumes an
   interrupted run.

Every input problem (manifest schema, missing shards, an era without data, too few tapes for a
split) raises before any training starts; :func:`train` returns a :class:`TrainResult`. The run
folder's files are listed in :mod:`jazzcnn.train.runs`.

Resuming: rerunning the same command with the same labels, split and settings continues from the
last committed epoch, with the optimizer state, history, best checkpoint and early-stopping counter
as they were, and draws new clip positions. Any change of labels, split or settings starts the run
afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from jazzcnn.acquire.manifests import load_classes, load_eras, load_tracks, read_dataset_info
from jazzcnn.core.errors import JazzcnnError
from jazzcnn.core.files import atomic_write_text
from jazzcnn.core.paths import DataPaths, ManifestPaths
from jazzcnn.core.provenance import manifest_hashes
from jazzcnn.core.settings import config_to_dict, replace
from jazzcnn.train.checkpoints import TrainingState
from jazzcnn.train.config import TrainConfig
from jazzcnn.train.data import ShardReader, class_weights, eval_batches, grid_clips, load_shard_index, segments_for, train_batches
from jazzcnn.train.labels import format_left_out, resolve_labels
from jazzcnn.train.models import PRESETS, resolve_hparams
from jazzcnn.train.runs import write_run_files, write_summary
from jazzcnn.train.splits import check_disjoint, fixed_split, make_split
from jazzcnn.train.tuning import candidates, effective_grid, parse_assignments

log = logging.getLogger(__name__)


class TrainError(JazzcnnError, ValueError):
    """Bad settings or data found before training (an unknown preset, an era without tapes ...)."""


@dataclass
class TrainResult:
    """What ``jazzcnn train`` made.

    Attributes
    ----------
    run_dir, model_path : Path
    config : TrainConfig
        The resolved settings (preset defaults filled in).
    eras : list of str
        Class order.
    split : pd.DataFrame
        ``split.csv``.
    labels : pd.DataFrame
        ``labels.csv`` (left-out tapes included, with their reason).
    summary : dict
        ``summary.json``: clip counts, class weights, epochs run, best validation loss, wall time.
    resumed_after : int
        Epochs already done when this call started (0 for a fresh run).
    """

    run_dir: Path
    model_path: Path
    config: TrainConfig
    eras: list[str]
    split: pd.DataFrame
    labels: pd.DataFrame
    summary: dict = field(default_factory=dict)
    resumed_after: int = 0


def resolve_config(cfg: TrainConfig) -> TrainConfig:
    """Fill preset defaults (clip length, learning rate, evaluation hop) and check the clip length.

    Raises
    ------
    TrainError
        Unknown preset, or a clip shorter than the preset's STFT window or than the shortest clip
        its network can be built for (``min_clip_samples``).
    """
    if cfg.preset not in PRESETS:
        raise TrainError(f"unknown preset {cfg.preset!r}; choose one of {sorted(PRESETS)}")
    p = PRESETS[cfg.preset]
    clip_seconds = p.clip_seconds if cfg.clip_seconds is None else cfg.clip_seconds
    try:
        given = parse_assignments(cfg.hparams)
        resolve_hparams(cfg.preset, given)
        grid = effective_grid(p, tune=cfg.tune, tune_grid=cfg.tune_grid, hparams=given,
                              learning_rate_given=cfg.learning_rate is not None)
        candidates(cfg.preset, learning_rate=p.learning_rate, hparams=given, tune_grid=grid)
    except ValueError as e:
        raise TrainError(str(e)) from None
    cfg = replace(
        cfg,
        clip_seconds=float(clip_seconds),
        learning_rate=float(p.learning_rate if cfg.learning_rate is None else cfg.learning_rate),
        eval_hop_s=float(clip_seconds if cfg.eval_hop_s is None else cfg.eval_hop_s),
        hparams=[f"{k}={v:g}" for k, v in given.items()],
        tune_grid=grid,
    )
    if cfg.clip_seconds * cfg.sample_rate < p.n_fft:
        raise TrainError(f"clip_seconds {cfg.clip_seconds} is shorter than the STFT window ({p.n_fft} samples)")
    if round(cfg.clip_seconds * cfg.sample_rate) < p.min_clip_samples:
        raise TrainError(f"clip_seconds {cfg.clip_seconds} is too short for preset {cfg.preset!r}: its network needs "
                         f"clips of at least {p.min_clip_samples} samples ({p.min_clip_samples / cfg.sample_rate:g} s)")
    if cfg.bandlimit_hz is not None and cfg.bandlimit_hz > cfg.sample_rate / 2:
        raise TrainError(f"bandlimit_hz {cfg.bandlimit_hz:g} is above the Nyquist frequency ({cfg.sample_rate / 2:g} Hz)")
    return cfg


def labelled_tapes(cfg: TrainConfig) -> dict:
    """Labels of every tape and the shard index, with the tapes that have no audio left out.

    Returns
    -------
    dict
        ``eras`` (class order: eras, or the data set's classes), ``labels`` (every tape,
        ``labels.csv``), ``usable`` (labelled tapes with audio), ``index`` (the shard index),
        ``class_file`` (``eras.csv`` or ``classes.csv``).

    Raises
    ------
    ManifestError, ShardError, TrainError
        Schema errors, missing shards, fewer than 2 classes, a class with no tapes with audio, a
        class in ``cfg.classes`` that is not defined.
    """
    manifests = ManifestPaths(cfg.manifests_dir)
    info = read_dataset_info(manifests.root)
    if info.by_years:
        class_file = manifests.eras
        eras_df = load_eras(class_file)
        tracks = load_tracks(manifests.tracks, eras_df)
        defined = list(eras_df["era"])
    else:
        class_file = manifests.root / "classes.csv"
        eras_df = None
        tracks = load_tracks(manifests.tracks)
        defined = load_classes(class_file)
    unknown = [c for c in cfg.classes if c not in defined]
    if unknown:
        raise TrainError(f"classes {unknown} are not defined in {class_file} (it has {defined})")
    # eras keep their chronological order (the expected era index counts on it); other classes
    # take the order CLASSES gives
    eras = ([e for e in defined if e in cfg.classes] if info.by_years else list(cfg.classes)) if cfg.classes else defined
    if len(eras) < 2:
        raise TrainError(f"{class_file} defines {len(eras)} class(es)" + (" chosen" if cfg.classes else "")
                         + "; at least 2 are needed")
    labels = resolve_labels(tracks, eras_df, cfg.straddle, classes=eras if (cfg.classes or eras_df is None) else None)
    index = load_shard_index(DataPaths(cfg.data_dir).shards, cfg.sample_rate)
    with_audio = set(index["identifier"])
    no_audio = (labels["status"] == "labelled") & ~labels["identifier"].isin(with_audio)
    labels.loc[no_audio, ["status", "reason"]] = ["left_out", "no audio in the shards (not downloaded or all commentary)"]
    unknown = with_audio - set(labels["identifier"])
    if unknown:
        log.info("note: %d tape(s) in the shards are not in tracks.csv and are ignored, e.g. %s", len(unknown),
                 sorted(unknown)[:3])
    usable = labels[labels["status"] == "labelled"]
    counts = usable["era"].value_counts()
    empty = [e for e in eras if counts.get(e, 0) == 0]
    if empty and info.by_years:
        raise TrainError(
            f"era(s) {empty} have no labelled tape with audio (eras.csv defines them; tracks.csv years/eras "
            f"and the shards give none). Remove or merge them in eras.csv, or label tapes with them."
        )
    if empty:
        raise TrainError(
            f"class(es) {empty} have no labelled track with audio ({class_file.name} lists them; tracks.csv labels and "
            f"the shards give none). Remove them from {class_file.name}, choose classes with CLASSES, or download "
            f"more (LIMIT samples every class).")
    return {"eras": eras, "labels": labels, "usable": usable, "index": index, "class_file": class_file}


def prepare(cfg: TrainConfig, split: pd.DataFrame | None = None) -> dict:
    """Steps 2-4: labels, shard index, split. Pure data work, no TensorFlow.

    Parameters
    ----------
    cfg : TrainConfig
        Resolved settings.
    split : pd.DataFrame, optional
        A split made elsewhere (the cross-validation's folds): columns ``identifier, artist, era,
        group, split``; default: :func:`jazzcnn.train.splits.make_split`.

    Returns
    -------
    dict
        ``eras`` (list of era names, class order), ``labels`` (all tapes, labels.csv),
        ``split`` (split.csv), ``index`` (shard index rows of the split's tapes), ``shard_dir``.

    Raises
    ------
    ManifestError, ShardError, SplitError, TrainError
        Schema errors, missing shards, an era with no tapes with audio, too few groups.
    """
    data = labelled_tapes(cfg)
    if split is None and cfg.split == "fixed":
        split = fixed_split(data["usable"], group=cfg.group)
        unused = sorted(set(data["usable"]["identifier"]) - set(split["identifier"]))
        if unused:
            log.info("note: %d labelled tape(s) with audio are in no part of the published split and are not used, "
                     "e.g. %s", len(unused), unused[:3])
    elif split is None:
        split = make_split(data["usable"], group=cfg.group, test_fraction=cfg.test_fraction,
                           val_fraction=cfg.val_fraction, seed=cfg.seed)
    check_disjoint(split)
    index = data["index"]
    index = index[index["identifier"].isin(set(split["identifier"]))].reset_index(drop=True)
    return {"eras": data["eras"], "labels": data["labels"], "split": split, "index": index,
            "shard_dir": DataPaths(cfg.data_dir).shards, "class_file": data["class_file"]}


@dataclass
class Devices:
    """Where a run trains: the Keras backend and its devices.

    Attributes
    ----------
    backend : str
        ``tensorflow``, ``jax`` or ``torch`` (``KERAS_BACKEND``).
    replicas : int
        Data-parallel copies of the model; each batch of ``batch_size * replicas`` clips is split
        between them.
    gpus : int
        GPUs seen by the backend.
    how : str
        ``MirroredStrategy``, ``DataParallel`` or ``single device``, for the log and the summary.
    scope : callable
        Context manager to build the model in (TensorFlow's strategy scope; a no-op elsewhere).
    """

    backend: str
    replicas: int
    gpus: int
    how: str
    scope: object = field(default=None, repr=False)


def select_devices() -> Devices:
    """Data parallelism over every device the Keras backend sees.

    TensorFlow: ``tf.distribute.MirroredStrategy`` over all GPUs when there are several, or over
    the logical CPU devices when more than one is configured (how the multi-device code is tested
    on a CPU); else the default strategy. JAX: ``keras.distribution.DataParallel`` over
    ``jax.devices()`` when there are several (GPUs, or host CPUs made with
    ``XLA_FLAGS=--xla_force_host_platform_device_count=N``); it is set as Keras' global
    distribution (undo with :func:`release_devices`). PyTorch: one device (Keras has no
    data-parallel distribution for it), the GPU when there is one.

    Returns
    -------
    Devices
    """
    import contextlib

    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        cpus = tf.config.list_logical_devices("CPU")
        if len(gpus) > 1:
            strategy, how = tf.distribute.MirroredStrategy(), "MirroredStrategy"
        elif not gpus and len(cpus) > 1:
            strategy, how = tf.distribute.MirroredStrategy([d.name for d in cpus]), "MirroredStrategy"
        else:
            strategy, how = tf.distribute.get_strategy(), "single device"
        return Devices(backend, strategy.num_replicas_in_sync, len(gpus), how, strategy.scope)
    if backend == "jax":
        import jax

        devices = jax.devices()
        gpus = sum(d.platform == "gpu" for d in devices)
        if len(devices) > 1:
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
            return Devices(backend, len(devices), gpus, "DataParallel", contextlib.nullcontext)
        return Devices(backend, 1, gpus, "single device", contextlib.nullcontext)
    import torch

    return Devices(backend, 1, min(1, torch.cuda.device_count()), "single device", contextlib.nullcontext)


def release_devices() -> None:
    """Undo :func:`select_devices`' global Keras distribution (JAX), so later models are built plainly."""
    import keras

    if keras.backend.backend() == "jax":
        keras.distribution.set_distribution(None)


def train(cfg: TrainConfig, *, split: pd.DataFrame | None = None, verbose: int = 2) -> TrainResult:
    """Train one run; see the module docstring for the steps.

    Parameters
    ----------
    cfg : TrainConfig
        Settings (``jazzcnn train --help``); a ``config`` JSON file is layered by the command line.
    split : pd.DataFrame, optional
        Use this split instead of making one (see :func:`prepare`).
    verbose : int
        Keras' per-epoch output (0 silent, 2 one line per epoch).

    Returns
    -------
    TrainResult

    Raises
    ------
    ManifestError, ShardError, SplitError, TrainError, SettingsError
        Bad input, found before any training starts (nothing is written).
    CheckpointError
        The best checkpoint did not reload cleanly; nothing was published.
    """
    t0 = time.time()
    # -- 1-4: settings, labels, shards, split (errors raise before TensorFlow starts) ---------
    cfg = resolve_config(cfg)
    data = prepare(cfg, split)
    eras, split, index = data["eras"], data["split"], data["index"]
    left = format_left_out(data["labels"])
    if left:
        log.info(left)
    clip_samples = int(round(cfg.clip_seconds * cfg.sample_rate))
    hop_samples = int(round(cfg.eval_hop_s * cfg.sample_rate))
    log.info("%d tapes: %s", len(split), ", ".join(f"{s} {int((split['split'] == s).sum())}" for s in ("train", "val", "test")))

    # -- 5: run folder ---------------------------------------------------------------------
    run_dir = Path(cfg.runs_dir) / cfg.run
    classes = {"eras": eras, "clip_samples": clip_samples, "sample_rate": cfg.sample_rate, "preset": cfg.preset,
               "eval_hop_samples": hop_samples, "class_file": data["class_file"].name, "split": cfg.split}
    manifests = ManifestPaths(cfg.manifests_dir)
    hashes = manifest_hashes(manifests.tracks, data["class_file"])
    # The shard index as training read it (from the commit records), not the index.csv view.
    hashes["shard index"] = hashlib.sha256(data["index"].to_csv(index=False).encode()).hexdigest()
    resume = write_run_files(run_dir, config=config_to_dict(cfg), classes=classes, labels=data["labels"],
                             split=split, inputs={"data_dir": cfg.data_dir, "manifests_dir": cfg.manifests_dir},
                             manifest_sha256=hashes)
    cands = candidates(cfg.preset, learning_rate=cfg.learning_rate, hparams=parse_assignments(cfg.hparams),
                       tune_grid=cfg.tune_grid)
    if len(cands) > 1:  # 6-7 once per candidate, in run folders of their own; the best becomes this run's model
        return _train_candidates(cfg, cands, data, run_dir, t0, verbose)
    chosen = cands[0]

    # -- 6-7: data pipeline, model, fit, publish ----------------------------------------------
    import keras

    keras.utils.set_random_seed(cfg.seed)
    devices = select_devices()
    try:
        return _fit_and_publish(cfg, data, run_dir, resume, chosen, devices, t0, verbose)
    finally:
        release_devices()


def _fit_and_publish(cfg: TrainConfig, data: dict, run_dir: Path, resume: bool, chosen, devices: Devices, t0: float,
                     verbose: int) -> TrainResult:
    """Steps 6 and 7 of :func:`train` for one candidate's settings, on ``devices``."""
    import keras

    from jazzcnn.train.data import default_pipeline
    from jazzcnn.train.models import build_model, load_model, mixed_policy

    eras, split, index = data["eras"], data["split"], data["index"]
    clip_samples = int(round(cfg.clip_seconds * cfg.sample_rate))
    hop_samples = int(round(cfg.eval_hop_s * cfg.sample_rate))
    n_gpus = devices.gpus
    mixed = bool(n_gpus) if cfg.mixed_precision is None else bool(cfg.mixed_precision)
    era_of = dict(zip(split["identifier"], split["era"]))
    cls = {e: i for i, e in enumerate(eras)}
    reader = ShardReader(data["shard_dir"], sorted(index["shard"].unique()))
    seg = {s: segments_for(index, reader.names, {t: cls[era_of[t]] for t in split.loc[split["split"] == s, "identifier"]})
           for s in ("train", "val")}
    train_grid = grid_clips(seg["train"], clip_samples, hop_samples)
    val_grid = grid_clips(seg["val"], clip_samples, hop_samples)
    weights = class_weights(train_grid["label"], len(eras))
    global_batch = cfg.batch_size * devices.replicas
    n_epoch_clips = len(train_grid["label"]) if cfg.max_examples is None else min(cfg.max_examples, len(train_grid["label"]))
    steps = cfg.steps_per_epoch or max(1, math.ceil(n_epoch_clips / global_batch))
    val_steps = None if cfg.max_examples is None else max(1, math.ceil(cfg.max_examples / global_batch))
    state = TrainingState(run_dir, patience=cfg.patience, resume=resume)
    resumed_after = state.epochs_done
    # A resumed run draws fresh clip positions: the seed includes the epochs already done.
    train_ds = train_batches(reader, seg["train"], clip_samples, global_batch, len(eras), steps=steps,
                             seed=[cfg.seed, state.epochs_done], balance=cfg.balance, weights=weights)
    val_ds = eval_batches(reader, val_grid, clip_samples, global_batch, max_batches=val_steps,
                          multiple=devices.replicas if devices.how == "DataParallel" else 1)
    log.info("clips: train grid %d, val grid %d; %d steps x %d clips per epoch; class weights %s; Keras on %s, %d GPU(s), "
             "%d replica(s) (%s), mixed precision %s%s", len(train_grid["label"]), len(val_grid["label"]), steps,
             global_batch, np.round(weights, 3).tolist(), devices.backend, n_gpus, devices.replicas, devices.how,
             "on" if mixed else "off", f"; resuming after epoch {state.epochs_done}" if state.epochs_done else "")

    with devices.scope():
        model = build_model(cfg.preset, len(eras), clip_samples, sample_rate=cfg.sample_rate,
                            learning_rate=chosen.learning_rate, mixed_precision=mixed, hparams=chosen.hparams,
                            total_steps=cfg.epochs * steps)
        if cfg.bandlimit_hz is not None:  # the recording-technology control travels with the model
            from jazzcnn.train.layers import with_bandlimit

            model = with_bandlimit(model, cfg.bandlimit_hz, cfg.sample_rate)
        state.restore(model)
    if not state.finished(cfg.epochs):
        callbacks = [state.callback()]
        if devices.backend == "tensorflow":  # Keras' TensorBoard callback writes through TensorFlow
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs")))
        model.fit(train_ds, epochs=cfg.epochs, initial_epoch=state.epochs_done, steps_per_epoch=steps,
                  validation_data=val_ds, verbose=verbose, callbacks=callbacks)

    # -- 7: publish the best model, once it reloads and checks out (on one device) ---------------
    release_devices()
    model_path = state.publish(load_model, n_inputs=clip_samples, n_outputs=len(eras))
    summary = {
        "train_grid_clips": int(len(train_grid["label"])), "val_grid_clips": int(len(val_grid["label"])),
        "steps_per_epoch": steps, "global_batch": global_batch, "class_weights": weights.tolist(),
        "balance": cfg.balance, "epochs_run": state.epochs_done, "stopped_early": bool(state.state["stopped"]),
        "best_val_loss": state.state["best_val_loss"], "best_epoch": state.state["best_epoch"],
        "gpus": n_gpus, "replicas": devices.replicas, "distribution": devices.how, "mixed_precision": mixed,
        "precision_policy": mixed_policy(devices.backend) if mixed else "float32", "wall_s": round(time.time() - t0, 1),
        "keras_backend": devices.backend, "keras_version": keras.__version__, "backend_version": backend_version(),
        "input_pipeline": default_pipeline(), "learning_rate": chosen.learning_rate, "hyperparameters": chosen.hparams,
    }
    write_summary(run_dir, summary)
    # Finished: the backup has served its purpose (a rerun of the same command trains afresh).
    shutil.rmtree(run_dir / "backup", ignore_errors=True)
    return TrainResult(run_dir=run_dir, model_path=model_path, config=cfg, eras=eras, split=split,
                       labels=data["labels"], summary=summary, resumed_after=resumed_after)


def backend_version() -> str:
    """Version of the Keras backend's library (TensorFlow, JAX or PyTorch), e.g. ``jax 0.10.2``."""
    from importlib import metadata

    import keras

    backend = keras.backend.backend()  # each backend's name is its package's
    try:
        return f"{backend} {metadata.version(backend)}"
    except metadata.PackageNotFoundError:
        return backend


def _train_candidates(cfg: TrainConfig, cands: list, data: dict, run_dir: Path, t0: float, verbose: int) -> TrainResult:
    """Train every candidate on the training part, choose on the validation part, publish the best.

    Each candidate is a run of its own in ``run_dir/tuning/candidate-K`` (resumable; one already
    finished with the same settings is not trained again); see :mod:`jazzcnn.train.tuning`.
    """
    from jazzcnn.core.files import atomic_save
    from jazzcnn.train.runs import is_complete, load_checked_model, load_run
    from jazzcnn.train.tuning import balanced_log_loss, choose

    eras, split, index = data["eras"], data["split"], data["index"]
    clip_samples = int(round(cfg.clip_seconds * cfg.sample_rate))
    hop_samples = int(round(cfg.eval_hop_s * cfg.sample_rate))
    cls = {e: i for i, e in enumerate(eras)}
    val = split[split["split"] == "val"]
    reader = ShardReader(data["shard_dir"], sorted(index["shard"].unique()))
    grid = grid_clips(segments_for(index, reader.names, dict(zip(val["identifier"], val["era"].map(cls)))),
                      clip_samples, hop_samples)
    rows, summaries = [], []
    for c in cands:
        sub = resolve_config(replace(cfg, runs_dir=run_dir / "tuning", run=c.name, tune=False, tune_grid=[],
                                     learning_rate=c.learning_rate,
                                     hparams=[f"{k}={v:g}" for k, v in c.hparams.items()]))
        sub_dir = run_dir / "tuning" / c.name
        if is_complete(sub_dir, config=config_to_dict(sub), split=split):
            log.info("candidate %d of %d (%s): trained already", c.index + 1, len(cands), _values(c))
        else:
            log.info("candidate %d of %d: %s", c.index + 1, len(cands), _values(c))
            train(sub, split=split, verbose=verbose)
        model = load_checked_model(load_run(sub_dir))
        probs = model.predict(eval_batches(reader, grid, clip_samples, cfg.batch_size, with_labels=False), verbose=0)
        tapes = pd.DataFrame({"tape": grid["tape"], "y": grid["label"]}).join(
            pd.DataFrame(probs, columns=range(len(eras)))).groupby("tape")
        tape_right = (tapes[list(range(len(eras)))].mean().to_numpy().argmax(1) == tapes["y"].first().to_numpy())
        summaries.append(json.loads((sub_dir / "summary.json").read_text()))
        rows.append({"candidate": c.name, **c.varied, "val_log_loss": balanced_log_loss(probs, grid["label"], len(eras)),
                     "val_clip_accuracy": float((probs.argmax(1) == grid["label"]).mean()),
                     "val_tape_accuracy": float(tape_right.mean()), "best_epoch": summaries[-1]["best_epoch"],
                     "epochs_run": summaries[-1]["epochs_run"]})
    table = pd.DataFrame(rows)
    best = choose(table)
    table["chosen"] = np.arange(len(table)) == best
    chosen = cands[best]
    log.info("chosen on the validation part: %s (balanced validation log-loss %.4f)", _values(chosen),
             table.loc[best, "val_log_loss"])
    best_dir = run_dir / "tuning" / chosen.name
    atomic_write_text(run_dir / "tuning.csv", table.to_csv(index=False))
    for name in ("history.csv", "model.keras"):  # the model last: it marks the run finished for make
        atomic_save(run_dir / name, lambda tmp, src=best_dir / name: shutil.copyfile(src, tmp))
    summary = summaries[best] | {"tuning": {"candidates": len(cands), "chosen": chosen.name,
                                            "chosen_values": chosen.varied, "criterion": "balanced validation log-loss"},
                                 "wall_s": round(time.time() - t0, 1)}
    write_summary(run_dir, summary)
    return TrainResult(run_dir=run_dir, model_path=run_dir / "model.keras", config=cfg, eras=eras, split=split,
                       labels=data["labels"], summary=summary, resumed_after=0)


def _values(c) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in c.varied.items()) or "the preset's settings"
