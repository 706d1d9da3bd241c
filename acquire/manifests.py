"""The manifests, the CSV files users read and edit: the one module that owns their format.

``tracks.csv``
    One row per audio file (:data:`TRACK_COLUMNS`): written by ``jazzcnn download``, edited by
    users (:data:`USER_COLUMNS`), read by every stage.
``eras.csv``
    Era names and inclusive year ranges (:data:`ERA_COLUMNS`), non-overlapping: the classes of the
    data sets whose labels are years (``niven``, ``ia``).
``classes.csv``
    The classes of the data sets whose labels come with the data (genres of ``fma``, ``gtzan``, a
    ``folder``'s labels CSV), in class-index order (:data:`CLASS_COLUMNS`).
``dataset.json``
    Which data set the folder holds and how it is labelled (:class:`DatasetInfo`); written by
    ``jazzcnn download``, read by every later stage. A folder without it holds the Niven collection.
``commentary.csv``, ``commentary_summary.csv``
    What the preprocess stage removed from each file, and why (:data:`COMMENTARY_COLUMNS`,
    :data:`SUMMARY_COLUMNS`); written by the shard store as views of its commit records.

Together with the shard folder these are the single source of truth of the data set. Loading
validates them (through :func:`jazzcnn.core.csvio.read_csv_table`) and raises
:class:`~jazzcnn.core.errors.ManifestError` naming the file, the line and the offending value.
The era of a tape is decided by one rule, :func:`tape_era`, used both to select tapes
(``--eras``) and to label them for training; a data set that brings its own labels (a genre per
track) fills the ``label`` column instead, and :func:`tape_label` is its rule.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from jazzcnn.core.csvio import line_of, read_csv_table
from jazzcnn.core.errors import ManifestError
from jazzcnn.core.files import atomic_write_text

#: Columns of ``tracks.csv``, in order.
TRACK_COLUMNS = [
    "identifier",   # Internet Archive item identifier (one cassette tape side or tape)
    "file",         # file name inside the item
    "title",        # item title
    "artist",       # performer, from item metadata (creator) or the identifier
    "tape",         # tape label from the identifier, e.g. "5", "4A"
    "year_start",   # first recording year (int, blank if unknown)
    "year_end",     # last recording year (int, blank if unknown)
    "year_source",  # metadata | title | identifier | user | invalid | missing
    "era",          # blank = derived from years at training time; a user may fill it in
    "format",       # archive format name, e.g. "VBR MP3", "WAVE", "Ogg Vorbis"
    "size_bytes",   # file size from metadata [bytes]
    "md5",          # MD5 hex digest from metadata
    "duration_s",   # duration from metadata [s]
    "source_file",  # the original file this derivative was made from (blank for originals); for files
                    # taken from an archive or a folder, their path there
]
#: Columns of data sets that bring their own labels or a published split (fma, gtzan, folder),
#: after :data:`TRACK_COLUMNS`; optional on reading (blank when absent), so the Niven collection's
#: manifest keeps its columns.
LABEL_TRACK_COLUMNS = [
    "label",        # the class the data set gives (e.g. FMA's genre_top)
    "split",        # the data set's published split of this file: train | val | test; blank = none
]
ALL_TRACK_COLUMNS = TRACK_COLUMNS + LABEL_TRACK_COLUMNS
#: Columns users may edit; a re-scrape never overwrites them.
USER_COLUMNS = ["era", "year_start", "year_end", "label"]
ERA_COLUMNS = ["era", "start_year", "end_year"]
#: ``classes.csv``: one class per row, in class-index order.
CLASS_COLUMNS = ["label"]
#: Values of the ``split`` column.
FIXED_SPLITS = ("train", "val", "test")
#: ``commentary.csv``: one row per removed span [s]; reason is one of
#: :data:`jazzcnn.preprocess.cleaning.REASONS`.
COMMENTARY_COLUMNS = ["identifier", "file", "start_s", "end_s", "reason"]
#: ``commentary_summary.csv``: seconds kept and removed per file (one ``<reason>_s`` column per reason), its
#: status and error. Files processed before a reason existed have that column blank.
SUMMARY_COLUMNS = [
    "identifier", "file", "duration_s", "kept_s", "removed_s", "speech_s", "speech_over_music_s", "silence_s", "head_s",
    "tail_s", "override_s", "short_s", "segments", "status", "error",
]
#: Summary columns added after the first release: an older ``commentary_summary.csv`` without them
#: still reads (they come back blank).
LATER_SUMMARY_COLUMNS = ["speech_over_music_s", "override_s"]
#: ``commentary_overrides.csv`` (written by the user, read by preprocess): a span [s] of one file to
#: ``keep`` as music or ``remove`` whatever the automatic cut decided; an optional ``note`` column
#: is for the user's own words.
OVERRIDE_COLUMNS = ["identifier", "file", "start_s", "end_s", "action"]
OVERRIDE_ACTIONS = ("keep", "remove")



def load_eras(path: Path) -> pd.DataFrame:
    """Load and validate ``eras.csv``.

    Parameters
    ----------
    path : Path
        CSV with columns ``era, start_year, end_year`` (inclusive years).

    Returns
    -------
    pd.DataFrame
        Columns ``era`` (str), ``start_year``, ``end_year`` (int), sorted by ``start_year``.

    Raises
    ------
    ManifestError
        Missing file or column, blank or duplicate era name, non-numeric year, start after end,
        or two eras whose year ranges overlap.
    """
    path = Path(path)
    df = read_csv_table(path, required=ERA_COLUMNS, what="eras file")
    rows = []
    for i, r in enumerate(df.itertuples(index=False)):
        line = line_of(df, i)
        name = r.era
        if not name:
            raise ManifestError(f"{path}, line {line}: blank era name")
        years = []
        for col in ("start_year", "end_year"):
            v = getattr(r, col)
            try:
                years.append(int(v))
            except ValueError:
                raise ManifestError(f"{path}, line {line}: {col} {v!r} is not a whole year") from None
        if years[0] > years[1]:
            raise ManifestError(f"{path}, line {line}: start_year {years[0]} is after end_year {years[1]}")
        rows.append((name, years[0], years[1], line))
    names = [r[0] for r in rows]
    for name in set(names):
        if names.count(name) > 1:
            raise ManifestError(f"{path}: era {name!r} is defined more than once")
    rows.sort(key=lambda r: r[1])
    for a, b in zip(rows, rows[1:]):
        if b[1] <= a[2]:
            raise ManifestError(
                f"{path}, line {b[3]}: era {b[0]!r} ({b[1]}-{b[2]}) overlaps era {a[0]!r} ({a[1]}-{a[2]}) on line {a[3]}"
            )
    return pd.DataFrame([r[:3] for r in rows], columns=ERA_COLUMNS)


def load_classes(path: Path) -> list[str]:
    """Load and validate ``classes.csv``: the classes of a data set that brings its own labels.

    Parameters
    ----------
    path : Path
        CSV with a column ``label``; one class per row, in class-index order (the order of the
        model's outputs and of every table in a report). Delete a row to leave its class out.

    Returns
    -------
    list of str

    Raises
    ------
    ManifestError
        Missing file or column, blank or duplicate class, fewer than one row.
    """
    path = Path(path)
    df = read_csv_table(path, required=CLASS_COLUMNS, what="class list",
                        missing_hint="`make download` writes it for data sets with their own labels")
    names: list[str] = []
    for i, name in enumerate(df["label"]):
        if not name:
            raise ManifestError(f"{path}, line {line_of(df, i)}: blank class name")
        if name in names:
            raise ManifestError(f"{path}, line {line_of(df, i)}: class {name!r} is listed twice")
        names.append(name)
    if not names:
        raise ManifestError(f"{path}: no classes listed")
    return names


def write_classes(path: Path, names: list[str]) -> None:
    """Write ``classes.csv`` (atomically) with ``names`` in this order."""
    atomic_write_text(Path(path), pd.DataFrame({"label": list(names)}).to_csv(index=False, lineterminator="\n"))


#: ``dataset.json`` of a manifests folder.
DATASET_FILE = "dataset.json"


@dataclass(frozen=True)
class DatasetInfo:
    """What a manifests folder holds, as ``jazzcnn download`` recorded it in ``dataset.json``.

    Attributes
    ----------
    dataset : str
        ``niven``, ``ia``, ``fma``, ``gtzan`` or ``folder``.
    labels : str
        ``years``: a tape's class is the era of ``eras.csv`` holding its recording years (the era
        rule, :func:`tape_era`); ``column``: the class is the ``label`` column (:func:`tape_label`),
        the classes are listed in ``classes.csv``.
    label_name : str
        What a class is, for messages and reports (``era``, ``genre_top``, ``genre``, ``label``).
    formats : bool
        Rows are archive derivatives in several formats of one recording (``--format`` picks one);
        False for data sets with one file per recording (their ``format`` column is informative).
    commentary : bool
        Default of the preprocess stage's commentary removal (``vad``): on for Niven's spoken
        introductions, off for data sets without them.
    fixed_split : str
        Where the ``split`` column comes from (e.g. FMA's ``set/split``), ``""`` when the data set
        publishes no split.
    source : dict
        The settings the catalogue was made with (collection, subset, URLs, folders).
    """

    dataset: str = "niven"
    labels: str = "years"
    label_name: str = "era"
    formats: bool = True
    commentary: bool = True
    fixed_split: str = ""
    source: dict = field(default_factory=dict)

    @property
    def by_years(self) -> bool:
        """True when classes are eras of ``eras.csv`` decided by recording years."""
        return self.labels == "years"


def read_dataset_info(manifests_dir: Path) -> DatasetInfo:
    """The ``dataset.json`` of a manifests folder; the Niven collection when there is none.

    Raises
    ------
    ManifestError
        The file is not valid JSON, or names unknown fields or label kinds.
    """
    path = Path(manifests_dir) / DATASET_FILE
    if not path.exists():
        return DatasetInfo()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        info = DatasetInfo(**data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path}: not valid JSON ({e})") from None
    except TypeError as e:
        raise ManifestError(f"{path}: {e}") from None
    if info.labels not in ("years", "column"):
        raise ManifestError(f"{path}: labels must be 'years' or 'column', got {info.labels!r}")
    return info


def write_dataset_info(manifests_dir: Path, info: DatasetInfo) -> None:
    """Write ``dataset.json`` (atomically, only when its content changes)."""
    path = Path(manifests_dir) / DATASET_FILE
    text = json.dumps(asdict(info), indent=2, sort_keys=True, default=str) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        atomic_write_text(path, text)


def load_tracks(path: Path, eras: pd.DataFrame | None = None) -> pd.DataFrame:
    """Load and validate ``tracks.csv``.

    Parameters
    ----------
    path : Path
        The track manifest (columns :data:`TRACK_COLUMNS`, optionally :data:`LABEL_TRACK_COLUMNS`;
        extra columns are kept).
    eras : pd.DataFrame, optional
        Output of :func:`load_eras`; when given, every non-blank ``era`` must name one of its eras.

    Returns
    -------
    pd.DataFrame
        One row per audio file; ``year_start``/``year_end``/``size_bytes`` as nullable ``Int64``,
        ``duration_s`` as float, text columns as str ("" when blank); ``label`` and ``split``
        always present ("" when the file has no such columns).

    Raises
    ------
    ManifestError
        Missing file or column, duplicate ``identifier,file``, non-numeric year, start after end,
        an era name not in ``eras``, or a ``split`` other than train, val, test or blank.
    """
    path = Path(path)
    df = read_csv_table(path, required=TRACK_COLUMNS, what="track manifest", missing_hint="run `make download` first")
    for col in LABEL_TRACK_COLUMNS:
        if col not in df.columns:
            df[col] = ""

    def _line(i: int) -> int:
        return line_of(df, i)

    for i, (ident, name) in enumerate(zip(df["identifier"], df["file"])):
        if not ident or not name:
            raise ManifestError(f"{path}, line {_line(i)}: blank {'identifier' if not ident else 'file'} "
                                f"(every row needs both)")
    dup = df.duplicated(["identifier", "file"], keep="first")
    if dup.any():
        i = int(dup.idxmax())
        raise ManifestError(f"{path}, line {_line(i)}: duplicate row for {df.at[i, 'identifier']}/{df.at[i, 'file']}")
    for col in ("year_start", "year_end", "size_bytes"):
        vals = []
        for i, v in df[col].items():
            if v == "":
                vals.append(pd.NA)
                continue
            try:
                f = float(v)
                if f != int(f):
                    raise ValueError
                vals.append(int(f))
            except ValueError:
                raise ManifestError(f"{path}, line {_line(i)}: {col} {v!r} is not a whole number") from None
        df[col] = pd.array(vals, dtype="Int64")
    bad = df["year_start"].notna() & df["year_end"].notna() & (df["year_start"] > df["year_end"])
    if bad.any():
        i = int(bad.idxmax())
        raise ManifestError(f"{path}, line {_line(i)}: year_start {df.at[i, 'year_start']} is after year_end {df.at[i, 'year_end']}")
    durs = []
    for i, v in df["duration_s"].items():
        try:
            durs.append(float(v) if v != "" else float("nan"))
        except ValueError:
            raise ManifestError(f"{path}, line {_line(i)}: duration_s {v!r} is not a number of seconds") from None
    df["duration_s"] = durs
    for i, v in df["split"].items():
        if v and v not in FIXED_SPLITS:
            raise ManifestError(f"{path}, line {_line(i)}: split {v!r} is not one of {list(FIXED_SPLITS)} (or blank)")
    if eras is not None:
        known = set(eras["era"])
        for i, v in df["era"].items():
            if v and v not in known:
                raise ManifestError(f"{path}, line {_line(i)}: era {v!r} is not defined in eras.csv (known: {sorted(known)})")
    return df


def write_csv_atomic(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` as CSV to a temporary file beside ``path``, then rename it into place."""
    atomic_write_text(path, df.to_csv(index=False))


def read_tracks_or_empty(path: Path) -> pd.DataFrame:
    """Raw ``tracks.csv`` as text columns (no validation), or an empty frame when it does not exist.

    Used for merging, where the user's own columns and values must survive byte for byte.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=TRACK_COLUMNS, dtype=str)
    df = read_csv_table(path, what="track manifest")
    for col in TRACK_COLUMNS:
        if col not in df.columns:
            df[col] = ""
    return df


def merge_tracks(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Merge freshly scraped rows ``new`` into the existing manifest ``old`` by ``identifier,file``.

    Scraped columns are refreshed, but a non-blank value of a user column (:data:`USER_COLUMNS`:
    ``era``, ``year_start``, ``year_end``) in ``old`` wins over the scrape; a user year that differs
    from the scraped one marks ``year_source`` as ``user``. Rows only in ``old`` are kept (a
    ``--limit`` or ``--eras`` scrape sees only part of the collection); rows only in ``new`` are
    appended. Extra columns a user added are kept.

    Parameters
    ----------
    old, new : pd.DataFrame
        Text-valued frames with at least :data:`TRACK_COLUMNS`.

    Returns
    -------
    pd.DataFrame
        The merged manifest, ``old``'s row order first, then new rows in ``new``'s order.
    """
    old = old.astype(str).reset_index(drop=True)
    new = new.astype(str).reset_index(drop=True)
    columns = list(TRACK_COLUMNS) + [c for c in LABEL_TRACK_COLUMNS if c in old.columns or c in new.columns]
    columns += [c for c in list(old.columns) + list(new.columns) if c not in columns]
    columns = list(dict.fromkeys(columns))
    old = old.reindex(columns=columns, fill_value="")
    new = new.reindex(columns=columns, fill_value="")
    key_old = {(r.identifier, r.file): i for i, r in enumerate(old[["identifier", "file"]].itertuples(index=False))}
    rows = old.to_dict("records")
    appended = []
    for rec in new.to_dict("records"):
        i = key_old.get((rec["identifier"], rec["file"]))
        if i is None:
            appended.append(rec)
            continue
        kept = rows[i]
        merged = dict(kept)
        for col in columns:
            if col in USER_COLUMNS and kept.get(col, "").strip():
                continue
            if col in new.columns and col in ALL_TRACK_COLUMNS:
                merged[col] = rec[col]
        user_years = any(kept.get(c, "").strip() and kept[c].strip() != rec[c].strip() for c in ("year_start", "year_end"))
        if user_years or kept.get("year_source") == "user":
            merged["year_source"] = "user"
        rows[i] = merged
    return pd.DataFrame(rows + appended, columns=columns).fillna("")


#: How a tape whose years straddle two eras is labelled (see :func:`tape_era`).
STRADDLE_POLICIES = ("exclude", "start", "end", "mid")


def era_of_year(year: int, eras: pd.DataFrame) -> str | None:
    """Name of the era whose inclusive year range contains ``year``, or ``None``."""
    hit = eras[(eras["start_year"] <= int(year)) & (eras["end_year"] >= int(year))]
    return None if hit.empty else str(hit["era"].iloc[0])


@dataclass(frozen=True)
class EraDecision:
    """The era of one tape, or why it has none.

    Attributes
    ----------
    era : str
        Era name, ``""`` when the tape is left out.
    source : str
        ``user`` (the ``era`` column), ``years``, ``years (<policy> of range)``, or ``""``.
    reason : str
        Why the tape is left out (``""`` when labelled).
    """

    era: str
    source: str = ""
    reason: str = ""


def tape_years(tape_rows: pd.DataFrame) -> tuple[int | None, int | None]:
    """A tape's year range over its files: min of ``year_start`` .. max of ``year_end``.

    Either bound falls back on the other column when its own is blank in every file; ``(None,
    None)`` when no file has a year.
    """
    ys, ye = tape_rows["year_start"].dropna(), tape_rows["year_end"].dropna()
    y0 = int(ys.min()) if len(ys) else (int(ye.min()) if len(ye) else None)
    y1 = int(ye.max()) if len(ye) else (int(ys.max()) if len(ys) else None)
    return y0, y1


def tape_era(y0: int | None, y1: int | None, eras: pd.DataFrame, *, straddle: str = "exclude",
             user_era: str = "") -> EraDecision:
    """The one era rule: a tape's era from its user label, else from its years and the policy.

    1. A non-blank ``era`` cell in ``tracks.csv`` (filled in by a user) wins.
    2. Otherwise the era whose inclusive range holds the whole range ``y0..y1``.
    3. A range that straddles two or more eras follows ``straddle``: ``exclude`` (left out),
       ``start`` (era of ``y0``), ``end`` (era of ``y1``) or ``mid`` (era of the middle year,
       rounded down).
    4. No years, or years in no era (a gap between eras), leave the tape out with a reason.

    Parameters
    ----------
    y0, y1 : int or None
        The tape's first and last recording year (:func:`tape_years`).
    eras : pd.DataFrame
        Output of :func:`load_eras` (non-overlapping, so the rule is unambiguous).
    straddle : {"exclude", "start", "end", "mid"}
    user_era : str
        The tape's user-set era, ``""`` when none.

    Returns
    -------
    EraDecision

    Raises
    ------
    ValueError
        Unknown ``straddle`` policy.
    """
    if straddle not in STRADDLE_POLICIES:
        raise ValueError(f"straddle must be one of {STRADDLE_POLICIES}, got {straddle!r}")
    if user_era:
        return EraDecision(user_era, "user")
    if y0 is None or y1 is None or pd.isna(y0) or pd.isna(y1):
        return EraDecision("", "", "no recording years (fill year_start/year_end or era in tracks.csv)")
    y0, y1 = int(y0), int(y1)
    e0, e1 = era_of_year(y0, eras), era_of_year(y1, eras)
    if e0 is not None and e0 == e1:
        return EraDecision(e0, "years")
    if straddle == "exclude":
        if e0 is None and e1 is None:
            return EraDecision("", "", f"years {y0}-{y1} are in no era")
        return EraDecision("", "", f"years {y0}-{y1} straddle eras {e0 or '(none)'} and {e1 or '(none)'} (straddle=exclude)")
    year = {"start": y0, "end": y1, "mid": (y0 + y1) // 2}[straddle]
    e = era_of_year(year, eras)
    if e is None:
        return EraDecision("", "", f"year {year} ({straddle} of {y0}-{y1}) is in no era")
    return EraDecision(e, f"years ({straddle} of range)")


def tape_user_era(tape_rows: pd.DataFrame, identifier: str) -> str:
    """The user-set era of a tape's files (``""`` when none).

    Raises
    ------
    ManifestError
        Two files of one tape name different eras.
    """
    user = sorted({e for e in tape_rows["era"] if e})
    if len(user) > 1:
        raise ManifestError(f"tracks.csv: tape {identifier!r} has files labelled with different eras {user}")
    return user[0] if user else ""


def tape_label(tape_rows: pd.DataFrame, identifier: str, classes: list[str]) -> EraDecision:
    """The class rule of data sets that bring their own labels: the tape's ``label`` column.

    Every file of a tape must carry the same label. A blank label, or one not in ``classes``
    (``classes.csv``, or the classes chosen with ``--classes``), leaves the tape out with a reason.

    Parameters
    ----------
    tape_rows : pd.DataFrame
        The tape's rows of ``tracks.csv``.
    identifier : str
    classes : list of str
        The classes in use.

    Returns
    -------
    EraDecision
        ``era`` holds the class (the name the training stage uses for any class), ``source``
        ``label``.

    Raises
    ------
    ManifestError
        Two files of one tape carry different labels.
    """
    found = sorted({v for v in tape_rows["label"] if v})
    if len(found) > 1:
        raise ManifestError(f"tracks.csv: {identifier!r} has files labelled with different labels {found}")
    if not found:
        return EraDecision("", "", "no label in tracks.csv")
    if found[0] not in classes:
        return EraDecision("", "", f"label {found[0]!r} is not one of the classes in use ({', '.join(classes)})")
    return EraDecision(found[0], "label")


def tape_split(tape_rows: pd.DataFrame, identifier: str) -> str:
    """The published split (``train``, ``val``, ``test``) of a tape's files, ``""`` when none.

    Raises
    ------
    ManifestError
        Two files of one tape are in different parts of the split.
    """
    found = sorted({v for v in tape_rows["split"] if v}) if "split" in tape_rows else []
    if len(found) > 1:
        raise ManifestError(f"tracks.csv: {identifier!r} has files in different parts of the split {found}")
    return found[0] if found else ""


def era_for_years(start, end, eras: pd.DataFrame) -> str | None:
    """The era whose range holds all of ``start``-``end`` (inclusive years), else None (:func:`tape_era`)."""
    return tape_era(start, end, eras).era or None


def years_within_eras(start, end, eras: pd.DataFrame, names: list[str]) -> bool:
    """True when every year of ``start``-``end`` lies in one of the eras ``names``.

    Raises
    ------
    ManifestError
        If a name is not an era of ``eras``.
    """
    known = set(eras["era"])
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ManifestError(f"unknown era(s) {unknown}; eras.csv defines {sorted(known)}")
    if start is None or end is None or pd.isna(start) or pd.isna(end):
        return False
    chosen = eras[eras["era"].isin(names)]
    return all(((chosen["start_year"] <= y) & (y <= chosen["end_year"])).any() for y in range(int(start), int(end) + 1))


def interleave(units: list[tuple[str, str, str]], classes: list[str]) -> list[str]:
    """Order units (tapes or files) so that every prefix samples the classes evenly.

    Round-robin over the classes (in ``classes`` order); within a class, round-robin over its
    groups (artists; a unit without one is its own group), in order of their first unit; within a
    group, units in the order given. Units of no class in ``classes`` come after all others, in the
    order given. The order is deterministic, and a longer prefix holds every shorter one, so a
    larger ``LIMIT`` adds to what a smaller one fetched.

    Parameters
    ----------
    units : list of (unit, class, group)
        In their natural (identifier) order; ``group`` ``""`` for none.
    classes : list of str
        Class order.

    Returns
    -------
    list of str
        Every unit once.
    """
    by_class: dict[str, dict[str, list[str]]] = {c: {} for c in classes}
    rest: list[str] = []
    for unit, cls, group in units:
        if cls in by_class:
            by_class[cls].setdefault(group or f"\0{unit}", []).append(unit)
        else:
            rest.append(unit)

    def spread(groups: dict[str, list[str]]) -> list[str]:
        lists, out = list(groups.values()), []
        for k in range(max((len(g) for g in lists), default=0)):
            out += [g[k] for g in lists if k < len(g)]
        return out

    queues = [spread(g) for g in by_class.values()]
    order: list[str] = []
    for k in range(max((len(q) for q in queues), default=0)):
        order += [q[k] for q in queues if k < len(q)]
    return order + rest


def select_tracks(tracks: pd.DataFrame, eras: pd.DataFrame, fmt: str | None, era_names: list[str],
                  limit: int | None, *, straddle: str = "exclude", classes: list[str] | None = None,
                  max_files: int | None = None) -> pd.DataFrame:
    """Rows of format ``fmt`` of the chosen classes, at most ``limit`` tapes and ``max_files``
    files sampled evenly across the classes, with an ``era_of`` column (the class).

    A tape's class is decided once, for all its files: by :func:`tape_era` (the rule training
    uses) for data sets labelled by years, by :func:`tape_label` when ``classes`` is given (data
    sets that bring their own labels); else it is ``"unlabelled"``. ``--eras`` keeps tapes whose
    class is named or, by years, whose years all fall in the named eras (a tape straddling two
    named eras is wanted too). With ``classes`` only labelled tapes are selected: unlabelled
    tracks of such a data set cannot be used, and a large collection has many.

    ``limit`` and ``max_files`` take tapes and then files in the order of :func:`interleave`:
    round-robin over the classes and, within a class, over artists, so a small sample has every
    class and as many groups as it can (not the first N in identifier order).

    Parameters
    ----------
    tracks : pd.DataFrame
        Output of :func:`load_tracks`.
    eras : pd.DataFrame
        Output of :func:`load_eras` (ignored when ``classes`` is given).
    fmt : str or None
        Archive format; None keeps every row (data sets with one file per recording).
    era_names : list of str
        Era or class names; empty keeps all.
    limit : int, optional
        Number of tapes (identifiers) to keep.
    straddle : str
        Straddle policy for the ``era_of`` column (see :func:`tape_era`).
    classes : list of str, optional
        The classes of a data set labelled by its ``label`` column (``classes.csv``).
    max_files : int, optional
        Number of files to keep (after ``limit``).

    Returns
    -------
    pd.DataFrame
        Sorted by ``identifier, file``.

    Raises
    ------
    ManifestError
        If ``era_names`` holds an era or class not defined, or a tape's files name different
        eras or labels.
    """
    df = (tracks if fmt is None else tracks[tracks["format"] == fmt]).copy()
    era_of: dict[str, str] = {}
    span: dict[str, tuple] = {}
    if classes is not None:
        unknown = [n for n in era_names if n not in classes]
        if unknown:
            raise ManifestError(f"unknown class(es) {unknown}; the classes are {list(classes)}")
        for ident, g in tracks.groupby("identifier", sort=False):
            era_of[ident] = tape_label(g, ident, list(classes)).era or "unlabelled"
        order = [c for c in classes if not era_names or c in era_names]
    else:
        for ident, g in tracks.groupby("identifier", sort=False):
            y0, y1 = tape_years(g)
            span[ident] = (y0, y1)
            era_of[ident] = tape_era(y0, y1, eras, straddle=straddle, user_era=tape_user_era(g, ident)).era or "unlabelled"
        order = [e for e in eras["era"] if not era_names or e in era_names]
    df["era_of"] = df["identifier"].map(era_of).fillna("unlabelled")
    if classes is not None:
        df = df[df["era_of"].isin(order)]
    elif era_names:
        years_within_eras(None, None, eras, era_names)  # unknown era names fail even on no rows
        keep = [r.era_of in era_names or years_within_eras(*span[r.identifier], eras, era_names)
                for r in df.itertuples(index=False)]
        df = df[pd.Series(keep, index=df.index, dtype=bool)]
    df = df.sort_values(["identifier", "file"], kind="stable")
    if limit is not None:
        first = df.drop_duplicates("identifier")
        units = interleave(list(zip(first["identifier"], first["era_of"], first["artist"])), order)
        df = df[df["identifier"].isin(set(units[:limit]))]
    if max_files is not None:
        keys = [f"{i}\0{f}" for i, f in zip(df["identifier"], df["file"])]
        units = interleave(list(zip(keys, df["era_of"], df["artist"])), order)
        df = df[pd.Series(keys, index=df.index).isin(set(units[:max_files]))]
    return df.reset_index(drop=True)


def commentary_csv(rows: list[dict], *, summary: bool = False) -> str:
    """Text of ``commentary.csv`` (or, with ``summary``, ``commentary_summary.csv``) for ``rows``."""
    columns = SUMMARY_COLUMNS if summary else COMMENTARY_COLUMNS
    return pd.DataFrame(rows, columns=columns).to_csv(index=False, lineterminator="\n")


def read_commentary(path: Path, *, summary: bool = False) -> pd.DataFrame:
    """Read ``commentary.csv`` (or ``commentary_summary.csv``) with its numbers typed.

    Returns
    -------
    pd.DataFrame
        Seconds columns as float; identifier, file, reason, status, error as str. A column of
        :data:`LATER_SUMMARY_COLUMNS` that an older file lacks comes back blank (NaN).

    Raises
    ------
    ManifestError
        Missing or malformed file, or a non-numeric time (file and line named).
    """
    columns = SUMMARY_COLUMNS if summary else COMMENTARY_COLUMNS
    df = read_csv_table(path, required=[c for c in columns if c not in LATER_SUMMARY_COLUMNS],
                        what="commentary audit", missing_hint="run `make preprocess` first")
    for col in columns:
        if col not in df:
            df[col] = ""
    for col in [c for c in columns if c.endswith("_s")] + (["segments"] if summary else []):
        values = pd.to_numeric(df[col].replace("", "nan"), errors="coerce")
        bad = values.isna() & (df[col] != "")
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise ManifestError(f"{path}, line {line_of(df, i)}: {col} {df[col].iloc[i]!r} is not a number")
        df[col] = values
    return df


def load_commentary_overrides(path: Path) -> dict[tuple[str, str], list[tuple[float, float, str]]]:
    """Read ``commentary_overrides.csv``: the user's corrections of the commentary cut.

    Parameters
    ----------
    path : Path
        CSV with columns ``identifier, file, start_s, end_s, action`` (and any others, such as
        ``note``, ignored); times in seconds of the original file; ``action`` is ``keep`` (this
        span is music: keep it) or ``remove`` (cut it, reason ``override``).

    Returns
    -------
    dict
        ``(identifier, file) -> [(start_s, end_s, action), ...]`` sorted by start; empty when the
        file does not exist (it is optional).

    Raises
    ------
    ManifestError
        Malformed CSV, a missing column, a blank identifier or file, a time that is not a number,
        a negative start, an end not after its start, an unknown action, or a ``keep`` and a
        ``remove`` span of one file that overlap (both lines named).
    """
    path = Path(path)
    if not path.exists():
        return {}
    df = read_csv_table(path, required=OVERRIDE_COLUMNS, what="commentary overrides")
    out: dict[tuple[str, str], list[tuple[float, float, str, int]]] = {}
    for i, r in enumerate(df.itertuples(index=False)):
        where = f"{path}, line {line_of(df, i)}"
        ident, file = str(r.identifier).strip(), str(r.file).strip()
        if not ident or not file:
            raise ManifestError(f"{where}: identifier and file must not be blank")
        times = []
        for col in ("start_s", "end_s"):
            value = getattr(r, col)
            try:
                times.append(float(value))
            except ValueError:
                raise ManifestError(f"{where}: {col} {value!r} is not a number of seconds") from None
        start, end = times
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0:
            raise ManifestError(f"{where}: start_s must be a time in the file (0 or more), got {r.start_s!r}")
        if end <= start:
            raise ManifestError(f"{where}: end_s {r.end_s!r} is not after start_s {r.start_s!r}")
        action = str(r.action).strip().lower()
        if action not in OVERRIDE_ACTIONS:
            raise ManifestError(f"{where}: action must be one of {', '.join(OVERRIDE_ACTIONS)}, got {r.action!r}")
        out.setdefault((ident, file), []).append((start, end, action, line_of(df, i)))
    for (ident, file), spans in out.items():
        spans.sort()
        for i, a in enumerate(spans):
            for c in spans[i + 1:]:  # sorted by start: the first that starts after a's end ends the search
                if c[0] >= a[1]:
                    break
                if c[2] != a[2]:
                    raise ManifestError(f"{path}, lines {a[3]} and {c[3]}: a keep and a remove span of {ident}/{file} "
                                        f"overlap ({a[0]:g}-{a[1]:g} s and {c[0]:g}-{c[1]:g} s)")
    return {k: [(a, b, act) for a, b, act, _ in v] for k, v in out.items()}


def overrides_digest(spans: list[tuple[float, float, str]]) -> str:
    """SHA-256 of one file's override spans (``""`` for none): a change redoes that file only."""
    if not spans:
        return ""
    return hashlib.sha256(json.dumps([[round(a, 6), round(b, 6), act] for a, b, act in spans]).encode()).hexdigest()
