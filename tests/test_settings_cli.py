"""The command line: one subcommand per stage, flags generated from the typed, validated configs."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from jazzcnn.cli import COMMANDS, build_parser
from jazzcnn.cli import main as cli_main
from jazzcnn.core.settings import SettingsError, add_config_arguments, config_from_args, load_config_file, setting, stage_config


@stage_config
class _Cfg:
    rate: int = setting(16000, "sample rate", "Hz", ge=1)
    eras: list[str] = setting([], "era names")
    vad: bool = setting(True, "detect speech")
    out: Path = setting(Path("data"), "output folder")
    limit: int | None = setting(None, "first N", "items", ge=1)
    gain: float = setting(1.0, "gain", gt=0)


def _parse(argv, base=None):
    p = argparse.ArgumentParser()
    add_config_arguments(p, _Cfg)
    return config_from_args(_Cfg, p.parse_args(argv), base=base)


def test_flags_round_trip_types_and_defaults():
    cfg = _parse(["--rate", "22050", "--eras", "Bop, Cool Jazz", "--vad", "false", "--out", "x/y", "--limit", "3"])
    assert cfg == _Cfg(rate=22050, eras=["Bop", "Cool Jazz"], vad=False, out=Path("x/y"), limit=3)
    assert _parse([]) == _Cfg()
    assert _parse(["--vad"]).vad is True
    assert _Cfg(out="a b/ü'x").out == Path("a b/ü'x")  # paths take strings from Python and JSON


def test_config_file_layer_is_overridden_by_flags_and_unknown_keys_rejected():
    cfg = _parse(["--rate", "8000"], base={"rate": 44100, "limit": 2})
    assert (cfg.rate, cfg.limit) == (8000, 2)
    with pytest.raises(SettingsError, match="unknown setting"):
        _parse([], base={"sample_rte": 1})


@pytest.mark.parametrize("values,needle", [
    ({"rate": None}, "setting rate: Input should be a valid integer, got None"),
    ({"rate": True}, "setting rate: Input should be a valid integer, got True"),
    ({"rate": "3"}, "setting rate: Input should be a valid integer, got '3'"),
    ({"rate": 3.5}, "setting rate"),
    ({"limit": 0}, "setting limit: Input should be greater than or equal to 1, got 0"),
    ({"limit": -1}, "setting limit"),
    ({"gain": 0}, "setting gain: Input should be greater than 0, got 0"),
    ({"gain": float("nan")}, "setting gain: Input should be a finite number"),
    ({"vad": 1}, "setting vad: Input should be a valid boolean"),
    ({"eras": "Bop"}, "setting eras"),
])
def test_bad_values_are_refused_naming_setting_and_value(values, needle):
    with pytest.raises(SettingsError) as e:
        _parse([], base=values)
    assert needle in str(e.value)


def test_bad_boolean_and_negative_flag_are_clear_errors(capsys):
    with pytest.raises(SystemExit):
        _parse(["--vad", "maybe"])
    assert "expected a boolean" in capsys.readouterr().err
    with pytest.raises(SettingsError, match="setting limit"):
        _parse(["--limit", "-1"])


@pytest.mark.parametrize("argv,needle", [
    (["download", "--limit", "-1"], "setting limit"),
    (["download", "--workers", "-2"], "setting workers"),
    (["preprocess", "--workers", "-2"], "setting workers"),
    (["preprocess", "--limit", "0"], "setting limit"),
    (["train", "--learning-rate", "0"], "setting learning_rate: Input should be greater than 0"),
    (["train", "--clip-seconds", "0"], "setting clip_seconds: Input should be greater than 0"),
    (["train", "--clip-seconds", "100000"], "setting clip_seconds: Input should be less than or equal to 120"),
    (["train", "--batch-size", "0"], "setting batch_size"),
    (["score", "--confidence", "1.5"], "setting confidence"),
])
def test_every_stage_refuses_out_of_range_flags(argv, needle, capsys, tmp_path):
    assert cli_main(argv + ([] if argv[0] in ("score",) else [])) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and "Traceback" not in err


@pytest.mark.parametrize("content,needle", [
    ('{"epochs": null}', "setting epochs: Input should be a valid integer, got None"),
    ('{"batch_size": true}', "setting batch_size: Input should be a valid integer, got True"),
    ('{"epochs": "ten"}', "setting epochs: Input should be a valid integer, got 'ten'"),
    ('{"straddle": "sometimes"}', "setting straddle: Input should be 'exclude', 'start', 'end' or 'mid'"),
    ('{"epochz": 1}', "unknown setting(s) ['epochz']"),
    ('[1, 2]', "expected a JSON object"),
    ('{"epochs": 1,}', "line 1: not valid JSON"),
])
def test_bad_config_files_name_file_setting_and_value(tmp_path, capsys, content, needle):
    conf = tmp_path / "c.json"
    conf.write_text(content)
    assert cli_main(["train", "--config", str(conf), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(conf) in err and needle in err, err
    assert not (tmp_path / "runs").exists()


def test_missing_config_file_is_named(tmp_path, capsys):
    assert cli_main(["train", "--config", str(tmp_path / "nope.json")]) == 2
    assert f"config file {tmp_path / 'nope.json'} not found" in capsys.readouterr().err
    with pytest.raises(SettingsError, match="not found"):
        load_config_file(tmp_path / "nope.json")
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"epochs": 2}).encode())
    assert load_config_file(tmp_path / "bom.json") == {"epochs": 2}


def test_every_stage_has_a_subcommand_whose_help_shows_units():
    assert {"download", "validate", "preprocess", "train", "score", "predict", "demo"} <= set(COMMANDS)
    out = subprocess.run([sys.executable, "-m", "jazzcnn", "preprocess", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--sample-rate" in out and "[Hz]" in out and "--trim-head-s" in out
    out = subprocess.run([sys.executable, "-m", "jazzcnn", "download", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--ia-base-url" in out and "--workers" in out and "--dry-run" in out and ">= 1" in out


def test_parser_builds_for_all_commands():
    parser = build_parser()
    args = parser.parse_args(["train", "--epochs", "2", "--preset", "seed15s"])
    assert (args.command, args.epochs, args.preset) == ("train", 2, "seed15s")
