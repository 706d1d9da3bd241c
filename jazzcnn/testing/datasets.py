"""Tiny data sets in the layouts of FMA, GTZAN, an Internet Archive collection with dates, and a
labelled folder, for tests: each class a distinct tone, so a network can tell them apart from a
one-second clip. Nothing here is real data; the layouts (file names, header rows, list formats) are
the published ones.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from jazzcnn.testing.archive_server import ServedFile, ServedItem

SAMPLE_RATE = 16000


def tone(hz: float, seconds: float = 2.0, sr: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """A sine at ``hz`` with a little noise [float32, about -0.5..0.5]."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    return (0.4 * np.sin(2 * np.pi * hz * t) + 0.03 * rng.standard_normal(len(t))).astype(np.float32)


def encode(x: np.ndarray, fmt: str, sr: int = SAMPLE_RATE) -> bytes:
    """``x`` encoded by libsndfile as ``fmt`` (``"WAV"``, ``"MP3"``, ``"AU"`` ...)."""
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# FMA

#: genre -> tone [Hz]
FMA_GENRES = {"Hip-Hop": 330.0, "Instrumental": 1200.0, "Rock": 3100.0}


def fma_tracks(artists_per_genre: int = 4, tracks_per_artist: int = 1) -> pd.DataFrame:
    """FMA-style ``tracks.csv`` content: a two-level header, index ``track_id``.

    Every genre has ``artists_per_genre`` artists; the published split puts each artist wholly in
    one part (first artist training, second validation, third test, fourth training), as FMA's
    artist filter does. Durations are 2 s, the test clips' length. Extra rows: a track without
    ``genre_top``, a ``medium``-only track, track 099134 (one of fma_small's files known to hold no
    audio) and track 099999, whose file is shorter than the metadata says (as a few in FMA are).
    """
    rows, tid, artist_id = [], 2, 1
    parts = ["training", "validation", "test"]
    for genre in FMA_GENRES:
        for a in range(artists_per_genre):
            for _ in range(tracks_per_artist):
                rows.append((tid, "small", parts[a % 3], genre, f"{genre} song {tid}", "2", "256000", artist_id,
                             f"{genre} Artist {a}"))
                tid += 1
            artist_id += 1
    rows.append((tid, "small", "training", "", "no genre", "2", "256000", artist_id, "Nobody"))
    rows.append((tid + 1, "medium", "training", "Rock", "medium only", "2", "256000", artist_id + 1, "Medium Band"))
    rows.append((99134, "small", "training", "Rock", "empty file", "30", "256000", 1, "Rock Artist 0"))
    rows.append((99999, "small", "training", "Rock", "shorter than stated", "30", "256000", 1, "Rock Artist 0"))
    cols = pd.MultiIndex.from_tuples([("set", "subset"), ("set", "split"), ("track", "genre_top"), ("track", "title"),
                                      ("track", "duration"), ("track", "bit_rate"), ("artist", "id"),
                                      ("artist", "name")])
    df = pd.DataFrame([r[1:] for r in rows], index=pd.Index([r[0] for r in rows], name="track_id"), columns=cols)
    # a column FMA has that we do not read, to show other columns are ignored
    df[("album", "title")] = "an album"
    return df


def fma_metadata_zip(tracks: pd.DataFrame) -> bytes:
    """``fma_metadata.zip`` holding ``fma_metadata/tracks.csv`` (header rows as FMA writes them)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("fma_metadata/tracks.csv", tracks.to_csv())
        zf.writestr("fma_metadata/genres.csv", "genre_id,title\n21,Hip-Hop\n")
    return buf.getvalue()


def fma_audio_zip(tracks: pd.DataFrame, subset: str = "small", seconds: float = 2.0) -> bytes:
    """``fma_<subset>.zip`` holding ``fma_<subset>/AAA/AAABBB.mp3`` for the subset's tracks.

    Track 099134 is an empty file, as in the real archive. Returns the archive's bytes.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for tid, r in tracks.iterrows():
            if r[("set", "subset")] != subset:
                continue
            name = f"{int(tid):06d}"
            hz = FMA_GENRES.get(r[("track", "genre_top")], 600.0) * (1 + 0.01 * (int(tid) % 5))
            data = b"" if name == "099134" else encode(tone(hz, seconds, seed=int(tid)), "MP3")
            zf.writestr(f"fma_{subset}/{name[:3]}/{name}.mp3", data)
        zf.writestr(f"fma_{subset}/README.txt", "FMA test archive\n")
        zf.writestr(f"fma_{subset}/checksums", "")
    return buf.getvalue()


def fma_item(tracks: pd.DataFrame, seconds: float = 2.0) -> ServedItem:
    """The archives served as one item (``/download/fma/<archive>``): base URL ``<server>/download/fma``."""
    return ServedItem("fma", {"mediatype": "data"}, [
        ServedFile("fma_metadata.zip", fma_metadata_zip(tracks), "ZIP"),
        ServedFile("fma_small.zip", fma_audio_zip(tracks, "small", seconds), "ZIP"),
    ])


# ------------------------------------------------------------------------------------------------
# GTZAN

#: genre -> tone [Hz]
GTZAN_GENRES = {"blues": 300.0, "jazz": 1100.0, "rock": 3200.0}


