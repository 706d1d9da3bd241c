"""The GTZAN genre collection (Tzanetakis & Cook, IEEE TSAP 2002): 1,000 30-s clips, 10 genres.

GTZAN is not distributed from one place any more, so the user points to a copy: a folder
(``SOURCE_DIR``) or an archive URL (``SOURCE_URL``, with ``SOURCE_SHA1`` when known). Files are
found wherever they lie below it as ``<genre>/<genre>.000NN.wav`` (or ``.au``, the original
format), so ``genres/...`` and Kaggle's ``Data/genres_original/...`` both work. One clip,
``jazz.00054``, is unreadable in widely shared copies; like any file that does not decode, the
preprocess stage reports it and skips it.

GTZAN repeats artists, songs and even recordings across its clips (Sturm, 2013), so random splits
overstate accuracy. Kereliuk, Sturm & Larsen ("Deep learning and music adversaries", IEEE TMM
2015) published a fault-filtered split that keeps artists apart and leaves faulty clips out:
three lists of ``<genre>/<genre>.000NN.wav`` lines, ``train_filtered.txt``, ``valid_filtered.txt``
and ``test_filtered.txt``. They are not part of this project: ``GTZAN_SPLIT`` names a folder or a
URL holding them, read at run time into the ``split`` column. Clips in no list have no fixed split.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pandas as pd

from jazzcnn.acquire.archive import ScrapeResult
from jazzcnn.acquire.config import DownloadConfig
from jazzcnn.acquire.manifests import ALL_TRACK_COLUMNS, DatasetInfo
from jazzcnn.acquire.sources import FileSource, Member, SourceError, is_archive_name
from jazzcnn.core.errors import ManifestError, SettingsError

#: GTZAN's ten genres, in the order of its folders.
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
#: The clip known to be unreadable in widely shared copies (e.g. Kaggle's WAV conversion).
KNOWN_CORRUPT = "jazz.00054"
#: The fault-filtered split's list files -> the ``split`` column.
SPLIT_FILES = {"train_filtered.txt": "train", "valid_filtered.txt": "val", "test_filtered.txt": "test"}
_CLIP = re.compile(r"(?:^|/)(?P<genre>[a-z]+)/(?P=genre)\.(?P<number>\d{5})\.(?P<ext>wav|au)$", re.IGNORECASE)

INFO = DatasetInfo(dataset="gtzan", labels="column", label_name="genre", formats=False, commentary=False)
SPLIT_NOTE = "fault-filtered split of Kereliuk, Sturm & Larsen (2015)"


def file_source(cfg: DownloadConfig, archives: Path) -> FileSource:
    """``cfg.source_dir`` (a folder, or a local archive), else the archive at ``cfg.source_url``.

    Raises
    ------
    SettingsError
        Neither is given, or the folder does not exist.
    """
    if cfg.source_dir is not None:
        path = Path(cfg.source_dir)
        if not path.exists():
            raise SettingsError(f"setting source_dir: {path} does not exist")
        return FileSource(path, sha1=cfg.source_sha1)
    if cfg.source_url:
        name = PurePosixPath(cfg.source_url.split("?")[0]).name or "gtzan.tar.gz"
        if not is_archive_name(name):
            raise SettingsError(f"setting source_url: {cfg.source_url!r} does not name a .zip or .tar(.gz) archive")
        return FileSource(Path(archives) / name, cfg.source_url, cfg.source_sha1)
    raise SettingsError("the gtzan data set needs SOURCE_DIR (a folder or archive holding <genre>/<genre>.000NN.wav) "
                        "or SOURCE_URL (an archive to download)")


def read_split_lists(where: str, fetch_text) -> tuple[dict[str, str], list[str]]:
    """The fault-filtered split: clip stem (``jazz.00054``) -> ``train``/``val``/``test``.

    Parameters
    ----------
    where : str
        A folder, or an http(s) URL of the folder, holding :data:`SPLIT_FILES`.
    fetch_text : callable
        ``fetch_text(url) -> str`` for URLs (with the stage's retries).

    Returns
    -------
    split : dict
    notes : list of str

    Raises
    ------
    SourceError
        A list is missing or cannot be fetched.
    ManifestError
        A line is not ``<genre>/<genre>.000NN.<ext>``, or a clip is in two lists (named with its line).
    """
    split: dict[str, str] = {}
    where_of: dict[str, str] = {}
    for fname, part in SPLIT_FILES.items():
        if where.startswith(("http://", "https://")):
            url = where.rstrip("/") + "/" + fname
            text = fetch_text(url)
            label = url
        else:
            path = Path(where) / fname
            try:
                text = path.read_text(encoding="utf-8-sig")
            except OSError as e:
                raise SourceError(f"{path}: cannot read the GTZAN split list ({e.strerror or e})") from None
            label = str(path)
        for line_no, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            m = _CLIP.search(line if "/" in line else "x/" + line)
            stem = f"{m['genre'].lower()}.{m['number']}" if m else None
            if m is None:
                # a bare "jazz.00054.wav" also names a clip
                bare = re.fullmatch(r"(?P<genre>[a-z]+)\.(?P<number>\d{5})(?:\.(?:wav|au))?", line, re.IGNORECASE)
                if bare is None:
                    raise ManifestError(f"{label}, line {line_no}: {line!r} is not <genre>/<genre>.000NN.wav")
                stem = f"{bare['genre'].lower()}.{bare['number']}"
            if stem in split and split[stem] != part:
                raise ManifestError(f"{label}, line {line_no}: {stem} is also in the {split[stem]} list "
                                    f"({where_of[stem]}); a clip can be in one part only")
            split[stem], where_of[stem] = part, f"{label}, line {line_no}"
    counts = pd.Series(split).value_counts()
    notes = [f"GTZAN split from {where}: " + ", ".join(f"{counts.get(p, 0)} {p}" for p in ("train", "val", "test"))]
    return split, notes


def catalogue(cfg: DownloadConfig, members: list[Member], split: dict[str, str] | None = None,
              split_notes: list[str] | None = None) -> tuple[ScrapeResult, list[str]]:
    """Manifest rows of the GTZAN clips among ``members`` (of the folder or archive).

    Parameters
    ----------
    cfg : DownloadConfig
    members : list of Member
        From :func:`jazzcnn.acquire.sources.list_members`.
    split : dict, optional
        Stem -> part, from :func:`read_split_lists`.
    split_notes : list of str, optional

    Returns
    -------
    scraped : ScrapeResult
        One row per clip: identifier ``<genre>.000NN``, label the genre, ``size_bytes`` the
        member's size, ``source_file`` its path there, ``split`` from the lists (blank when none).
        A second copy of a clip (``.au`` beside ``.wav``) is skipped with a note.
    classes : list of str
        The genres found, in :data:`GENRES` order (others after, sorted).
    """
    result = ScrapeResult(pd.DataFrame(columns=ALL_TRACK_COLUMNS), [], notes=list(split_notes or []))
    rows, seen, other = [], {}, 0
    for m in members:
        hit = _CLIP.search(m.name)
        if hit is None:
            other += 1
            continue
        genre, number, ext = hit["genre"].lower(), hit["number"], hit["ext"].lower()
        ident = f"{genre}.{number}"
        if ident in seen:
            result.notes.append(f"{m.name}: a second copy of {ident} (first: {seen[ident]}); skipped")
            continue
        seen[ident] = m.name
        rows.append({c: "" for c in ALL_TRACK_COLUMNS} | {
            "identifier": ident, "file": f"{ident}.{ext}", "title": ident, "label": genre,
            "split": (split or {}).get(ident, ""), "format": "WAVE" if ext == "wav" else "AU",
            "size_bytes": str(m.size), "source_file": m.name, "duration_s": "30",
        })
    result.rows = pd.DataFrame(rows, columns=ALL_TRACK_COLUMNS).sort_values("identifier").reset_index(drop=True)
    result.identifiers = list(result.rows["identifier"])
    if not rows:
        raise SourceError("no GTZAN clips found (<genre>/<genre>.000NN.wav or .au) in the source")
    result.notes.insert(0, f"gtzan: {len(rows)} clips" + (f" ({other} other files ignored)" if other else ""))
    if split:
        missing = sorted(set(split) - set(seen))
        if missing:
            result.notes.append(f"{len(missing)} clip(s) of the split lists are not in the source, e.g. {missing[:3]}")
        unlisted = len(set(seen) - set(split))
        result.notes.append(f"{unlisted} clip(s) are in no list of the filtered split (left out of SPLIT=fixed)")
    if KNOWN_CORRUPT in seen:
        result.notes.append(f"{KNOWN_CORRUPT} is unreadable in widely shared copies of GTZAN; if this one is too, "
                            "preprocess reports it and skips it")
    found = sorted(set(result.rows["label"]))
    classes = [g for g in GENRES if g in found] + [g for g in found if g not in GENRES]
    return result, classes
