"""Commentary spans from per-frame probabilities and levels (speech_labels), and scoring cuts against an answer key.

The frame sequences are made here: 32-ms frames of speech (probability near 1, level jumping
between syllables and the gaps between them), tape hiss (probability near 0, steady level at the
floor), music (probability near 0, loud) and singing over a band (probability 0.5-0.9, loud,
with the band under it).
"""

from __future__ import annotations

import numpy as np
import pytest

from jazzcnn.preprocess.vad import KEEP, SPEECH, SPEECH_OVER_MUSIC, speech_labels
from jazzcnn.testing.removal_scores import merge_spans, overlap_s, score_tape, subtract_spans, summarize

FPS = 16000 / 512  # frames per second
RNG = np.random.default_rng(0)


def frames(seconds: float) -> int:
    return int(round(seconds * FPS))


def speech(seconds: float, level: float = -30.0) -> tuple[np.ndarray, np.ndarray]:
    n = frames(seconds)
    lev = np.where(np.arange(n) % 5 == 4, -58.0, level + RNG.uniform(-3, 3, n))  # a gap every 5th frame
    return np.full(n, 0.98), lev


def hiss(seconds: float) -> tuple[np.ndarray, np.ndarray]:
    n = frames(seconds)
    return np.full(n, 0.01), -60.0 + RNG.uniform(-0.5, 0.5, n)


def music(seconds: float, level: float = -25.0) -> tuple[np.ndarray, np.ndarray]:
    n = frames(seconds)
    return RNG.uniform(0.0, 0.1, n), level + RNG.uniform(-3, 3, n)


def singing(seconds: float) -> tuple[np.ndarray, np.ndarray]:
    n = frames(seconds)
    return RNG.uniform(0.5, 0.9, n), -24.0 + RNG.uniform(-2, 2, n)


