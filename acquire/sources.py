"""Where the files of a packaged data set come from: a published archive or a local folder.

FMA publishes its audio as zip archives, GTZAN circulates as a tar.gz or zip of ``genres/...``, and
a researcher's own data set is a folder. Each file a manifest row names is *placed* under
``DATA_DIR/audio/<identifier>/<file>`` as the archive's downloads are: streamed into
``<file>.part`` with its MD5 computed on the way, then renamed into place. The target path is
always built from the row's identifier and file name through
:func:`~jazzcnn.acquire.transfer.safe_target`, never from a name inside the archive, so no member
can write outside the audio folder; archive members are only looked up by name, and only regular
files are read (``zipfile`` checks each member's CRC-32 as it is read; a tar member that is a link
or a device is refused).

Archives are fetched with :func:`~jazzcnn.acquire.transfer.download_file` (``.part``, HTTP Range
resume, SHA-1 checked when the source publishes one). An archive already on disk is trusted only
after its SHA-1 matches, once per run that needs it.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from jazzcnn.acquire.transfer import CHUNK_BYTES, sha1_of_file
from jazzcnn.core.errors import JazzcnnError

#: Archive name endings this module reads.
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


class SourceError(JazzcnnError, RuntimeError):
    """An archive, folder or list of a data set cannot be fetched or read (the message names it)."""


@dataclass(frozen=True)
class FileSource:
    """Where a packaged data set's files are placed from.

    Attributes
    ----------
    path : Path
        The archive (under ``DATA_DIR/archives``) or the user's folder.
    url : str or None
        Where the archive is fetched from when it is not on disk yet.
    sha1 : str or None
        The archive's SHA-1 (published, or given by the user); None: not checked.
    published_bytes : int or None
        The archive's size as published (an approximation), for the size preflight [bytes].
    """

    path: Path
    url: str | None = None
    sha1: str | None = None
    published_bytes: int | None = None

    @property
    def is_archive(self) -> bool:
        """True for an archive (fetched or local), False for a folder."""
        return self.url is not None or not Path(self.path).is_dir()


def is_archive_name(name: str) -> bool:
    """True when ``name`` ends like an archive this module reads (zip or tar, compressed or not)."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class Member:
    """One regular file of an archive or folder.

    Attributes
    ----------
    name : str
        Path inside the archive (``/``-separated) or relative to the folder.
    size : int
        Size [bytes].
    """

    name: str
    size: int


def list_members(source: Path) -> list[Member]:
    """The regular files of a zip or tar archive, or of a folder (recursively), sorted by name.

    Parameters
    ----------
    source : Path
        An archive (:data:`ARCHIVE_SUFFIXES`) or a folder.

    Returns
    -------
    list of Member

    Raises
    ------
    SourceError
        Missing path, unreadable or damaged archive.
    """
    source = Path(source)
    if source.is_dir():
        out = []
        for p in source.rglob("*"):
            if p.is_file() and not p.is_symlink() and not p.name.endswith(".part"):
                out.append(Member(p.relative_to(source).as_posix(), p.stat().st_size))
        return sorted(out, key=lambda m: m.name)
    if not source.exists():
        raise SourceError(f"{source}: not found")
    try:
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as zf:
                return sorted((Member(i.filename, i.file_size) for i in zf.infolist() if not i.is_dir()),
                              key=lambda m: m.name)
        with tarfile.open(source, "r:*") as tf:
            return sorted((Member(m.name, m.size) for m in tf.getmembers() if m.isfile()), key=lambda m: m.name)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise SourceError(f"{source}: not a readable zip or tar archive ({e})") from None


def match_members(members: list[Member], wanted: list[str]) -> dict[str, Member]:
    """Find each wanted relative path among ``members``: the member of that name, or the one ending
    in ``/<name>`` (an archive's top folder, such as ``fma_small/``, is not part of a manifest's
    ``source_file``).

    Returns
    -------
    dict
        Wanted name -> member, for those found.
    """
    exact = {m.name: m for m in members}
    by_suffix: dict[str, Member] = {}
    for m in members:
        parts = PurePosixPath(m.name).parts
        for k in range(1, len(parts)):
            by_suffix.setdefault("/".join(parts[k:]), m)
    return {w: exact.get(w) or by_suffix[w] for w in wanted if w in exact or w in by_suffix}


def place_stream(stream, target: Path) -> tuple[int, str]:
    """Copy ``stream`` to ``target`` through ``target.part``, computing its MD5; rename at the end.

    Parameters
    ----------
    stream : binary file object
    target : Path
        Final path (its folder is created).

    Returns
    -------
    size : int
        Bytes written [bytes].
    md5 : str
        MD5 hex digest of what was written.

    Raises
    ------
    OSError, zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error
        Reading or writing failed; the ``.part`` is removed and ``target`` left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    md5 = hashlib.md5()
    size = 0
    try:
        with open(part, "wb") as out:
            for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
                out.write(chunk)
                md5.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, target)
    return size, md5.hexdigest()


#: Errors reading one member: it is reported and skipped, the others go on.
READ_ERRORS = (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error)


def place_members(source: Path, wanted: dict[str, Path]) -> Iterator[tuple[str, tuple[int, str] | None, str]]:
    """Place the wanted members of an archive or folder at their targets, one by one.

    Parameters
    ----------
    source : Path
        Archive or folder.
    wanted : dict
        Member name (as :func:`list_members` gives it) -> target path (built with
        :func:`~jazzcnn.acquire.transfer.safe_target`).

    Yields
    ------
    name : str
        The member.
    placed : (size, md5) or None
        Bytes and MD5 of the placed file, None when it failed.
    error : str
        Why it failed (``""`` when placed).

    Raises
    ------
    SourceError
        The archive itself cannot be opened.
    """
    source = Path(source)
    if source.is_dir():
        for name, target in wanted.items():
            try:
                with open(source / name, "rb") as fh:
                    yield name, place_stream(fh, target), ""
            except READ_ERRORS as e:
                yield name, None, f"cannot copy {source / name}: {e}"
        return
    try:
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as zf:
                for name, target in wanted.items():
                    try:
                        with zf.open(name) as fh:  # CRC-32 checked as the member is read to its end
                            yield name, place_stream(fh, target), ""
                    except (KeyError, *READ_ERRORS) as e:
                        yield name, None, f"member {name} of {source.name} unreadable: {e}"
            return
        tf = tarfile.open(source, "r:*")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise SourceError(f"{source}: not a readable zip or tar archive ({e})") from None
    # One pass in archive order: a compressed tar cannot seek back cheaply.
    todo = dict(wanted)
    try:
        with tf:
            for m in tf:
                if m.name not in todo:
                    continue
                target = todo.pop(m.name)
                if not m.isfile():
                    yield m.name, None, f"member {m.name} of {source.name} is not a regular file (refused)"
                    continue
                try:
                    yield m.name, place_stream(tf.extractfile(m), target), ""
                except READ_ERRORS as e:
                    yield m.name, None, f"member {m.name} of {source.name} unreadable: {e}"
                if not todo:
                    break
    except READ_ERRORS as e:  # the stream itself broke: what is left cannot be read
        for name in todo:
            yield name, None, f"{source.name} is damaged before member {name}: {e}"
        return
    for name in todo:
        yield name, None, f"member {name} not found in {source.name}"


def archive_is_verified(path: Path, sha1: str | None) -> bool:
    """True when ``path`` exists and its SHA-1 is ``sha1`` (or exists and no SHA-1 is known)."""
    if not Path(path).is_file():
        return False
    return not sha1 or sha1_of_file(path) == sha1.lower()
