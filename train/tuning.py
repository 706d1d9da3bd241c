"""Hyperparameters chosen by validation inside the training part: never on test tapes.

A preset may declare candidate values (:attr:`jazzcnn.train.presets.Preset.tune`, e.g. the
``jazzcnn`` preset's learning rates 1e-3 and 3e-4), and ``--tune-grid NAME=V1|V2,...`` replaces
them. ``jazzcnn train`` then trains every combination on the run's training part, each in its own
resumable run folder ``RUNS_DIR/<run>/tuning/candidate-K``, scores each on the run's validation
part, and keeps the best as the run's model; the test part is not read. In cross-validation each
fold is such a run, so the choice is nested: made on the fold's validation part, carved out of
the other folds.

The choice is by the validation clips' cross-entropy, averaged per era and then over eras
(class-balanced, as training weights the eras), computed without label smoothing so candidates
that smooth differently compare fairly; ties go to the earlier candidate. ``tuning.csv`` in the
run folder records every candidate's values and validation scores, and which was chosen.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from jazzcnn.core.errors import JazzcnnError

__all__ = ["Candidate", "TuningError", "parse_assignments", "parse_grid", "effective_grid", "candidates",
           "balanced_log_loss", "choose"]

#: The one tunable name that is a training setting rather than a preset hyperparameter.
LEARNING_RATE = "learning_rate"


class TuningError(JazzcnnError, ValueError):
    """A malformed ``--hparams`` or ``--tune-grid`` entry, or a name the preset does not have."""


@dataclass(frozen=True)
class Candidate:
    """One combination of candidate values.

    Attributes
    ----------
    index : int
        Its number (``candidate-K``), in grid order.
    learning_rate : float
        (Initial) learning rate.
    hparams : dict
        Every hyperparameter of the preset, the candidate's values applied.
    varied : dict
        Just the values the grid sets (name -> value), for tables.
    """

    index: int
    learning_rate: float
    hparams: dict = field(default_factory=dict)
    varied: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Folder name under ``tuning/``."""
        return f"candidate-{self.index}"


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TuningError(f"{where}: {text!r} is not a number") from None
    if not np.isfinite(value):
        raise TuningError(f"{where}: {text!r} is not a finite number")
    return value


def _pairs(items: list[str], setting: str, form: str) -> list[tuple[str, str]]:
    """``NAME=TEXT`` entries split into pairs; a malformed entry or a repeated name raises."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise TuningError(f"setting {setting}: {item!r} is not {form}")
        if name in out:
            raise TuningError(f"setting {setting}: {name!r} is given twice")
        out[name] = value.strip()
    return list(out.items())


def parse_assignments(items: list[str], *, setting: str = "hparams") -> dict[str, float]:
    """``["width=64", "dropout=0.3"]`` -> ``{"width": 64.0, "dropout": 0.3}``.

    Raises
    ------
    TuningError
        An entry without ``=``, an empty name, a value that is not a number, a name given twice;
        the message names the setting and the entry.
    """
    return {name: _number(value, f"setting {setting}, {name}") for name, value in _pairs(items, setting, "NAME=VALUE")}


def parse_grid(items: list[str]) -> dict[str, list[float]]:
    """``["learning_rate=0.001|0.0003"]`` -> ``{"learning_rate": [0.001, 0.0003]}``.

    Raises
    ------
    TuningError
        As :func:`parse_assignments`, and a name with no values.
    """
    out: dict[str, list[float]] = {}
    for name, values in _pairs(items, "tune_grid", "NAME=V1|V2|..."):
        parts = [v.strip() for v in values.split("|") if v.strip()]
        if not parts:
            raise TuningError(f"setting tune_grid: {name!r} has no values")
        out[name] = [_number(v, f"setting tune_grid, {name}") for v in parts]
    return out


def _format(grid: dict[str, list]) -> list[str]:
    return [f"{name}={'|'.join(format(v, 'g') for v in values)}" for name, values in grid.items()]


def effective_grid(preset, *, tune: bool, tune_grid: list[str], hparams: dict[str, float],
                   learning_rate_given: bool) -> list[str]:
    """The candidates a run will train, as ``--tune-grid`` entries (stored in ``config.json``).

    Parameters
    ----------
    preset : Preset
    tune : bool
        False: no candidates (``[]``).
    tune_grid : list of str
        The user's grid; when empty, the preset's own less the names fixed by the user.
    hparams : dict
        The user's ``--hparams`` (their names are fixed, so not tuned).
    learning_rate_given : bool
        The user fixed the learning rate.

    Returns
    -------
    list of str
        ``NAME=V1|V2`` entries, normalised; ``[]`` when nothing is tuned.

    Raises
    ------
    TuningError
        A name that is neither ``learning_rate`` nor a hyperparameter of the preset.
    """
    if not tune:
        return []
    if tune_grid:
        grid = parse_grid(tune_grid)
    else:
        fixed = set(hparams) | ({LEARNING_RATE} if learning_rate_given else set())
        grid = {k: list(v) for k, v in preset.tune.items() if k not in fixed}
    for name in grid:
        if name != LEARNING_RATE and name not in preset.hparams:
            have = ", ".join([LEARNING_RATE, *sorted(preset.hparams)])
            raise TuningError(f"setting tune_grid: preset {preset.name!r} has no hyperparameter {name!r}; "
                              f"it can tune: {have}")
    return _format(grid)


def candidates(preset_name: str, *, learning_rate: float, hparams: dict[str, float], tune_grid: list[str]) -> list[Candidate]:
    """Every combination of the grid's values, in grid order (the first values first).

    Parameters
    ----------
    preset_name : str
    learning_rate : float
        The learning rate where the grid does not set one.
    hparams : dict
        The user's hyperparameter overrides (applied under the grid's values).
    tune_grid : list of str
        Output of :func:`effective_grid`.

    Returns
    -------
    list of Candidate
        One candidate (index 0, nothing varied) when the grid is empty.

    Raises
    ------
    ValueError
        A value of the wrong kind for its hyperparameter (from
        :func:`jazzcnn.train.models.resolve_hparams`).
    """
    from jazzcnn.train.models import resolve_hparams

    grid = parse_grid(tune_grid)
    names = list(grid)
    out = []
    for i, values in enumerate(itertools.product(*(grid[n] for n in names)) if names else [()]):
        varied = dict(zip(names, values))
        lr = float(varied.get(LEARNING_RATE, learning_rate))
        hp = resolve_hparams(preset_name, {**hparams, **{k: v for k, v in varied.items() if k != LEARNING_RATE}})
        out.append(Candidate(index=i, learning_rate=lr, hparams=hp, varied=varied))
    return out


def balanced_log_loss(probs: np.ndarray, y: np.ndarray, n_classes: int) -> float:
    """Cross-entropy of the true classes, averaged per class and then over the classes present.

    Parameters
    ----------
    probs : np.ndarray
        float, shape ``(n_clips, n_classes)``.
    y : np.ndarray
        int, shape ``(n_clips,)``.
    n_classes : int

    Returns
    -------
    float
        [nats]; probabilities are floored at 1e-15 (as scikit-learn's ``log_loss``).
    """
    nll = -np.log(np.maximum(probs[np.arange(len(y)), y], 1e-15))
    per_class = [nll[y == k].mean() for k in range(n_classes) if np.any(y == k)]
    return float(np.mean(per_class))


def choose(table: pd.DataFrame) -> int:
    """Row index of the candidate with the lowest ``val_log_loss`` (the first of equals)."""
    return int(table["val_log_loss"].to_numpy().argmin())