def gtzan_folder(root: Path, clips_per_genre: int = 4, seconds: float = 2.0) -> Path:
    """``root/genres/<genre>/<genre>.000NN.wav`` (22,050 Hz, as GTZAN), plus an unreadable
    ``jazz.00054.wav`` and a stray file; returns ``root``."""
    for genre, hz in GTZAN_GENRES.items():
        d = root / "genres" / genre
        d.mkdir(parents=True, exist_ok=True)
        for k in range(clips_per_genre):
            x = tone(hz * (1 + 0.01 * k), seconds, 22050, seed=k)
            sf.write(d / f"{genre}.{k:05d}.wav", x, 22050, subtype="PCM_16")
    (root / "genres" / "jazz" / "jazz.00054.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(200))
    (root / "genres" / "README").write_text("not a clip\n")
    return root


def gtzan_lists(clips_per_genre: int = 4) -> dict[str, str]:
    """Fault-filtered-style lists: clips 0-1 train, 2 valid, 3 test per genre; jazz.00054 in the
    training list (as in the published one); clips beyond 3 in no list."""
    out = {"train_filtered.txt": [], "valid_filtered.txt": [], "test_filtered.txt": []}
    for genre in GTZAN_GENRES:
        for k in range(min(clips_per_genre, 4)):
            part = "train_filtered.txt" if k < 2 else ("valid_filtered.txt" if k == 2 else "test_filtered.txt")
            out[part].append(f"{genre}/{genre}.{k:05d}.wav")
    out["train_filtered.txt"].append("jazz/jazz.00054.wav")
    return {name: "\n".join(lines) + "\n" for name, lines in out.items()}


def gtzan_tar(folder: Path) -> bytes:
    """The GTZAN folder as a ``.tar.gz`` (the original distribution's form)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(folder / "genres", arcname="genres")
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# an Internet Archive collection with dates (Great 78 Project style)

#: (era, years used, tone [Hz]) for an eras.csv of 78-rpm sides
IA_ERAS = "era,start_year,end_year\nAcoustic,1900,1925\nElectrical,1926,1939\nPostwar,1940,1960\n"
IA_TONES = {"Acoustic": (1910, 350.0), "Electrical": (1930, 1300.0), "Postwar": (1950, 3300.0)}


def ia_items(creators_per_era: int = 4, seconds: float = 2.0) -> list[ServedItem]:
    """78-rpm sides in collection ``georgeblood``: per era ``creators_per_era`` creators with one
    side each, dated in ``date`` (a full date, a year, a list), plus sides whose date is missing,
    malformed or implausible, and one whose title holds a year (not used: only metadata dates
    count outside the Niven collection)."""
    items = []
    for era, (year, hz) in IA_TONES.items():
        for c in range(creators_per_era):
            ident = f"78_{era.lower()}-song-{c}_creator-{c}_gbia00{year % 100:02d}{c}"
            date = [f"{year + c}-03-1{c}", f"{year + c}-04-01"] if c == 2 else (f"{year + c}-03-1{c}" if c else str(year))
            items.append(_side(ident, {"title": f"{era} song {c}", "creator": f"{era} Singer {c}", "date": date},
                               hz * (1 + 0.01 * c), seconds))
    items.append(_side("78_no-date_x_gbia0090", {"title": "Song without a date", "creator": "Anon"}, 700.0, seconds))
    items.append(_side("78_bad-date_x_gbia0091", {"title": "Blues of 1929", "creator": "Anon", "date": "19??"}, 700.0,
                       seconds))
    items.append(_side("78_future_x_gbia0092", {"title": "Future", "creator": "Anon", "date": "2343"}, 700.0, seconds))
    items.append(ServedItem("georgeblood_notes", {"collection": "georgeblood", "mediatype": "texts", "title": "notes"},
                            [ServedFile("notes.pdf", b"%PDF-1.4\n%%EOF\n", "Text PDF")]))
    return items


def _side(identifier: str, metadata: dict, hz: float, seconds: float) -> ServedItem:
    x = tone(hz, seconds, 22050, seed=len(identifier))
    wav = f"{identifier}.wav"
    files = [ServedFile(wav, encode(x, "WAV", 22050), "WAVE"),
             ServedFile(f"{identifier}.mp3", encode(x, "MP3", 22050), "VBR MP3", "derivative", wav,
                        {"length": f"{seconds:g}"})]
    return ServedItem(identifier, {"collection": "georgeblood", "mediatype": "audio", **metadata}, files)


# ------------------------------------------------------------------------------------------------
# a labelled folder

FOLDER_LABELS = {"birds": 900.0, "bells": 2500.0, "drums": 200.0}


def labelled_folder(root: Path, groups_per_label: int = 4, seconds: float = 2.0) -> tuple[Path, Path]:
    """``root/audio/<label>/<group>-<k>.flac|wav`` and ``root/labels.csv`` (file, label, group),
    with bad rows: a missing file, a blank label and a path leaving the folder.

    Returns
    -------
    source_dir, labels_csv : Path
    """
    audio = root / "audio"
    rows = ["file,label,group"]
    for label, hz in FOLDER_LABELS.items():
        for g in range(groups_per_label):
            rel = f"{label}/{label}-rec{g}.{'flac' if g % 2 else 'wav'}"
            path = audio / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, tone(hz * (1 + 0.01 * g), seconds, seed=g), SAMPLE_RATE)
            rows.append(f"{rel},{label},{label} recordist {g}")
    rows.append("birds/missing.wav,birds,nobody")
    rows.append("bells/bells-rec0.wav,,somebody")
    rows.append("../outside.wav,drums,somebody")
    labels = root / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    return audio, labels
