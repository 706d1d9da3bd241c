"""``jazzcnn validate``: check downloaded files against ``tracks.csv`` (size and MD5), as its own verb."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from jazzcnn.acquire.config import ValidateConfig
from jazzcnn.acquire.manifests import load_classes, load_eras, load_tracks, read_dataset_info, select_tracks
from jazzcnn.acquire.transfer import UnsafePathError, VerifiedRecord, md5_of_file, safe_target
from jazzcnn.core.files import lock_folder
from jazzcnn.core.paths import DataPaths, ManifestPaths


@dataclass
class ValidationReport:
    """Files checked, and those ``missing`` or ``corrupt`` as ``(identifier/file, reason)``."""

    checked: int = 0
    ok: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)
    corrupt: list[tuple[str, str]] = field(default_factory=list)


def validate_files(selected: pd.DataFrame, root: Path) -> ValidationReport:
    """Check each row's file under ``root`` against its ``size_bytes`` and ``md5``.

    Parameters
    ----------
    selected : pd.DataFrame
        Rows of ``tracks.csv`` (as from :func:`jazzcnn.acquire.manifests.select_tracks`).
    root : Path
        ``DATA_DIR/audio``.

    Returns
    -------
    ValidationReport
        A file is missing when absent (a leftover ``.part`` is mentioned), corrupt when its size
        or MD5 differs from the manifest or its name is unsafe.
    """
    rep = ValidationReport()
    for r in selected.itertuples(index=False):
        key = f"{r.identifier}/{r.file}"
        rep.checked += 1
        try:
            path = safe_target(root, r.identifier, r.file)
        except UnsafePathError as e:
            rep.corrupt.append((key, str(e)))
            continue
        if not path.is_file():
            part = path.with_name(path.name + ".part")
            why = f"not downloaded ({part.stat().st_size} bytes in {part.name})" if part.exists() else "not downloaded"
            rep.missing.append((key, why))
            continue
        have = path.stat().st_size
        if not pd.isna(r.size_bytes) and have != int(r.size_bytes):
            rep.corrupt.append((key, f"size {have} bytes, manifest says {int(r.size_bytes)}"))
            continue
        if r.md5:
            digest = md5_of_file(path)
            if digest != r.md5.lower():
                rep.corrupt.append((key, f"MD5 {digest}, manifest says {r.md5}"))
                continue
        rep.ok += 1
    return rep


def selected_rows(manifests_dir: Path, fmt: str, names: list[str], limit: int | None,
                  max_files: int | None = None) -> pd.DataFrame:
    """The rows of ``tracks.csv`` a stage works on, whatever the data set: by format, eras and
    years for collections labelled by years, by the classes of ``classes.csv`` for data sets with
    their own labels (:func:`jazzcnn.acquire.manifests.select_tracks`).

    Raises
    ------
    ManifestError
        Unusable manifests, or an unknown era or class in ``names``.
    """
    manifests = ManifestPaths(manifests_dir)
    info = read_dataset_info(manifests.root)
    if info.by_years:
        eras = load_eras(manifests.eras) if names or manifests.eras.exists() else pd.DataFrame(
            columns=["era", "start_year", "end_year"])
        return select_tracks(load_tracks(manifests.tracks, eras), eras, fmt, names, limit, max_files=max_files)
    classes = load_classes(manifests.root / "classes.csv")
    return select_tracks(load_tracks(manifests.tracks), None, fmt if info.formats else None, names, limit,
                         classes=classes, max_files=max_files)


def validate(cfg: ValidateConfig) -> ValidationReport:
    """Run ``jazzcnn validate``: check every selected file, and forget bad ones in ``verified.csv``.

    Holds the audio folder's lock while it works, as ``jazzcnn download`` does, so the two never
    rewrite ``verified.csv`` at the same time.

    Returns
    -------
    ValidationReport
        Missing and corrupt files, separately.

    Raises
    ------
    ManifestError
        ``tracks.csv``/``eras.csv`` unusable.
    FolderBusyError
        A download is running on the same audio folder.
    """
    manifests = ManifestPaths(cfg.manifests_dir)
    selected = selected_rows(manifests.root, cfg.format, list(cfg.eras), cfg.limit)
    root = DataPaths(cfg.data_dir).audio
    lock = lock_folder(root, "download") if root.exists() else None
    try:
        rep = validate_files(selected, root)
        # Forget bad files in verified.csv so that the next download replaces them instead of
        # trusting the record (it is rewritten only if that changes its content).
        record = VerifiedRecord(root / "verified.csv")
        for key, _ in rep.missing + rep.corrupt:
            ident, _, name = key.partition("/")
            record.discard(ident, name)
    finally:
        if lock is not None:
            lock.close()
    return rep
