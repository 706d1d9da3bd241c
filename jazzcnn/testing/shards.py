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
                    artists_per_era: int | None = None, seed: int = 0, noise: float = 0.05) -> dict:
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
                    phase = rng.uniform(0, 2 * np.pi)
                    x = 0.5 * np.sin(2 * np.pi * hz * t + phase) + noise * rng.standard_normal(n_seg)
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


def tiny_train_config(data: dict, runs_dir: Path, run: str = "tiny", **overrides):
    """A :class:`jazzcnn.train.config.TrainConfig` for fast CPU tests on :func:`write_synthetic` data.

    One-second clips, small batches, a few epochs, learning rate 1e-3 (the tones separate quickly).
    """
    from jazzcnn.train.config import TrainConfig

    settings = dict(data_dir=data["data_dir"], manifests_dir=data["manifests_dir"], runs_dir=Path(runs_dir), run=run,
                    clip_seconds=1.0, epochs=3, batch_size=8, learning_rate=1e-3, patience=3)
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