def tape(*parts) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Concatenated (prob, level) and the first frame of each part."""
    starts = np.cumsum([0] + [len(p) for p, _ in parts]).tolist()
    return (np.concatenate([p for p, _ in parts]).astype(np.float32),
            np.concatenate([lv for _, lv in parts]).astype(np.float32), starts)


SETTINGS = dict(threshold=0.5, neg_threshold=0.35, min_speech_frames=frames(0.5), speaker_prob=0.9,
                min_music_frames=frames(1.0), max_pause_frames=frames(5.0), pause_depth_db=6.0, pad_frames=0,
                min_dip_db=12.0, min_pause_frac=0.07, floor_margin_db=15.0, syllable_db=4.0, music_margin_db=3.0,
                bed_frames=frames(0.5))


def test_sentences_across_a_pause_are_one_cut_but_not_across_music():
    prob, lev, at = tape(music(20), speech(3), hiss(3), speech(3), music(20))
    lab = speech_labels(prob, lev, **SETTINGS)
    assert (lab[at[1]:at[4]] != KEEP).all()  # both sentences and the pause between them
    assert (lab[:at[1] - 1] == KEEP).all() and (lab[at[4] + 1:] == KEEP).all()
    # The same sentences with a record between them: the record is kept.
    prob, lev, at = tape(music(20), speech(3), music(3), speech(3), music(20))
    lab = speech_labels(prob, lev, **SETTINGS)
    assert (lab[at[2] + 2:at[3] - 2] == KEEP).all()


def test_a_pause_longer_than_max_pause_is_not_joined():
    prob, lev, at = tape(hiss(5), speech(3), hiss(7), speech(3), hiss(5))
    lab = speech_labels(prob, lev, **SETTINGS)
    assert (lab[at[1]:at[2]] == SPEECH).all() and (lab[at[3]:at[4]] == SPEECH).all()
    assert (lab[at[2] + 1:at[3] - 1] == KEEP).all()
    joined = speech_labels(prob, lev, **{**SETTINGS, "max_pause_frames": frames(8.0)})
    assert (joined[at[1]:at[4]] == SPEECH).all()


def test_hysteresis_extends_the_onset_back_to_the_lower_threshold():
    rise = np.linspace(0.36, 0.49, frames(0.4))  # above neg_threshold, below threshold
    p_s, l_s = speech(3)
    prob, lev, at = tape(hiss(3), (rise, np.full(len(rise), -40.0)), (p_s, l_s), hiss(3))
    lab = speech_labels(prob, lev, **SETTINGS)
    assert lab[at[1] - 1] == KEEP and (lab[at[1]:at[3]] == SPEECH).all()


def test_a_sung_phrase_next_to_an_introduction_is_kept():
    prob, lev, at = tape(hiss(2), speech(3), hiss(2), speech(3), hiss(0.6), singing(2.5), music(20))
    lab = speech_labels(prob, lev, **SETTINGS)
    assert (lab[at[1]:at[4]] == SPEECH).all()
    assert (lab[at[5]:] == KEEP).all()


def test_singing_alone_is_never_cut_even_across_a_pause():
    prob, lev, at = tape(music(10), singing(3), hiss(2), singing(3), music(10))
    assert (speech_labels(prob, lev, **SETTINGS) == KEEP).all()


def test_talk_over_the_first_bars_is_speech_over_music():
    p1, l1 = speech(4)
    p2, l2 = speech(2)
    l2 = np.maximum(l2, -36.0)  # a record ducked under the voice fills the gaps between syllables
    prob, lev, at = tape(hiss(3), speech(3), hiss(2), (p1, l1), (p2, l2), music(20, level=-30))
    lab = speech_labels(prob, lev, **SETTINGS)
    assert (lab[at[1]:at[4]] == SPEECH).all()
    over = lab[at[4]:at[5]] == SPEECH_OVER_MUSIC
    # All of it from half a background window (0.25 s) after the record starts.
    assert not over[:frames(0.1)].any() and over[frames(0.3):].all()
    assert (speech_labels(prob, lev, **{**SETTINGS, "music_margin_db": 0})[at[1]:at[5]] == SPEECH).all()


def test_span_arithmetic():
    assert merge_spans([(3, 4), (0, 1), (0.5, 2)]) == [(0, 2), (3, 4)]
    assert overlap_s([(0, 2), (3, 4)], [(1, 3.5)]) == pytest.approx(1.5)
    assert subtract_spans([(0, 10)], [(2, 3), (5, 6)]) == [(0, 2), (3, 5), (6, 10)]


def test_score_tape_weighs_time_and_measures_edges():
    speech = [(10.0, 20.0), (50.0, 60.0), (90.0, 95.0)]
    music = [(20.5, 50.0), (58.0, 90.0)]  # the second record starts under the last 2 s of speech
    cuts = [(9.8, 15.0, "speech"), (15.0, 21.0, "speech_over_music"), (51.0, 60.5, "speech"), (70.0, 71.0, "silence")]
    s = score_tape("t", speech, music, cuts)
    assert s.speech_s == pytest.approx(25.0) and s.music_s == pytest.approx(29.5 + 30.0)
    assert s.speech_removed == pytest.approx((10 + 9) / 25)
    assert s.music_kept == pytest.approx(1 - (0.5 + 0.5 + 1.0) / 59.5)
    assert s.onset_errors == pytest.approx([-0.2, 1.0]) and s.offset_errors == pytest.approx([1.0, 0.5])
    assert s.missed == 1  # the silence cut is not commentary, and nothing touches the third
    o = summarize([s, score_tape("u", [(0.0, 5.0)], [(5.0, 100.0)], [(0.0, 5.0, "speech")])])
    assert o["speech_removed"] == pytest.approx((19 + 5) / 30) and o["min_speech_removed"] == pytest.approx(19 / 25)
    assert o["introductions"] == 4 and o["missed"] == 1
    assert o["onset_median_s"] == pytest.approx(0.2)


def test_first_words_right_after_a_record_stay_in_the_cut():
    """An unconfident first phrase over the record's tail is kept when it jumps like syllables (not smooth like singing)."""
    n = frames(0.8)
    first = (np.full(n, 0.8), np.where(np.arange(n) % 4 < 2, -22.0, -34.0))  # band at -34 dBFS under syllables
    prob, lev, at = tape(music(10), first, hiss(0.4), speech(3), hiss(3))
    lab = speech_labels(prob, lev, **SETTINGS)
    assert (lab[at[1]:at[4]] != KEEP).all() and (lab[at[3]:at[4]] == SPEECH).all()
    assert (lab[at[1]:at[2]] == SPEECH_OVER_MUSIC).mean() > 0.5  # the band under them is the record's tail
    smooth = (np.full(n, 0.8), -24.0 + RNG.uniform(-1, 1, n))
    prob, lev, at = tape(music(10), smooth, hiss(0.4), speech(3), hiss(3))
    lab = speech_labels(prob, lev, **SETTINGS)
    assert (lab[at[1]:at[2]] == KEEP).all() and (lab[at[3]:at[4]] == SPEECH).all()
