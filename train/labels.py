"""Era labels per tape, resolved at training time from ``tracks.csv`` and ``eras.csv``.

Labels are never stored upstream: the download and preprocess stages only record years, so editing
either CSV and rerunning ``jazzcnn train`` relabels the data without redoing any audio work.

Rules (one tape = one Internet Archive ``identifier``; its files share one label):

1. A non-blank ``era`` cell (filled in by a user) wins. Two files of one tape naming different
   eras is a schema error.
2. Otherwise the tape's year range is ``min(year_start) .. max(year_end)`` over its files. The
   label is the era whose inclusive ``start_year .. end_year`` contains the whole range.
3. A range that straddles two or more eras follows the ``straddle`` policy: ``exclude`` (default:
   left out), ``start`` (era of the first year), ``end`` (era of the last year), ``mid`` (era of
   the middle year, rounded down).
4. Tapes with no years, or with years outside every era (or falling in a gap between eras under
   the chosen policy), are left out with a reason.

The seed study's eras overlapped, so one tape could fall into two classes; :func:`acquire.manifest.load_eras`
rejects overlapping eras, which makes the rule above unambiguous.
"""

from __future__ import annotations

import pandas as pd

from acquire.manifest import ManifestError

STRADDLE_POLICIES = ("exclude", "start", "end", "mid")
#: Columns of ``labels.csv`` in a run folder.
LABEL_COLUMNS = ["identifier", "artist", "year_start", "year_end", "era", "era_index", "label_source", "status", "reason"]


def era_of_year(year: int, eras: pd.DataFrame) -> str | None:
    """Name of the era whose inclusive year range contains ``year``, or ``None``."""
    hit = eras[(eras["start_year"] <= year) & (eras["end_year"] >= year)]
    return None if hit.empty else str(hit["era"].iloc[0])


def resolve_labels(tracks: pd.DataFrame, eras: pd.DataFrame, straddle: str = "exclude") -> pd.DataFrame:
    """One era label per tape, or the reason it is left out.

    Parameters
    ----------
    tracks : pd.DataFrame
        Output of :func:`acquire.manifest.load_tracks` (one row per file; several files per tape).
    eras : pd.DataFrame
        Output of :func:`acquire.manifest.load_eras` (non-overlapping, sorted by ``start_year``).
    straddle : {"exclude", "start", "end", "mid"}
        Policy for a tape whose years straddle two eras (see module docstring).

    Returns
    -------
    pd.DataFrame
        One row per identifier, columns :data:`LABEL_COLUMNS`. ``status`` is ``"labelled"`` or
        ``"left_out"``; ``era``/``era_index`` are blank/-1 for left-out tapes; ``era_index`` is the
        era's position in ``eras`` (chronological order, the class index of the model).

    Raises
    ------
    ManifestError
        Two files of one tape carry different user-filled eras.
    ValueError
        Unknown ``straddle`` policy.
    """
    if straddle not in STRADDLE_POLICIES:
        raise ValueError(f"straddle must be one of {STRADDLE_POLICIES}, got {straddle!r}")
    index = {name: i for i, name in enumerate(eras["era"])}
    rows = []
    for ident, g in tracks.groupby("identifier", sort=True):
        artist = next((a for a in g["artist"] if a), "")
        ys, ye = g["year_start"].dropna(), g["year_end"].dropna()
        y0 = int(ys.min()) if len(ys) else (int(ye.min()) if len(ye) else None)
        y1 = int(ye.max()) if len(ye) else (int(ys.max()) if len(ys) else None)
        row = {"identifier": ident, "artist": artist, "year_start": y0, "year_end": y1,
               "era": "", "era_index": -1, "label_source": "", "status": "left_out", "reason": ""}
        user = sorted({e for e in g["era"] if e})
        if len(user) > 1:
            raise ManifestError(f"tracks.csv: tape {ident!r} has files labelled with different eras {user}")
        if user:
            row.update(era=user[0], label_source="user")
        elif y0 is None:
            row["reason"] = "no recording years (fill year_start/year_end or era in tracks.csv)"
        else:
            e0, e1 = era_of_year(y0, eras), era_of_year(y1, eras)
            if e0 is not None and e0 == e1:
                row.update(era=e0, label_source="years")
            elif straddle == "exclude":
                row["reason"] = f"years {y0}-{y1} straddle eras {e0 or '(none)'} and {e1 or '(none)'} (straddle=exclude)"
            else:
                year = {"start": y0, "end": y1, "mid": (y0 + y1) // 2}[straddle]
                e = era_of_year(year, eras)
                if e is None:
                    row["reason"] = f"year {year} ({straddle} of {y0}-{y1}) is in no era"
                else:
                    row.update(era=e, label_source=f"years ({straddle} of range)")
            if not row["era"] and not row["reason"]:
                row["reason"] = f"years {y0}-{y1} are in no era"
        if row["era"]:
            row.update(status="labelled", era_index=index[row["era"]])
        rows.append(row)
    out = pd.DataFrame(rows, columns=LABEL_COLUMNS)
    out["year_start"] = out["year_start"].astype("Int64")
    out["year_end"] = out["year_end"].astype("Int64")
    return out


def format_left_out(labels: pd.DataFrame) -> str:
    """Human-readable list of the left-out tapes (one line each), or ``""`` when none."""
    lo = labels[labels["status"] != "labelled"]
    if lo.empty:
        return ""
    lines = [f"{len(lo)} tape(s) left out:"]
    lines += [f"  {r.identifier}: {r.reason}" for r in lo.itertuples()]
    return "\n".join(lines)
