"""Verified file transfers: ``.part`` file, streamed MD5 (and SHA-1 where a source publishes it),
HTTP Range resume, atomic rename.

HTTP-level retries (429/5xx with ``Retry-After``, connection errors, timeouts before the body)
happen inside urllib3 through the session's :class:`~urllib3.util.Retry`; this module adds the
one thing urllib3 cannot do: resuming a body cut off half-way with ``Range: bytes=N-``.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import requests
import urllib3

from jazzcnn.core.files import atomic_write_text, file_digest

VERIFIED_COLUMNS = ["identifier", "file", "size_bytes", "md5"]
CHUNK_BYTES = 1 << 20


class UnsafePathError(ValueError):
    """A file name from metadata would land outside the item's folder."""


def unsafe_name_reason(identifier: str, name: str) -> str | None:
    """Why ``identifier/name`` (from untrusted metadata) is no safe relative path, or None.

    Checks the text only (absolute names, ``..``/``.``/empty components, backslashes, NUL
    bytes, an identifier that is not one path component); :func:`safe_target` also resolves it.
    """
    for label, value in (("identifier", identifier), ("file name", name)):
        if not value or "\x00" in value or "\\" in value:
            return f"unsafe {label} {value!r}"
    if "/" in identifier or identifier in (".", ".."):
        return f"unsafe identifier {identifier!r}"
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts) or Path(name).is_absolute():
        return f"unsafe file name {name!r}: absolute or has '..'/empty components"
    return None


def safe_target(audio_dir: Path, identifier: str, name: str) -> Path:
    """``audio_dir/identifier/name``, refusing names that would escape that folder.

    Parameters
    ----------
    audio_dir : Path
        The download root, ``DATA_DIR/audio``.
    identifier, name : str
        Item identifier and file name as given by (untrusted) metadata.

    Returns
    -------
    Path

    Raises
    ------
    UnsafePathError
        Absolute names, ``..`` components, backslashes, NUL bytes or empty names, or an
        identifier that is not a single path component.
    """
    reason = unsafe_name_reason(identifier, name)
    if reason:
        raise UnsafePathError(reason)
    base = (Path(audio_dir) / identifier).resolve()
    target = (base / name).resolve()
    # The textual checks above cover the usual attacks; resolve() also catches symlinked folders.
    if base not in target.parents:
        raise UnsafePathError(f"unsafe file name {name!r}: resolves outside {base}")
    return Path(audio_dir) / identifier / name


def sha1_of_file(path: Path) -> str:
    """SHA-1 hex digest of a file (the checksum FMA publishes for its archives), 40 hex digits.

    Raises
    ------
    OSError
        If the file cannot be read.
    """
    return file_digest(path, "sha1")


def md5_of_file(path: Path) -> str:
    """MD5 hex digest of a file (the archive's checksum), 32 lower-case hex digits.

    Raises
    ------
    OSError
        If the file cannot be read.
    """
    return file_digest(path, "md5")


