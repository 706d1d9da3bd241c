"""Checked reading of the CSV files users edit, whatever wrote them (a script, a spreadsheet, a hand).

Every manifest read goes through :func:`read_csv_table`, so each problem a spreadsheet or an editor
can leave is either handled or reported with the file, the line and the value:

* encodings: UTF-8 with or without a byte-order mark; a file that is not UTF-8 is read as
  Windows-1252 (cp1252), which is what spreadsheets on Windows write for "CSV" and which covers
  Latin-1's letters, and the reader says so; UTF-16 files ("Unicode text") and binary files are
  refused with what to do instead;
* syntax: an unclosed quote, a stray quote inside a field, or a row with more fields than the
  header (an unquoted comma in a value) is an error naming the line; trailing empty fields that
  spreadsheets add are dropped;
* blank rows (empty lines and rows of only commas, as spreadsheets leave them) are skipped;
* an empty file, a missing header, or duplicate or missing columns are errors.

Parsing uses Python's :mod:`csv` module (RFC 4180 quoting, ``strict=True``).
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from jazzcnn.core.errors import ManifestError

log = logging.getLogger(__name__)

#: Encodings tried after UTF-8, in order; cp1252 is what spreadsheets save "CSV" as on Windows.
FALLBACK_ENCODINGS = ("cp1252",)


@dataclass
class CsvText:
    """Decoded text of a CSV file and how it was decoded."""

    text: str
    encoding: str
    notes: list[str] = field(default_factory=list)


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def decode_csv_bytes(raw: bytes, path: Path) -> CsvText:
    """Decode the bytes of a CSV file: UTF-8 (BOM or not), else cp1252; refuse UTF-16 and binary.

    Parameters
    ----------
    raw : bytes
        The whole file.
    path : Path
        For messages.

    Returns
    -------
    CsvText
        ``notes`` says when the file was not UTF-8.

    Raises
    ------
    ManifestError
        UTF-16/32 text, NUL bytes (a binary file), or bytes no supported encoding decodes; the
        message names the line.
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ManifestError(f"{path}: saved as UTF-16 ('Unicode text'); save it as 'CSV UTF-8' instead")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise ManifestError(f"{path}, line {_line_of(raw, nul)}: NUL byte; this is not a text CSV file")
    try:
        return CsvText(raw.decode("utf-8-sig"), "utf-8")
    except UnicodeDecodeError as e:
        first_bad = e.start
    for enc in FALLBACK_ENCODINGS:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        bad_line = _line_of(raw, first_bad)
        note = (f"{path} is not UTF-8 (first at line {bad_line}); read it as Windows-1252 ({enc}), the encoding "
                f"spreadsheets use for CSV on Windows; check accented names, and save it as 'CSV UTF-8' to be sure")
        return CsvText(text, enc, [note])
    raise ManifestError(f"{path}, line {_line_of(raw, first_bad)}: byte {raw[first_bad]:#04x} is neither UTF-8 nor "
                        "Windows-1252 text; save the file as 'CSV UTF-8'")


def read_csv_table(path: Path, *, required: list[str] | None = None, what: str = "CSV file",
                   missing_hint: str = "") -> pd.DataFrame:
    """Read a user-editable CSV file into a frame of stripped strings, checked as the module says.

    Parameters
    ----------
    path : Path
        The CSV file.
    required : list of str, optional
        Columns that must be present (others are kept).
    what : str
        What the file is, for messages (``"track manifest"``).
    missing_hint : str
        Appended to the "not found" message (e.g. what creates the file).

    Returns
    -------
    pd.DataFrame
        All columns as ``str`` ("" for blank), whitespace stripped, one row per non-blank record,
        ``RangeIndex``. ``df.attrs["lines"]`` holds each row's first line number in the file
        (the header is line 1), and ``df.attrs["notes"]`` what was noticed while reading (an
        encoding other than UTF-8).

    Raises
    ------
    ManifestError
        Missing or unreadable file, empty file, bad encoding, CSV syntax error, a row with more
        fields than the header, duplicate header names, missing required columns; every message
        names the file and, where there is one, the line.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"{path}: {what} not found{' (' + missing_hint + ')' if missing_hint else ''}") from None
    except IsADirectoryError:
        raise ManifestError(f"{path}: is a folder, not a {what}") from None
    except OSError as e:
        raise ManifestError(f"{path}: cannot read the {what} ({e.strerror})") from None
    decoded = decode_csv_bytes(raw, path)
    if not decoded.text.strip():
        raise ManifestError(f"{path}: empty file; a {what} needs at least its header line"
                            + (f" ({','.join(required)})" if required else ""))
    reader = csv.reader(io.StringIO(decoded.text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    start = 1
    try:
        for row in reader:
            first_line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue  # an empty line, or a row of only commas
            if header is None:
                header = [c.strip() for c in row]
                while header and not header[-1]:
                    header.pop()
                dup = sorted({c for c in header if header.count(c) > 1})
                if dup:
                    raise ManifestError(f"{path}, line {first_line}: column(s) {dup} appear more than once in the header")
                if "" in header:
                    raise ManifestError(f"{path}, line {first_line}: the header has a column without a name "
                                        f"(position {header.index('') + 1})")
                continue
            if len(row) > len(header):
                extra = row[len(header):]
                if any(cell.strip() for cell in extra):
                    raise ManifestError(
                        f"{path}, line {first_line}: {len(row)} fields, the header has {len(header)} "
                        f"(extra value {next(c for c in extra if c.strip())!r}); a value with a comma must be quoted")
                row = row[:len(header)]
            elif len(row) < len(header):
                raise ManifestError(f"{path}, line {first_line}: {len(row)} fields, the header has {len(header)}")
            rows.append([cell.strip() for cell in row])
            lines.append(first_line)
    except csv.Error as e:
        msg = str(e)
        if "unexpected end of data" in msg or "EOF" in msg:
            msg = f"unclosed quote: the field opened at line {start} runs to the end of the file"
            raise ManifestError(f"{path}, line {start}: {msg}") from None
        raise ManifestError(f"{path}, line {reader.line_num}: CSV syntax error ({msg}); a value holding a "
                            'quote must be quoted, with the quote doubled ("")') from None
    if header is None:
        raise ManifestError(f"{path}: no header line (only blank rows)")
    missing = [c for c in (required or []) if c not in header]
    if missing:
        raise ManifestError(f"{path}, line 1: missing column(s) {missing}; the header has {header}")
    df = pd.DataFrame(rows, columns=header, dtype=str) if rows else pd.DataFrame(columns=header, dtype=str)
    df.attrs["lines"] = lines
    df.attrs["notes"] = decoded.notes
    for note in decoded.notes:
        log.warning(note)
    return df


def line_of(df: pd.DataFrame, position: int) -> int:
    """Line in the source file of row ``position`` of a frame from :func:`read_csv_table`."""
    lines = df.attrs.get("lines")
    return int(lines[position]) if lines and position < len(lines) else int(position) + 2
