"""Any folder of audio with a CSV of labels: a researcher's own data set, no code needed.

The labels CSV (``LABELS``) has one row per file: ``file`` (a path relative to ``SOURCE_DIR``),
``label``, and optionally ``group`` (or ``artist``: files of one group stay on one side of every
split and fold) and ``split`` (``train``, ``val``, ``test``: a published split, used with
``SPLIT=fixed``). The CSV is read with the checked reader, so a malformed file stops the run with
the line named; a row that is well-formed but unusable (a blank label, a file that is not there,
a path leaving the folder, a file listed twice) is reported and skipped, and the rest goes on.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pandas as pd

from jazzcnn.acquire.archive import ScrapeResult
from jazzcnn.acquire.config import DownloadConfig
from jazzcnn.acquire.manifests import FIXED_SPLITS, ALL_TRACK_COLUMNS, DatasetInfo
from jazzcnn.acquire.sources import FileSource
from jazzcnn.acquire.transfer import unsafe_name_reason
from jazzcnn.core.csvio import line_of, read_csv_table
from jazzcnn.core.errors import SettingsError

INFO = DatasetInfo(dataset="folder", labels="column", label_name="label", formats=False, commentary=False)
LABEL_COLUMNS = ["file", "label"]


def file_source(cfg: DownloadConfig, archives: Path) -> FileSource:
    """The folder ``cfg.source_dir``.

    Raises
    ------
    SettingsError
        ``source_dir`` or ``labels_csv`` not given, or the folder missing.
    """
    if cfg.source_dir is None or cfg.labels_csv is None:
        raise SettingsError("the folder data set needs SOURCE_DIR (the folder of audio) and LABELS (a CSV of file, "
                            "label and optionally group)")
    if not Path(cfg.source_dir).is_dir():
        raise SettingsError(f"setting source_dir: {cfg.source_dir} is not a folder")
    return FileSource(Path(cfg.source_dir))


def identifier_of(relative: str) -> str:
    """A manifest identifier for a file's relative path: its path without the extension, folders
    joined by ``__`` (one path component, unique for distinct stems)."""
    p = PurePosixPath(relative)
    return "__".join([*p.parent.parts, p.stem]) if p.parent.parts else p.stem


def catalogue(cfg: DownloadConfig) -> tuple[ScrapeResult, list[str]]:
    """Manifest rows of the files the labels CSV lists.

    Returns
    -------
    scraped : ScrapeResult
        One row per usable CSV row: identifier from the path (:func:`identifier_of`), ``file``
        its name, ``label``, ``artist`` the group, ``split``, ``size_bytes``, ``format`` its
        extension, ``source_file`` its relative path. Unusable rows are in ``refused`` with the
        CSV line and why.
    classes : list of str
        The labels, in order of first appearance.

    Raises
    ------
    ManifestError
        The CSV is missing, malformed or lacks ``file``/``label`` (file and line named).
    """
    source = Path(cfg.source_dir)
    csv_path = Path(cfg.labels_csv)
    df = read_csv_table(csv_path, required=LABEL_COLUMNS, what="labels CSV")
    group_col = "group" if "group" in df.columns else ("artist" if "artist" in df.columns else None)
    result = ScrapeResult(pd.DataFrame(columns=ALL_TRACK_COLUMNS), [])
    rows, seen, classes = [], {}, []

    def refuse(i: int, name: str, why: str) -> None:
        result.refused.append((f"{csv_path.name}, line {line_of(df, i)}", name or "(blank)", why))

    for i, r in enumerate(df.to_dict("records")):
        name, label = r["file"].replace("\\", "/"), r["label"]
        if not name:
            refuse(i, name, "blank file name")
            continue
        ident = identifier_of(name)
        base = PurePosixPath(name).name
        why = unsafe_name_reason(ident, base) or (
            f"path {name!r} leaves {source}" if name.startswith("/") or ".." in PurePosixPath(name).parts else "")
        if why:
            refuse(i, name, why)
            continue
        if not label:
            refuse(i, name, "blank label")
            continue
        split = r.get("split", "")
        if split and split not in FIXED_SPLITS:
            refuse(i, name, f"split {split!r} is not train, val or test")
            continue
        path = source / name
        if not path.is_file():
            refuse(i, name, f"file not found: {path}")
            continue
        if ident in seen:
            refuse(i, name, f"listed twice (or same name without extension as line {seen[ident]})")
            continue
        seen[ident] = line_of(df, i)
        if label not in classes:
            classes.append(label)
        ext = PurePosixPath(name).suffix.lstrip(".").upper()
        rows.append({c: "" for c in ALL_TRACK_COLUMNS} | {
            "identifier": ident, "file": base, "title": PurePosixPath(name).stem, "label": label,
            "artist": (r.get(group_col, "") if group_col else ""), "split": split,
            "format": {"WAV": "WAVE"}.get(ext, ext), "size_bytes": str(path.stat().st_size), "source_file": name,
        })
    result.rows = pd.DataFrame(rows, columns=ALL_TRACK_COLUMNS)
    result.identifiers = list(result.rows["identifier"])
    result.notes.append(f"folder {source}: {len(rows)} files labelled in {csv_path.name}"
                        + (f", {len(result.refused)} row(s) skipped" if result.refused else ""))
    return result, classes