class VerifiedRecord:
    """``DATA_DIR/audio/verified.csv``: files whose size and MD5 were checked after download.

    The file is rewritten atomically, and only when its content changes: the Makefile's
    preprocess target depends on its mtime, so a run that downloads nothing must not touch it.
    Thread-safe.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._last_save = float("-inf")
        self.rows: dict[tuple[str, str], tuple[int, str]] = {}
        if self.path.exists():
            try:
                df = pd.read_csv(self.path, dtype=str, keep_default_na=False)
                records = list(df[VERIFIED_COLUMNS].itertuples(index=False))
            except (ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
                # Losing the record costs one local MD5 pass over the files, never a download.
                print(f"warning: {self.path} unreadable ({e}); files on disk will be re-checked", file=sys.stderr)
                records = []
            for r in records:
                try:
                    self.rows[(r.identifier, r.file)] = (int(r.size_bytes), r.md5)
                except ValueError:
                    continue  # a damaged line only costs a re-check of that file

    def is_verified(self, identifier: str, name: str, size: int, md5: str, path: Path) -> bool:
        """True when recorded with this size and MD5 and the file is on disk with that size."""
        with self._lock:
            rec = self.rows.get((identifier, name))
        if rec is None or rec != (int(size), md5.lower()):
            return False
        try:
            return path.stat().st_size == int(size)
        except OSError:
            return False

    #: Least time between two saves triggered by :meth:`add` [s]; :meth:`save` writes at once.
    SAVE_INTERVAL_S = 2.0

    def add(self, identifier: str, name: str, size: int, md5: str) -> None:
        """Record a verified file; saved at most every :attr:`SAVE_INTERVAL_S` (call :meth:`save`
        at the end). A file verified but not yet saved when a run dies is re-hashed locally by the
        next run, never downloaded again, so throttling costs no safety."""
        with self._lock:
            self.rows[(identifier, name)] = (int(size), md5.lower())
            if time.monotonic() - self._last_save >= self.SAVE_INTERVAL_S:
                self._save()

    def discard(self, identifier: str, name: str) -> None:
        """Forget a file (missing or corrupt) and save."""
        with self._lock:
            if self.rows.pop((identifier, name), None) is not None:
                self._save()

    def text(self) -> str:
        """The CSV content the record would write."""
        buf = io.StringIO()
        df = pd.DataFrame(
            [(i, f, s, m) for (i, f), (s, m) in sorted(self.rows.items())], columns=VERIFIED_COLUMNS
        )
        df.to_csv(buf, index=False)
        return buf.getvalue()

    def _save(self) -> None:
        self._last_save = time.monotonic()
        if not self.rows and not self.path.exists():
            return  # nothing verified yet: create no folder or file (a dry run leaves no trace)
        text = self.text()
        try:
            if self.path.read_text() == text:
                return
        except OSError:
            pass
        atomic_write_text(self.path, text)

    def save(self) -> None:
        """Write the record if its content changed."""
        with self._lock:
            self._save()


@dataclass
class TransferResult:
    """Outcome of one file: ``status`` is ``downloaded``, ``skipped`` or ``failed``."""

    identifier: str
    file: str
    status: str
    reason: str = ""
    bytes_received: int = 0
    resumed: int = 0


class _Hashers:
    """The running digests of one transfer: MD5 always, SHA-1 when one is expected."""

    def __init__(self, sha1: bool):
        self.all = {"md5": hashlib.md5()} | ({"sha1": hashlib.sha1()} if sha1 else {})

    def update(self, chunk: bytes) -> None:
        for h in self.all.values():
            h.update(chunk)

    def update_from_file(self, path: Path) -> None:
        """Feed a file's bytes in (the .part prefix of a resumed transfer)."""
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
                self.update(chunk)

    def hexdigest(self, name: str = "md5") -> str:
        return self.all[name].hexdigest()


class TransferError(Exception):
    """A file could not be downloaded and verified; the message says why."""


class TransferCancelled(Exception):
    """The run was cancelled (Ctrl-C) while this transfer or its retry wait was under way."""


class Cancellation:
    """Stops transfers running in worker threads at once (Ctrl-C).

    A worker blocked reading a hung connection does not see a flag until its read timeout (60 s by
    default) runs out; :meth:`cancel` therefore also shuts down the socket of every open response,
    which makes the blocked read return at once. Retry waits watch :attr:`event`.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self._lock = threading.Lock()
        self._open: set = set()

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds`` [s]; raise :class:`TransferCancelled` at once when cancelled."""
        if self.event.wait(max(0.0, seconds)):
            raise TransferCancelled("cancelled")

    def register(self, resp) -> None:
        with self._lock:
            self._open.add(resp)
        if self.event.is_set():
            _abort(resp)

    def unregister(self, resp) -> None:
        with self._lock:
            self._open.discard(resp)

    def cancel(self) -> None:
        """Set the event and abort every open response."""
        self.event.set()
        with self._lock:
            responses = list(self._open)
        for resp in responses:
            _abort(resp)


def _abort(resp) -> None:
    """Shut a streaming response's socket down, waking a thread blocked reading it."""
    try:
        sock = resp.raw._connection.sock  # urllib3 2: the HTTPConnection of a streamed response
        sock.shutdown(socket.SHUT_RDWR)
    except (AttributeError, OSError):
        pass


