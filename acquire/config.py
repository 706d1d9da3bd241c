"""Settings of the acquire stage (``jazzcnn download`` / ``jazzcnn validate``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from jazzcnn.core.settings import setting, stage_config

#: The data sets ``jazzcnn download`` can catalogue (see :mod:`jazzcnn.acquire.datasets`).
DATASET_NAMES = ("niven", "ia", "fma", "gtzan", "folder")
#: FMA's published location and SHA-1 checksums of its archives (Defferrard, Benzi, Vandergheynst &
#: Bresson, "FMA: A Dataset for Music Analysis", ISMIR 2017; the checksums as the project's README
#: lists them).
FMA_BASE_URL = "https://os.unil.cloud.switch.ch/fma"
FMA_SHA1 = {
    "fma_metadata.zip": "f0df49ffe5f2a6008d7dc83c6915b31835dfe733",
    "fma_small.zip": "ade154f733639d52e35e32f5593efe5be76c6d70",
    "fma_medium.zip": "c67b69ea232021025fca9231fc1c7c1a063ab50b",
    "fma_large.zip": "497109f4dd721066b5ce5e5f250ec604dc78939e",
    "fma_full.zip": "0f0ace23fbe9ba30ecb7e95f763e435ea802b8ab",
}


@stage_config
class DownloadConfig:
    """Settings for cataloguing a data set into ``tracks.csv`` and downloading its audio, verified."""

    dataset: Literal["niven", "ia", "fma", "gtzan", "folder"] = setting(
        "niven", "data set: niven (the Niven collection; years from titles too), ia (any Internet Archive collection, "
                 "labelled by its date/year metadata and eras.csv), fma (Free Music Archive, genre_top), gtzan (GTZAN "
                 "genres, from SOURCE_DIR or SOURCE_URL), folder (SOURCE_DIR of audio with a LABELS csv)")
    collection: str = setting("davidwnivenjazz", "Internet Archive collection to scrape (niven, ia)")
    format: str = setting(
        "VBR MP3",
        "archive file format to download: 'VBR MP3' (about a tenth of the WAV size), 'WAVE' (the originals), 'Ogg Vorbis'",
    )
    limit: int | None = setting(None, "only N tapes (items, tracks), taken round-robin over the eras or classes and, "
                                      "within one, over artists (not the first N)", "items", ge=1)
    eras: list[str] = setting([], "only tapes whose years fall in these eras (names from eras.csv), or for data sets "
                                  "with their own labels only these classes (comma-separated); empty = all")
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
    max_examples: int | None = setting(None, "smoke switch: download at most this many files, sampled evenly over the "
                                             "eras or classes", "files", ge=1)
    fma_subset: Literal["small", "medium", "large", "full"] = setting(
        "small", "fma: which FMA subset (small: 8,000 30-s clips of 8 balanced genres; medium: 25,000 clips, 16 "
                 "genres; large: 106,574 clips; full: the same tracks untrimmed)")
    fma_base_url: str = setting(FMA_BASE_URL, "fma: where the FMA archives are published (fma_metadata.zip, "
                                              "fma_<subset>.zip)")
    fma_metadata_sha1: str = setting(FMA_SHA1["fma_metadata.zip"], "fma: SHA-1 of fma_metadata.zip (the published one)")
    fma_audio_sha1: str | None = setting(None, "fma: SHA-1 of the audio archive (default: the published checksum of "
                                               "fma_<subset>.zip)")
    source_dir: Path | None = setting(None, "gtzan, folder: the local folder holding the data set's audio (GTZAN: "
                                            "<genre>/<genre>.000NN.wav or .au anywhere below it)", path=True)
    source_url: str | None = setting(None, "gtzan: URL of an archive (.zip, .tar.gz) holding the data set, "
                                           "downloaded resumably instead of reading SOURCE_DIR")
    source_sha1: str | None = setting(None, "gtzan: SHA-1 the archive at SOURCE_URL must have (checked when given)")
    labels_csv: Path | None = setting(None, "folder: CSV of file (relative to SOURCE_DIR), label, and optionally group "
                                            "(or artist: files of one group stay on one side of every split) and "
                                            "split (train/val/test)", path=True)
    gtzan_split: str | None = setting(None, "gtzan: folder or URL holding train_filtered.txt, valid_filtered.txt and "
                                            "test_filtered.txt, the fault-filtered split of Kereliuk, Sturm & Larsen "
                                            "(2015); empty: no fixed split")


@stage_config
class ValidateConfig:
    """Settings for checking downloaded files against the manifest (size and MD5)."""

    data_dir: Path = setting(Path("data"), "where audio was downloaded: DATA_DIR/audio/<identifier>/<file>")
    manifests_dir: Path = setting(Path("manifests"), "folder holding tracks.csv")
    format: str = setting("VBR MP3", "which format's rows of tracks.csv to check (archive data sets)")
    eras: list[str] = setting([], "only tapes in these eras (or classes); empty = all")
    limit: int | None = setting(None, "only N tapes, sampled as download samples them", "items", ge=1)
