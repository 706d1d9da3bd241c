"""The ``jazzcnn`` command line: one subcommand per stage; the Makefile only chains them.

Each subcommand's flags are generated from its stage's config dataclass, so ``--help`` lists every
setting with its unit and default. Heavy libraries (TensorFlow) are imported only by the
subcommand that needs them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from jazzcnn.core.settings import SettingsError, add_config_arguments, config_from_args, load_config_file

#: subcommand -> (config class, command function, one-line help). Commands take the config and
#: return the process exit status (see :mod:`jazzcnn.commands`).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "download": ("jazzcnn.acquire.config:DownloadConfig", "jazzcnn.commands:run_download",
                 "catalogue a data set (--dataset) into tracks.csv and download its audio, verified"),
    "validate": ("jazzcnn.acquire.config:ValidateConfig", "jazzcnn.commands:run_validate",
                 "list missing and corrupt (size/MD5) downloaded files"),
    "preprocess": ("jazzcnn.preprocess.config:PreprocessConfig", "jazzcnn.commands:run_preprocess",
                   "16 kHz mono, commentary removed, written to shards"),
    "audit": ("jazzcnn.preprocess.config:AuditConfig", "jazzcnn.commands:run_audit",
              "pages to check by ear what preprocessing removed (REPORTS_DIR/commentary/index.html)"),
    "train": ("jazzcnn.train.config:TrainConfig", "jazzcnn.commands:run_train",
              "train the Kapre CNN on the classes (eras or the data set's labels) resolved from the manifests"),
    "score": ("jazzcnn.train.config:ScoreConfig", "jazzcnn.commands:run_score",
              "score a run on its held-out test tapes: matrices, plots, report"),
    "crossval": ("jazzcnn.train.config:CrossvalConfig", "jazzcnn.commands:run_crossval",
                 "K-fold cross-validation of the CNN beside a majority and a linear baseline: every tape scored once"),
    "presets": ("jazzcnn.train.config:PresetsConfig", "jazzcnn.commands:run_presets",
                "list the network presets: seed, clip length, input, front end, parameters, optimiser"),
    "predict": ("jazzcnn.train.config:PredictConfig", "jazzcnn.commands:run_predict",
                "era probabilities for any audio file, whole file and per clip"),
    "serve": ("jazzcnn.serve:ServeConfig", "jazzcnn.commands:run_serve",
              "a page on 127.0.0.1 to drop an audio file on and see a run's era probabilities over time"),
    "demo": ("jazzcnn.demo:DemoConfig", "jazzcnn.demo:run_demo",
             "generate a tiny synthetic collection, serve it locally and run every stage on it"),
}


def _resolve(spec: str):
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def build_parser(commands: list[str] | None = None) -> argparse.ArgumentParser:
    """Parser with one subparser per command (all of them unless ``commands`` names some)."""
    parser = argparse.ArgumentParser(prog="jazzcnn", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (cfg_spec, _, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if commands is None or name in commands:
            add_config_arguments(p, _resolve(cfg_spec))
    return parser


class _Formatter(logging.Formatter):
    """``warning: ...`` for warnings and errors, the bare message for information."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        return msg if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {msg}"


class _StreamHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout``/``sys.stderr`` is at the time (tests and tqdm replace them).

    Information goes to stdout with the command's other output; warnings and errors to stderr.
    """

    def __init__(self, errors: bool):
        self._errors = errors
        super().__init__()
        if errors:
            self.setLevel(logging.WARNING)
        else:
            self.addFilter(lambda record: record.levelno < logging.WARNING)

    @property
    def stream(self):
        return sys.stderr if self._errors else sys.stdout

    @stream.setter
    def stream(self, value):
        pass


#: Loggers of the library: its notes and warnings reach the user through the command line.
LOGGERS = ("jazzcnn",)


def setup_logging() -> None:
    """Show the library's log messages (notes on stdout, warnings on stderr), once."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(h, _StreamHandler) for h in logger.handlers):
            for errors in (False, True):
                handler = _StreamHandler(errors)
                handler.setFormatter(_Formatter())
                logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    # TensorFlow warns about retracing whenever a new model predicts (every fold of a
    # cross-validation); it is expected there and says nothing the user can act on.
    logging.getLogger("tensorflow").addFilter(lambda record: "retracing" not in record.getMessage())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``jazzcnn`` script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    setup_logging()
    # Build flags only for the command asked for, so `jazzcnn download` never imports TensorFlow.
    chosen = [a for a in argv if a in COMMANDS][:1]
    parser = build_parser(chosen or None)
    args = parser.parse_args(argv)
    cfg_spec, run_spec, _ = COMMANDS[args.command]
    try:
        cfg = config_from_args(_resolve(cfg_spec), args)
        if getattr(cfg, "config", None):  # --config FILE: file settings under the explicit flags
            cfg = config_from_args(_resolve(cfg_spec), args, base=load_config_file(cfg.config), source=str(cfg.config))
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        return int(_resolve(run_spec)(cfg) or 0)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