def download_file(session: requests.Session, url: str, target: Path, size: int | None, md5: str,
                  timeout_s: float = 60.0, attempts: int = 6, backoff_s: float = 1.0,
                  progress=None, chunk_bytes: int = CHUNK_BYTES, params: dict | None = None,
                  cancellation: Cancellation | None = None, sha1: str = "") -> tuple[int, int]:
    """Download ``url`` to ``target`` through ``target.part``, resuming and verifying it.

    An existing ``.part`` is resumed with ``Range: bytes=N-``; so is a body cut off mid-way
    (up to ``attempts`` times without progress, waiting ``backoff_s * 2**n``). The MD5 (and the
    SHA-1 when ``sha1`` is given) is computed while streaming (over the ``.part`` prefix first when
    resuming) and the ``.part`` is renamed into place only when size and checksums match; a
    mismatch deletes it.

    Parameters
    ----------
    session : requests.Session
        The library's session, with the retry adapter mounted (:func:`jazzcnn.acquire.archive.make_session`).
    url : str
        File URL (``internetarchive.File.url``).
    target : Path
        Final path; must be safe (:func:`safe_target`).
    size : int or None
        Expected size [bytes] from metadata; None skips the size check.
    md5 : str
        Expected MD5 hex digest from metadata; blank skips the MD5 check.
    timeout_s : float
        Connect and read timeout [s].
    attempts : int
        Resumes allowed after transfers that broke off without progress (0: one try only).
    backoff_s : float
        First wait between resume attempts [s].
    progress : callable, optional
        Called with the number of new bytes written.
    chunk_bytes : int
        Read size [bytes].
    params : dict, optional
        Query parameters of the request.
    cancellation : Cancellation, optional
        Stops the transfer at once when cancelled; the ``.part`` stays for the next run.
    sha1 : str
        Expected SHA-1 hex digest (a source that publishes SHA-1, such as FMA); blank skips it.

    Returns
    -------
    bytes_received : int
        Bytes fetched over the network by this call [bytes].
    resumed : int
        How many requests resumed a partial file.

    Raises
    ------
    TransferError
        HTTP errors after retries, a transfer that kept failing, a size, MD5 or SHA-1 mismatch.
    TransferCancelled
        ``cancellation`` was cancelled.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    received = resumed = 0
    failures = 0
    restarted_after_mismatch = False
    while True:
        offset = part.stat().st_size if part.exists() else 0
        if size is not None and offset > size:
            part.unlink()  # longer than the file: stale, start over
            offset = 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        hasher = _Hashers(bool(sha1))
        got_this_try = 0
        if cancellation is not None and cancellation.is_set():
            raise TransferCancelled(f"cancelled: {url}")
        resp = None
        try:
            with session.get(url, stream=True, timeout=timeout_s, headers=headers, params=params) as resp:
                if cancellation is not None:
                    cancellation.register(resp)
                if resp.status_code == 416 and offset:
                    # The .part already holds everything the server has; verify it as it is.
                    pass
                else:
                    resp.raise_for_status()
                if offset and resp.status_code == 206:
                    if not resp.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
                        # Not the range asked for: appending it would corrupt the file.
                        part.unlink()
                        continue
                    resumed += 1
                    hasher.update_from_file(part)
                    mode = "ab"
                elif resp.status_code == 416:
                    hasher.update_from_file(part)
                    mode = None
                else:
                    # A 200 to a Range request means the server sent the whole file again.
                    mode = "wb"
                    if offset and progress is not None:
                        progress(-offset)
                if mode is not None:
                    # Unbuffered: what arrived is on disk, so a killed run resumes after it.
                    with open(part, mode, buffering=0) as out:
                        # read1 hands over whatever arrived, so the bytes before a cut reach the
                        # .part and the resume starts after them (iter_content would drop a
                        # partly filled chunk when the connection breaks).
                        for chunk in iter(lambda: resp.raw.read1(chunk_bytes, decode_content=True), b""):
                            out.write(chunk)
                            hasher.update(chunk)
                            got_this_try += len(chunk)
                            if progress is not None:
                                progress(len(chunk))
            received += got_this_try
        except requests.HTTPError as e:
            code = e.response.status_code if e.response is not None else "?"
            raise TransferError(f"HTTP {code} {getattr(e.response, 'reason', '')} for {url}".strip()) from None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                urllib3.exceptions.HTTPError) as e:
            received += got_this_try
            if cancellation is not None and cancellation.is_set():
                raise TransferCancelled(f"cancelled: {url}") from None  # we shut the socket ourselves
            if got_this_try == 0:
                failures += 1
                if failures > attempts:
                    raise TransferError(f"transfer kept failing after {failures} attempts: {e}") from None
                wait = backoff_s * 2 ** (failures - 1)
                if cancellation is not None:
                    cancellation.wait(wait)
                else:
                    time.sleep(wait)
            continue  # resume from what the .part now holds
        finally:
            if cancellation is not None and resp is not None:
                cancellation.unregister(resp)
        have = part.stat().st_size
        if size is not None and have != size:
            part.unlink()
            raise TransferError(f"size mismatch: expected {size} bytes, got {have}")
        mismatch = None
        digest = hasher.hexdigest("md5")
        if md5 and digest != md5.lower():
            mismatch = f"MD5 mismatch: expected {md5}, got {digest}; file not kept"
        elif sha1 and hasher.hexdigest("sha1") != sha1.lower():
            mismatch = f"SHA-1 mismatch: expected {sha1}, got {hasher.hexdigest('sha1')}; file not kept"
        if mismatch:
            part.unlink()
            if offset and not restarted_after_mismatch:
                # The old .part may have been stale (file changed upstream): one clean retry.
                restarted_after_mismatch = True
                continue
            raise TransferError(mismatch)
        os.replace(part, target)
        return received, resumed
