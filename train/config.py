"""Settings of the train stage (``jazzcnn train``, ``jazzcnn score``, ``jazzcnn predict``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from jazzcnn.core.settings import setting, stage_config
from jazzcnn.train.presets import PRESETS

#: Longest clip any preset may be asked for [s]; longer clips do not fit a batch in memory.
MAX_CLIP_SECONDS = 120.0


@stage_config
class TrainConfig:
    """Labels, split, input pipeline, model preset and optimiser settings."""

    data_dir: Path = setting(Path("data"), "shards are read from DATA_DIR/shards")
    manifests_dir: Path = setting(Path("manifests"), "folder holding tracks.csv and eras.csv (or classes.csv)")
    runs_dir: Path = setting(Path("runs"), "run folders are written to RUNS_DIR/<run>")
    run: str = setting("jazzcnn", "run name (folder under RUNS_DIR)")
    config: Path | None = setting(None, "JSON file of settings; command-line flags override it", path=True)
    preset: str = setting("jazzcnn", f"network: {', '.join(PRESETS)} (`jazzcnn presets` describes them); jazzcnn is "
                                     "ours and recommended for new studies, the seed presets are the earlier studies' "
                                     "networks as published")
    hparams: list[str] = setting([], "the preset's hyperparameters as NAME=VALUE, comma-separated, e.g. width=64,dropout=0.3 "
                                     "(`jazzcnn presets --preset NAME` lists them; the seed presets have none)")
    tune: bool = setting(True, "choose the preset's tuned settings by validation loss on the validation part (never the "
                               "test part): every combination in TUNE_GRID (default: the preset's own candidates, "
                               "jazzcnn's learning rates 1e-3 and 3e-3) is trained and the best kept; false: the first "
                               "candidate alone")
    tune_grid: list[str] = setting([], "candidates as NAME=V1|V2|..., comma-separated, NAME a hyperparameter or "
                                       "learning_rate (default: the preset's own, less those fixed by --hparams or "
                                       "--learning-rate)")
    clip_seconds: float | None = setting(None, "clip length (default: the preset's: 3, 15 or 30)", "s", gt=0,
                                         le=MAX_CLIP_SECONDS)
    sample_rate: int = setting(16000, "sample rate of the shards and of the mel layer", "Hz", ge=1000, le=192000)
    group: Literal["tape", "artist"] = setting("tape", "split unit: tape (identifier) or artist")
    split: Literal["grouped", "fixed"] = setting(
        "grouped", "grouped: a seeded split by GROUP, stratified by class; fixed: the data set's published split "
                   "(tracks.csv's split column: FMA's set/split, GTZAN's fault-filtered lists, a folder's labels CSV)")
    classes: list[str] = setting([], "only these classes, comma-separated: eras of eras.csv (kept in its order), or "
                                     "labels of classes.csv (in the order given); empty = all")
    straddle: Literal["exclude", "start", "end", "mid"] = setting(
        "exclude", "era of a tape whose years straddle two eras")
    test_fraction: float = setting(0.2, "share of groups held out for test", "fraction", gt=0, lt=1)
    val_fraction: float = setting(0.15, "share of the remaining groups held out for validation", "fraction", gt=0, lt=1)
    seed: int = setting(1234, "seed for split, clip offsets, weights")
    epochs: int = setting(30, "maximum epochs", "epochs", ge=1)
    steps_per_epoch: int | None = setting(None, "training batches per epoch (default: one pass over the clip grid)",
                                          "batches", ge=1)
    batch_size: int = setting(32, "clips per batch", "clips", ge=1, le=65536)
    learning_rate: float | None = setting(None, "optimiser (initial) learning rate (default: the preset's, e.g. 1e-4 "
                                                "for seed3s; a preset's decay is kept)", gt=0, le=10)
    patience: int = setting(5, "early stopping: epochs without validation-loss improvement", "epochs", ge=1)
    balance: Literal["weights", "sampling"] = setting(
        "weights", "class imbalance: weights (class weights) or sampling (balanced sampling)")
    mixed_precision: bool | None = setting(None, "16-bit compute on GPU (float16 with loss scaling on TensorFlow, bfloat16 on JAX and PyTorch), front end kept float32 (default: on when a GPU is seen)")
    eval_hop_s: float | None = setting(None, "hop of the fixed evaluation clip grid (default: the clip length)", "s", gt=0)
    bandlimit_hz: float | None = setting(None, "recording-technology control: band-limit every clip to this frequency and "
                                               "scale it to one level before the model sees it (e.g. 3500, the band of "
                                               "acoustic 78s); default off", "Hz", gt=0, le=96000)
    max_examples: int | None = setting(None, "smoke switch: at most this many training clips per epoch", "clips", ge=1)


@stage_config
class ScoreConfig:
    """Held-out scoring settings."""

    runs_dir: Path = setting(Path("runs"), "run folders live in RUNS_DIR/<run>")
    run: str = setting("jazzcnn", "run to score")
    reports_dir: Path = setting(Path("reports"), "reports are written to REPORTS_DIR/<run>")
    data_dir: Path | None = setting(None, "shards are read from DATA_DIR/shards (default: the run's own data_dir)", path=True)
    split: Literal["test", "val"] = setting("test", "which split of the run to score")
    batch_size: int = setting(64, "clips per prediction batch", "clips", ge=1)
    bootstrap: int = setting(1000, "bootstrap resamples of the test groups (tapes or artists) for confidence "
                                   "intervals; 0 turns them off", "resamples", ge=0)
    confidence: float = setting(0.95, "coverage of the confidence intervals", "fraction", gt=0, lt=1)
    seed: int = setting(1234, "seed of the bootstrap resampling")


@stage_config
class PredictConfig:
    """Era probabilities for any audio file."""

    audio: Path | None = setting(None, "audio file to classify (any format the preprocess stage reads)", path=True)
    runs_dir: Path = setting(Path("runs"), "run folders live in RUNS_DIR/<run>")
    run: str = setting("jazzcnn", "trained run whose model to use")
    output: Path | None = setting(None, "write the per-clip probabilities to this CSV as well", path=True)


@stage_config
class CrossvalConfig(TrainConfig):
    """K-fold cross-validation: every training setting, plus the folds, the baselines and the report.

    Each fold trains with the settings above on the other folds (a validation part carved out of
    them by group, for early stopping) and predicts its own held-out tapes.
    """

    run: str = setting("crossval", "name of the cross-validation: fold runs in RUNS_DIR/<run>/fold-K, report in "
                                   "REPORTS_DIR/<run>")
    group: Literal["tape", "artist"] = setting("artist", "fold unit: all tapes of an artist (default) or of a tape "
                                                         "stay in one fold")
    folds: int = setting(5, "number of folds (StratifiedGroupKFold, stratified by era, seeded)", "folds", ge=2, le=50)
    reports_dir: Path = setting(Path("reports"), "the report is written to REPORTS_DIR/<run>")
    compare: list[str] = setting([], "more presets trained on the same folds and reported beside PRESET, comma-separated "
                                     "(e.g. seed3s): each with every setting above except its own clip length, learning "
                                     "rate, hyperparameters and candidates")
    linear_baseline: bool = setting(True, "also fit the linear baseline (logistic regression on log-mel statistics) "
                                          "on the same folds and clips")
    bootstrap: int = setting(1000, "bootstrap resamples of groups (tapes or artists) for the confidence intervals "
                                   "(given only when every era has at least 5 groups); 0 turns them off", "resamples", ge=0)
    confidence: float = setting(0.95, "coverage of the confidence intervals", "fraction", gt=0, lt=1)
    predict_batch_size: int = setting(64, "clips per prediction batch", "clips", ge=1)


@stage_config
class PresetsConfig:
    """Which presets ``jazzcnn presets`` describes, built for how many eras."""

    preset: str | None = setting(None, "describe only this preset, with its layer table and sources")
    n_classes: int = setting(4, "eras the output layer is built for (the shipped eras.csv has 4)", "classes", ge=2,
                             le=1000)
    sample_rate: int = setting(16000, "sample rate the models are built for", "Hz", ge=1000, le=192000)
