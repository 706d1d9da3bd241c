"""Training throughput (clips/s) of every preset on the Keras backend in use: pipeline, device, both.

For each preset (``jazzcnn presets`` lists them; each at its own clip length: 3, 15 or 30 s),
on synthetic int16 shards written by the real shard writer, three rates side by side in one run:

(a) ``pipeline``: the input pipeline alone (:func:`jazzcnn.train.data.train_batches`, the one
    ``jazzcnn train`` uses on this backend: ``tf.data`` on TensorFlow, the threaded
    ``PyDataset`` elsewhere), batches fetched and thrown away;
(b) ``on device``: ``train_on_batch`` on one batch already converted to the backend's tensors
    (on the GPU when there is one): what the device computes when nothing has to be fed;
(c) ``from shards``: ``model.fit`` from the shards through the pipeline, as ``jazzcnn train``.

``c / b`` says how much of the device's speed the pipeline delivers. Each rate is the fastest
of ``--repeats`` timings of ``--steps`` batches (after a warm-up that traces and compiles), the
one least disturbed by other work on a shared machine. The backend is ``KERAS_BACKEND``
(``tensorflow`` by default; ``jax``, ``torch``); the device is the backend's default one (the GPU
when it sees one, with mixed precision as ``jazzcnn train`` uses it; ``CUDA_VISIBLE_DEVICES=``
measures the CPU on a GPU machine).

    .venv/bin/python benchmarks/bench_train.py [--steps 10] [--repeats 3] [--batch 16] [--presets seed3s,jazzcnn]
    KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_train.py --presets seed3s
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _fastest(fn, repeats: int) -> float:
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=10, help="timed batches per measurement")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats per measurement (the fastest is reported)")
    ap.add_argument("--batch", type=int, default=16, help="clips per batch")
    ap.add_argument("--presets", default=None, help="comma-separated preset names (default: all)")
    ap.add_argument("--threads", type=int, default=None, help="TensorFlow CPU threads (default: TensorFlow's choice)")
    args = ap.parse_args()

    import keras
    import numpy as np

    from jazzcnn.testing.shards import write_noise_shards
    from jazzcnn.train.data import (LOADER_THREADS, ShardReader, default_pipeline, load_shard_index, segments_for,
                                    train_batches)
    from jazzcnn.train.models import PRESETS, build_model
    from jazzcnn.train.training import backend_version, release_devices, select_devices

    backend = keras.backend.backend()
    if backend == "tensorflow" and args.threads:
        import tensorflow as tf

        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    presets = list(PRESETS) if args.presets is None else [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        ap.error(f"unknown preset(s) {unknown}; choose from {', '.join(PRESETS)}")
    devices = select_devices()
    release_devices()  # one device: the rates are per device
    mixed = devices.gpus > 0
    with tempfile.TemporaryDirectory() as tmp:
        shard_dir = Path(tmp) / "shards"
        write_noise_shards(shard_dir, n_tapes=8, segments=2, seg_seconds=60.0)
        index = load_shard_index(shard_dir)
        names = sorted(index["shard"].unique())
        seg = segments_for(index, names, {t: i % 4 for i, t in enumerate(sorted(index["identifier"].unique()))})
        reader = ShardReader(shard_dir, names)
        print(f"Keras {keras.__version__} on {backend_version()}, {os.cpu_count()} CPU cores, GPUs: {devices.gpus}, "
              f"pipeline {default_pipeline()}, batch {args.batch}, fastest of {args.repeats} x {args.steps} batches"
              + (", mixed precision" if mixed else ""))
        print(f"{'preset':12s} {'clip':>5s} {'trainable':>11s} {'(a) pipeline':>14s} {'(b) on device':>14s} "
              f"{'(c) from shards':>16s} {'c/b':>5s}  ms/step (c)")
        for preset in presets:
            clip = int(PRESETS[preset].clip_seconds * 16000)
            keras.utils.set_random_seed(0)
            model = build_model(preset, 4, clip, mixed_precision=mixed)
            n = args.steps

            # (a) the pipeline alone, its worker threads (or tf.data's) running as fit runs them
            batches = train_batches(reader, seg, clip, args.batch, 4, steps=n, seed=0)
            if hasattr(batches, "take"):  # tf.data: endless, built once
                it = iter(batches)

                def pipeline_only():
                    for _ in range(n):
                        next(it)
            else:
                pool = ThreadPoolExecutor(LOADER_THREADS)

                def pipeline_only():
                    for _ in pool.map(batches.__getitem__, range(n)):
                        pass

            pipeline_only()
            t_a = _fastest(pipeline_only, args.repeats)

            # (b) one batch already on the device
            x, y, w = next(iter(train_batches(reader, seg, clip, args.batch, 4, steps=1, seed=1, pipeline="pydataset")))
            x_dev, y_dev, w_dev = (keras.ops.convert_to_tensor(v) for v in (x, y, w))

            def on_device():
                for _ in range(n):
                    model.train_on_batch(x_dev, y_dev, sample_weight=w_dev)
                keras.ops.convert_to_numpy(model.optimizer.iterations)  # wait for the device

            model.train_on_batch(x_dev, y_dev, sample_weight=w_dev)  # warm-up: compile
            t_b = _fastest(on_device, args.repeats)

            # (c) fit from the shards through the pipeline
            ds = train_batches(reader, seg, clip, args.batch, 4, steps=n, seed=2)
            model.fit(ds, epochs=1, steps_per_epoch=min(2, n), verbose=0)
            t_c = _fastest(lambda: model.fit(ds, epochs=1, steps_per_epoch=n, verbose=0), args.repeats)

            rate = {k: n * args.batch / t for k, t in (("a", t_a), ("b", t_b), ("c", t_c))}
            n_params = int(sum(int(np.prod(v.shape)) for v in model.trainable_weights))
            print(f"{preset:12s} {clip / 16000:4.1f}s {n_params:>11,} {rate['a']:>9.0f} cl/s {rate['b']:>9.1f} cl/s "
                  f"{rate['c']:>11.1f} cl/s {rate['c'] / rate['b']:>5.2f}  {1000 * t_c / n:8.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
