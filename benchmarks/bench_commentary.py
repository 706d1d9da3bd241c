"""Commentary removal on Niven-like test tapes: per tape and overall, for WAV and VBR MP3.

Builds the answer-key tapes of :mod:`jazzcnn.testing.niven_tapes` from the real recordings in
../shared/audio and espeak-ng voices (four cassette-like 44.1 kHz stereo tapes of about 5-6
minutes, 20 introductions), writes each as 16-bit WAV and as VBR MP3, cleans every file with the
preprocess stage's per-file cleaner (:func:`jazzcnn.preprocess.cleaning.clean_audio`) and prints,
per tape and overall (:mod:`jazzcnn.testing.removal_scores`):

* time-weighted share of the true speech removed and of the true music kept (and the per-tape
  minimum of each),
* median and 90th percentile of the absolute onset and offset errors of the cuts [s],
* time cut as speech over music, and how much of it lies where a record plays,
* speed: audio seconds per CPU second of ``clean_audio`` (decode, resample, detection; one core).

Targets (issue #14): >= 99 % of speech removed, >= 98 % of music kept, onset and offset errors
<= 0.5 s at the median. Run: ``.venv/bin/python benchmarks/bench_commentary.py`` (``--seed`` builds
other tapes of the same kind; ``--set name=value`` tries a cleaning setting).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jazzcnn.preprocess.cleaning import CleaningOptions, clean_audio  # noqa: E402
from jazzcnn.testing.niven_tapes import build_niven_tapes  # noqa: E402
from jazzcnn.testing.removal_scores import report_lines, score_tape, summarize  # noqa: E402
from jazzcnn.testing.tapes import span_overlap  # noqa: E402

SHARED = REPO.parent / "shared" / "audio"


def _setting(text: str) -> tuple[str, object]:
    name, _, value = text.partition("=")
    if name not in CleaningOptions.names():
        raise argparse.ArgumentTypeError(f"unknown setting {name!r}; known: {', '.join(CleaningOptions.names())}")
    return name, json.loads(value)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=14, help="seed of the tapes (14: the tapes the tests score)")
    ap.add_argument("--tapes", type=int, default=4, help="number of tapes")
    ap.add_argument("--formats", default="wav,mp3", help="comma-separated: wav, mp3")
    ap.add_argument("--set", type=_setting, action="append", default=[], metavar="NAME=VALUE",
                    help="a cleaning setting, value in JSON (e.g. --set speech_pad_s=0.3); repeatable")
    args = ap.parse_args()
    options = dataclasses.replace(CleaningOptions(), **dict(args.set))
    tapes = build_niven_tapes(SHARED, seed=args.seed, n_tapes=args.tapes)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            scores, audio_s, cpu_s, over_s, over_music_s = [], 0.0, 0.0, 0.0, 0.0
            for tape in tapes:
                path = tape.write(Path(tmp) / f"{tape.identifier}.{fmt}")
                t0 = time.process_time()
                result = clean_audio(path, options=options)
                cpu_s += time.process_time() - t0
                audio_s += result.duration_s
                scores.append(score_tape(tape.identifier, tape.speech, tape.music, result.removed))
                over = [(a, b) for a, b, r in result.removed if r == "speech_over_music"]
                over_s += sum(b - a for a, b in over)
                over_music_s += span_overlap(over, tape.music)
            print()
            print("\n".join(report_lines(scores, f"{fmt.upper()}: {len(tapes)} tapes, {audio_s / 60:.1f} min, seed {args.seed}")))
            o = summarize(scores)
            print(f"speech over music: {over_s:.1f} s cut as such, {over_music_s / max(over_s, 1e-9):.0%} of it where a record plays")
            print(f"speed: {audio_s / cpu_s:.0f}x real time per core (clean_audio: decode, resample, detection)")
            met = (o["speech_removed"] >= 0.99 and o["music_kept"] >= 0.98 and o["onset_median_s"] <= 0.5
                   and o["offset_median_s"] <= 0.5)
            print("targets: speech removed >= 99 %, music kept >= 98 %, onset/offset error <= 0.5 s at the median:",
                  "met" if met else "NOT met")
            ok = ok and met
    if args.set:
        print(f"\nsettings changed: {dict(args.set)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
