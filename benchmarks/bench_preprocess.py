"""Benchmark of the preprocess stage against librosa.load, and its peak memory per worker.

Builds a 10-minute 44.1 kHz stereo WAV and its VBR MP3 from the real recordings in
../shared/audio (speech between music, as on the tapes), then reports, side by side, times real
time per core (audio seconds / CPU seconds of the one process doing the work) for:

* the whole stage (``jazzcnn preprocess`` with one worker: decode, resample, speech detection,
  segmentation, shard and CSV writing),
* the same with speech detection off (``--vad false``),
* ``librosa.load(path, sr=16000)`` alone (decode + resample only).

Then it writes a 90-minute WAV and measures the peak resident memory (``ru_maxrss``) of a child
process doing one worker's job on it (clean the file and pickle the result for the parent); the
child reads its peak from ``/proc/self/status`` (VmHWM), because Linux carries ``ru_maxrss`` over
from the forked parent across ``execve``, ``getrusage`` being the fallback elsewhere.

Targets: whole stage >= 100x real time per core; VAD off >= 70 % of librosa.load's speed; peak
memory per worker for a 90-minute WAV < 1 GB. Run: ``.venv/bin/python benchmarks/bench_preprocess.py``
(``--quick`` skips the 90-minute memory check).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jazzcnn.acquire.manifests import TRACK_COLUMNS  # noqa: E402
from jazzcnn.preprocess.config import PreprocessConfig  # noqa: E402
from jazzcnn.commands import run_preprocess  # noqa: E402
from jazzcnn.testing.tapes import build_tape  # noqa: E402

SHARED = REPO.parent / "shared" / "audio"
RATE = 44100


def write_long_wav(path: Path, seconds: float, fmt: str = "WAV") -> float:
    """Write ``seconds`` of tape (the test tape repeated) block by block; returns the duration [s]."""
    tape, _, _ = build_tape(SHARED, seed=3)
    total = int(seconds * RATE)
    kw = {"format": "MP3", "bitrate_mode": "VARIABLE"} if fmt == "MP3" else {"subtype": "PCM_16"}
    with sf.SoundFile(path, "w", RATE, 2, **kw) as f:
        done = 0
        while done < total:
            piece = tape[: total - done]
            f.write(piece)
            done += len(piece)
    return total / RATE


def stage_speed(path: Path, duration: float, vad: bool, repeats: int) -> float:
    """Best of ``repeats``: audio seconds per CPU second of ``jazzcnn preprocess`` on one file."""
    best = 0.0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            audio = root / "data" / "audio" / "bench"
            audio.mkdir(parents=True)
            (audio / path.name).symlink_to(path)
            row = {c: "" for c in TRACK_COLUMNS} | {"identifier": "bench", "file": path.name, "format": "VBR MP3"}
            (root / "manifests").mkdir()
            pd.DataFrame([row], columns=TRACK_COLUMNS).to_csv(root / "manifests" / "tracks.csv", index=False)
            cfg = PreprocessConfig(data_dir=root / "data", manifests_dir=root / "manifests", workers=1, vad=vad, audit=False)
            t0 = time.process_time()
            status = run_preprocess(cfg)
            cpu = time.process_time() - t0
            assert status == 0, f"preprocess failed on {path}"
            best = max(best, duration / cpu)
    return best


def librosa_speed(path: Path, duration: float, repeats: int) -> float:
    import librosa

    best = 0.0
    for _ in range(repeats):
        t0 = time.process_time()
        y, _ = librosa.load(path, sr=16000)
        best = max(best, duration / (time.process_time() - t0))
    return best


MEMORY_CHILD = """
import pickle, resource, sys, time
sys.path.insert(0, sys.argv[2])
from jazzcnn.preprocess.cleaning import CleaningOptions
from jazzcnn.preprocess.pipeline import _process_task
t0 = time.perf_counter()
res = _process_task(("bench", "long.wav", sys.argv[1], None, CleaningOptions()))
blob = pickle.dumps(res, protocol=pickle.HIGHEST_PROTOCOL)  # what a pool worker sends back
assert res["error"] is None, res["error"]
# VmHWM is the peak RSS of this program image. ru_maxrss would do on a fresh process, but Linux
# carries it over from the forked copy of the (large) benchmark parent across execve.
try:
    peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(peak, res["duration_s"], time.perf_counter() - t0, len(blob))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the 90-minute memory check")
    ap.add_argument("--repeats", type=int, default=3, help="runs per measurement; the best is reported")
    args = ap.parse_args()
    import librosa  # noqa: F401  (imported before timing)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wav, mp3 = tmp / "tape10.wav", tmp / "tape10.mp3"
        dur = write_long_wav(wav, 600)
        data, _ = sf.read(wav, dtype="float32")
        sf.write(mp3, data, RATE, format="MP3", bitrate_mode="VARIABLE")
        del data
        librosa_speed(wav, dur, 1)  # warm-up: first call pays librosa's lazy imports
        stage_speed(wav, dur, True, 1)
        rows = []
        for path in (wav, mp3):
            whole = stage_speed(path, dur, True, args.repeats)
            novad = stage_speed(path, dur, False, args.repeats)
            lib = librosa_speed(path, dur, args.repeats)
            rows.append((path.suffix[1:].upper(), whole, novad, lib, novad / lib))
        print(f"\npreprocess benchmark: {dur / 60:.0f}-minute 44.1 kHz stereo tape, one core, best of {args.repeats}")
        print(f"{'format':<7}{'whole stage':>14}{'stage, VAD off':>17}{'librosa.load':>15}{'VAD off / librosa':>20}")
        for fmt, whole, novad, lib, ratio in rows:
            print(f"{fmt:<7}{whole:>13.0f}x{novad:>16.0f}x{lib:>14.0f}x{ratio:>19.0%}")
        ok = all(r[1] >= 100 and r[4] >= 0.7 for r in rows)
        print("targets: whole stage >= 100x real time per core, VAD off >= 70% of librosa.load:",
              "met" if ok else "NOT met")
        if not args.quick:
            long = tmp / "long.wav"
            d90 = write_long_wav(long, 90 * 60)
            out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(long), str(REPO)], capture_output=True,
                                 text=True, check=True).stdout.split()
            peak_mb = int(out[0]) / 1024  # KiB
            print(f"peak memory of one worker on a {d90 / 60:.0f}-minute 44.1 kHz stereo WAV: {peak_mb:.0f} MB "
                  f"({float(out[1]) / float(out[2]):.0f}x real time); target < 1024 MB:",
                  "met" if peak_mb < 1024 else "NOT met")
            ok = ok and peak_mb < 1024
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
