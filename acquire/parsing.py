"""Parsing of archive metadata into manifest fields: years, duration, artist and tape.

Archive metadata values may be a string or a list of strings; every function here accepts both.
Years outside :data:`YEAR_MIN`-:data:`YEAR_MAX` are never accepted silently: they are reported in
:attr:`YearInfo.problems` and replaced from another source or left blank.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

#: Plausible recording years of the collection (its tapes span 1921-1991).
YEAR_MIN = 1900
YEAR_MAX = 1995

# A four-digit number not glued to other digits; "Tape_1234" is a tape number, not a year.
_YEAR_RE = re.compile(r"(?<!\d)(\d{4})(?!\d)")
# "1933-34"; not "1935-06-06" or "1935-06" (dates), hence the look-ahead and the order check below.
_RANGE_SHORT_RE = re.compile(r"(?<!\d)(\d{4})\s*[-\u2013]\s*(\d{2})(?![\d\-/])")
_TAPE_RE = re.compile(r"tape[\s_\-#.]*(\d+[A-Za-z]?)(?![A-Za-z0-9])", re.IGNORECASE)
_TAPE_NUMBER_RE = re.compile(r"tape[\s_\-#.]*$", re.IGNORECASE)


def as_list(value) -> list[str]:
    """Metadata value (None, a string or a list) as a list of non-blank stripped strings."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    text = str(value).strip()
    return [text] if text else []


def first_value(value, default: str = "") -> str:
    """First non-blank entry of a string-or-list metadata value, else ``default``."""
    values = as_list(value)
    return values[0] if values else default


def years_in_text(text: str) -> list[int]:
    """All four-digit years in ``text`` (tape numbers excluded; ``1933-34`` gives 1933 and 1934).

    Parameters
    ----------
    text : str
        A title, identifier or date value; underscores count as spaces.

    Returns
    -------
    list of int
        The years in order of appearance, implausible ones included (the caller judges them).
    """
    text = text.replace("_", " ")
    years: list[int] = []
    for m in _YEAR_RE.finditer(text):
        if _TAPE_NUMBER_RE.search(text[: m.start()]):
            continue
        years.append(int(m.group(1)))
    for m in _RANGE_SHORT_RE.finditer(text):
        first = int(m.group(1))
        last = first // 100 * 100 + int(m.group(2))
        if last > first:
            years.append(last)
    return years


@dataclass
class YearInfo:
    """Recording years of a tape and where they came from.

    ``source`` is ``metadata``, ``title``, ``identifier``, ``invalid`` (only implausible years were
    found) or ``missing``; ``problems`` lists implausible years found, for the report.
    """

    start: int | None
    end: int | None
    source: str
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class YearRules:
    """Where a collection's recording years come from and which years are plausible.

    Attributes
    ----------
    sources : tuple of str
        Tried in order: ``metadata`` (the ``date`` and ``year`` fields), ``title``, ``identifier``.
    year_min, year_max : int or None
        Plausible years (inclusive); ``None`` for ``year_max`` means the current year.
    names_from_identifier : bool
        Fall back on the identifier for the artist (``Bud_Freeman_Tape_4A`` -> ``Bud Freeman``)
        and read tape labels from it: the Niven collection's naming, not another collection's.
    """

    sources: tuple[str, ...] = ("metadata", "title", "identifier")
    year_min: int = YEAR_MIN
    year_max: int | None = YEAR_MAX
    names_from_identifier: bool = True

    @property
    def last_year(self) -> int:
        """``year_max``, or the current year when it is None."""
        return self.year_max if self.year_max is not None else datetime.date.today().year


#: The Niven collection: years from the metadata, else the title, else the identifier (its tapes
#: are named ``Artist_Tape_N_1933-1934``), within 1900-1995.
NIVEN_RULES = YearRules()
#: Any other Internet Archive collection: years from the ``date``/``year`` metadata only, from the
#: first recordings (the 1850s) to the current year; a missing or malformed date leaves them blank.
METADATA_RULES = YearRules(sources=("metadata",), year_min=1850, year_max=None, names_from_identifier=False)


