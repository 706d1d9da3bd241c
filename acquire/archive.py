"""Talking to archive.org (or a compatible server) through the ``internetarchive`` library.

Search goes through :meth:`ArchiveSession.search_items` (the scrape API) and item metadata through
:meth:`ArchiveSession.get_item`; retries are urllib3 :class:`~urllib3.util.Retry` objects mounted
on the library's session, so search, metadata and file transfers all back off the same way.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pandas as pd
from internetarchive import ArchiveSession
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

import requests

from jazzcnn.acquire.manifests import TRACK_COLUMNS, interleave
from jazzcnn.acquire.parsing import (NIVEN_RULES, YearRules, as_list, first_value, parse_artist, parse_duration,
                                     parse_tape, parse_years)
from jazzcnn.acquire.transfer import TransferCancelled, unsafe_name_reason

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://archive.org"
#: Search result fields needed to pre-filter items before fetching their metadata.
SEARCH_FIELDS = ["identifier", "title", "date", "year", "creator", "mediatype"]
#: Item media types holding recordings; anything else (the catalogue PDF is ``texts``) is skipped.
AUDIO_MEDIATYPES = {"audio", "etree"}


def resolve_base_url(base_url: str | None) -> str:
    """The server to talk to: ``base_url``, else ``$IA_BASE_URL``, else https://archive.org.

    Returns
    -------
    str
        Without a trailing slash.
    """
    return (base_url or os.environ.get("IA_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


class _Retry(Retry):
    # urllib3 honours Retry-After only on 413/429/503 when deciding to retry; archive.org also
    # sends it with other 5xx answers, and waiting as told is kinder than our own backoff.
    RETRY_AFTER_STATUS_CODES = frozenset([413, 429, 500, 502, 503, 504])
    #: Longest Retry-After obeyed [s]; longer requests are cut to this and announced.
    max_retry_after_s: float = 120.0
    #: Set to stop every wait at once (Ctrl-C); a waiting request then fails instead of retrying.
    cancel: threading.Event | None = None

    def get_retry_after(self, response) -> float | None:
        wait = super().get_retry_after(response)
        if wait is None:
            return None
        if wait > self.max_retry_after_s:
            log.warning("%s asked to wait %g s before a retry (Retry-After); waiting %g s instead "
                        "(--max-retry-after-s)", getattr(response, "url", None) or "the server", wait,
                        self.max_retry_after_s)
            return self.max_retry_after_s
        if wait >= 10:
            log.info("%s asked to wait %.0f s before a retry (Retry-After)", getattr(response, "url", None) or
                     "the server", wait)
        return wait

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.cancel is None:
            time.sleep(seconds)
        elif self.cancel.wait(seconds):
            raise TransferCancelled("cancelled while waiting to retry")

    def sleep_for_retry(self, response) -> bool:
        wait = self.get_retry_after(response)
        if wait:
            self._wait(wait)
            return True
        return False

    def _sleep_backoff(self) -> None:
        self._wait(self.get_backoff_time())


def make_retry(retries: int, backoff_s: float, *, max_retry_after_s: float = 120.0,
               cancel: threading.Event | None = None) -> Retry:
    """The retry policy of every request: 429/5xx, connection errors and timeouts.

    Parameters
    ----------
    retries : int
        Attempts after the first one.
    backoff_s : float
        Backoff factor [s]: waits grow as ``backoff_s * 2**n`` unless ``Retry-After`` says otherwise.
    max_retry_after_s : float
        Longest ``Retry-After`` wait obeyed [s]; a longer one is cut to this and logged.
    cancel : threading.Event, optional
        When set, every wait ends at once with :class:`~jazzcnn.acquire.transfer.TransferCancelled`.

    Returns
    -------
    urllib3.util.Retry
        With ``raise_on_status=False`` so that an exhausted retry surfaces the last HTTP status.
    """
    # urllib3 copies a Retry with ``new()`` for every attempt, passing only its own arguments:
    # our two settings travel as attributes of a subclass made for this policy.
    policy = type("_PolicyRetry", (_Retry,), {"max_retry_after_s": float(max_retry_after_s), "cancel": cancel})
    return policy(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        redirect=False,
        allowed_methods=["HEAD", "GET", "POST", "OPTIONS"],
        status_forcelist=[429, 500, 502, 503, 504],
        backoff_factor=backoff_s,
        backoff_max=max(backoff_s * 64, 1.0),
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def make_session(base_url: str | None = None, retries: int = 6, backoff_s: float = 1.0,
                 pool_size: int = 8, *, max_retry_after_s: float = 120.0,
                 cancel: threading.Event | None = None) -> ArchiveSession:
    """An :class:`internetarchive.ArchiveSession` aimed at ``base_url`` with our retry policy.

    ``ArchiveSession`` appends ``.archive.org`` to a configured host that lacks it, so the
    session is made with defaults and then pointed at ``base_url`` by setting its ``host`` and
    ``protocol``, which every URL the library builds is made of.

    Parameters
    ----------
    base_url : str, optional
        e.g. ``http://127.0.0.1:8765``; default :func:`resolve_base_url`.
    retries : int
        Retries per request (see :func:`make_retry`).
    backoff_s : float
        Retry backoff factor [s].
    pool_size : int
        Connections kept per host.
    max_retry_after_s : float
        Longest ``Retry-After`` wait obeyed [s] (see :func:`make_retry`).
    cancel : threading.Event, optional
        Ends retry waits at once when set (Ctrl-C).

    Returns
    -------
    ArchiveSession

    Raises
    ------
    ValueError
        If ``base_url`` is not an ``http(s)://host[:port]`` URL.
    """
    url = urlsplit(resolve_base_url(base_url))
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ValueError(f"IA base URL {base_url!r} is not an http(s)://host[:port] URL")
    session = ArchiveSession()
    session.host = url.netloc
    session.protocol = f"{url.scheme}:"
    session.secure = url.scheme == "https"
    if not (url.hostname == "archive.org" or url.hostname.endswith(".archive.org")):
        # Never hand archive.org credentials from the user's ia.ini to another server.
        session.access_key = session.secret_key = None
        session.cookies.clear()
    retry = make_retry(retries, backoff_s, max_retry_after_s=max_retry_after_s, cancel=cancel)
    session.http_adapter_kwargs = {"max_retries": retry, "pool_connections": pool_size, "pool_maxsize": pool_size}
    adapter = HTTPAdapter(**session.http_adapter_kwargs)
    # Mount on the scheme, not only on the host: archive.org redirects downloads to data nodes
    # (iaNNN.us.archive.org) whose transfers must retry the same way.
    session.mount(f"{url.scheme}://", adapter)
    session.mount(f"{url.scheme}://{url.netloc}", adapter)
    # The library's default is "Connection: close"; reusing connections matters for many files.
    session.headers.pop("Connection", None)
    return session


def http_session(retries: int = 6, backoff_s: float = 1.0, pool_size: int = 8, *, max_retry_after_s: float = 120.0,
                 cancel: threading.Event | None = None) -> requests.Session:
    """A plain :class:`requests.Session` with the same retry policy as :func:`make_session`, for
    servers that are not archive.org (FMA's archives, a GTZAN mirror, a published split list).

    Parameters
    ----------
    retries, backoff_s, pool_size, max_retry_after_s, cancel
        As for :func:`make_session`.

    Returns
    -------
    requests.Session
    """
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=make_retry(retries, backoff_s, max_retry_after_s=max_retry_after_s, cancel=cancel),
                          pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass
class ScrapeResult:
    """Rows scraped for ``tracks.csv`` plus what was skipped, looked wrong or failed, for the report."""

    rows: pd.DataFrame
    identifiers: list[str]
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (identifier, reason)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (identifier, file, reason)


def search_collection(session: ArchiveSession, collection: str, retries: int = 6,
                      timeout_s: float = 60.0) -> list[dict]:
    """All items of ``collection`` (scrape API), sorted by identifier.

    Parameters
    ----------
    session : ArchiveSession
        From :func:`make_session` (its retry policy is reused for the search).
    collection : str
        Collection identifier.
    retries : int
        Retries when the session carries no retry policy of its own.
    timeout_s : float
        Timeout of each search request [s].

    Returns
    -------
    list of dict
        Search results with the :data:`SEARCH_FIELDS` the server has.

    Raises
    ------
    requests.HTTPError, ValueError
        When the search fails after retries or the server reports an error.
    """
    # No server-side sort: the scrape API already pages in identifier order, and we sort anyway.
    search = session.search_items(
        f"collection:{collection}", fields=list(SEARCH_FIELDS),
        max_retries=session.http_adapter_kwargs.get("max_retries", retries),
        request_kwargs={"timeout": timeout_s},
    )
    results = []
    for doc in search:
        if "error" in doc:
            raise ValueError(f"search of collection {collection!r} failed: {doc['error']}")
        results.append(doc)
    results.sort(key=lambda d: d["identifier"])
    return results


def track_rows(identifier: str, item_metadata: dict, fmt: str, *,
               rules: YearRules = NIVEN_RULES) -> tuple[list[dict], list[str]]:
    """Manifest rows (one per file of format ``fmt``) of one item's Metadata API response.

    Parameters
    ----------
    identifier : str
    item_metadata : dict
        The Metadata API response (``metadata`` and ``files``).
    fmt : str
        Archive format to list, e.g. ``"VBR MP3"``.
    rules : YearRules
        Where years, artists and tape labels come from (:data:`~jazzcnn.acquire.parsing.NIVEN_RULES`
        for the Niven collection, :data:`~jazzcnn.acquire.parsing.METADATA_RULES` for any other).

    Returns
    -------
    rows : list of dict
        Text values for :data:`TRACK_COLUMNS`.
    problems : list of str
        Implausible years and unparseable durations, naming the item and file.
    """
    meta = item_metadata.get("metadata", {}) or {}
    title = first_value(meta.get("title"))
    years = parse_years(meta, title, identifier, rules=rules)
    problems = [f"{identifier}: {p}" for p in years.problems]
    if not rules.names_from_identifier and years.source == "missing":
        dates = as_list(meta.get("date")) + as_list(meta.get("year"))
        problems.append(f"{identifier}: " + (f"no year in its date/year metadata {dates!r}" if dates
                                             else "no date or year in its metadata") + "; year left blank")
    rows = []
    for f in item_metadata.get("files", []) or []:
        if first_value(f.get("format")) != fmt:
            continue
        name = str(f.get("name", ""))
        try:
            duration = parse_duration(f.get("length"))
        except ValueError as e:
            problems.append(f"{identifier}/{name}: {e}; duration left blank")
            duration = None
        rows.append({
            "identifier": identifier,
            "file": name,
            "title": title,
            "artist": parse_artist(identifier, meta, from_identifier=rules.names_from_identifier),
            "tape": parse_tape(identifier, title) if rules.names_from_identifier else "",
            "year_start": "" if years.start is None else str(years.start),
            "year_end": "" if years.end is None else str(years.end),
            "year_source": years.source,
            "era": "",
            "format": fmt,
            "size_bytes": first_value(f.get("size")),
            "md5": first_value(f.get("md5")),
            # Milliseconds are plenty; "%g" would round long tapes to 6 significant digits.
            "duration_s": "" if duration is None else f"{duration:.3f}".rstrip("0").rstrip("."),
            "source_file": first_value(f.get("original")) if first_value(f.get("source")) != "original" else "",
        })
    return rows, problems


def scrape(session: ArchiveSession, collection: str, fmt: str, keep=None, limit: int | None = None,
           timeout_s: float = 60.0, log=print, workers: int = 1, session_for=None, *,
           rules: YearRules = NIVEN_RULES, label_of=None, classes: list[str] | None = None) -> ScrapeResult:
    """Search ``collection`` and build manifest rows for its audio items.

    Non-audio items (the catalogue PDF) and items without ``fmt`` files are skipped with a note;
    items whose metadata cannot be fetched are listed in :attr:`ScrapeResult.failed`.

    Parameters
    ----------
    session : ArchiveSession
        From :func:`make_session`; does the search (and the metadata when ``workers`` is 1).
    collection : str
        Collection identifier, e.g. ``davidwnivenjazz``.
    fmt : str
        Archive format to list.
    keep : callable, optional
        ``keep(identifier, YearInfo) -> bool`` pre-filter on the search result's years (the
        ``--eras`` selection), applied before fetching metadata.
    limit : int, optional
        Stop after this many audio items (in identifier order).
    timeout_s : float
        Timeout of each request [s].
    log : callable
        Where notes are printed.
    workers : int
        Metadata requests in flight at once (the collection has ~650 items).
    session_for : callable, optional
        Returns the calling thread's session; needed when ``workers`` > 1.
    rules : YearRules
        Where years, artists and tape labels come from (see :func:`track_rows`).
    label_of : callable, optional
        ``label_of(identifier, YearInfo) -> str or None``: an item's class from its search result
        (its era). With a ``limit``, items are then taken round-robin over ``classes``
        (:func:`jazzcnn.acquire.manifests.interleave`), items of no class last, instead of the
        first ``limit`` in identifier order: a sample of a large collection has every era.
    classes : list of str, optional
        Class order for ``label_of``.

    Returns
    -------
    ScrapeResult
        Rows and notes in identifier order, whatever order the requests finished in.

    Raises
    ------
    requests.RequestException, ValueError
        When the search itself fails.
    """
    docs = search_collection(session, collection, timeout_s=timeout_s)
    result = ScrapeResult(pd.DataFrame(columns=TRACK_COLUMNS), [])
    candidates: list[str] = []
    labels: dict[str, str] = {}
    for doc in docs:
        ident = doc["identifier"]
        mediatype = first_value(doc.get("mediatype"))
        if mediatype and mediatype not in AUDIO_MEDIATYPES:
            result.notes.append(f"skipped {ident}: not an audio item (mediatype {mediatype})")
            log(result.notes[-1])
            continue
        years = parse_years(doc, first_value(doc.get("title")), ident, rules=rules)
        if keep is not None and not keep(ident, years):
            continue
        candidates.append(ident)
        labels[ident] = (label_of(ident, years) if label_of is not None else None) or ""
    if limit is not None and label_of is not None:
        # Round-robin over eras, identifier order within one (search results carry no reliable
        # artist to spread over): the metadata of items beyond the limit is never fetched.
        candidates = interleave([(i, labels[i], "") for i in candidates], list(classes or []))

    def fetch(ident: str):
        s = session_for() if session_for is not None else session
        try:
            return s.get_item(ident, request_kwargs={"timeout": timeout_s}), None
        except Exception as e:  # the library re-raises requests errors with the URL in the message
            return None, e

    rows: list[dict] = []
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 and session_for is not None else None
    try:
        pos = 0
        while pos < len(candidates) and (limit is None or len(result.identifiers) < limit):
            # With a limit, fetch only as many as may still be needed (items without audio
            # files do not count), so `--limit 5` does not fetch 650 items' metadata.
            want = len(candidates) - pos if limit is None else limit - len(result.identifiers)
            batch = candidates[pos:pos + want]
            pos += len(batch)
            fetched = pool.map(fetch, batch) if pool else map(fetch, batch)
            for ident, (item, error) in zip(batch, fetched):
                if limit is not None and len(result.identifiers) >= limit:
                    break
                _add_item(result, rows, ident, item, error, fmt, log, rules)
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)
    # identifier order whatever order the items were taken in (a sampled LIMIT), files as listed
    result.rows = pd.DataFrame(rows, columns=TRACK_COLUMNS).sort_values("identifier", kind="stable").reset_index(drop=True)
    result.identifiers.sort()
    return result


def _add_item(result: ScrapeResult, rows: list[dict], ident: str, item, error, fmt: str, log,
              rules: YearRules = NIVEN_RULES) -> None:
    if error is not None:
        result.failed.append((ident, f"metadata not fetched: {error}"))
        log(f"failed: {ident}: metadata not fetched: {error}")
        return
    if not item.item_metadata:
        result.failed.append((ident, "metadata not found (the server answered {})"))
        log(f"failed: {ident}: metadata not found")
        return
    item_rows, problems = track_rows(ident, item.item_metadata, fmt, rules=rules)
    result.problems.extend(problems)
    # Hostile names never reach tracks.csv, where later stages would build paths from them.
    for row in [r for r in item_rows if unsafe_name_reason(ident, r["file"])]:
        item_rows.remove(row)
        result.refused.append((ident, row["file"], f"refused: {unsafe_name_reason(ident, row['file'])}"))
        log(f"refused: {ident}/{row['file']}: {result.refused[-1][2]}")
    mediatype = first_value(item.metadata.get("mediatype"))
    if not item_rows:
        formats = sorted({first_value(f.get("format")) for f in item.files})
        why = f"mediatype {mediatype}" if mediatype and mediatype not in AUDIO_MEDIATYPES else f"formats {formats}"
        result.notes.append(f"skipped {ident}: no {fmt!r} files ({why})")
        log(result.notes[-1])
        return
    rows.extend(item_rows)
    result.identifiers.append(ident)
