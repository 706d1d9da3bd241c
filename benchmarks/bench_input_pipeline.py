"""Input-pipeline throughput: the tf.data and PyDataset pipelines of ``jazzcnn.train.data`` against numpy slicing.

Writes synthetic shards per the shard contract (int16 noise, 16 kHz) into a temporary folder,
then delivers three-second training clips (random offsets, batches of 64) two ways, in the same
run, from the same shards and the same clip positions:

* baseline: numpy - draw positions, slice the memmaps, scale to float32 (no TensorFlow);
* pipeline: ``jazzcnn.train.data.train_dataset`` (tf.data + numpy_function + prefetch), iterated eagerly;
* PyDataset: ``jazzcnn.train.data.train_batches(pipeline="pydataset")`` (no TensorFlow; JAX and
  PyTorch use it), its batches made by ``LOADER_THREADS`` threads as Keras' enqueuer makes them.

TensorFlow is limited to ``--threads`` CPU threads (default 2, the target machine). Prints both
rates in clips/s and their ratio; exits 1 if the pipeline is below ``--target`` clips/s.

    .venv/bin/python benchmarks/bench_input_pipeline.py [--seconds 6] [--threads 2] [--target 3000]

Note: the shards are in the page cache after being written; on the full collection (larger than
RAM) first-epoch reads are disk-bound instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_shards(folder: Path, n_tapes: int = 40, segments: int = 4, seg_seconds: float = 60.0, per_shard: int = 8,
                 rate: int = 16000) -> pd.DataFrame:
    """Noise shards in the shard format, written by the real shard writer."""
    from jazzcnn.testing.shards import write_noise_shards

    return write_noise_shards(folder, n_tapes=n_tapes, segments=segments, seg_seconds=seg_seconds,
                              per_shard=per_shard, sample_rate=rate)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=6.0, help="measuring time per method [s]")
    ap.add_argument("--threads", type=int, default=2, help="TensorFlow CPU threads")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--clip-seconds", type=float, default=3.0)
    ap.add_argument("--target", type=float, default=3000.0, help="required tf.data clips/s")
    ap.add_argument("--pydataset-target", type=float, default=20000.0,
                    help="required PyDataset clips/s (issue 12: 20,000 three-second clips/s on 2 cores)")
    args = ap.parse_args()

    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    from jazzcnn.train.data import (LOADER_THREADS, PCM_SCALE, ShardReader, load_shard_index, random_clip_batches,
                                    segments_for, train_batches, train_dataset)

    clip = int(args.clip_seconds * 16000)
    with tempfile.TemporaryDirectory() as tmp:
        shard_dir = Path(tmp) / "shards"
        write_shards(shard_dir)
        index = load_shard_index(shard_dir)
        names = sorted(index["shard"].unique())
        tapes = sorted(index["identifier"].unique())
        seg = segments_for(index, names, {t: i % 4 for i, t in enumerate(tapes)})
        reader = ShardReader(shard_dir, names)
        audio_h = index["length"].sum() / 16000 / 3600
        print(f"shards: {len(names)} files, {audio_h:.2f} h of audio, {index['length'].sum() * 2 / 1e6:.0f} MB; "
              f"clips {args.clip_seconds:g} s, batch {args.batch}, TF threads {args.threads}, cores {os.cpu_count()}")

        # baseline: numpy slicing of the same shards
        gen = random_clip_batches(seg, clip, args.batch, 4, seed=0)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            shard, start, valid, y, w = next(gen)
            x = reader.fetch(shard, start, valid, clip).astype(np.float32) * PCM_SCALE
            n += len(x)
        numpy_rate = n / (time.perf_counter() - t0)

        # tf.data pipeline
        ds = train_dataset(reader, seg, clip, args.batch, 4, seed=0)
        it = iter(ds)
        for _ in range(5):  # warm-up: graph tracing, prefetch buffer
            next(it)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            x, y, w = next(it)
            n += int(x.shape[0])
        tf_rate = n / (time.perf_counter() - t0)

        # the TensorFlow-free pipeline (JAX, PyTorch): PyDataset batches made by worker threads,
        # as Keras' enqueuer makes them for fit
        steps = 50
        batches = train_batches(reader, seg, clip, args.batch, 4, steps=steps, seed=0, pipeline="pydataset")
        n, t0 = 0, time.perf_counter()
        with ThreadPoolExecutor(LOADER_THREADS) as pool:
            while time.perf_counter() - t0 < args.seconds:
                for x, y, w in pool.map(batches.__getitem__, range(steps)):
                    n += len(x)
                batches.on_epoch_end()
        py_rate = n / (time.perf_counter() - t0)

    print(f"numpy slicing baseline : {numpy_rate:10.0f} clips/s")
    print(f"tf.data pipeline       : {tf_rate:10.0f} clips/s  (target >= {args.target:.0f})")
    print(f"PyDataset, {LOADER_THREADS} threads   : {py_rate:10.0f} clips/s  (target >= {args.pydataset_target:.0f})")
    print(f"ratio tf.data/numpy    : {tf_rate / numpy_rate:10.2f}")
    print(f"ratio PyDataset/numpy  : {py_rate / numpy_rate:10.2f}")
    return 0 if tf_rate >= args.target and py_rate >= args.pydataset_target else 1


if __name__ == "__main__":
    sys.exit(main())
