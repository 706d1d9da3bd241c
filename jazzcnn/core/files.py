"""Atomic file writes shared by every stage: a temporary file beside the target, then a rename.

A reader never sees a half-written manifest, index, record or report, and a killed run leaves the
previous version in place.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from jazzcnn.core.errors import FolderBusyError, NotWritableError

# Read once at import: os.umask can only be read by setting it, which races with threads.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
#: Mode of files written atomically: what a plain open() would give (mkstemp gives 0600).
FILE_MODE = 0o666 & ~_UMASK


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (``hashlib.file_digest``: read in blocks, never whole).

    Parameters
    ----------
    path : Path
    algorithm : str
        A :mod:`hashlib` name: ``"sha256"`` (provenance, shards) or ``"md5"`` (the archive's checksums).

    Raises
    ------
    OSError
        If the file cannot be read.
    """
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def fsync_dir(path: Path) -> None:
    """fsync a directory so that a rename inside it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    Parameters
    ----------
    path : Path
        Target file; its folder is created if missing.
    data : bytes
    durable : bool
        Also fsync the file and its folder, so the new content survives a power loss (used where
        a later write depends on this one, e.g. the shard index before the done-list).

    Raises
    ------
    OSError
        The write or rename failed; the temporary file is removed and ``path`` is unchanged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def remove_stale_temporaries(folder: Path, names: list[str]) -> list[Path]:
    """Delete temporary files that a killed writer left beside the targets ``names`` in ``folder``.

    :func:`atomic_write_bytes` removes its temporary file on any Python exception, but a process
    killed by a signal (SIGKILL, the OOM killer, a power cut) cannot; the next run calls this. Only
    call it while holding whatever lock keeps other writers of those targets out, or it may delete
    a file another process is about to rename.

    Parameters
    ----------
    folder : Path
    names : list of str
        Target file names (``index.csv``); their temporaries are ``.<name>.<random>.tmp``.

    Returns
    -------
    list of Path
        The files removed.
    """
    removed = []
    for name in names:
        for tmp in sorted(Path(folder).glob(f".{name}.*.tmp")):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)  # the folder of an :func:`atomic_save`
            else:
                tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def atomic_save(path: Path, save: Callable[[Path], None]) -> None:
    """Atomically write a file that a library saves by name (a Keras model or weights file).

    ``save`` writes into a temporary folder beside ``path`` (the file keeps its name, so libraries
    that check the extension accept it); the file is fsynced and renamed over ``path``. A process
    killed at any moment leaves ``path`` as it was, plus a ``.<name>.<random>.tmp`` folder that
    :func:`remove_stale_temporaries` removes.

    Parameters
    ----------
    path : Path
        Target file; its folder is created if missing.
    save : callable
        ``save(tmp_path)`` writes the file at ``tmp_path``.

    Raises
    ------
    Exception
        Whatever ``save`` raises; ``path`` is unchanged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        tmp = tmpdir / path.name
        save(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def atomic_write_text(path: Path, text: str, *, durable: bool = False) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def ensure_writable(folder: Path, what: str = "output folder") -> None:
    """Create ``folder`` if needed and check that a file can be created in it.

    Called before long work starts, so a read-only or full output folder fails in a second,
    not after hours of processing.

    Parameters
    ----------
    folder : Path
    what : str
        What the folder is, for the message.

    Raises
    ------
    NotWritableError
        The folder cannot be created, or a file cannot be written in it (the message names it).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write-test.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise NotWritableError(f"{what} {folder} is not writable ({e.strerror or e})") from None


def lock_folder(folder: Path, what: str) -> IO:
    """Take an exclusive lock on ``folder/.lock`` so that two runs never write the same files.

    The kernel releases the lock when its holder exits or is killed, so a killed run never blocks
    the next one. Keep the returned file open for as long as the lock is needed; close it to release.

    Parameters
    ----------
    folder : Path
        Created if missing.
    what : str
        The kind of run, for the error message ("preprocess", "download").

    Returns
    -------
    file object
        The open lock file.

    Raises
    ------
    FolderBusyError
        If another process holds the lock (the message names the folder).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fh = open(folder / ".lock", "a")  # noqa: SIM115 - held open on purpose: the open file is the lock
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise FolderBusyError(f"{folder} is in use by another {what} run") from None
    return fh
