"""Tiny synthetic data in the project's formats, for the train-stage tests and benchmarks.

Writes ``manifests/tracks.csv`` + ``manifests/eras.csv`` and ``data/shards/`` following the shard
contract of :mod:`jazzcnn.train.data`: each era gets a distinct pure tone (plus noise), so a network can
separate the eras from a one-second clip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from jazzcnn.acquire.manifests import TRACK_COLUMNS

#: (era, start_year, end_year, tone frequency [Hz])
DEFAULT_ERAS = [("Early", 1920, 1929, 220.0), ("Swing", 1930, 1944, 880.0), ("Bop", 1945, 1959, 3000.0)]


def write_synthetic(root: Path, *, eras=DEFAULT_ERAS, tapes_per_era: int = 5, segments_per_tape: int = 2,
                    segment_seconds: float = 4.0, sample_rate: int = 16000, shard_samples: int = 16000 * 40,
                    artists_per_era: int | None = None, seed: int = 0, noise: float = 0.05, signal=None) -> dict:
    """Write a small labelled collection under ``root``.

    Parameters
    ----------
    root : Path
        Output folder; gets ``manifests/`` and ``data/shards/``.
    eras : list of (name, start_year, end_year, tone_hz)
        Era definitions; every tape of an era carries its tone.
    tapes_per_era, segments_per_tape : int
        Collection size.
    segment_seconds : float
        Length of every music segment [s].
    shard_samples : int
        Samples per shard file before a new one starts.
    artists_per_era : int, optional
        Number of distinct artists per era (tapes cycle through them); default one per tape.
    noise : float
        Standard deviation of added white noise (full scale = 1).
    signal : callable, optional
        ``signal(era_index, tape_index, n_samples, rng) -> np.ndarray`` float in [-1, 1], one
        segment of a tape (``tape_index`` counts within the era); default the era's tone
        (``eras[i][3]`` Hz) at a random phase. :func:`note_sequences` makes eras that differ in
        their note order only.

    Returns
    -------
    dict
        ``manifests_dir``, ``data_dir``, ``shard_dir`` paths and ``tapes`` (DataFrame of tracks).
    """
    from jazzcnn.preprocess.shards import ShardStore

    root = Path(root)
    man, shard_dir = root / "manifests", root / "data" / "shards"
    man.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pd.DataFrame([e[:3] for e in eras], columns=["era", "start_year", "end_year"]).to_csv(man / "eras.csv", index=False)
    tracks = []
    n_seg = int(segment_seconds * sample_rate)
    t = np.arange(n_seg) / sample_rate
    # The real writer, so the folder is exactly what `jazzcnn preprocess` makes.
    store = ShardStore(shard_dir, man, shard_samples * 2, {"synthetic": True, "noise": noise}, sample_rate)
    try:
        for e, (name, y0, y1, hz) in enumerate(eras):
            for k in range(tapes_per_era):
                ident = f"{name.lower()}-tape-{k:02d}"
                artist = f"{name} Artist {k % (artists_per_era or tapes_per_era)}"
                year = y0 + k % (y1 - y0 + 1)
                fname = f"{ident}.mp3"
                tracks.append({c: "" for c in TRACK_COLUMNS} | {
                    "identifier": ident, "file": fname, "title": f"{artist} tape {k}", "artist": artist, "tape": str(k),
                    "year_start": year, "year_end": year, "year_source": "metadata", "format": "VBR MP3",
                    "size_bytes": 1000, "md5": "0" * 32, "duration_s": segments_per_tape * segment_seconds})
                segments = []
                for s in range(segments_per_tape):
                    if signal is None:
                        x = 0.5 * np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi))
                    else:
                        x = signal(e, k, n_seg, rng)
                    x = x + noise * rng.standard_normal(n_seg)
                    segments.append((s * (segment_seconds + 1.0), np.clip(x * 32767, -32768, 32767).astype(np.int16)))
                summary = {"identifier": ident, "file": fname, "duration_s": segments_per_tape * (segment_seconds + 1.0),
                           "kept_s": segments_per_tape * segment_seconds, "status": "ok"}
                store.add(ident, fname, "synthetic", segments, [], summary, None)
        store.commit()
    finally:
        store.close()
    df = pd.DataFrame(tracks, columns=TRACK_COLUMNS)
    df.to_csv(man / "tracks.csv", index=False)
    return {"manifests_dir": man, "data_dir": root / "data", "shard_dir": shard_dir, "tapes": df}


def note_sequences(orders: list[str], *, sample_rate: int = 16000, notes: int = 5, note_s: tuple[float, float] = (0.16, 0.22)):
    """A ``signal`` for :func:`write_synthetic` whose eras differ in note order only.

    Every era plays the same notes with the same envelope and loudness: a pentatonic pattern of
    ``notes`` pitches over a root drawn per tape (an octave's range), repeated; only the order in
    which a pattern visits them differs by era. Per-band spectral statistics (mean and spread of
    each mel band over a clip, the linear baseline's features) are therefore the same for every
    era in expectation, while the order is plain to see in a spectrogram: a network that reads
    the time-frequency pattern can tell the eras apart and a linear model on spectral statistics
    cannot (the collection of issue #16's test).

    Parameters
    ----------
    orders : list of str
        Per era: ``"up"`` (ascending runs), ``"down"`` (descending) or ``"shuffled"`` (a new
        random order for every pattern).
    sample_rate : int
        [Hz]
    notes : int
        Pitches per pattern.
    note_s : (float, float)
        Range of the note length, drawn per tape [s] (the tempo).

    Returns
    -------
    callable
        ``signal(era_index, tape_index, n_samples, rng) -> np.ndarray`` float32 in [-1, 1].
    """
    steps = np.array([0, 2, 4, 7, 9, 12, 14, 16, 19, 21])[:notes]  # semitones above the root

    def signal(era: int, tape: int, n: int, rng: np.random.Generator) -> np.ndarray:
        order = orders[era]
        root = 220.0 * 2 ** (rng.uniform(0, 12) / 12)
        dur = int(rng.uniform(*note_s) * sample_rate)
        t = np.arange(dur) / sample_rate
        env = np.exp(-t / (0.35 * dur / sample_rate)) * np.minimum(1, t / 0.005)
        out = np.zeros(n + dur, np.float64)
        pos, i = int(rng.integers(0, dur)), 0
        seq = np.arange(notes)
        while pos < n:
            if i % notes == 0 and order == "shuffled":
                seq = rng.permutation(notes)
            k = seq[i % notes] if order != "down" else notes - 1 - seq[i % notes]
            f = root * 2 ** (steps[k] / 12)
            tone = sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3))
            out[pos:pos + dur] += 0.3 * env * tone
            pos, i = pos + dur, i + 1
        return out[:n].astype(np.float32)

    return signal


def tiny_train_config(data: dict, runs_dir: Path, run: str = "tiny", **overrides):
    """A :class:`jazzcnn.train.config.TrainConfig` for fast CPU tests on :func:`write_synthetic` data.

    The ``seed3s`` network (the fastest to train of the CNNs), one-second clips, small batches, a
    few epochs, learning rate 1e-3 (the tones separate quickly).
    """
    from jazzcnn.train.config import TrainConfig

    settings = dict(data_dir=data["data_dir"], manifests_dir=data["manifests_dir"], runs_dir=Path(runs_dir), run=run,
                    preset="seed3s", clip_seconds=1.0, epochs=3, batch_size=8, learning_rate=1e-3, patience=3)
    settings.update(overrides)
    return TrainConfig(**settings)


def write_noise_shards(shard_dir: Path, *, n_tapes: int = 40, segments: int = 4, seg_seconds: float = 60.0,
                       per_shard: int = 8, sample_rate: int = 16000, seed: int = 0) -> pd.DataFrame:
    """A shard folder of int16 noise, written by the real writer, for throughput benchmarks.

    Parameters
    ----------
    shard_dir : Path
        Created; the commentary views go to its ``commentary/`` subfolder.
    n_tapes, segments : int
        Tapes (``tape000`` ...) and segments per tape.
    seg_seconds : float
        Length of each segment [s].
    per_shard : int
        Segments per shard file.
    sample_rate : int
        [Hz]

    Returns
    -------
    pd.DataFrame
        The index (:func:`jazzcnn.preprocess.shards.load_index`).
    """
    from jazzcnn.preprocess.shards import ShardStore, load_index

    rng = np.random.default_rng(seed)
    n = int(seg_seconds * sample_rate)
    store = ShardStore(shard_dir, Path(shard_dir) / "commentary", per_shard * n * 2, {"noise": True}, sample_rate)
    try:
        for t in range(n_tapes):
            segs = [(s * seg_seconds, rng.integers(-8000, 8000, n, dtype=np.int16)) for s in range(segments)]
            store.add(f"tape{t:03d}", "a.mp3", "noise", segs, [], {"identifier": f"tape{t:03d}", "file": "a.mp3"}, None)
        store.commit()
    finally:
        store.close()
    return load_index(shard_dir)