def parse_years(metadata: dict, title: str = "", identifier: str = "", *, rules: YearRules = NIVEN_RULES) -> YearInfo:
    """Recording years from item metadata (``date``, ``year``), else the title, else the identifier.

    When the metadata years lie inside a wider plausible range of the title or identifier (metadata
    ``year: 1940`` on ``Bud_Freeman_Tape_4A_1940-1954``), that range is used, with its source.
    A source counts only when all its years are plausible (:data:`YEAR_MIN`-:data:`YEAR_MAX`);
    a source holding an implausible year (``2343``, a typo of 1943) is reported and the next
    source is used, so the bad year is corrected from the other source or left blank.

    Parameters
    ----------
    metadata : dict
        Item metadata; ``date`` and ``year`` may be strings or lists.
    title, identifier : str
        The item's title and identifier, e.g. ``Benny_Goodman_Tape_5_1933-1934``.
    rules : YearRules
        Sources and plausible years (default: the Niven collection's, :data:`NIVEN_RULES`).

    Returns
    -------
    YearInfo
        ``start``/``end`` (inclusive years, None when unknown), ``source`` and ``problems``.
    """
    every = {
        "metadata": [v for key in ("date", "year") for v in as_list(metadata.get(key))],
        "title": as_list(title or metadata.get("title")),
        "identifier": as_list(identifier or metadata.get("identifier")),
    }
    sources = [(name, every[name]) for name in rules.sources]
    lo, hi = rules.year_min, rules.last_year
    problems: list[str] = []
    for name, texts in sources:
        years = [y for t in texts for y in years_in_text(t)]
        if not years:
            continue
        bad = sorted({y for y in years if not lo <= y <= hi})
        if bad:
            problems.append(f"{name} year(s) {bad} outside {lo}-{hi} in {texts!r}")
            continue
        start, end = min(years), max(years)
        if name == "metadata" and not problems:
            # The metadata ``year`` is often just the first year of a tape the title dates
            # "1940-1954"; a plausible title/identifier range holding the metadata years is kept.
            for other in [n for n in ("title", "identifier") if n in rules.sources]:
                texts_o = every[other]
                wider = [y for t in texts_o for y in years_in_text(t)]
                if wider and all(lo <= y <= hi for y in wider) \
                        and min(wider) <= start and end <= max(wider) and (min(wider), max(wider)) != (start, end):
                    return YearInfo(min(wider), max(wider), other, problems)
        if problems:
            problems[-1] += f"; used {start}-{end} from {name}"
        return YearInfo(start, end, name, problems)
    if problems:
        problems[-1] += "; year left blank"
        return YearInfo(None, None, "invalid", problems)
    return YearInfo(None, None, "missing", [])


def parse_duration(value) -> float | None:
    """Seconds from an archive ``length`` value: ``"205.3"``, ``"3:25"`` or ``"1:02:03"``.

    Parameters
    ----------
    value : str, float, list or None
        The ``length`` field of a file (a list uses its first entry).

    Returns
    -------
    float or None
        Duration [s]; None when ``value`` is blank.

    Raises
    ------
    ValueError
        If the value is not a number of seconds, ``MM:SS`` or ``HH:MM:SS``, or is negative.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = first_value(value)
        if not text:
            return None
        parts = text.split(":")
        if len(parts) > 3:
            raise ValueError(f"duration {text!r} is not seconds, MM:SS or HH:MM:SS")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"duration {text!r} is not seconds, MM:SS or HH:MM:SS") from None
        if len(nums) > 1 and any(n >= 60 for n in nums[1:]):
            raise ValueError(f"duration {text!r}: minutes and seconds must be below 60")
        seconds = 0.0
        for n in nums:
            seconds = seconds * 60 + n
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"duration {value!r} is negative or not a number")
    return seconds


def parse_tape(identifier: str, title: str = "") -> str:
    """Tape label from ``..._Tape_4A_...`` in the identifier, else the title.

    Returns
    -------
    str
        e.g. ``"5"`` or ``"4A"`` (upper case); ``""`` when neither names a tape.
    """
    for text in (identifier, title):
        m = _TAPE_RE.search(text.replace("_", " ") if text else "")
        if m:
            return m.group(1).upper()
    return ""


def parse_artist(identifier: str, metadata: dict, *, from_identifier: bool = True) -> str:
    """Performer: the first ``creator`` of the metadata, else the identifier before ``_Tape``.

    With ``from_identifier`` False (collections not named like Niven's) the fallback is ``""``:
    an item without a creator is then a group of its own when splitting by artist.

    Parameters
    ----------
    identifier : str
        e.g. ``Bud_Freeman_Tape_4A_1940-1954`` (gives ``"Bud Freeman"``).
    metadata : dict
        Item metadata; ``creator`` may be a string or a list.
    """
    creator = first_value(metadata.get("creator"))
    if creator or not from_identifier:
        return creator
    name = re.split(r"[_\s-]+tape", identifier, maxsplit=1, flags=re.IGNORECASE)[0]
    return name.replace("_", " ").strip()
