"""Era labels per tape, resolved at training time from ``tracks.csv`` and ``eras.csv``.

Labels are never stored upstream: the download and preprocess stages only record years, so editing
either CSV and rerunning ``jazzcnn train`` relabels the data without redoing any audio work.

One tape (one Internet Archive ``identifier``) gets one label for all its files, by the one era
rule of the manifests, :func:`jazzcnn.acquire.manifests.tape_era` (a user-set ``era`` wins; else
the era holding the tape's whole year range; a straddling range follows the ``straddle`` policy;
tapes without years, or with years in no era, are left out with a reason). The seed study's eras
overlapped, so one tape could fall into two classes; :func:`jazzcnn.acquire.manifests.load_eras`
rejects overlapping eras, which makes the rule unambiguous.
"""

from __future__ import annotations

import pandas as pd

from jazzcnn.acquire.manifests import STRADDLE_POLICIES, tape_era, tape_user_era, tape_years  # noqa: F401

#: Columns of ``labels.csv`` in a run folder.
LABEL_COLUMNS = ["identifier", "artist", "year_start", "year_end", "era", "era_index", "label_source", "status", "reason"]


def resolve_labels(tracks: pd.DataFrame, eras: pd.DataFrame, straddle: str = "exclude") -> pd.DataFrame:
    """One era label per tape, or the reason it is left out.

    Parameters
    ----------
    tracks : pd.DataFrame
        Output of :func:`jazzcnn.acquire.manifests.load_tracks` (one row per file; several files per tape).
    eras : pd.DataFrame
        Output of :func:`jazzcnn.acquire.manifests.load_eras` (non-overlapping, sorted by ``start_year``).
    straddle : {"exclude", "start", "end", "mid"}
        Policy for a tape whose years straddle two eras.

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
    index = {name: i for i, name in enumerate(eras["era"])}
    rows = []
    for ident, g in tracks.groupby("identifier", sort=True):
        y0, y1 = tape_years(g)
        decision = tape_era(y0, y1, eras, straddle=straddle, user_era=tape_user_era(g, ident))
        rows.append({
            "identifier": ident, "artist": next((a for a in g["artist"] if a), ""), "year_start": y0, "year_end": y1,
            "era": decision.era, "era_index": index[decision.era] if decision.era else -1,
            "label_source": decision.source, "status": "labelled" if decision.era else "left_out",
            "reason": decision.reason,
        })
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
