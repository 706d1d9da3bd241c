"""Small collections shaped like ``davidwnivenjazz``, with real audio, for tests and benchmarks.

Each tape item holds an original WAV and the derivatives archive.org makes of it (VBR MP3,
Ogg Vorbis, a PNG spectrogram) plus the item's metadata files; the collection also holds the
catalogue, a PDF ``texts`` item. Metadata values mix strings and lists as the real ones do.
"""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from jazzcnn.testing.archive_server import ServedFile, ServedItem

SAMPLE_RATE = 44100


def tone(seconds: float = 0.5, freq_hz: float = 440.0, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A sine tone [float32, -0.3..0.3] of ``seconds`` at ``freq_hz``."""
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def encode(x: np.ndarray, fmt: str, sr: int = SAMPLE_RATE) -> bytes:
    """``x`` encoded by libsndfile as ``fmt`` (``"WAV"``, ``"MP3"``, ``"OGG"``)."""
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt)
    return buf.getvalue()


def tape_item(identifier: str, metadata: dict, seconds: float = 0.5, freq_hz: float = 440.0,
              sides: int = 1, length: str | None = "0:00:01") -> ServedItem:
    """One tape item: per side a WAV original and MP3/Ogg/PNG derivatives, plus metadata files.

    Parameters
    ----------
    identifier : str
    metadata : dict
        Item metadata (``title``, ``date``, ``creator`` ...); ``collection``/``mediatype`` default
        to ``davidwnivenjazz``/``audio``.
    seconds : float
        Audio length of each side [s].
    freq_hz : float
        Tone frequency [Hz].
    sides : int
        Number of audio files.
    length : str, optional
        The ``length`` field given to the audio files (archive style, e.g. ``"3:25"``).
    """
    meta = {"collection": ["davidwnivenjazz", "georgeblood"], "mediatype": "audio", **metadata}
    files: list[ServedFile] = []
    x = tone(seconds, freq_hz)
    for side in range(1, sides + 1):
        stem = f"{identifier}_side{side}" if sides > 1 else identifier
        extra = {"length": length} if length else {}
        wav = f"{stem}.wav"
        files.append(ServedFile(wav, encode(x, "WAV"), "WAVE", extra=dict(extra)))
        files.append(ServedFile(f"{stem}.mp3", encode(x, "MP3"), "VBR MP3", "derivative", wav,
                                {**extra, "title": meta.get("title", stem) if isinstance(meta.get("title"), str) else stem}))
        files.append(ServedFile(f"{stem}.ogg", encode(x, "OGG"), "Ogg Vorbis", "derivative", wav, dict(extra)))
        files.append(ServedFile(f"{stem}.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "PNG", "derivative", wav))
    files.append(ServedFile(f"{identifier}_meta.xml", b"<metadata/>", "Metadata", "metadata"))
    files.append(ServedFile(f"{identifier}_files.xml", b"<files/>", "Metadata", "original"))
    return ServedItem(identifier, meta, files)


def catalogue_item() -> ServedItem:
    """The collection's catalogue: a PDF ``texts`` item with no audio."""
    return ServedItem(
        "davidwnivenjazz_catalogue",
        {"collection": "davidwnivenjazz", "mediatype": "texts", "title": "Niven collection catalogue"},
        [ServedFile("catalogue.pdf", b"%PDF-1.4\n%%EOF\n", "Text PDF")],
    )


def niven_like_items() -> list[ServedItem]:
    """Five tapes (single years, ranges, a day, list-valued and implausible metadata) + the PDF."""
    return [
        tape_item("Benny_Goodman_Tape_5_1933-1934",
                  {"title": "Benny Goodman Tape 5 1933-1934", "creator": "Benny Goodman",
                   "date": ["1933", "1934"]}, freq_hz=330, length="3:25"),
        tape_item("Benny_Goodman_Tape_8_June_6,_1935",
                  {"title": "Benny Goodman Tape 8 June 6, 1935", "creator": ["Benny Goodman", "Gene Krupa"]},
                  freq_hz=350, length="1:02:03"),
        tape_item("Bud_Freeman_Tape_4A_1940-1954",
                  {"title": ["Bud Freeman Tape 4A 1940-1954"], "year": "1940"}, freq_hz=370, length="205.5"),
        tape_item("Duke_Ellington_Tape_88_1963",
                  {"title": "Duke Ellington Tape 88 1963", "creator": "Duke Ellington"}, freq_hz=390, sides=2),
        tape_item("Jimmie_Lunceford_Tape_2_1943",
                  {"title": "Jimmie Lunceford Tape 2 1943", "date": "2343"}, freq_hz=410),
        catalogue_item(),
    ]
