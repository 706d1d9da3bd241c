"""Reading the preprocess stage's shards and the ``tf.data`` input pipeline.

Shard contract (written by ``jazzcnn preprocess``):

* ``DATA_DIR/shards/shard-00000.pcm`` ...: raw little-endian int16 mono PCM at 16 kHz;
* ``DATA_DIR/shards/index.csv``: one row per kept music segment with columns
  ``identifier, file, segment, shard, offset, length, start_s`` (``offset``/``length`` in samples
  within ``shard``; ``start_s`` the segment's start in the original file, seconds);
* ``DATA_DIR/shards/meta.json``: ``{"sample_rate": 16000, "dtype": "int16", ...}``.

Shards are opened as :class:`numpy.memmap` and never loaded whole. The pipeline builds small
*index* tensors (shard number, start sample, valid length, label) per batch and fetches the audio
for a whole batch with one :func:`tf.numpy_function` call that slices the memmaps, so the audio
never becomes a graph constant (the seed approach of feeding one large array measured 5 clips/s).

A *clip* is ``clip_samples`` consecutive samples of one segment. Training draws clips at uniform
random positions inside the segments every epoch (``random_clip_batches``); evaluation uses a
fixed grid (``grid_clips``) so scores are reproducible. A segment shorter than a clip yields one
clip zero-padded at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from jazzcnn.preprocess.shards import INDEX_COLUMNS, ShardError, load_index  # noqa: F401 (re-exported)

#: Scale from int16 PCM to float32 in [-1, 1).
PCM_SCALE = 1.0 / 32768.0


def load_shard_index(shard_dir: Path, sample_rate: int = 16000) -> pd.DataFrame:
    """The segments of a shard folder (:func:`jazzcnn.preprocess.shards.load_index`), checked for ``sample_rate``.

    Parameters
    ----------
    shard_dir : Path
        ``DATA_DIR/shards``.
    sample_rate : int
        Expected sample rate [Hz].

    Returns
    -------
    pd.DataFrame
        Index rows (``offset``/``length`` int64 samples) whose segments lie inside their shards.

    Raises
    ------
    ShardError
        Nothing preprocessed yet, a shard missing or damaged, another sample rate.
    """
    return load_index(shard_dir, sample_rate=sample_rate)


class ShardReader:
    """Memory-mapped access to every shard of a folder; fetches batches of clips.

    Parameters
    ----------
    shard_dir : Path
        ``DATA_DIR/shards``.
    shard_names : list of str
        Shard file names; a clip's ``shard`` number indexes this list.
    """

    def __init__(self, shard_dir: Path, shard_names: list[str]):
        self.shard_dir = Path(shard_dir)
        self.names = list(shard_names)
        self.maps = [np.memmap(self.shard_dir / n, dtype="<i2", mode="r") for n in self.names]

    def fetch(self, shard: np.ndarray, start: np.ndarray, valid: np.ndarray, clip_samples: int) -> np.ndarray:
        """Slice a batch of clips out of the memmapped shards.

        Parameters
        ----------
        shard : np.ndarray
            int ``(B,)`` shard number per clip (index into :attr:`names`).
        start : np.ndarray
            int ``(B,)`` first sample of each clip within its shard [samples].
        valid : np.ndarray
            int ``(B,)`` samples to copy per clip (``<= clip_samples``; the rest stays zero).
        clip_samples : int
            Clip length [samples].

        Returns
        -------
        np.ndarray
            int16 ``(B, clip_samples)``.
        """
        out = np.zeros((len(start), clip_samples), dtype=np.int16)
        maps = self.maps
        for i, (s, o, v) in enumerate(zip(shard.tolist(), start.tolist(), valid.tolist())):
            out[i, :v] = maps[s][o:o + v]
        return out


@dataclass
class Segments:
    """Segments of the tapes of one split, as parallel arrays (one entry per index row).

    Attributes
    ----------
    shard, offset, length : np.ndarray
        Shard number (into ``ShardReader.names``), first sample and length [samples].
    label : np.ndarray
        Era class index per segment (int32).
    tape : np.ndarray
        Identifier of the tape (str objects).
    start_s : np.ndarray
        Segment start in the original file [s].
    """

    shard: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    label: np.ndarray
    tape: np.ndarray
    start_s: np.ndarray

    def __len__(self) -> int:
        return len(self.offset)


def segments_for(index: pd.DataFrame, shard_names: list[str], tape_labels: dict[str, int]) -> Segments:
    """Segments of the tapes in ``tape_labels``, in index order.

    Parameters
    ----------
    index : pd.DataFrame
        Output of :func:`load_shard_index`.
    shard_names : list of str
        Shard order of the :class:`ShardReader` that will read them.
    tape_labels : dict
        identifier -> era class index; tapes not in it are skipped.

    Returns
    -------
    Segments
    """
    sel = index[index["identifier"].isin(tape_labels.keys())]
    pos = {n: i for i, n in enumerate(shard_names)}
    return Segments(
        shard=sel["shard"].map(pos).to_numpy(np.int32),
        offset=sel["offset"].to_numpy(np.int64),
        length=sel["length"].to_numpy(np.int64),
        label=sel["identifier"].map(tape_labels).to_numpy(np.int32),
        tape=sel["identifier"].to_numpy(object),
        start_s=pd.to_numeric(sel["start_s"], errors="coerce").fillna(0.0).to_numpy(np.float64),
    )


def grid_clips(seg: Segments, clip_samples: int, hop_samples: int) -> dict[str, np.ndarray]:
    """Fixed evaluation grid: clips at ``0, hop, 2*hop, ...`` inside each segment.

    Returns
    -------
    dict of np.ndarray
        Per clip: ``shard`` (into the reader's names), ``start`` and ``valid`` [samples, within the
        shard], ``label``, ``tape``, ``seg`` (index of its segment in ``seg``) and ``within`` (its
        offset in that segment [samples]; the clip starts at ``seg.start_s[seg] + within /
        sample_rate`` seconds into the original file).
    """
    n = np.where(seg.length >= clip_samples, (seg.length - clip_samples) // hop_samples + 1, 1)
    rep = np.repeat(np.arange(len(seg)), n)
    k = np.arange(len(rep)) - np.repeat(np.cumsum(n) - n, n)
    within = k * hop_samples
    return {
        "shard": seg.shard[rep],
        "start": seg.offset[rep] + within,
        "valid": np.minimum(clip_samples, seg.length[rep] - within),
        "label": seg.label[rep],
        "tape": seg.tape[rep],
        "seg": rep,
        "within": within,
    }


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Balanced class weights ``N / (K * N_k)`` (the sklearn "balanced" rule); 0 for absent classes."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    w = np.zeros(n_classes)
    present = counts > 0
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w


def random_clip_batches(seg: Segments, clip_samples: int, batch_size: int, n_classes: int, *, seed: int | list[int],
                        balance: str = "weights", weights: np.ndarray | None = None) -> Iterator[tuple]:
    """Endless batches of random clip positions for training.

    Every clip start position of every segment is equally likely (``balance="weights"``, with
    per-clip weights from ``weights``), or each era is equally likely and then every position
    within it (``balance="sampling"``, weights all 1). No data is discarded either way.

    ``seed`` is anything :func:`numpy.random.default_rng` accepts (an int, or a list such as
    ``[seed, epochs_done]`` so a resumed run does not replay the same positions).

    Yields
    ------
    tuple of np.ndarray
        ``(shard int32[B], start int64[B], valid int64[B], label int32[B], weight float32[B])``.
    """
    rng = np.random.default_rng(seed)
    positions = np.maximum(1, seg.length - clip_samples + 1).astype(np.float64)
    if balance == "sampling":
        per_class = np.bincount(seg.label, weights=positions, minlength=n_classes)
        present = per_class > 0
        p = positions / per_class[seg.label] / present.sum()
    else:
        p = positions / positions.sum()
    wt = np.ones(n_classes, np.float32) if (weights is None or balance == "sampling") else weights.astype(np.float32)
    while True:
        i = rng.choice(len(seg), size=batch_size, p=p)
        within = (rng.random(batch_size) * positions[i]).astype(np.int64)
        yield (seg.shard[i], seg.offset[i] + within, np.minimum(clip_samples, seg.length[i]).astype(np.int64),
               seg.label[i], wt[seg.label[i]])


def _loader(reader: ShardReader, clip_samples: int):
    import tensorflow as tf

    def load(shard, start, valid):
        x = tf.numpy_function(lambda s, o, v: reader.fetch(s, o, v, clip_samples), [shard, start, valid], tf.int16,
                              stateful=False)
        x = tf.cast(x, tf.float32) * PCM_SCALE
        return tf.reshape(x, [-1, clip_samples, 1])

    return load


def train_dataset(reader: ShardReader, seg: Segments, clip_samples: int, batch_size: int, n_classes: int, *,
                  seed: int | list[int], balance: str = "weights", weights: np.ndarray | None = None):
    """Endless shuffled training batches ``(x float32[B, clip_samples, 1], y int32[B], w float32[B])``.

    Clip positions are drawn in numpy (:func:`random_clip_batches`, already shuffled), audio is
    sliced from the memmapped shards in parallel ``tf.numpy_function`` calls, batches prefetched.
    """
    import tensorflow as tf

    sig = (tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int64), tf.TensorSpec([None], tf.int64),
           tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.float32))
    gen = lambda: random_clip_batches(seg, clip_samples, batch_size, n_classes, seed=seed, balance=balance, weights=weights)  # noqa: E731
    load = _loader(reader, clip_samples)
    ds = tf.data.Dataset.from_generator(gen, output_signature=sig)
    ds = ds.map(lambda s, o, v, y, w: (load(s, o, v), y, w), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def eval_dataset(reader: ShardReader, grid: dict[str, np.ndarray], clip_samples: int, batch_size: int,
                 with_labels: bool = True):
    """Finite batches of the fixed clip grid, in grid order: ``(x, y)`` or ``x`` alone."""
    import tensorflow as tf

    load = _loader(reader, clip_samples)
    ds = tf.data.Dataset.from_tensor_slices((grid["shard"].astype(np.int32), grid["start"].astype(np.int64),
                                             grid["valid"].astype(np.int64), grid["label"].astype(np.int32)))
    ds = ds.batch(batch_size)
    if with_labels:
        ds = ds.map(lambda s, o, v, y: (load(s, o, v), y), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(lambda s, o, v, y: load(s, o, v), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def audio_clips(audio: np.ndarray, clip_samples: int, hop_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut one int16 signal into grid clips (last one zero-padded if shorter).

    Returns
    -------
    clips : np.ndarray
        float32 ``(n, clip_samples, 1)`` scaled to [-1, 1).
    starts : np.ndarray
        Start of each clip [samples] within ``audio``.
    """
    n = len(audio)
    k = (n - clip_samples) // hop_samples + 1 if n >= clip_samples else 1
    starts = np.arange(k, dtype=np.int64) * hop_samples
    out = np.zeros((k, clip_samples), np.float32)
    for i, s in enumerate(starts):
        piece = audio[s:s + clip_samples]
        out[i, :len(piece)] = piece
    return (out * PCM_SCALE)[..., None], starts
