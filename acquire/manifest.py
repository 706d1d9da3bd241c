"""The manifests: ``tracks.csv`` (one row per audio file) and ``eras.csv`` (era year ranges).

These two CSVs are the single source of truth that every later stage reads, and the files users
edit to relabel eras. Loading validates them and raises :class:`ManifestError` naming the file,
the line (1-based, header is line 1) and the offending value.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from jazzcnn.csvio import line_of, read_csv_table
from jazzcnn.errors import ManifestError
from jazzcnn.files import atomic_write_text

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
    "source_file",  # the original file this derivative was made from (blank for originals)
]
#: Columns users may edit; a re-scrape never overwrites them.
USER_COLUMNS = ["era", "year_start", "year_end"]
ERA_COLUMNS = ["era", "start_year", "end_year"]



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


def load_tracks(path: Path, eras: pd.DataFrame | None = None) -> pd.DataFrame:
    """Load and validate ``tracks.csv``.

    Parameters
    ----------
    path : Path
        The track manifest (columns :data:`TRACK_COLUMNS`; extra columns are kept).
    eras : pd.DataFrame, optional
        Output of :func:`load_eras`; when given, every non-blank ``era`` must name one of its eras.

    Returns
    -------
    pd.DataFrame
        One row per audio file; ``year_start``/``year_end``/``size_bytes`` as nullable ``Int64``,
        ``duration_s`` as float, text columns as str ("" when blank).

    Raises
    ------
    ManifestError
        Missing file or column, duplicate ``identifier,file``, non-numeric year, start after end,
        or an era name not in ``eras``.
    """
    path = Path(path)
    df = read_csv_table(path, required=TRACK_COLUMNS, what="track manifest", missing_hint="run `make download` first")

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
    columns = list(TRACK_COLUMNS) + [c for c in list(old.columns) + list(new.columns) if c not in TRACK_COLUMNS]
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
            if col in new.columns and col in TRACK_COLUMNS:
                merged[col] = rec[col]
        user_years = any(kept.get(c, "").strip() and kept[c].strip() != rec[c].strip() for c in ("year_start", "year_end"))
        if user_years or kept.get("year_source") == "user":
            merged["year_source"] = "user"
        rows[i] = merged
    return pd.DataFrame(rows + appended, columns=columns).fillna("")


def era_for_years(start, end, eras: pd.DataFrame) -> str | None:
    """The era of ``eras`` whose range holds all of ``start``-``end`` (inclusive years), else None.

    A tape straddling two eras, or with unknown years, has no era (it is "unlabelled").
    """
    if start is None or end is None or pd.isna(start) or pd.isna(end):
        return None
    for r in eras.itertuples(index=False):
        if r.start_year <= int(start) and int(end) <= r.end_year:
            return r.era
    return None


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


def select_tracks(tracks: pd.DataFrame, eras: pd.DataFrame, fmt: str, era_names: list[str],
                  limit: int | None) -> pd.DataFrame:
    """Rows of format ``fmt`` of the chosen eras and first ``limit`` tapes, with an ``era_of`` column.

    A row's era is its user-set ``era`` when non-blank, else the era holding its whole year range,
    else ``"unlabelled"``. ``--eras`` keeps rows whose era is named, or whose years all fall in
    the named eras.

    Parameters
    ----------
    tracks : pd.DataFrame
        Output of :func:`load_tracks`.
    eras : pd.DataFrame
        Output of :func:`load_eras`.
    fmt : str
        Archive format.
    era_names : list of str
        Era names; empty keeps all.
    limit : int, optional
        Number of tapes (identifiers, in identifier order) to keep.

    Returns
    -------
    pd.DataFrame

    Raises
    ------
    ManifestError
        If ``era_names`` holds an era not in ``eras``.
    """
    df = tracks[tracks["format"] == fmt].copy()
    df["era_of"] = [
        r.era or era_for_years(r.year_start, r.year_end, eras) or "unlabelled"
        for r in df.itertuples(index=False)
    ]
    if era_names:
        years_within_eras(None, None, eras, era_names)  # unknown era names fail even on no rows
        keep = [
            r.era_of in era_names or years_within_eras(r.year_start, r.year_end, eras, era_names)
            for r in df.itertuples(index=False)
        ]
        df = df[pd.Series(keep, index=df.index, dtype=bool)]
    df = df.sort_values(["identifier", "file"], kind="stable")
    if limit is not None:
        df = df[df["identifier"].isin(sorted(df["identifier"].unique())[:limit])]
    return df.reset_index(drop=True)
