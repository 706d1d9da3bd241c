"""Provenance stamped beside every model and report: git revision, manifest hashes, config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from jazzcnn.core.files import atomic_write_text, file_digest


def git_revision(repo_dir: Path | None = None) -> str:
    """Current git commit of the code (with ``-dirty`` when the tree has changes), or ``"unknown"``."""
    cwd = Path(repo_dir or Path(__file__).resolve().parent.parent)
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file."""
    return file_digest(path, "sha256")


def manifest_hashes(*paths: Path) -> dict[str, str]:
    """``{file name: sha256}`` for each manifest CSV that exists."""
    return {Path(p).name: file_sha256(Path(p)) for p in paths if Path(p).exists()}


def write_provenance(path: Path, *, config: dict[str, Any], manifests: dict[str, str], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``provenance.json``: config, manifest hashes, git revision, library versions."""
    from importlib import metadata

    versions = {}
    for pkg in ("numpy", "tensorflow", "jax", "jaxlib", "torch", "keras", "kapre", "librosa", "soxr", "onnxruntime",
                "scikit-learn"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    record = {
        "git_revision": git_revision(),
        # The backend that ran the stage (Keras reads KERAS_BACKEND once, when it is imported).
        "keras_backend": sys.modules["keras"].backend.backend() if "keras" in sys.modules else None,
        "config": config,
        "manifest_sha256": manifests,
        "versions": versions,
    }
    if extra:
        record.update(extra)
    atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")
    return record
