"""Settings of the train stage (``jazzcnn train``, ``jazzcnn score``, ``jazzcnn predict``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jazzcnn.settings import setting


@dataclass
class TrainConfig:
    """Labels, split, input pipeline, model preset and optimiser settings."""

    data_dir: Path = setting(Path("data"), "shards are read from DATA_DIR/shards")
    manifests_dir: Path = setting(Path("manifests"), "folder holding tracks.csv and eras.csv")
    runs_dir: Path = setting(Path("runs"), "run folders are written to RUNS_DIR/<run>")
    run: str = setting("seed3s", "run name (folder under RUNS_DIR)")
    config: Path | None = setting(None, "JSON file of settings; command-line flags override it")
    preset: str = setting("seed3s", "network: seed3s (3 s clips, 64 mels) or seed15s (15 s clips, 128 mels)", choices=["seed3s", "seed15s"])
    clip_seconds: float | None = setting(None, "clip length (default: the preset's, 3 or 15)", "s")
    sample_rate: int = setting(16000, "sample rate of the shards and of the mel layer", "Hz")
    group: str = setting("tape", "split unit: tape (identifier) or artist", choices=["tape", "artist"])
    straddle: str = setting(
        "exclude", "era of a tape whose years straddle two eras", choices=["exclude", "start", "end", "mid"]
    )
    test_fraction: float = setting(0.2, "share of groups held out for test", "fraction")
    val_fraction: float = setting(0.15, "share of the remaining groups held out for validation", "fraction")
    seed: int = setting(1234, "seed for split, clip offsets, weights")
    epochs: int = setting(30, "maximum epochs", "epochs")
    steps_per_epoch: int | None = setting(None, "training batches per epoch (default: one pass over the clip grid)", "batches")
    batch_size: int = setting(32, "clips per batch", "clips")
    learning_rate: float | None = setting(None, "optimiser learning rate (default: the preset's, RMSprop 1e-4)")
    patience: int = setting(5, "early stopping: epochs without validation-loss improvement", "epochs")
    balance: str = setting("weights", "class imbalance: weights (class weights) or sampling (balanced sampling)", choices=["weights", "sampling"])
    mixed_precision: bool | None = setting(None, "float16 compute on GPU, Kapre front end kept float32 (default: on when a GPU is seen)")
    eval_hop_s: float | None = setting(None, "hop of the fixed evaluation clip grid (default: the clip length)", "s")
    max_examples: int | None = setting(None, "smoke switch: at most this many training clips per epoch", "clips")


@dataclass
class ScoreConfig:
    """Held-out scoring settings."""

    runs_dir: Path = setting(Path("runs"), "run folders live in RUNS_DIR/<run>")
    run: str = setting("seed3s", "run to score")
    reports_dir: Path = setting(Path("reports"), "reports are written to REPORTS_DIR/<run>")
    data_dir: Path = setting(Path("data"), "shards are read from DATA_DIR/shards")
    split: str = setting("test", "which split of the run to score", choices=["test", "val"])
    batch_size: int = setting(64, "clips per prediction batch", "clips")
    bootstrap: int = setting(1000, "bootstrap resamples of the test groups (tapes or artists) for confidence "
                                   "intervals; 0 turns them off", "resamples")
    confidence: float = setting(0.95, "coverage of the confidence intervals", "fraction")
    seed: int = setting(1234, "seed of the bootstrap resampling")


@dataclass
class PredictConfig:
    """Era probabilities for any audio file."""

    audio: Path | None = setting(None, "audio file to classify (any format the preprocess stage reads)")
    runs_dir: Path = setting(Path("runs"), "run folders live in RUNS_DIR/<run>")
    run: str = setting("seed3s", "trained run whose model to use")
    output: Path | None = setting(None, "write the per-clip probabilities to this CSV as well")
