"""Cross-validated accuracy where spectral statistics fall short: eras that differ in note order only.

Builds the ``note_sequences`` collection of :mod:`jazzcnn.testing.shards` (every era plays the same
notes with the same envelope and loudness; one era's patterns run upwards, one downwards, one in a
new random order each time), then runs ``jazzcnn crossval`` on it by artist: the ``jazzcnn`` preset
(hyperparameters chosen per fold on the validation part, as it ships), the presets given with
``--compare`` on the same folds, and the linear and majority baselines. Prints the summary table
and the wall time. The linear baseline sees only per-band means and spreads, which are the same for
every era in expectation; a network that reads the spectrogram's patterns can tell them apart.

Usage::

    .venv/bin/python benchmarks/bench_note_sequences.py            # 3 eras, 8 tapes each, 4 folds
    .venv/bin/python benchmarks/bench_note_sequences.py --compare seed3s,jazzcnn-lite
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", default="up,down,shuffled", help="note order of each era (up, down, shuffled)")
    p.add_argument("--tapes-per-era", type=int, default=8)
    p.add_argument("--artists-per-era", type=int, default=4)
    p.add_argument("--segment-seconds", type=float, default=20.0, help="[s], two segments per tape")
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--steps-per-epoch", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--compare", default="seed3s", help="presets trained beside jazzcnn, comma-separated")
    p.add_argument("--work-dir", type=Path, default=None, help="keep everything here (default: a temporary folder)")
    args = p.parse_args(argv)

    from jazzcnn.testing.shards import note_sequences, write_synthetic
    from jazzcnn.train.config import CrossvalConfig
    from jazzcnn.train.crossval import crossval
    from jazzcnn.train.report import md_table, model_names, summary_table

    orders = args.orders.split(",")
    names = ["Early", "Swing", "Bop", "Cool", "Free"][:len(orders)]
    eras = [(n, 1920 + 10 * i, 1929 + 10 * i, 0.0) for i, n in enumerate(names)]
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="note-sequences-"))
    try:
        data = write_synthetic(work / "collection", eras=eras, tapes_per_era=args.tapes_per_era,
                               artists_per_era=args.artists_per_era, segments_per_tape=2,
                               segment_seconds=args.segment_seconds, signal=note_sequences(orders), noise=0.02, seed=3)
        t0 = time.time()
        res = crossval(CrossvalConfig(
            data_dir=data["data_dir"], manifests_dir=data["manifests_dir"], runs_dir=work / "runs",
            reports_dir=work / "reports", run="note-sequences", preset="jazzcnn", folds=args.folds, group="artist",
            epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size,
            patience=args.epochs, bootstrap=0, compare=[c for c in args.compare.split(",") if c]), verbose=0)
        wall = time.time() - t0
        m = res.metrics
        evs = {"cnn": m, **{f"cnn:{k}": v for k, v in m["compared"].items()}, **m["baselines"]}
        table = summary_table({name: evs[key] for key, name in model_names("jazzcnn", evs).items()})
        print(f"{len(orders)} eras ({args.orders}), {args.tapes_per_era} tapes and {args.artists_per_era} artists per "
              f"era, {args.folds} folds by artist, {args.epochs} epochs of {args.steps_per_epoch} batches of "
              f"{args.batch_size}: {wall:.0f} s")
        print(md_table(table))
        print("chosen per fold:", json.dumps([h["tuned"] for h in m["hyperparameters"]]))
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
