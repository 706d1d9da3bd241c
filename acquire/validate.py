"""``jazzcnn validate``: check downloaded files against ``tracks.csv`` (size and MD5)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from acquire.config import ValidateConfig
from acquire.download import audio_dir
from acquire.manifest import select_tracks
from acquire.manifest import ManifestError, load_eras, load_tracks
from acquire.transfer import UnsafePathError, VerifiedRecord, md5_of_file, safe_target


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
        Rows of ``tracks.csv`` (as from :func:`acquire.manifest.select_tracks`).
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


def run_validate(cfg: ValidateConfig) -> int:
    """Run ``jazzcnn validate``: print missing and corrupt files separately.

    Returns
    -------
    int
        0 when every selected file is present and intact, 1 when any is missing or corrupt,
        2 on a manifest error.
    """
    manifests = Path(cfg.manifests_dir)
    try:
        eras = load_eras(manifests / "eras.csv")
        tracks = load_tracks(manifests / "tracks.csv", eras)
        selected = select_tracks(tracks, eras, cfg.format, list(cfg.eras), cfg.limit)
    except ManifestError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    root = audio_dir(cfg.data_dir)
    rep = validate_files(selected, root)
    # Forget bad files in verified.csv so that the next download replaces them instead of
    # trusting the record (it is rewritten only if that changes its content).
    record = VerifiedRecord(root / "verified.csv")
    for key, _ in rep.missing + rep.corrupt:
        ident, _, name = key.partition("/")
        record.discard(ident, name)
    print(f"validated {rep.checked} {cfg.format!r} files: {rep.ok} ok, {len(rep.missing)} missing, "
          f"{len(rep.corrupt)} corrupt")
    if rep.missing:
        print(f"missing ({len(rep.missing)}):")
        for key, why in rep.missing:
            print(f"  {key}: {why}")
    if rep.corrupt:
        print(f"corrupt ({len(rep.corrupt)}):")
        for key, why in rep.corrupt:
            print(f"  {key}: {why}")
    if rep.missing or rep.corrupt:
        print("rerun `make download` to fetch missing files and replace corrupt ones")
        return 1
    return 0
