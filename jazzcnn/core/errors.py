"""The one family of errors that jazzcnn's library code raises.

Library functions raise these with a message that names the file, line, setting or value at
fault; only the command line prints them (``error: ...``) and turns them into exit status 2.
Each class is also a :class:`ValueError` (or :class:`RuntimeError`), so code that caught the
built-in type keeps working.
"""

from __future__ import annotations


class JazzcnnError(Exception):
    """Base of every error jazzcnn raises on purpose; the message is meant for the user."""


class SettingsError(JazzcnnError, ValueError):
    """A setting is unknown, of the wrong type or out of range (from flags, a config file or code)."""


class ManifestError(JazzcnnError, ValueError):
    """A manifest CSV (``tracks.csv``, ``eras.csv``, ``commentary*.csv``) is unreadable or breaks its
    schema; the message names file, line and value."""


class FolderBusyError(JazzcnnError, RuntimeError):
    """Another process holds the folder's lock (see :func:`jazzcnn.core.files.lock_folder`)."""


class NotEnoughSpaceError(JazzcnnError, OSError):
    """The disk lacks room for the planned download plus the margin; nothing was downloaded."""


class NotWritableError(JazzcnnError, OSError):
    """An output folder cannot be written; raised before any long work starts."""
