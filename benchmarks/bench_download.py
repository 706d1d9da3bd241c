"""Download throughput: ``jazzcnn download`` (WORKERS threads) against ``curl`` on the same files.

A local archive server (in its own process, so it does not share our interpreter's GIL) serves
N files of SIZE_MB random bytes as one collection. We time a whole ``jazzcnn download`` (search,
metadata, verified transfers with MD5, verified.csv) and then ``curl`` fetching the same URLs, both
sequentially and with ``--parallel``, and print throughputs and the ratio ours / curl.
Target: ours >= 80 % of curl's parallel throughput.

The default file size is the collection's mean VBR MP3 file: about 64 GB over 1,378 files
(637 GB of WAV, MP3 about a tenth of it; figures from the collection's page) is about 46 MB. The
whole command's fixed cost (one search, one metadata request per item) weighs more on smaller files,
so ``--size-mb 20`` shows a lower ratio for the same code.

Usage: ``python benchmarks/bench_download.py [--files 8] [--size-mb 46] [--workers 4]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing as mp
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _serve(n_files: int, size_mb: int, queue, stop) -> None:
    import numpy as np

    from jazzcnn.testing.archive_server import ArchiveServer, ServedFile, ServedItem

    rng = np.random.default_rng(0)
    items = [
        ServedItem(f"Bench_Tape_{i}_1935", {"collection": "benchcollection", "mediatype": "audio",
                                            "title": f"Bench Tape {i} 1935"},
                   [ServedFile(f"bench_{i}.mp3", rng.bytes(size_mb * 1_000_000), "VBR MP3", "derivative")])
        for i in range(n_files)
    ]
    with ArchiveServer(items) as srv:
        srv.chunk_bytes = 1 << 20
        queue.put(srv.base_url)
        stop.wait()


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--size-mb", type=int, default=46,
                   help="size of each file [MB, 10^6 bytes]; default: the collection's mean VBR MP3 file")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--repeats", type=int, default=5, help="timed runs of each contender")
    a = p.parse_args(argv)
    have_curl = shutil.which("curl") is not None
    if not have_curl:
        print("curl not found: timing jazzcnn download alone, no comparison", file=sys.stderr)

    ctx = mp.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_serve, args=(a.files, a.size_mb, queue, stop), daemon=True)
    proc.start()
    try:
        base_url = queue.get(timeout=120)
        total = a.files * a.size_mb * 1_000_000
        urls = [f"{base_url}/download/Bench_Tape_{i}_1935/bench_{i}.mp3" for i in range(a.files)]
        with tempfile.TemporaryDirectory(prefix="bench_download_") as tmp:
            tmp = Path(tmp)
            (tmp / "manifests").mkdir()
            shutil.copy(REPO / "manifests" / "eras.csv", tmp / "manifests")
            from jazzcnn.cli import main as jazzcnn

            def ours(scrape: bool = True) -> None:
                shutil.rmtree(tmp / "data", ignore_errors=True)
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    rc = jazzcnn(["download", "--collection", "benchcollection", "--ia-base-url", base_url,
                                  "--data-dir", str(tmp / "data"), "--manifests-dir", str(tmp / "manifests"),
                                  "--workers", str(a.workers), "--free-space-margin-bytes", "0",
                                  "--scrape", str(scrape).lower()])
                if rc != 0:
                    raise SystemExit(f"jazzcnn download failed with status {rc}")

            def curl(parallel: bool) -> None:
                out = tmp / "curl"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                cmd = ["curl", "-s", "-S", "-f", "--no-progress-meter"]
                if parallel:
                    cmd += ["--parallel", "--parallel-max", str(a.workers)]
                for i, u in enumerate(urls):
                    cmd += ["-o", str(out / f"{i}.mp3"), u]
                subprocess.run(cmd, check=True)

            def curl_md5() -> None:
                # curl does not verify anything; this is what the same guarantee costs with it.
                curl(True)
                subprocess.run(["md5sum", *sorted(str(f) for f in (tmp / "curl").iterdir())],
                               check=True, stdout=subprocess.DEVNULL)

            # The machine is shared: interleave the contenders and keep each one's best run, so
            # a burst of someone else's load does not land on one side only.
            contenders = {
                f"jazzcnn download, {a.workers} workers (search, metadata, MD5)": ours,
                "jazzcnn download --scrape false (transfers + MD5)": lambda: ours(scrape=False),
            }
            if have_curl:
                contenders[f"curl --parallel-max {a.workers}"] = lambda: curl(True)
                contenders["curl sequential"] = lambda: curl(False)
                if shutil.which("md5sum"):
                    contenders[f"curl --parallel-max {a.workers}, then md5sum"] = curl_md5
                curl(True)
            ours()
            runs: dict[str, list[float]] = {name: [] for name in contenders}
            for _ in range(a.repeats):
                for name, fn in contenders.items():
                    runs[name].append(_timed(fn))
    finally:
        stop.set()
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()

    mb = total / 1e6
    best = {name: min(t) for name, t in runs.items()}
    print(f"{a.files} files x {a.size_mb} MB = {mb:.0f} MB from a local archive server "
          f"(best of {a.repeats}, interleaved)")
    for name, t in best.items():
        print(f"  {name:<56} {t:6.2f} s  {mb / t:7.1f} MB/s")
    names = list(best)
    if have_curl:
        ours_t, ours_noscrape, curl_par = best[names[0]], best[names[1]], best[names[2]]
        line = (f"  ours / curl --parallel: {curl_par / ours_t:.0%} (target >= 80%); "
                f"transfer phase alone: {curl_par / ours_noscrape:.0%}")
        if len(names) > 4:
            line += f"; ours / (curl + md5sum): {best[names[4]] / ours_t:.0%}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
