"""Training throughput (clips/s) of every preset through the real input pipeline.

For each preset (``jazzcnn presets`` lists them; each at its own clip length: 3, 15 or 30 s) on
every device kind TensorFlow sees (CPU always; the GPU too when there is one, with mixed precision
as ``jazzcnn train`` uses it), trains on synthetic shards for a warm-up of two steps (tracing) and
then times ``--steps`` optimiser steps, ``--repeats`` times.

    .venv/bin/python benchmarks/bench_train.py [--steps 10] [--repeats 3] [--batch 16] [--threads 2] [--presets seed3s,seed15s]

Prints one line per (device, preset): clip length, trainable parameters, clips/s and ms per step
of the fastest repeat (the one least disturbed by other work on a shared machine) and the median
clips/s. Throughput on CPU is for orientation only (the real runs are meant for a GPU).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=10, help="timed steps per preset")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats per preset (the fastest is reported)")
    ap.add_argument("--batch", type=int, default=16, help="clips per batch (per device)")
    ap.add_argument("--threads", type=int, default=2, help="TensorFlow CPU threads")
    ap.add_argument("--presets", default=None, help="comma-separated preset names (default: all)")
    ap.add_argument("--cpu-only", action="store_true")
    args = ap.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    from bench_input_pipeline import write_shards

    from jazzcnn.train.data import ShardReader, load_shard_index, segments_for, train_dataset
    from jazzcnn.train.models import PRESETS, build_model

    presets = list(PRESETS) if args.presets is None else [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        ap.error(f"unknown preset(s) {unknown}; choose from {', '.join(PRESETS)}")

    gpus = [] if args.cpu_only else tf.config.list_physical_devices("GPU")
    devices = [("CPU", "/CPU:0", False)] + [(f"GPU ({len(gpus)})", "/GPU:0", True)] * bool(gpus)
    with tempfile.TemporaryDirectory() as tmp:
        shard_dir = Path(tmp) / "shards"
        write_shards(shard_dir, n_tapes=8, segments=2, seg_seconds=60.0)
        index = load_shard_index(shard_dir)
        names = sorted(index["shard"].unique())
        seg = segments_for(index, names, {t: i % 4 for i, t in enumerate(sorted(index["identifier"].unique()))})
        reader = ShardReader(shard_dir, names)
        print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores ({args.threads} TF threads), GPUs: {len(gpus)}")
        for dev_name, dev, mixed in devices:
            for preset in presets:
                clip = int(PRESETS[preset].clip_seconds * 16000)
                keras.utils.set_random_seed(0)
                with tf.device(dev):
                    model = build_model(preset, 4, clip, mixed_precision=mixed)
                    ds = train_dataset(reader, seg, clip, args.batch, 4, seed=0)
                    model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)  # warm-up: tracing
                    times = []
                    for _ in range(max(1, args.repeats)):
                        t0 = time.perf_counter()
                        model.fit(ds, epochs=1, steps_per_epoch=args.steps, verbose=0)
                        times.append(time.perf_counter() - t0)
                dt = min(times)
                rate = args.steps * args.batch / dt
                median = args.steps * args.batch / float(np.median(times))
                n_params = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
                print(f"{dev_name:8s} {preset:12s} clip {clip / 16000:4.0f} s  {n_params:>10,} trainable  "
                      f"batch {args.batch:3d}  {rate:8.1f} clips/s  {1000 * dt / args.steps:8.1f} ms/step  "
                      f"(median of {len(times)}: {median:.1f} clips/s)"
                      + ("  (mixed precision)" if mixed else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
