"""The data sets ``jazzcnn download`` catalogues, each a small declarative adapter.

Every adapter writes the same manifest contract, ``tracks.csv``
(:data:`~jazzcnn.acquire.manifests.TRACK_COLUMNS`: identifier, file, group columns such as
artist and tape, the years or the ``label``, the published ``split``, size, checksum, duration),
and says in ``dataset.json`` (:class:`~jazzcnn.acquire.manifests.DatasetInfo`) which label it
provides, so every later stage works the same way on all of them:

========  ==================================================  ============================  ==========
dataset   catalogue and files                                 label                         split
========  ==================================================  ============================  ==========
niven     Internet Archive ``davidwnivenjazz``: search,        era of the years (metadata,   grouped
          metadata, MD5-verified files                         else title, else identifier)
ia        any Internet Archive collection (``COLLECTION``),    era of the ``date``/``year``  grouped
          groups by item and creator                           metadata, by ``eras.csv``
fma       ``fma_metadata.zip`` and ``fma_<subset>.zip``        ``genre_top``                 FMA's
          (SHA-1-verified, resumable)                                                        set/split
gtzan     a folder or an archive URL                           the genre folder              filtered
folder    a folder and a labels CSV                            the CSV's ``label``           optional
========  ==================================================  ============================  ==========

Commentary removal (the preprocess stage's ``vad``) defaults to on for Niven's spoken
introductions and off for the others.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from jazzcnn.acquire import fma, folder, gtzan
from jazzcnn.acquire.archive import ScrapeResult
from jazzcnn.acquire.config import DownloadConfig
from jazzcnn.acquire.manifests import (DatasetInfo, load_classes, read_dataset_info, write_classes,
                                       write_dataset_info)
from jazzcnn.acquire.parsing import METADATA_RULES, NIVEN_RULES, YearRules
from jazzcnn.acquire.sources import FileSource, SourceError, archive_is_verified, list_members
from jazzcnn.acquire.transfer import TransferError, VerifiedRecord, download_file
from jazzcnn.core.errors import ManifestError
from jazzcnn.core.paths import ManifestPaths, default_eras_csv

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dataset:
    """One data set: how its catalogue is made and what it is.

    Attributes
    ----------
    name : str
    info : DatasetInfo
        What ``dataset.json`` records (its ``source`` filled in per run).
    items : bool
        Catalogued from Internet Archive items (search + metadata, one verified transfer per
        file); otherwise packaged (an archive or a folder, files placed from it).
    rules : YearRules
        Where an item collection's years come from.
    size, licence, where : str
        For the README and ``--help``.
    """

    name: str
    info: DatasetInfo
    items: bool = False
    rules: YearRules = NIVEN_RULES
    size: str = ""
    licence: str = ""
    where: str = ""


DATASETS: dict[str, Dataset] = {d.name: d for d in [
    Dataset("niven", DatasetInfo(), items=True, rules=NIVEN_RULES,
            size="about 650 tapes, 1,000 h; 64 GB VBR MP3", licence="as the Internet Archive item pages state",
            where="https://archive.org/details/davidwnivenjazz"),
    Dataset("ia", DatasetInfo(dataset="ia", labels="years", label_name="era", formats=True, commentary=False),
            items=True, rules=METADATA_RULES, size="any collection", licence="per item",
            where="https://archive.org (COLLECTION=...)"),
    Dataset("fma", fma.INFO, size="small: 8,000 clips, 7.2 GiB; medium 22 GiB; large 93 GiB; full 879 GiB",
            licence="audio under Creative Commons licences chosen by the artists; metadata CC BY 4.0",
            where="https://github.com/mdeff/fma"),
    Dataset("gtzan", gtzan.INFO, size="1,000 30-s clips, 1.2 GB", licence="none stated; for research",
            where="your copy (SOURCE_DIR or SOURCE_URL)"),
    Dataset("folder", folder.INFO, size="yours", licence="yours", where="SOURCE_DIR and LABELS"),
]}


def dataset_info(cfg: DownloadConfig) -> DatasetInfo:
    """The ``dataset.json`` of a download with these settings."""
    base = DATASETS[cfg.dataset].info
    if cfg.dataset in ("niven", "ia"):
        source = {"collection": cfg.collection, "format": cfg.format}
    elif cfg.dataset == "fma":
        source = {"subset": cfg.fma_subset, "base_url": cfg.fma_base_url}
    elif cfg.dataset == "gtzan":
        source = {"source": str(cfg.source_dir) if cfg.source_dir is not None else cfg.source_url,
                  "split_lists": cfg.gtzan_split or ""}
    else:
        source = {"source_dir": str(cfg.source_dir), "labels_csv": str(cfg.labels_csv)}
    fixed = base.fixed_split
    if cfg.dataset == "gtzan" and cfg.gtzan_split:
        fixed = gtzan.SPLIT_NOTE
    if cfg.dataset == "folder":
        fixed = "the labels CSV's split column"
    return replace(base, source=source, fixed_split=fixed)


#: Settings that make a manifests folder a different data set (a new folder is needed).
IDENTITY = {"fma": ("subset",), "ia": ("collection",)}


def check_same_dataset(manifests_dir: Path, info: DatasetInfo) -> None:
    """Refuse to catalogue one data set into a manifests folder that holds another.

    A folder without ``dataset.json`` but with a ``tracks.csv`` holds the Niven collection (it was
    made before data sets were recorded).

    Raises
    ------
    ManifestError
        The folder holds another data set, or another FMA subset or Internet Archive collection.
    """
    paths = ManifestPaths(manifests_dir)
    have_file = (Path(manifests_dir) / "dataset.json").exists()
    if not have_file and not (paths.tracks.exists() and paths.tracks.stat().st_size > 0):
        return
    old = read_dataset_info(manifests_dir)
    differs = old.dataset != info.dataset or any(
        str(old.source.get(k, "")) != str(info.source.get(k, "")) for k in IDENTITY.get(info.dataset, ()))
    if differs:
        def what(i: DatasetInfo) -> str:
            return i.dataset + "".join(f" {k}={i.source.get(k, '')}" for k in IDENTITY.get(i.dataset, ()))

        raise ManifestError(f"{manifests_dir} holds the {what(old)} data set (see its tracks.csv and dataset.json); "
                            f"a {what(info)} download needs folders of its own: set MANIFESTS and DATA_DIR "
                            f"(the Makefile does so per DATASET)")


def ensure_eras(manifests_dir: Path, dataset: str) -> list[str]:
    """Make sure a data set labelled by years has an ``eras.csv``: an Internet Archive collection
    without one gets a copy of the shipped jazz eras, with a note to edit it.

    Returns
    -------
    list of str
        Notes for the user.
    """
    path = ManifestPaths(manifests_dir).eras
    if path.exists() or dataset == "niven":
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(default_eras_csv(), path)
    return [f"{path}: none was there; copied the shipped jazz eras (1923-1955). Edit it for this collection's own "
            "eras (era,start_year,end_year); relabelling reruns training only"]


def ensure_classes(manifests_dir: Path, found: list[str]) -> tuple[list[str], list[str]]:
    """The classes of a data set with its own labels: ``classes.csv``, written from ``found`` when
    absent; an existing one is the user's and is kept (labels it lacks are left out, with a note).

    Returns
    -------
    classes : list of str
    notes : list of str
    """
    path = ManifestPaths(manifests_dir).root / "classes.csv"
    if not path.exists():
        write_classes(path, found)
        return list(found), [f"{path}: {len(found)} classes written ({', '.join(found)}); delete rows to leave "
                             f"classes out, reorder to reorder the outputs"]
    classes = load_classes(path)
    extra = [c for c in found if c not in classes]
    notes = [f"{path}: label(s) {extra} are not listed there; their tracks are left out"] if extra else []
    return classes, notes


@dataclass
class Catalogue:
    """What a packaged data set's catalogue step found.

    Attributes
    ----------
    scraped : ScrapeResult
        Rows, notes, problems, refused rows.
    classes : list of str
        The labels found, in their natural order.
    source : FileSource
        Where the files are placed from.
    estimates : dict
        ``(identifier, file) -> bytes`` for rows whose size is not known yet [bytes].
    """

    scraped: ScrapeResult
    classes: list[str]
    source: FileSource
    estimates: dict = field(default_factory=dict)


def file_source(cfg: DownloadConfig, archives: Path) -> FileSource:
    """Where a packaged data set's files come from (no network work).

    Raises
    ------
    SettingsError
        A setting the data set needs is missing (named).
    """
    return {"fma": fma.file_source, "gtzan": gtzan.file_source, "folder": folder.file_source}[cfg.dataset](cfg, archives)


def fetch_archive(source: FileSource, session, cfg: DownloadConfig, *, progress: Callable[[int], None] | None = None,
                  cancellation=None) -> tuple[Path, int]:
    """Make sure the archive of ``source`` is on disk and verified; download it (resumably) if not.

    An archive already on disk is checked against its SHA-1 (once per call); a mismatch deletes it
    and it is downloaded again.

    Returns
    -------
    path : Path
    received : int
        Bytes downloaded now [bytes].

    Raises
    ------
    SourceError
        No URL to fetch a missing archive from, or the transfer failed or did not verify.
    """
    path = Path(source.path)
    if path.is_file():
        if archive_is_verified(path, source.sha1):
            return path, 0
        if source.url is None:
            raise SourceError(f"{path}: SHA-1 is not {source.sha1}; nothing taken from it")
        log.warning("%s: SHA-1 is not the expected %s; downloading it again", path, source.sha1)
        path.unlink()
    if source.url is None:
        raise SourceError(f"{path}: not found")
    try:
        got, _ = download_file(session, source.url, path, None, "", timeout_s=cfg.timeout_s, attempts=cfg.retries,
                               backoff_s=cfg.backoff_s, progress=progress, sha1=source.sha1 or "",
                               cancellation=cancellation)
    except TransferError as e:
        raise SourceError(f"{path.name} from {source.url}: {e}") from None
    return path, got


def remote_size(session, url: str, timeout_s: float) -> int | None:
    """The size a server announces for ``url`` (a HEAD request, nothing downloaded), or None."""
    import requests

    try:
        resp = session.head(url, timeout=timeout_s, allow_redirects=True)
        if resp.ok and resp.headers.get("Content-Length", "").isdigit():
            return int(resp.headers["Content-Length"])
    except requests.RequestException:
        pass
    return None


def fetch_text(session, url: str, timeout_s: float) -> str:
    """The text at ``url`` (a published list), with the session's retries.

    Raises
    ------
    SourceError
        HTTP error or connection failure, naming the URL.
    """
    import requests

    try:
        resp = session.get(url, timeout=timeout_s)
        resp.raise_for_status()
    except requests.RequestException as e:
        raise SourceError(f"{url}: cannot be fetched ({e})") from None
    return resp.content.decode("utf-8-sig", errors="replace")


def catalogue(cfg: DownloadConfig, archives: Path, session, *, progress=None) -> Catalogue:
    """The catalogue of a packaged data set (fma, gtzan, folder).

    FMA's comes from its metadata archive (fetched and verified first); GTZAN's from the listing of
    its folder or archive (an archive URL is fetched first: its listing is the catalogue) and the
    split lists; a folder's from its labels CSV.

    Raises
    ------
    SettingsError, SourceError, ManifestError
        Missing settings, unfetchable or unverifiable sources, malformed metadata or lists.
    """
    source = file_source(cfg, archives)
    if cfg.dataset == "fma":
        meta, _ = fetch_archive(fma.metadata_source(cfg, archives), session, cfg, progress=progress)
        scraped, classes, est = fma.catalogue(cfg, meta)
        return Catalogue(scraped, classes, source, est)
    if cfg.dataset == "gtzan":
        if source.is_archive:
            fetch_archive(source, session, cfg, progress=progress)
        split, notes = (gtzan.read_split_lists(cfg.gtzan_split, lambda u: fetch_text(session, u, cfg.timeout_s))
                        if cfg.gtzan_split else (None, []))
        scraped, classes = gtzan.catalogue(cfg, list_members(source.path), split, notes)
        return Catalogue(scraped, classes, source)
    scraped, classes = folder.catalogue(cfg)
    return Catalogue(scraped, classes, source)


def fill_from_record(rows: pd.DataFrame, record: VerifiedRecord) -> pd.DataFrame:
    """Sizes and MD5s of files already placed, from ``verified.csv``, into catalogue rows that lack
    them (a packaged data set learns a file's checksum when it is taken from the archive).

    A row whose catalogue size differs from the recorded one (the source changed) keeps a blank
    MD5, so the file is placed again.
    """
    rows = rows.copy()
    for i, r in rows.iterrows():
        rec = record.rows.get((r["identifier"], r["file"]))
        if rec is None or r["md5"]:
            continue
        size, md5 = rec
        if r["size_bytes"] in ("", None) or str(r["size_bytes"]) == str(size):
            rows.at[i, "size_bytes"] = str(size)
            rows.at[i, "md5"] = md5
    return rows


def write_info(manifests_dir: Path, info: DatasetInfo) -> None:
    """Record the data set of a manifests folder (``dataset.json``)."""
    write_dataset_info(manifests_dir, info)
