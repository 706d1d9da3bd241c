"""Commentary removal on real sound: read speech between real music recordings.

Tapes are built from ../shared/audio (speech, pause, music, speech, music, ...) at 44.1 kHz stereo,
once clean and once as a cassette transfer of 78s (4.5 kHz band limit, tape hiss, VBR MP3). The
true speech and music spans are the answer key; the measure is time-weighted.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from preprocess.config import PreprocessConfig
from preprocess.pipeline import clean_audio
from preprocess.synth import build_tape, span_overlap


@pytest.mark.parametrize("kind", ["clean", "cassette"])
def test_speech_removed_music_kept(shared_audio, tmp_path, kind):
    tape, speech, music = build_tape(shared_audio, cassette=kind == "cassette", seed=7)
    path = tmp_path / ("tape.wav" if kind == "clean" else "tape.mp3")
    if kind == "clean":
        sf.write(path, tape, 44100, subtype="PCM_16")
    else:
        sf.write(path, tape, 44100, format="MP3", bitrate_mode="VARIABLE")
    result = clean_audio(path, PreprocessConfig())
    kept = [(s, s + len(x) / 16000) for s, x in result.segments]
    removed = [(a, b) for a, b, _ in result.removed]
    speech_s = sum(b - a for a, b in speech)
    music_s = sum(b - a for a, b in music)
    speech_removed = span_overlap(speech, removed) / speech_s
    music_kept = span_overlap(music, kept) / music_s
    # Cut spans attributed to speech should be mostly speech, not music.
    print(f"\n{kind}: {result.duration_s:.0f} s tape, speech removed {speech_removed:.2%} of {speech_s:.0f} s, "
          f"music kept {music_kept:.2%} of {music_s:.0f} s")
    assert speech_removed >= 0.95
    assert music_kept >= 0.97
    # Segments and cuts tile the file exactly, in order, without overlap.
    pieces = sorted([(a, b) for a, b in kept] + removed)
    assert pieces[0][0] == 0 and abs(pieces[-1][1] - result.duration_s) < 1e-6
    for (a0, b0), (a1, b1) in zip(pieces, pieces[1:]):
        assert abs(b0 - a1) < 1e-6
    assert all(len(x) >= 3.0 * 16000 and x.dtype == np.int16 for _, x in result.segments)
