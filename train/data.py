"""Reading the preprocess stage's shards, and the two input pipelines (``tf.data``; ``PyDataset``).

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

On JAX and PyTorch the same batches come from a :class:`keras.utils.PyDataset` whose worker
threads slice the memmaps (:func:`train_batches`, :func:`eval_batches`), with no TensorFlow
imported; on TensorFlow ``tf.data`` is the default (either can be chosen on any backend).

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
    draw = _ClipDraw(seg, clip_samples, n_classes, balance, weights)
    while True:
        yield draw(rng, batch_size)


class _ClipDraw:
    """Random clip positions: every start position equally likely, or every era (see :func:`random_clip_batches`)."""

    def __init__(self, seg: Segments, clip_samples: int, n_classes: int, balance: str, weights: np.ndarray | None):
        self.seg, self.clip_samples = seg, clip_samples
        self.positions = np.maximum(1, seg.length - clip_samples + 1).astype(np.float64)
        if balance == "sampling":
            per_class = np.bincount(seg.label, weights=self.positions, minlength=n_classes)
            present = per_class > 0
            self.p = self.positions / per_class[seg.label] / present.sum()
        else:
            self.p = self.positions / self.positions.sum()
        self.wt = (np.ones(n_classes, np.float32) if (weights is None or balance == "sampling")
                   else weights.astype(np.float32))

    def __call__(self, rng: np.random.Generator, batch_size: int) -> tuple:
        seg = self.seg
        i = rng.choice(len(seg), size=batch_size, p=self.p)
        within = (rng.random(batch_size) * self.positions[i]).astype(np.int64)
        return (seg.shard[i], seg.offset[i] + within, np.minimum(self.clip_samples, seg.length[i]).astype(np.int64),
                seg.label[i], self.wt[seg.label[i]])


#: Threads of the TensorFlow-free pipeline that slice clips out of the memmapped shards.
LOADER_THREADS = 4
#: Batches each thread pool keeps ready ahead of the model.
LOADER_QUEUE = 16


def _py_dataset_base():
    import keras

    return keras.utils.PyDataset


def _float_clips(pcm: np.ndarray) -> np.ndarray:
    """int16 ``(B, n)`` -> float32 ``(B, n, 1)`` in [-1, 1)."""
    return np.multiply(pcm, np.float32(PCM_SCALE), dtype=np.float32)[..., None]


def _make_train_clips():
    class TrainClips(_py_dataset_base()):
        """Training batches for :meth:`keras.Model.fit` without TensorFlow: ``steps`` per epoch.

        Batch ``i`` of epoch ``e`` (counted from the start of this object) draws its positions
        from ``numpy.random.default_rng([*seed, e, i])``, so what a batch holds does not depend
        on which worker thread made it, or when.
        """

        def __init__(self, reader, seg, clip_samples, batch_size, n_classes, *, steps, seed, balance, weights,
                     threads, queue):
            super().__init__(workers=threads, use_multiprocessing=False, max_queue_size=queue)
            self.reader, self.clip_samples, self.batch_size, self.steps = reader, clip_samples, batch_size, steps
            self.seed = [int(v) for v in (seed if isinstance(seed, (list, tuple)) else [seed])]
            self.draw = _ClipDraw(seg, clip_samples, n_classes, balance, weights)
            self.epoch = 0

        def __len__(self):
            return self.steps

        def __getitem__(self, i):
            shard, start, valid, y, w = self.draw(np.random.default_rng([*self.seed, self.epoch, int(i)]), self.batch_size)
            return _float_clips(self.reader.fetch(shard, start, valid, self.clip_samples)), y, w

        def on_epoch_end(self):
            self.epoch += 1

    return TrainClips


def _make_grid_clips():
    class GridClips(_py_dataset_base()):
        """Batches of the fixed clip grid, in grid order, without TensorFlow: ``(x, y)`` or ``x``."""

        def __init__(self, reader, grid, clip_samples, batch_size, *, with_labels, max_batches, threads, queue,
                     multiple=1):
            super().__init__(workers=threads, use_multiprocessing=False, max_queue_size=queue)
            self.reader, self.grid, self.clip_samples, self.batch_size = reader, grid, clip_samples, batch_size
            self.with_labels, self.multiple = with_labels, int(multiple)
            n = -(-len(grid["start"]) // batch_size)
            self.n = n if max_batches is None else min(n, max_batches)

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            b = slice(int(i) * self.batch_size, (int(i) + 1) * self.batch_size)
            g = self.grid
            x = _float_clips(self.reader.fetch(g["shard"][b], g["start"][b], g["valid"][b], self.clip_samples))
            if not self.with_labels:
                return x
            y = g["label"][b].astype(np.int32)
            if self.multiple == 1:
                return x, y
            # Data parallelism splits every batch evenly: pad the last one with clips of weight 0.
            pad = -len(y) % self.multiple
            w = np.concatenate([np.ones(len(y), np.float32), np.zeros(pad, np.float32)])
            return (np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)]),
                    np.concatenate([y, np.zeros(pad, y.dtype)]), w)

    return GridClips


def default_pipeline() -> str:
    """``"tf.data"`` on the TensorFlow backend, ``"pydataset"`` (no TensorFlow) on JAX and PyTorch."""
    import keras

    return "tf.data" if keras.backend.backend() == "tensorflow" else "pydataset"


def train_batches(reader: ShardReader, seg: Segments, clip_samples: int, batch_size: int, n_classes: int, *,
                  steps: int, seed: int | list[int], balance: str = "weights", weights: np.ndarray | None = None,
                  pipeline: str | None = None, threads: int = LOADER_THREADS):
    """Training batches ``(x float32[B, clip_samples, 1], y int32[B], w float32[B])`` for ``model.fit``.

    Parameters
    ----------
    reader, seg, clip_samples, batch_size, n_classes, seed, balance, weights
        As :func:`train_dataset` (``clip_samples`` in samples, ``batch_size`` in clips).
    steps : int
        Batches per epoch [batches] (what ``fit`` is given as ``steps_per_epoch``).
    pipeline : {"tf.data", "pydataset"}, optional
        ``tf.data``: :func:`train_dataset` (endless). ``pydataset``: a
        :class:`keras.utils.PyDataset` whose ``threads`` worker threads slice the memmapped
        shards, ``steps`` batches an epoch, with no TensorFlow; it runs on every backend.
        Default :func:`default_pipeline`.
    threads : int
        Worker threads of the ``pydataset`` pipeline.

    Raises
    ------
    ValueError
        Unknown ``pipeline``.
    """
    if _pipeline(pipeline) == "tf.data":
        return train_dataset(reader, seg, clip_samples, batch_size, n_classes, seed=seed, balance=balance,
                             weights=weights)
    return _make_train_clips()(reader, seg, clip_samples, batch_size, n_classes, steps=steps, seed=seed,
                               balance=balance, weights=weights, threads=threads, queue=LOADER_QUEUE)


def eval_batches(reader: ShardReader, grid: dict[str, np.ndarray], clip_samples: int, batch_size: int, *,
                 with_labels: bool = True, max_batches: int | None = None, pipeline: str | None = None,
                 threads: int = LOADER_THREADS, multiple: int = 1):
    """Finite batches of the fixed clip grid in grid order, ``(x, y)`` or ``x`` alone, on any backend.

    Parameters
    ----------
    max_batches : int, optional
        Stop after this many batches (the smoke switch ``--max-examples``).
    pipeline : {"tf.data", "pydataset"}, optional
        See :func:`train_batches`.
    multiple : int
        ``pydataset`` with labels only: every batch holds a multiple of this many clips, the last
        one padded with silent clips of sample weight 0, batches ``(x, y, w)`` (JAX's data
        parallelism splits each batch evenly between devices). The padding adds nothing to the
        loss and the metrics' sums but counts in the last batch's mean: validation loss is
        scaled by at most ``(n - multiple + 1) / n`` for ``n`` grid clips, and not at all with 1.

    Raises
    ------
    ValueError
        Unknown ``pipeline``.
    """
    if _pipeline(pipeline) == "tf.data":
        ds = eval_dataset(reader, grid, clip_samples, batch_size, with_labels=with_labels)
        return ds if max_batches is None else ds.take(max_batches)
    return _make_grid_clips()(reader, grid, clip_samples, batch_size, with_labels=with_labels,
                              max_batches=max_batches, threads=threads, queue=LOADER_QUEUE, multiple=multiple)


def _pipeline(pipeline: str | None) -> str:
    """The pipeline asked for, or the backend's default; ValueError for an unknown name."""
    pipeline = pipeline or default_pipeline()
    if pipeline not in ("tf.data", "pydataset"):
        raise ValueError(f"pipeline must be 'tf.data' or 'pydataset', got {pipeline!r}")
    return pipeline


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
