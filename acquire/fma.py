"""The Free Music Archive data set (FMA; Defferrard, Benzi, Vandergheynst & Bresson, ISMIR 2017).

FMA publishes ``fma_metadata.zip`` (whose ``tracks.csv`` has a two-level header: columns such as
``('track', 'genre_top')``, ``('set', 'split')``, ``('set', 'subset')``, ``('artist', 'id')``) and
one audio archive per subset, ``fma_<subset>.zip``, holding ``<subset folder>/AAA/AAABBB.mp3`` (the
track id zero-padded to 6 digits, ``AAA`` its first three digits), each with a published SHA-1.
The subsets nest: small (8,000 30-s clips, 8 balanced genres) within medium (25,000 clips) within
large (106,574 clips); full holds the same tracks untrimmed.

:func:`catalogue` turns the metadata into manifest rows: one per track of the subset, identifier
the 6-digit track id, label its ``genre_top``, group its artist, its published
``set/split`` (artist-filtered: no artist in two parts) in the ``split`` column, and the archive
path in ``source_file``. Tracks without a ``genre_top`` are listed with a blank label (and not
fetched). Facts about the data set (URLs, checksums, subset sizes, known-bad files) are from the
FMA project's README and issue tracker, named where they are used.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd

from jazzcnn.acquire.archive import ScrapeResult
from jazzcnn.acquire.config import FMA_SHA1, DownloadConfig
from jazzcnn.acquire.manifests import ALL_TRACK_COLUMNS, DatasetInfo
from jazzcnn.acquire.sources import FileSource, SourceError
from jazzcnn.core.errors import ManifestError

SUBSETS = ("small", "medium", "large", "full")
#: Archive sizes as the FMA README gives them (GiB, metadata MiB); for the size preflight only.
PUBLISHED_BYTES = {"fma_metadata.zip": 342 * 2**20, "fma_small.zip": int(7.2 * 2**30), "fma_medium.zip": 22 * 2**30,
                   "fma_large.zip": 93 * 2**30, "fma_full.zip": 879 * 2**30}
#: Length of the clips of the small, medium and large subsets [s] (full holds whole tracks).
CLIP_SECONDS = 30.0
#: Tracks of fma_small whose files hold no audio at all (FMA issues #41 and #44); the preprocess
#: stage reports them as failures and skips them, like any file that does not decode.
KNOWN_EMPTY = ("099134", "108925", "133297")
#: ``('set', 'split')`` values -> the ``split`` column.
SPLIT_NAMES = {"training": "train", "validation": "val", "test": "test"}
#: The metadata columns read.
COLUMNS = {
    "subset": ("set", "subset"), "split": ("set", "split"), "genre_top": ("track", "genre_top"),
    "title": ("track", "title"), "duration": ("track", "duration"), "bit_rate": ("track", "bit_rate"),
    "artist_id": ("artist", "id"), "artist_name": ("artist", "name"),
}

INFO = DatasetInfo(dataset="fma", labels="column", label_name="genre_top", formats=False, commentary=False,
                   fixed_split="FMA set/split (artist-filtered; Defferrard et al. 2017)")


def archive_name(subset: str) -> str:
    """``fma_<subset>.zip``."""
    return f"fma_{subset}.zip"


def metadata_source(cfg: DownloadConfig, archives: Path) -> FileSource:
    """``fma_metadata.zip`` under ``archives``, from ``cfg.fma_base_url``, with its SHA-1."""
    name = "fma_metadata.zip"
    return FileSource(Path(archives) / name, f"{cfg.fma_base_url.rstrip('/')}/{name}", cfg.fma_metadata_sha1,
                      PUBLISHED_BYTES[name])


def file_source(cfg: DownloadConfig, archives: Path) -> FileSource:
    """The audio archive of ``cfg.fma_subset``, with the published SHA-1 unless one is given."""
    name = archive_name(cfg.fma_subset)
    return FileSource(Path(archives) / name, f"{cfg.fma_base_url.rstrip('/')}/{name}",
                      cfg.fma_audio_sha1 or FMA_SHA1[name], PUBLISHED_BYTES[name])


def read_tracks_table(metadata_zip: Path) -> tuple[pd.DataFrame, str]:
    """The columns :data:`COLUMNS` of ``tracks.csv`` inside ``fma_metadata.zip``, as text.

    Read with pandas' two-level header (``header=[0, 1]``, the track id as index), the way the
    FMA project's own loader reads it.

    Returns
    -------
    table : pd.DataFrame
        Index ``track_id`` (text), one column per key of :data:`COLUMNS` ("" when blank).
    member : str
        The path of ``tracks.csv`` in the archive (for messages).

    Raises
    ------
    ManifestError
        No ``tracks.csv`` in the archive, a malformed file, or a missing column (named).
    """
    try:
        with zipfile.ZipFile(metadata_zip) as zf:
            names = [n for n in zf.namelist() if n.rsplit("/", 1)[-1] == "tracks.csv"]
            if not names:
                raise ManifestError(f"{metadata_zip}: no tracks.csv inside (is it fma_metadata.zip?)")
            member = sorted(names, key=len)[0]
            with zf.open(member) as fh:
                table = pd.read_csv(io.TextIOWrapper(fh, encoding="utf-8", newline=""), header=[0, 1], index_col=0,
                                    dtype=str, keep_default_na=False, low_memory=False)
    except (zipfile.BadZipFile, OSError) as e:
        raise SourceError(f"{metadata_zip}: unreadable ({e})") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise ManifestError(f"{metadata_zip}:{member}: not FMA's tracks.csv with a two-row header ({e})") from None
    missing = [f"{a}/{b}" for a, b in COLUMNS.values() if (a, b) not in table.columns]
    if missing:
        raise ManifestError(f"{metadata_zip}:{member}: missing column(s) {missing} (two-row header expected, e.g. "
                            f"track,genre_top)")
    out = pd.DataFrame({key: table[col].astype(str).str.strip() for key, col in COLUMNS.items()})
    out.index = table.index.astype(str).str.strip()
    return out, member


def catalogue(cfg: DownloadConfig, metadata_zip: Path) -> tuple[ScrapeResult, list[str], dict]:
    """Manifest rows of the tracks of ``cfg.fma_subset``, from a verified ``fma_metadata.zip``.

    Parameters
    ----------
    cfg : DownloadConfig
        ``fma_subset`` chooses the tracks (the subsets nest: medium holds small's tracks).
    metadata_zip : Path
        The verified metadata archive.

    Returns
    -------
    scraped : ScrapeResult
        Rows (:data:`~jazzcnn.acquire.manifests.ALL_TRACK_COLUMNS`), notes and problems (rows with a
        malformed track id or split, named by line of ``tracks.csv``; they are skipped).
    classes : list of str
        The genres found, sorted (``classes.csv`` when there is none yet).
    estimates : dict
        ``(identifier, file) -> bytes``: bit rate x duration, for the preflight (the exact size
        is known once the file is taken from the archive) [bytes].

    Raises
    ------
    ManifestError, SourceError
        As :func:`read_tracks_table`.
    """
    table, member = read_tracks_table(metadata_zip)
    wanted = set(SUBSETS[:SUBSETS.index(cfg.fma_subset) + 1]) if cfg.fma_subset != "full" else None
    result = ScrapeResult(pd.DataFrame(columns=ALL_TRACK_COLUMNS), [])
    rows, estimates = [], {}
    for line, (tid, r) in enumerate(table.iterrows(), start=4):  # three header lines
        if wanted is not None and r["subset"] not in wanted:
            continue
        try:
            ident = f"{int(tid):06d}"
        except ValueError:
            result.problems.append(f"{metadata_zip.name}:{member}, line {line}: track id {tid!r} is not a number; skipped")
            continue
        split = SPLIT_NAMES.get(r["split"], "")
        if r["split"] and not split:
            result.problems.append(f"{metadata_zip.name}:{member}, line {line}: set/split {r['split']!r} is not "
                                   f"training/validation/test; track {ident} has no fixed split")
        try:
            duration = float(r["duration"]) if r["duration"] else None
        except ValueError:
            duration = None
        if duration is not None and cfg.fma_subset != "full":
            duration = min(duration, CLIP_SECONDS)
        artist = r["artist_name"] or (f"artist {r['artist_id']}" if r["artist_id"] else "")
        name = f"{ident}.mp3"
        rows.append({c: "" for c in ALL_TRACK_COLUMNS} | {
            "identifier": ident, "file": name, "title": r["title"], "artist": artist, "label": r["genre_top"],
            "split": split, "format": "MP3", "duration_s": "" if duration is None else f"{duration:g}",
            "source_file": f"{ident[:3]}/{name}",
        })
        try:
            if duration is not None and r["bit_rate"]:
                estimates[(ident, name)] = int(float(r["bit_rate"]) / 8 * duration)
        except ValueError:
            pass
    result.rows = pd.DataFrame(rows, columns=ALL_TRACK_COLUMNS)
    result.identifiers = list(result.rows["identifier"])
    unlabelled = int((result.rows["label"] == "").sum())
    result.notes.append(f"fma_{cfg.fma_subset}: {len(result.rows)} tracks in {metadata_zip.name}"
                        + (f", {unlabelled} without a genre_top (listed, not fetched)" if unlabelled else ""))
    bad = sorted(set(KNOWN_EMPTY) & set(result.rows["identifier"]))
    if bad:
        result.notes.append(f"{len(bad)} track(s) known to hold no audio (FMA issues #41, #44): {', '.join(bad)}; "
                            "preprocess will report and skip them")
    classes = sorted({v for v in result.rows["label"] if v})
    return result, classes, estimates
