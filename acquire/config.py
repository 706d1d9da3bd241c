"""Settings of the acquire stage (``jazzcnn download`` / ``jazzcnn validate``)."""

from __future__ import annotations

import os
from pathlib import Path

from jazzcnn.core.settings import setting, stage_config


@stage_config
class DownloadConfig:
    """Settings for scraping the collection into ``tracks.csv`` and downloading its audio."""

    collection: str = setting("davidwnivenjazz", "Internet Archive collection to scrape")
    format: str = setting(
        "VBR MP3",
        "archive file format to download: 'VBR MP3' (about a tenth of the WAV size), 'WAVE' (the originals), 'Ogg Vorbis'",
    )
    limit: int | None = setting(None, "only the first N tapes (items) of the collection, in identifier order", "items", ge=1)
    eras: list[str] = setting([], "only tapes whose years fall in these eras (names from eras.csv, comma-separated); empty = all")
    workers: int = setting(4, "parallel download connections (the archive throttles beyond 3-5)", "connections", ge=1, le=64)
    data_dir: Path = setting(Path("data"), "where audio lands: DATA_DIR/audio/<identifier>/<file>")
    manifests_dir: Path = setting(Path("manifests"), "folder holding tracks.csv and eras.csv")
    # Read when the config is made, so IA_BASE_URL applies whenever the flag is not given.
    ia_base_url: str = setting(
        None, "archive.org-compatible server (a private mirror or a test server, e.g. http://127.0.0.1:8765); "
              "default: the IA_BASE_URL environment variable, else https://archive.org",
        default_factory=lambda: os.environ.get("IA_BASE_URL") or "https://archive.org")
    dry_run: bool = setting(False, "scrape and print the size preflight, download nothing")
    scrape: bool = setting(True, "scrape search and metadata into tracks.csv before downloading (false: use tracks.csv as it is)")
    retries: int = setting(
        6, "attempts after the first one: retries of each HTTP request (429/5xx, timeouts, dropped connections), "
           "and resumes of a file transfer that breaks off without progress, before it is reported failed",
        "attempts", ge=0, le=100)
    backoff_s: float = setting(1.0, "first retry delay, doubled each attempt unless Retry-After says otherwise", "s", ge=0)
    max_retry_after_s: float = setting(120.0, "longest wait a server's Retry-After may impose before a retry; longer "
                                              "requests are cut to this (and announced)", "s", ge=0)
    timeout_s: float = setting(60.0, "connect/read timeout of each HTTP request", "s", gt=0)
    free_space_margin_bytes: int = setting(1 << 30, "disk space kept free beyond the planned download", "bytes", ge=0)
    max_examples: int | None = setting(None, "smoke switch: download at most this many files", "files", ge=1)


@stage_config
class ValidateConfig:
    """Settings for checking downloaded files against the manifest (size and MD5)."""

    data_dir: Path = setting(Path("data"), "where audio was downloaded: DATA_DIR/audio/<identifier>/<file>")
    manifests_dir: Path = setting(Path("manifests"), "folder holding tracks.csv")
    format: str = setting("VBR MP3", "which format's rows of tracks.csv to check")
    eras: list[str] = setting([], "only tapes in these eras; empty = all")
    limit: int | None = setting(None, "only the first N tapes", "items", ge=1)
