"""Class labels per tape, resolved at training time from ``tracks.csv`` and ``eras.csv`` (or ``classes.csv``).

Labels are never stored upstream: the download and preprocess stages only record years, so editing
either CSV and rerunning ``jazzcnn train`` relabels the data without redoing any audio work.

Two kinds of data set (``dataset.json``, :class:`jazzcnn.acquire.manifests.DatasetInfo`): those
labelled by years (Niven, any Internet Archive collection), whose classes are the eras of
``eras.csv``, and those that bring their own labels (FMA's genres, GTZAN's, a folder's labels CSV),
whose classes are listed in ``classes.csv`` and whose tapes (tracks) carry a ``label``
(:func:`jazzcnn.acquire.manifests.tape_label`). Both end up the same way: one class per tape, in the
``era`` column the rest of the training stage reads, with its index in the class list.

One tape (one Internet Archive ``identifier``) gets one label for all its files, by the one era
rule of the manifests, :func:`jazzcnn.acquire.manifests.tape_era` (a user-set ``era`` wins; else
the era holding the tape's whole year range; a straddling range follows the ``straddle`` policy;
tapes without years, or with years in no era, are left out with a reason). The seed study's eras
overlapped, so one tape could fall into two classes; :func:`jazzcnn.acquire.manifests.load_eras`
rejects overlapping eras, which makes the rule unambiguous.
"""

from __future__ import annotations

import pandas as pd

from jazzcnn.acquire.manifests import (STRADDLE_POLICIES, EraDecision, tape_era, tape_label,  # noqa: F401
                                       tape_split, tape_user_era, tape_years)

#: Columns of ``labels.csv`` in a run folder (``fixed_split``: the data set's published split).
LABEL_COLUMNS = ["identifier", "artist", "year_start", "year_end", "era", "era_index", "label_source", "status", "reason",
                 "fixed_split"]


def resolve_labels(tracks: pd.DataFrame, eras: pd.DataFrame | None, straddle: str = "exclude", *,
                   classes: list[str] | None = None) -> pd.DataFrame:
    """One class per tape (an era, or the data set's label), or the reason it is left out.

    Parameters
    ----------
    tracks : pd.DataFrame
        Output of :func:`jazzcnn.acquire.manifests.load_tracks` (one row per file; several files per tape).
    eras : pd.DataFrame or None
        Output of :func:`jazzcnn.acquire.manifests.load_eras` (non-overlapping, sorted by
        ``start_year``), for data sets labelled by years; None for data sets with their own labels.
    straddle : {"exclude", "start", "end", "mid"}
        Policy for a tape whose years straddle two eras.
    classes : list of str, optional
        The classes in use, in class-index order. Data sets with their own labels: required
        (``classes.csv``, or the chosen subset). Data sets labelled by years: the chosen eras
        (default all of ``eras``); a tape of another era is left out.

    Returns
    -------
    pd.DataFrame
        One row per identifier, columns :data:`LABEL_COLUMNS`. ``status`` is ``"labelled"`` or
        ``"left_out"``; ``era``/``era_index`` are blank/-1 for left-out tapes; ``era_index`` is the
        class's position in the class list (for eras their chronological order), the class index
        of the model; ``fixed_split`` the tape's published split (``""`` when none).

    Raises
    ------
    ManifestError
        Two files of one tape carry different user-filled eras, labels or split parts.
    ValueError
        Unknown ``straddle`` policy, or neither ``eras`` nor ``classes`` given.
    """
    if eras is None and classes is None:
        raise ValueError("resolve_labels needs eras (labels by years) or classes (labels of the data set)")
    order = list(classes) if classes is not None else list(eras["era"])
    index = {name: i for i, name in enumerate(order)}
    rows = []
    for ident, g in tracks.groupby("identifier", sort=True):
        y0, y1 = tape_years(g)
        if eras is None:
            decision = tape_label(g, ident, order)
        else:
            decision = tape_era(y0, y1, eras, straddle=straddle, user_era=tape_user_era(g, ident))
            if decision.era and decision.era not in index:
                decision = EraDecision("", "", f"era {decision.era!r} is not one of the classes chosen ({', '.join(order)})")
        rows.append({
            "identifier": ident, "artist": next((a for a in g["artist"] if a), ""), "year_start": y0, "year_end": y1,
            "era": decision.era, "era_index": index[decision.era] if decision.era else -1,
            "label_source": decision.source, "status": "labelled" if decision.era else "left_out",
            "reason": decision.reason, "fixed_split": tape_split(g, ident),
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
