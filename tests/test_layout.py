"""The house's walls: one installed namespace, floors that import only downwards, a wheel that works alone."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

#: Source folder -> package it is installed as (pyproject.toml's package-dir).
MAPPING = {"jazzcnn": "jazzcnn", "acquire": "jazzcnn.acquire", "preprocess": "jazzcnn.preprocess",
           "train": "jazzcnn.train"}
#: Floors, bottom up: a module may import its own floor and those below, never one above.
FLOORS = [("jazzcnn.core", 0), ("jazzcnn.acquire", 1), ("jazzcnn.preprocess", 2), ("jazzcnn.train", 3)]
TOP = 4  # jazzcnn.cli, jazzcnn.commands, jazzcnn.demo, jazzcnn.testing, jazzcnn/__init__


def _floor(module: str) -> int:
    for prefix, floor in FLOORS:
        if module == prefix or module.startswith(prefix + "."):
            return floor
    return TOP


def _modules() -> dict[str, Path]:
    out = {}
    for folder, package in MAPPING.items():
        for path in (REPO / folder).rglob("*.py"):
            rel = path.relative_to(REPO / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every imported module name (function-level imports too), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def test_no_import_runs_back_up_a_floor():
    modules = _modules()
    assert "jazzcnn.core.files" in modules and "jazzcnn.train.training" in modules
    wrong = []
    for name, path in sorted(modules.items()):
        here = _floor(name)
        for line, imported in _imports(path):
            root = imported.split(".")[0]
            if root in ("acquire", "preprocess", "train"):
                wrong.append(f"{path.relative_to(REPO)}:{line} imports the bare name {imported!r}; use jazzcnn.{imported}")
            if root != "jazzcnn" or imported not in modules and imported.rsplit(".", 1)[0] not in modules:
                continue
            target = imported if imported in modules else imported.rsplit(".", 1)[0]
            if _floor(target) > here:
                wrong.append(f"{path.relative_to(REPO)}:{line} ({name}, floor {here}) imports {target} (floor {_floor(target)})")
    assert not wrong, "\n".join(wrong)


def test_the_floor_check_catches_an_upward_import(tmp_path):
    """The check above can fail: a ground-floor module importing a stage is flagged."""
    bad = tmp_path / "bad.py"
    bad.write_text("from jazzcnn.train.training import train\n")
    (line, imported), *_ = _imports(bad)
    assert _floor("jazzcnn.core.bad") == 0 and _floor(imported.rsplit(".", 1)[0]) == 3 > 0


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
                   check=True, capture_output=True)
    (path,) = out.glob("jazzcnn-*.whl")
    return path


def test_wheel_installs_one_top_level_package_with_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"jazzcnn", wheel.name.split("-py3")[0] + ".dist-info"}, tops
    for module in ("jazzcnn/acquire/download.py", "jazzcnn/preprocess/shards.py", "jazzcnn/train/training.py",
                   "jazzcnn/core/files.py", "jazzcnn/testing/archive_server.py", "jazzcnn/train/configs/debug.json"):
        assert module in names, module
    eras = zipfile.ZipFile(wheel).read("jazzcnn/data/eras.csv")
    assert eras == (REPO / "manifests" / "eras.csv").read_bytes()


@pytest.mark.slow
def test_a_fresh_install_of_the_wheel_runs_the_demo_outside_the_repository(wheel, tmp_path):
    """Not editable: a new environment holding the wheel, its dependencies taken from this one."""
    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True)
    py = fresh / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # A path line, not a site directory: this environment's own .pth files (its editable install of
    # jazzcnn among them) are not run, so only the dependencies come from here.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", str(wheel)],
                   check=True, capture_output=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([py, "-c", "import jazzcnn.acquire; print(jazzcnn.acquire.__file__)\n"
                                      "import importlib.util; print(importlib.util.find_spec('acquire'))"],
                           cwd=empty, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert where[0].startswith(str(site)) and where[1] == "None"
    run = subprocess.run([fresh / "bin" / "jazzcnn", "demo", "--work-dir", "demo", "--tapes-per-era", "3",
                          "--tape-seconds", "30", "--epochs", "2", "--steps-per-epoch", "3",
                          "--crossval-folds", "0"],
                         cwd=empty, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (empty / "demo" / "reports" / "demo" / "report.md").exists()
    assert "tape accuracy:" in run.stdout
