"""A small archive.org-compatible HTTP server, for the tests, the benchmark and the offline demo.

It answers the three endpoints the ``internetarchive`` client library uses for this project, in
the shapes archive.org uses (string-valued file fields, list-or-string metadata values):

* ``POST|GET /services/search/v1/scrape`` with ``q``, ``fields``, ``sorts``, ``count``, ``cursor``
  and ``total_only`` (the library's :class:`internetarchive.Search` scrape requests);
* ``GET /metadata/<identifier>`` (the Metadata API; ``{}`` for an unknown item, as archive.org);
* ``GET|HEAD /download/<identifier>/<file>`` with ``Range`` support (206 + ``Content-Range``), and
  optionally a 302 to ``/items/<identifier>/<file>`` the way archive.org redirects to a data node.

Faults can be injected per path (:class:`Faults`) and every request is logged, so tests can check
what the client really asked for (e.g. that a resumed download sent ``Range: bytes=N-``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

SCRAPE_PATH = "/services/search/v1/scrape"


@dataclass
class ServedFile:
    """One file of a served item.

    Parameters
    ----------
    name : str
        File name inside the item (may contain ``/`` or be hostile, e.g. ``../evil.mp3``).
    data : bytes
        The file's content.
    format : str
        Archive format name, e.g. ``"WAVE"``, ``"VBR MP3"``, ``"Ogg Vorbis"``, ``"PNG"``.
    source : str
        ``"original"``, ``"derivative"`` or ``"metadata"``.
    original : str, optional
        For derivatives, the file they were made from.
    extra : dict
        More file metadata fields (``length``, ``title`` ...). ``md5``/``size`` given here override
        the values computed from ``data`` (a way to serve a wrong checksum); a value of None
        leaves the field out.
    """

    name: str
    data: bytes
    format: str
    source: str = "original"
    original: str | None = None
    extra: dict = field(default_factory=dict)
    _digests: tuple = field(default=(), init=False, repr=False, compare=False)

    def metadata(self) -> dict:
        """File entry as the Metadata API returns it (numbers as strings)."""
        # Hash once per content: hashing big files on every metadata request would make the
        # server, not the client, the bottleneck of a benchmark.
        if not self._digests or self._digests[0] is not self.data:
            self._digests = (self.data, hashlib.md5(self.data).hexdigest(),
                             f"{zlib.crc32(self.data) & 0xFFFFFFFF:08x}", hashlib.sha1(self.data).hexdigest())
        _, md5, crc32, sha1 = self._digests
        entry = {
            "name": self.name,
            "source": self.source,
            "format": self.format,
            "mtime": "1300000000",
            "size": str(len(self.data)),
            "md5": md5,
            "crc32": crc32,
            "sha1": sha1,
        }
        if self.original is not None:
            entry["original"] = self.original
        entry.update(self.extra)
        # None in ``extra`` drops the field: a file the archive lists without an MD5, say.
        entry = {k: v for k, v in entry.items() if v is not None}
        return entry


@dataclass
class ServedItem:
    """One archive item: ``metadata`` (the item's metadata dict) and its files."""

    identifier: str
    metadata: dict
    files: list[ServedFile]

    def metadata_response(self) -> dict:
        """The whole Metadata API response for this item."""
        meta = {"identifier": self.identifier, **self.metadata}
        files = [f.metadata() for f in self.files]
        return {
            "created": 1700000000,
            "d1": "ia800000.us.archive.org",
            "dir": f"/0/items/{self.identifier}",
            "files": files,
            "files_count": len(files),
            "item_size": sum(len(f.data) for f in self.files),
            "metadata": meta,
            "server": "ia800000.us.archive.org",
            "uniq": 1,
            "workable_servers": ["ia800000.us.archive.org"],
        }


@dataclass
class _Fault:
    kind: str              # "status" | "cut" | "stall" | "delay"
    times: int
    status: int = 503
    retry_after: float | str | None = None
    nbytes: int = 0
    seconds: float = 0.0


class Faults:
    """Faults injected into the next requests of a path (the URL path, unquoted, without query).

    Each fault applies to the next ``times`` matching requests and is then used up; faults of one
    path are applied in the order they were added.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, list[_Fault]] = {}

    def _add(self, path: str, fault: _Fault) -> None:
        with self._lock:
            self._faults.setdefault(path, []).append(fault)

    def fail_next(self, path: str, status: int = 503, times: int = 1, retry_after: float | str | None = None) -> None:
        """Answer the next ``times`` requests of ``path`` with HTTP ``status`` (optionally with a
        ``Retry-After: retry_after`` header, seconds)."""
        self._add(path, _Fault("status", times, status=status, retry_after=retry_after))

    def cut_after(self, path: str, nbytes: int, times: int = 1) -> None:
        """Send the full headers, then only ``nbytes`` of the body, then drop the connection."""
        self._add(path, _Fault("cut", times, nbytes=nbytes))

    def stall_after(self, path: str, nbytes: int, seconds: float, times: int = 1) -> None:
        """Send ``nbytes`` of the body, then stall ``seconds`` before dropping the connection
        (a hung transfer: lets a test time out a client or kill it mid-file)."""
        self._add(path, _Fault("stall", times, nbytes=nbytes, seconds=seconds))

    def delay_next(self, path: str, seconds: float, times: int = 1) -> None:
        """Wait ``seconds`` before answering the next ``times`` requests of ``path`` (a server
        that is slow to respond: lets a test time out a client before any header arrives)."""
        self._add(path, _Fault("delay", times, seconds=seconds))

    def clear(self) -> None:
        """Forget all pending faults."""
        with self._lock:
            self._faults.clear()

    def take(self, path: str) -> _Fault | None:
        """Use up one pending fault of ``path``; None when there is none."""
        with self._lock:
            pending = self._faults.get(path)
            if not pending:
                return None
            fault = pending[0]
            fault.times -= 1
            if fault.times <= 0:
                pending.pop(0)
            return fault


def _scalar_values(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


class ArchiveServer:
    """Serve ``items`` over HTTP on ``host:port`` (0 = any free port) in a background thread.

    Use as a context manager, or call :meth:`start` / :meth:`stop`.

    Attributes
    ----------
    base_url : str
        e.g. ``"http://127.0.0.1:41234"``; valid after :meth:`start`.
    faults : Faults
        Fault injection, e.g. ``server.faults.fail_next("/download/id/a.mp3", status=503)``.
    log : list of tuple
        ``(method, path, range header or None)`` of every request, in arrival order.
    log_times : list of float
        ``time.monotonic()`` of each request of :attr:`log`.
    page_size : int
        Most results per scrape page (the library asks for 10000; a small value exercises the
        cursor paging).
    redirect_downloads : bool
        Answer ``/download/...`` with a 302 to ``/items/...``, as archive.org does.
    chunk_bytes : int
        Write size of file bodies [bytes].
    honour_range : bool
        Answer ``Range`` requests with 206; False sends the whole file with 200, as some mirrors do.
    """

    def __init__(self, items: list[ServedItem], host: str = "127.0.0.1", port: int = 0):
        self.items: dict[str, ServedItem] = {}
        for item in items:
            self.add_item(item)
        self.host = host
        self.port = port
        self.faults = Faults()
        self.log: list[tuple[str, str, str | None]] = []
        self.log_times: list[float] = []
        self.page_size = 100
        self.redirect_downloads = False
        self.chunk_bytes = 256 * 1024
        self.honour_range = True
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # --- content -------------------------------------------------------------------------------
    def add_item(self, item: ServedItem) -> None:
        """Serve ``item`` (replacing an item of the same identifier)."""
        self.items[item.identifier] = item

    def requests_for(self, path: str, method: str | None = None) -> list[tuple[str, str, str | None]]:
        """Logged requests of ``path`` (optionally of one ``method``)."""
        with self._lock:
            return [r for r in self.log if r[1] == path and (method is None or r[0] == method)]

    def clear_log(self) -> None:
        """Empty the request log."""
        with self._lock:
            self.log.clear()
            self.log_times.clear()

    @staticmethod
    def download_path(identifier: str, name: str) -> str:
        """Path (as logged and as used by :class:`Faults`) of a file's download URL."""
        return f"/download/{identifier}/{name}"

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "ArchiveServer":
        """Bind and serve in a daemon thread; returns ``self``.

        Raises
        ------
        OSError
            If the address cannot be bound.
        """
        server = self

        class Handler(_Handler):
            archive = server

        self._httpd = ThreadingHTTPServer((self.host, self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}"
        # A short poll interval makes stop() quick (serve_forever checks for shutdown that often).
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="archive-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "ArchiveServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- search --------------------------------------------------------------------------------
    def _matches(self, item: ServedItem, query: str) -> bool:
        """Tiny subset of the archive query language: ``field:value`` terms joined by AND."""
        meta = {"identifier": item.identifier, **item.metadata}
        for term in query.replace("(", " ").replace(")", " ").split(" AND "):
            term = term.strip()
            if not term:
                continue
            if ":" not in term:
                raise ValueError(f"unsupported query term {term!r}")
            key, value = term.split(":", 1)
            value = value.strip().strip('"')
            if value not in _scalar_values(meta.get(key.strip())):
                return False
        return True

    def scrape(self, params: dict[str, str]) -> dict:
        """The scrape API answer for ``params``.

        Raises
        ------
        ValueError
            On a query this server does not understand (answered as ``{"error": ...}``).
        """
        query = params.get("q", "")
        hits = sorted((i for i in self.items.values() if self._matches(i, query)), key=lambda i: i.identifier)
        sorts = params.get("sorts", "")
        if "identifier desc" in sorts:
            hits.reverse()
        if params.get("total_only") == "true":
            return {"total": len(hits)}
        count = max(1, min(int(params.get("count") or 100), self.page_size))
        start = int(base64.urlsafe_b64decode(params["cursor"]).decode()) if params.get("cursor") else 0
        page = hits[start:start + count]
        fields = [f for f in params.get("fields", "").split(",") if f] or ["identifier"]
        docs = []
        for it in page:
            meta = {"identifier": it.identifier, **it.metadata}
            docs.append({f: meta[f] for f in fields if f in meta} | {"identifier": it.identifier})
        out = {"items": docs, "count": len(docs), "total": len(hits)}
        if start + count < len(hits):
            out["cursor"] = base64.urlsafe_b64encode(str(start + count).encode()).decode()
        return out


class _Handler(BaseHTTPRequestHandler):
    archive: ArchiveServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, each small response
    # would wait for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    # --- helpers -------------------------------------------------------------------------------
    def _record(self) -> str:
        path = unquote(urlsplit(self.path).path)
        with self.archive._lock:
            self.archive.log.append((self.command, path, self.headers.get("Range")))
            self.archive.log_times.append(time.monotonic())
        return path

    def _send_json(self, obj, status: int = 200) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_status(self, status: int, retry_after=None, headers: dict | None = None) -> None:
        body = json.dumps({"error": f"HTTP {status}"}).encode()
        self.send_response(status)
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _params(self) -> dict[str, str]:
        params = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            body = self.rfile.read(length).decode("utf-8", "replace")
            if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                params.update({k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()})
        return params

    # --- dispatch ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            self._answer()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout test) or was killed: nothing left to answer.
            self.close_connection = True

    def _answer(self) -> None:
        path = self._record()
        params = self._params()
        fault = self.archive.faults.take(path)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
            fault = None
        if fault is not None and fault.kind == "status":
            self._send_status(fault.status, fault.retry_after)
            return
        if path == SCRAPE_PATH:
            try:
                self._send_json(self.archive.scrape(params))
            except (ValueError, KeyError) as e:
                self._send_json({"error": str(e)}, status=400)
            return
        if path.startswith("/metadata/"):
            item = self.archive.items.get(path[len("/metadata/"):].strip("/"))
            self._send_json(item.metadata_response() if item else {})
            return
        for prefix in ("/download/", "/items/"):
            if path.startswith(prefix):
                identifier, _, name = path[len(prefix):].partition("/")
                if prefix == "/download/" and self.archive.redirect_downloads:
                    location = f"/items/{quote(identifier)}/{quote(name)}"
                    self._send_status(302, headers={"Location": location})
                    return
                self._send_file(identifier, name, fault)
                return
        self._send_status(404)

    def _send_file(self, identifier: str, name: str, fault: _Fault | None) -> None:
        item = self.archive.items.get(identifier)
        served = next((f for f in item.files if f.name == name), None) if item else None
        if served is None:
            self._send_status(404)
            return
        data = served.data
        size = len(data)
        start, end = 0, size - 1
        status = 200
        rng = self.headers.get("Range") if self.archive.honour_range else None
        if rng:
            try:
                unit, _, spec = rng.partition("=")
                first, _, last = spec.split(",")[0].strip().partition("-")
                if unit.strip() != "bytes":
                    raise ValueError(rng)
                if first == "":          # suffix range: the last N bytes
                    start = max(0, size - int(last))
                else:
                    start = int(first)
                    end = min(int(last), size - 1) if last else size - 1
            except ValueError:
                self._send_status(400)
                return
            if start >= size or start > end:
                self._send_status(416, headers={"Content-Range": f"bytes */{size}"})
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Last-Modified", "Sun, 13 Mar 2011 07:06:40 GMT")
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        view = memoryview(data)[start:end + 1]
        limit = len(view)
        if fault is not None and fault.kind in ("cut", "stall"):
            limit = min(limit, fault.nbytes)
        step = self.archive.chunk_bytes
        try:
            for pos in range(0, limit, step):
                self.wfile.write(view[pos:min(pos + step, limit)])
            if limit < len(view):
                self.wfile.flush()
                if fault.kind == "stall":
                    time.sleep(fault.seconds)
                # Dropping the connection short of Content-Length is what a cut transfer looks like.
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main(argv: list[str] | None = None) -> int:
    """Serve the files of a folder as one item per sub-folder (``python -m jazzcnn.testing.archive_server``)."""
    import argparse
    from pathlib import Path

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("root", type=Path, help="folder with one sub-folder per item")
    p.add_argument("--collection", default="localcollection")
    p.add_argument("--port", type=int, default=8765)
    a = p.parse_args(argv)
    items = []
    for d in sorted(x for x in a.root.iterdir() if x.is_dir()):
        files = [ServedFile(f.name, f.read_bytes(), "VBR MP3" if f.suffix == ".mp3" else "WAVE")
                 for f in sorted(d.iterdir()) if f.is_file()]
        items.append(ServedItem(d.name, {"collection": a.collection, "mediatype": "audio", "title": d.name}, files))
    with ArchiveServer(items, port=a.port) as srv:
        print(f"serving {len(items)} items at {srv.base_url}; Ctrl-C stops")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
