"""Training state that survives any interruption: backup, best checkpoint, history, early stopping.

Keras' own ``BackupAndRestore`` and ``ModelCheckpoint`` write their files in place, so a Ctrl-C
during the write leaves a truncated file that breaks every later run. Here everything an epoch
produces is written to a temporary file and renamed (:func:`jazzcnn.core.files.atomic_save`), and one
small file, ``backup/state.json``, is the commit point of the epoch: it names the weights and the
best checkpoint that belong to it. Files no ``state.json`` names (an epoch killed half-way) are
removed on the next run, which resumes after the last committed epoch.

Run folder files written here::

    backup/state.json               epochs done, history, best val_loss and its epoch, early-stopping
                                    counter, file names below; rewritten atomically each epoch
    backup/weights-eNNNN.weights.h5 model and optimizer variables after epoch NNNN (the latest only)
    backup/best-eNNNN.keras         the whole model at its best validation loss so far
    history.csv                     one row per epoch (loss, accuracy, val_loss, val_accuracy, ...)

When training ends, :meth:`TrainingState.publish` reloads the best checkpoint, checks it, and only
then copies it to ``model.keras`` (atomically).
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from jazzcnn.core.errors import JazzcnnError
from jazzcnn.core.files import atomic_save, atomic_write_text, remove_stale_temporaries
from jazzcnn.train.runs import write_history

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
_EPOCH_FILE = re.compile(r"^(weights|best)-e(\d{4,})\.(weights\.h5|keras)$")


class CheckpointError(JazzcnnError, ValueError):
    """The best checkpoint cannot be loaded or does not match the run; nothing was published."""


def _fresh_state() -> dict:
    return {"epochs_done": 0, "history": [], "best_val_loss": None, "best_epoch": None, "wait": 0,
            "stopped": False, "weights": None, "best": None}


class TrainingState:
    """The state of one run's training, kept in ``RUN_DIR/backup`` (see module docstring).

    Parameters
    ----------
    run_dir : Path
        The run folder.
    patience : int
        Early stopping: epochs without a lower validation loss before training stops [epochs].
    resume : bool
        Continue from ``backup/state.json`` if there is one; False starts afresh (and clears it).

    Attributes
    ----------
    state : dict
        ``epochs_done``, ``history`` (list of per-epoch dicts), ``best_val_loss``, ``best_epoch``
        (1-based), ``wait``, ``stopped``, and the names of the ``weights`` and ``best`` files.
    """

    def __init__(self, run_dir: Path, *, patience: int, resume: bool):
        self.run_dir = Path(run_dir)
        self.backup = self.run_dir / "backup"
        self.patience = int(patience)
        if not resume:
            shutil.rmtree(self.backup, ignore_errors=True)
        self.backup.mkdir(parents=True, exist_ok=True)
        self.state = self._load()
        self._tidy()

    def _load(self) -> dict:
        path = self.backup / STATE_FILE
        if not path.exists():
            return _fresh_state()
        try:
            state = {**_fresh_state(), **json.loads(path.read_text())}
        except (OSError, ValueError) as e:  # cannot happen through atomic writes; a hand-edited file can
            log.warning("%s unreadable (%s); training restarts from epoch 0", path, e)
            return _fresh_state()
        for key in ("weights", "best"):
            if state[key] and not (self.backup / state[key]).exists():
                log.warning("%s names %s, which is missing; training restarts from epoch 0", path, state[key])
                return _fresh_state()
        return state

    def _tidy(self) -> None:
        """Remove temporary files and epoch files that ``state.json`` does not name."""
        remove_stale_temporaries(self.backup, ["*"])
        remove_stale_temporaries(self.run_dir, ["model.keras", "history.csv"])
        keep = {self.state["weights"], self.state["best"], STATE_FILE}
        for p in self.backup.iterdir():
            if _EPOCH_FILE.match(p.name) and p.name not in keep:
                p.unlink()

    @property
    def epochs_done(self) -> int:
        """Epochs whose results are committed."""
        return int(self.state["epochs_done"])

    @property
    def history(self) -> pd.DataFrame:
        """One row per committed epoch (``epoch`` is 0-based, as Keras counts)."""
        return pd.DataFrame(self.state["history"])

    def finished(self, epochs: int) -> bool:
        """True when training reached ``epochs`` or stopped early."""
        return bool(self.state["stopped"]) or self.epochs_done >= epochs

    def restore(self, model) -> None:
        """Load the committed epoch's model and optimizer variables into ``model`` (if any)."""
        if not self.state["weights"]:
            return
        # Keras skips optimizer variables that do not exist yet: build them first.
        model.optimizer.build(model.trainable_variables)
        model.load_weights(self.backup / self.state["weights"])

    def callback(self):
        """A Keras callback that commits every epoch (import of Keras deferred to here)."""
        import keras

        owner = self

        class _Commit(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                owner.commit_epoch(self.model, epoch, logs or {})

        return _Commit()

    def commit_epoch(self, model, epoch: int, logs: dict) -> None:
        """Write the epoch's weights (and the model if it is the best yet), then ``state.json``.

        Parameters
        ----------
        model : keras.Model
        epoch : int
            0-based epoch just finished.
        logs : dict
            Keras' epoch logs; ``val_loss`` decides the best checkpoint and early stopping.
        """
        row = {"epoch": int(epoch), **{k: float(v) for k, v in logs.items() if np.ndim(v) == 0}}
        st = dict(self.state)
        val = row.get("val_loss", float("nan"))
        tag = f"e{epoch + 1:04d}"
        if math.isfinite(val) and (st["best_val_loss"] is None or val < st["best_val_loss"]):
            best = f"best-{tag}.keras"
            atomic_save(self.backup / best, model.save)
            st.update(best=best, best_val_loss=val, best_epoch=epoch + 1, wait=0)
        else:
            st["wait"] = int(st["wait"]) + 1
        if st["wait"] >= self.patience:
            st["stopped"] = True
            model.stop_training = True
        weights = f"weights-{tag}.weights.h5"
        atomic_save(self.backup / weights, model.save_weights)
        st.update(weights=weights, epochs_done=epoch + 1, history=[*st["history"], row])
        # The commit point of the epoch.
        atomic_write_text(self.backup / STATE_FILE, json.dumps(st, indent=1) + "\n", durable=True)
        self.state = st
        self._tidy()
        write_history(self.run_dir, self.history)

    def publish(self, load_model, *, n_inputs: int, n_outputs: int) -> Path:
        """Check the best checkpoint by reloading it, then copy it to ``model.keras``.

        Parameters
        ----------
        load_model : callable
            ``load_model(path) -> keras.Model``.
        n_inputs, n_outputs : int
            Clip length [samples] and number of classes the model must have.

        Returns
        -------
        Path
            ``RUN_DIR/model.keras``.

        Raises
        ------
        CheckpointError
            No checkpoint was committed, it does not load, or its shapes or outputs are wrong.
        """
        if not self.state["best"]:
            raise CheckpointError(f"{self.backup}: no epoch produced a finite validation loss; nothing to publish")
        src = self.backup / self.state["best"]
        try:
            model = load_model(src)
        except Exception as e:  # noqa: BLE001 - any failure to load means the file is unusable
            raise CheckpointError(f"{src} does not load ({type(e).__name__}: {e})") from None
        if model.input_shape[1] != n_inputs or model.output_shape[-1] != n_outputs:
            raise CheckpointError(f"{src} takes {model.input_shape[1]} samples and gives {model.output_shape[-1]} "
                                  f"classes; the run needs {n_inputs} and {n_outputs}")
        probe = np.asarray(model.predict(np.zeros((1, n_inputs, 1), np.float32), verbose=0), dtype=np.float64)
        if probe.shape != (1, n_outputs) or not np.all(np.isfinite(probe)) or abs(probe.sum() - 1) > 1e-3:
            raise CheckpointError(f"{src} gives non-finite or unnormalised probabilities {probe.tolist()}")
        target = self.run_dir / "model.keras"
        atomic_save(target, lambda tmp: shutil.copyfile(src, tmp))
        return target
