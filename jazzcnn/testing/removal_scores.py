"""Scoring commentary removal against an answer key: shares of time and errors of the cut edges.

Shared by the accuracy tests, ``benchmarks/bench_commentary.py`` and the demo. All spans are
half-open ``(start_s, end_s)`` intervals in seconds on the tape's time line; every measure is
exact on those intervals (no time grid).

* **speech removed**: the share of the true introductions' time (first word to last word, pauses
  between sentences included) covered by any cut;
* **music kept**: the share of the true music time that is not under speech (a record's fade
  under the next words and talk-over count as speech) and is not cut. Pauses between an
  introduction and its tune are neither: cutting tape hiss costs nothing;
* **onset / offset error** of an introduction: the start of the first and the end of the last
  commentary cut (reason ``speech`` or ``speech_over_music``, contiguous cuts joined) overlapping
  it, minus its true start and end [s]; negative = the cut begins (ends) early. An introduction no
  commentary cut touches is counted as missed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from jazzcnn.preprocess.cleaning import SPEECH_REASONS

#: Cut reasons that are commentary.
COMMENTARY_REASONS = SPEECH_REASONS

Span = tuple[float, float]


def merge_spans(spans: Iterable[Span], *, join_s: float = 1e-6) -> list[Span]:
    """Sorted union of ``spans``; spans closer than ``join_s`` [s] are joined."""
    out: list[list[float]] = []
    for a, b in sorted((float(a), float(b)) for a, b in spans if b > a):
        if out and a <= out[-1][1] + join_s:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def total_s(spans: Iterable[Span]) -> float:
    """Length of the union of ``spans`` [s]."""
    return sum(b - a for a, b in merge_spans(spans))


def overlap_s(spans: Iterable[Span], other: Iterable[Span]) -> float:
    """Time [s] inside both the union of ``spans`` and the union of ``other``."""
    a_list, b_list = merge_spans(spans), merge_spans(other)
    i = j = 0
    total = 0.0
    while i < len(a_list) and j < len(b_list):
        (a0, a1), (b0, b1) = a_list[i], b_list[j]
        total += max(0.0, min(a1, b1) - max(a0, b0))
        if a1 < b1:
            i += 1
        else:
            j += 1
    return total


def subtract_spans(spans: Iterable[Span], other: Iterable[Span]) -> list[Span]:
    """The union of ``spans`` less the union of ``other``, as sorted spans."""
    out = []
    cut = merge_spans(other)
    for a, b in merge_spans(spans):
        pos = a
        for c, d in cut:
            if d <= pos or c >= b:
                continue
            if c > pos:
                out.append((pos, c))
            pos = max(pos, d)
        if pos < b:
            out.append((pos, b))
    return out


@dataclass
class TapeScore:
    """How the cuts of one tape compare with its answer key (see the module docstring).

    Attributes
    ----------
    identifier : str
    speech_s, music_s : float
        True introduction time and true music time not under speech [s].
    speech_removed, music_kept : float
        Fractions in [0, 1].
    onset_errors, offset_errors : list of float
        Signed edge errors of the introductions' cuts [s], one per introduction found.
    missed : int
        Introductions no commentary cut touches.
    """

    identifier: str
    speech_s: float
    music_s: float
    speech_removed: float
    music_kept: float
    onset_errors: list[float] = field(default_factory=list)
    offset_errors: list[float] = field(default_factory=list)
    missed: int = 0


def score_tape(identifier: str, speech: Sequence[Span], music: Sequence[Span],
               cuts: Sequence[tuple[float, float, str]], *,
               commentary: Sequence[str] = COMMENTARY_REASONS) -> TapeScore:
    """Score one tape's cuts against its answer key.

    Parameters
    ----------
    identifier : str
    speech, music : sequence of (float, float)
        True introductions and true tunes [s].
    cuts : sequence of (float, float, str)
        Every removed span ``(start_s, end_s, reason)`` [s], as in ``CleanResult.removed`` or
        ``commentary.csv``.
    commentary : sequence of str
        Reasons whose cuts are taken for the edge errors.

    Returns
    -------
    TapeScore
    """
    removed = [(a, b) for a, b, _ in cuts]
    speech_s = total_s(speech)
    own_music = subtract_spans(music, speech)
    music_s = total_s(own_music)
    score = TapeScore(
        identifier, speech_s, music_s,
        speech_removed=overlap_s(speech, removed) / speech_s if speech_s else 1.0,
        music_kept=1.0 - overlap_s(own_music, removed) / music_s if music_s else 1.0,
    )
    talk = merge_spans((a, b) for a, b, r in cuts if r in commentary)
    for a, b in speech:
        hit = [(c, d) for c, d in talk if d > a and c < b]
        if not hit:
            score.missed += 1
            continue
        score.onset_errors.append(hit[0][0] - a)
        score.offset_errors.append(hit[-1][1] - b)
    return score


def summarize(scores: Sequence[TapeScore]) -> dict[str, float]:
    """Overall figures of several tapes.

    Returns
    -------
    dict
        ``speech_removed`` and ``music_kept`` (time-weighted over all tapes), their per-tape
        minimums ``min_speech_removed`` and ``min_music_kept`` (fractions); ``speech_s``,
        ``music_s`` [s]; ``onset_median_s``, ``onset_p90_s``, ``offset_median_s``,
        ``offset_p90_s``: median and 90th percentile of the absolute edge errors [s] over all
        introductions found; ``introductions`` and ``missed`` (counts).
    """
    speech_s = sum(s.speech_s for s in scores)
    music_s = sum(s.music_s for s in scores)
    on = np.abs([e for s in scores for e in s.onset_errors])
    off = np.abs([e for s in scores for e in s.offset_errors])
    pct = (lambda x, q: float(np.percentile(x, q)) if len(x) else float("nan"))
    return {
        "speech_removed": sum(s.speech_removed * s.speech_s for s in scores) / speech_s if speech_s else 1.0,
        "music_kept": sum(s.music_kept * s.music_s for s in scores) / music_s if music_s else 1.0,
        "min_speech_removed": min(s.speech_removed for s in scores),
        "min_music_kept": min(s.music_kept for s in scores),
        "speech_s": speech_s,
        "music_s": music_s,
        "onset_median_s": pct(on, 50),
        "onset_p90_s": pct(on, 90),
        "offset_median_s": pct(off, 50),
        "offset_p90_s": pct(off, 90),
        "introductions": len(on) + sum(s.missed for s in scores),
        "missed": sum(s.missed for s in scores),
    }


def report_lines(scores: Sequence[TapeScore], title: str = "") -> list[str]:
    """Per-tape and overall figures as fixed-width text lines (for the tests and the benchmark to print)."""
    pct = (lambda x, q: float(np.percentile(np.abs(x), q)) if len(x) else float("nan"))
    head = (f"{'tape':<22}{'speech s':>9}{'removed':>9}{'music s':>9}{'kept':>8}"
            f"{'onset med/p90 s':>17}{'offset med/p90 s':>18}{'missed':>8}")
    lines = [title] if title else []
    lines.append(head)
    for s in scores:
        lines.append(f"{s.identifier:<22}{s.speech_s:>9.1f}{s.speech_removed:>9.2%}{s.music_s:>9.1f}{s.music_kept:>8.2%}"
                     f"{pct(s.onset_errors, 50):>9.2f}/{pct(s.onset_errors, 90):<7.2f}"
                     f"{pct(s.offset_errors, 50):>10.2f}/{pct(s.offset_errors, 90):<7.2f}{s.missed:>8d}")
    o = summarize(scores)
    lines.append(f"{'overall':<22}{o['speech_s']:>9.1f}{o['speech_removed']:>9.2%}{o['music_s']:>9.1f}"
                 f"{o['music_kept']:>8.2%}{o['onset_median_s']:>9.2f}/{o['onset_p90_s']:<7.2f}"
                 f"{o['offset_median_s']:>10.2f}/{o['offset_p90_s']:<7.2f}{o['missed']:>8d}")
    lines.append(f"{'per-tape minimum':<22}{'':>9}{o['min_speech_removed']:>9.2%}{'':>9}{o['min_music_kept']:>8.2%}")
    return lines


def speech_removal_scores(truth: pd.DataFrame, removed: pd.DataFrame, durations: dict[str, float]) -> dict[str, float]:
    """Time-weighted share of true speech removed and of true music kept, over several tapes.

    Parameters
    ----------
    truth : pd.DataFrame
        Columns ``identifier, start_s, end_s, kind`` (kind ``speech`` or ``music``) [s].
    removed : pd.DataFrame
        Cut spans: ``identifier, start_s, end_s`` [s] (e.g. the commentary rows of ``commentary.csv``).
    durations : dict
        Tape duration [s] per identifier; only these tapes are scored.

    Returns
    -------
    dict
        ``speech_removed`` and ``music_kept``, fractions in [0, 1] (music under speech is not
        counted as music).
    """
    scores = []
    for ident in durations:
        t = truth[truth["identifier"] == ident]
        r = removed[removed["identifier"] == ident]
        spans = {k: list(zip(g["start_s"], g["end_s"])) for k, g in t.groupby("kind")}
        cuts = [(a, b, "speech") for a, b in zip(r["start_s"], r["end_s"])]
        scores.append(score_tape(ident, spans.get("speech", []), spans.get("music", []), cuts))
    o = summarize(scores) if scores else {"speech_removed": 1.0, "music_kept": 1.0}
    return {"speech_removed": o["speech_removed"], "music_kept": o["music_kept"]}
