"""The run folder ``RUNS_DIR/<run>``: what ``jazzcnn train`` writes and ``score``/``predict`` read.

This module is the one that knows the folder's files (the training state in ``backup/`` and the
per-epoch ``history.csv`` are written through :mod:`jazzcnn.train.checkpoints`)::

    model.keras        best model (lowest validation loss); load with keras.models.load_model
    config.json        resolved settings (every TrainConfig field, preset defaults filled in)
    classes.json       era names in class-index order, clip length, sample rate, preset
    inputs.json        absolute paths of the data and manifests folders the run was trained on
    labels.csv         per tape: years, era, label source, status (labelled/left_out), reason
    left_out.csv       the left-out tapes only
    split.csv          identifier, artist, era, group, split (train/val/test)
    provenance.json    git revision, manifest SHA-256, library versions, config
    history.csv        per-epoch loss/accuracy/val_loss/val_accuracy
    summary.json       clip counts, class weights, epochs run, best validation loss, wall time, the
                       learning rate and hyperparameters the model was trained with
    tuning.csv         when candidates were tuned: each one's values and validation scores, the chosen one
    tuning/            the candidates' own run folders (candidate-K)
    logs/              TensorBoard event files
    backup/            the training state while a run is unfinished
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from jazzcnn.core.errors import JazzcnnError
from jazzcnn.core.files import atomic_write_text


class RunError(JazzcnnError, ValueError):
    """A run folder is missing, incomplete or unreadable, or its model does not match it."""


#: Kept for code that caught the old name.
ScoreError = RunError


def write_run_files(run_dir: Path, *, config: dict, classes: dict, labels: pd.DataFrame, split: pd.DataFrame,
                    inputs: dict, manifest_sha256: dict) -> bool:
    """Write what describes a run before training; return True when an unfinished run may resume.

    A run resumes when its split and resolved config are unchanged and training state exists;
    otherwise everything an earlier run trained (model, history, backup, logs) is removed first, so
    an interrupted retraining never leaves a stale model for ``score`` to pick up.

    Parameters
    ----------
    run_dir : Path
        ``RUNS_DIR/<run>`` (created).
    config : dict
        The resolved :class:`~jazzcnn.train.config.TrainConfig` as JSON-ready values.
    classes : dict
        ``eras`` (class order), ``clip_samples``, ``sample_rate`` [Hz], ``preset``, ``eval_hop_samples``.
    labels, split : pd.DataFrame
        ``labels.csv`` (every tape) and ``split.csv`` (the labelled tapes with audio).
    inputs : dict
        ``data_dir`` and ``manifests_dir`` the run reads (stored as absolute paths).
    manifest_sha256 : dict
        File name -> SHA-256 of the inputs, for ``provenance.json``.

    Returns
    -------
    bool
    """
    from jazzcnn.core.provenance import write_provenance

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    split_csv = split.to_csv(index=False)
    conf = json.dumps(config, indent=2, default=str) + "\n"
    same = ((run_dir / "split.csv").exists() and (run_dir / "split.csv").read_text() == split_csv
            and (run_dir / "config.json").exists() and (run_dir / "config.json").read_text() == conf)
    resume = same and (run_dir / "backup" / "state.json").exists()
    if not same:  # candidates of another grid, split or settings (each resumes by itself otherwise)
        shutil.rmtree(run_dir / "tuning", ignore_errors=True)
        (run_dir / "tuning.csv").unlink(missing_ok=True)
    if not resume:
        for stale in ("backup", "logs"):
            shutil.rmtree(run_dir / stale, ignore_errors=True)
        for stale in ("history.csv", "checkpoint.keras", "model.keras", "summary.json"):
            (run_dir / stale).unlink(missing_ok=True)
    atomic_write_text(run_dir / "labels.csv", labels.to_csv(index=False))
    atomic_write_text(run_dir / "left_out.csv", labels[labels["status"] != "labelled"].to_csv(index=False))
    atomic_write_text(run_dir / "split.csv", split_csv)
    atomic_write_text(run_dir / "config.json", conf)
    atomic_write_text(run_dir / "classes.json", json.dumps(classes, indent=2) + "\n")
    atomic_write_text(run_dir / "inputs.json", json.dumps({k: str(Path(v).resolve()) for k, v in inputs.items()},
                                                          indent=2) + "\n")
    write_provenance(run_dir / "provenance.json", config=config, manifests=manifest_sha256,
                     extra={"stage": "train", "run": run_dir.name})
    return resume


def is_complete(run_dir: Path, *, config: dict, split: pd.DataFrame) -> bool:
    """True when ``run_dir`` holds a finished run trained with exactly this config and split."""
    run_dir = Path(run_dir)
    try:
        return ((run_dir / "model.keras").exists() and (run_dir / "summary.json").exists()
                and (run_dir / "split.csv").read_text() == split.to_csv(index=False)
                and (run_dir / "config.json").read_text() == json.dumps(config, indent=2, default=str) + "\n")
    except OSError:
        return False


def write_summary(run_dir: Path, summary: dict) -> None:
    """Write ``summary.json`` (clip counts, class weights, epochs, best validation loss, wall time)."""
    atomic_write_text(Path(run_dir) / "summary.json", json.dumps(summary, indent=2) + "\n")


def write_history(run_dir: Path, history: pd.DataFrame) -> None:
    """Write ``history.csv``: one row per epoch."""
    atomic_write_text(Path(run_dir) / "history.csv", history.to_csv(index=False))


def read_history(run_dir: Path) -> pd.DataFrame:
    """``history.csv`` of a run (an empty frame when there is none)."""
    path = Path(run_dir) / "history.csv"
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: unreadable ({e})") from None


def load_run(run_dir: Path) -> dict:
    """Read a run folder: config, classes, split, labels and the folders it was trained on.

    Returns
    -------
    dict
        ``dir``, ``config``, ``classes``, ``split`` and ``labels`` (DataFrames), ``summary`` (empty
        while training is unfinished), ``data_dir`` and
        ``manifests_dir`` (absolute :class:`Path`, from ``inputs.json``; for runs trained before it
        existed, the config's paths, resolved from the current folder).

    Raises
    ------
    RunError
        A file is missing or unreadable, naming it.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run folder {run_dir} not found: train it first (jazzcnn train --run {run_dir.name})")
    out = {"dir": run_dir}
    try:
        out["config"] = json.loads((run_dir / "config.json").read_text())
        out["classes"] = json.loads((run_dir / "classes.json").read_text())
        out["split"] = pd.read_csv(run_dir / "split.csv", dtype={"identifier": str, "artist": str, "group": str},
                                   keep_default_na=False)
        out["labels"] = pd.read_csv(run_dir / "labels.csv", dtype={"identifier": str, "artist": str}, keep_default_na=False)
        summary_path = run_dir / "summary.json"  # written when training finished
        out["summary"] = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        inputs_path = run_dir / "inputs.json"
        inputs = json.loads(inputs_path.read_text()) if inputs_path.exists() else {
            k: out["config"].get(k, default) for k, default in (("data_dir", "data"), ("manifests_dir", "manifests"))}
    except FileNotFoundError as e:
        raise RunError(f"run {run_dir} is incomplete: {Path(e.filename).name} missing (rerun jazzcnn train)") from None
    except (json.JSONDecodeError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise RunError(f"run {run_dir}: unreadable run file ({e})") from None
    out["data_dir"] = Path(inputs["data_dir"]).resolve()
    out["manifests_dir"] = Path(inputs["manifests_dir"]).resolve()
    return out


def load_checked_model(run: dict):
    """The run's ``model.keras``, checked against its ``classes.json`` (input length, era count).

    Raises
    ------
    RunError
        Missing, corrupt or mismatched model file.
    """
    from jazzcnn.train.models import load_model

    path = run["dir"] / "model.keras"
    try:
        model = load_model(path)
    except ValueError as e:
        raise RunError(str(e)) from None
    n_in, n_out = model.input_shape[1], model.output_shape[-1]
    want_in, want_out = run["classes"]["clip_samples"], len(run["classes"]["eras"])
    if n_in != want_in or n_out != want_out:
        raise RunError(f"model file {path} does not match its run: it takes {n_in} samples and predicts "
                         f"{n_out} eras, the run has {want_in}-sample clips and {want_out} eras")
    return model
