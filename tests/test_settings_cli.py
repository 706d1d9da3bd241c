"""The command line: one subcommand per stage, flags generated from the typed configs."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from jazzcnn.cli import COMMANDS, build_parser
from jazzcnn.settings import add_config_arguments, config_from_args, setting


@dataclass
class _Cfg:
    rate: int = setting(16000, "sample rate", "Hz")
    eras: list[str] = setting([], "era names")
    vad: bool = setting(True, "detect speech")
    out: Path = setting(Path("data"), "output folder")
    limit: int | None = setting(None, "first N", "items")


def _parse(argv, base=None):
    import argparse

    p = argparse.ArgumentParser()
    add_config_arguments(p, _Cfg)
    return config_from_args(_Cfg, p.parse_args(argv), base=base)


def test_flags_round_trip_types_and_defaults():
    cfg = _parse(["--rate", "22050", "--eras", "Bop, Cool Jazz", "--vad", "false", "--out", "x/y", "--limit", "3"])
    assert cfg == _Cfg(rate=22050, eras=["Bop", "Cool Jazz"], vad=False, out=Path("x/y"), limit=3)
    assert _parse([]) == _Cfg()
    assert _parse(["--vad"]).vad is True


def test_config_file_layer_is_overridden_by_flags_and_unknown_keys_rejected():
    cfg = _parse(["--rate", "8000"], base={"rate": 44100, "limit": 2})
    assert (cfg.rate, cfg.limit) == (8000, 2)
    with pytest.raises(ValueError, match="unknown setting"):
        _parse([], base={"sample_rte": 1})


def test_bad_boolean_is_a_clear_error(capsys):
    with pytest.raises(SystemExit):
        _parse(["--vad", "maybe"])
    assert "expected a boolean" in capsys.readouterr().err


def test_every_stage_has_a_subcommand_whose_help_shows_units():
    assert {"download", "validate", "preprocess", "train", "score", "predict", "demo"} <= set(COMMANDS)
    out = subprocess.run([sys.executable, "-m", "jazzcnn", "preprocess", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--sample-rate" in out and "[Hz]" in out and "--trim-head-s" in out
    out = subprocess.run([sys.executable, "-m", "jazzcnn", "download", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--ia-base-url" in out and "--workers" in out and "--dry-run" in out


def test_parser_builds_for_all_commands():
    parser = build_parser()
    args = parser.parse_args(["train", "--epochs", "2", "--preset", "seed15s"])
    assert (args.command, args.epochs, args.preset) == ("train", 2, "seed15s")
