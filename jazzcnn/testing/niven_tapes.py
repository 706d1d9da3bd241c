"""Cassette-like test tapes shaped like Niven's, with an answer key, for scoring commentary removal.

Each tape alternates spoken introductions and tunes of about a minute, the way the collection's
tapes sound, and keeps where every introduction and tune really is:

* the introductions are two or three sentences of one voice with 1-4 s pauses between sentences:
  one of the three human readers in ``speech/`` of the shared recordings (each utterance cut at
  its two longest phrase breaks) or an espeak-ng voice (several accents, male and female
  variants, speaking rates);
* the tunes are excerpts of 45-75 s of the real recordings in ``music/`` (the shorter ones whole;
  the 5-s trumpet phrase is left out), taken in turn, the sung pop song among them;
* between a tune and the next introduction there is a short pause, no pause at all (the voice
  starts where the record stops), or the record's last second fading out under the first words;
* between an introduction and its tune there is a short pause, no pause, or talk-over: the record
  starts 1.5-4 s before the voice stops, ducked 10 dB below the voice, and comes up to its full
  level over 1 s once the voice stops;
* the voice is 10 dB quieter than the music on one tape, 10 dB louder on another, alternately
  -10/+10 dB per introduction on a third and within 3 dB of it on the fourth;
* every tape is band-limited like a cassette transfer (4.5-8 kHz eighth-order low-pass) and has
  tape hiss (-50 to -40 dBFS, high-passed at 1 kHz) from start to end, at 44.1 kHz stereo.

Used by the tests and ``benchmarks/bench_commentary.py`` (never by the stage). The recordings stay
in ``../shared/audio``; tapes are only written to temporary folders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, sosfilt

from jazzcnn.testing.demo_tapes import speak
from jazzcnn.testing.tapes import _load

#: Rate of the collection's CD-quality transfers [Hz].
TAPE_RATE = 44100
#: Level every tune is brought to before mixing [dBFS RMS].
MUSIC_DB = -20.0
#: The voice's level relative to the music [dB], per tape: -10, +10, alternating, near 0.
SPEECH_REL_DB = ("-10", "+10", "alternating", "near0")
#: Band limit [Hz] and hiss level [dBFS RMS, before its 1 kHz high-pass] of each tape.
CASSETTE = ((4500.0, -44.0), (8000.0, -50.0), (6000.0, -40.0), (5000.0, -46.0))
#: Duck of a record under talk-over, below the voice [dB].
TALKOVER_DUCK_DB = 10.0

#: espeak-ng voices standing in for Niven: (voice, pitch 0-99, words per minute).
ESPEAK_VOICES = (
    ("en-us", 40, 150), ("en-gb", 35, 140), ("en-gb-scotland", 50, 165), ("en-us+f3", 55, 155),
    ("en-029", 45, 145), ("en-gb-x-rp+m3", 30, 135),
)
#: Sentences of the espeak-ng introductions (written for these tests, in the manner of a collector
#: introducing his records).
SENTENCES = (
    "This next side is by Bix Beiderbecke and his Gang, recorded in New York in October of nineteen twenty seven.",
    "Listen for the way the cornet lifts the last chorus.",
    "That was Fletcher Henderson and his orchestra, at the top of their form.",
    "Here is one of my favourite records of the whole period.",
    "Coleman Hawkins takes the tenor solo after the first chorus.",
    "My copy of this one is a little worn, but the music comes through.",
    "Now we go to Chicago, and King Oliver's Creole Jazz Band.",
    "The clarinet you hear is Johnny Dodds.",
    "This was issued on the Okeh label, and it sold very well at the time.",
    "Next, a piano solo by Jelly Roll Morton, from nineteen twenty six.",
    "I first heard this record at a friend's house when I was in college.",
    "Benny Goodman's band made this one for Victor in nineteen thirty five.",
)


@dataclass
class NivenTape:
    """One test tape and its answer key.

    Attributes
    ----------
    identifier : str
    audio : np.ndarray
        float32, shape ``(n, 2)``, at :data:`TAPE_RATE`.
    speech : list of (float, float)
        True introductions [s]: first word's onset to last word's offset, pauses between sentences
        included (all of it is commentary to cut).
    music : list of (float, float)
        True tunes [s], including a record's fade under the next introduction and talk-over.
    sentences : list of (float, float)
        True spans of voice [s] (the sentences of the introductions).
    talkover : list of (float, float)
        Where the voice runs over a record [s] (inside both ``speech`` and ``music``).
    notes : list of str
        Per introduction: voice, level relative to the music, how it begins and ends.
    """

    identifier: str
    audio: np.ndarray
    speech: list[tuple[float, float]] = field(default_factory=list)
    music: list[tuple[float, float]] = field(default_factory=list)
    sentences: list[tuple[float, float]] = field(default_factory=list)
    talkover: list[tuple[float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / TAPE_RATE

    def write(self, path: Path) -> Path:
        """Write the tape as 16-bit WAV, or as VBR MP3 if ``path`` ends in ``.mp3``; returns ``path``."""
        path = Path(path)
        if path.suffix.lower() == ".mp3":
            sf.write(path, self.audio, TAPE_RATE, format="MP3", bitrate_mode="VARIABLE")
        else:
            sf.write(path, self.audio, TAPE_RATE, subtype="PCM_16")
        return path


def _db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def _frame_db(x: np.ndarray, rate: int, frame_s: float = 0.01) -> np.ndarray:
    """Level of consecutive ``frame_s`` frames of mono ``x`` [dB]."""
    f = max(1, int(frame_s * rate))
    n = len(x) // f
    return 10 * np.log10(np.mean(np.square(x[: n * f].reshape(n, f), dtype=np.float64), axis=1) + 1e-20)


def _audible(x: np.ndarray, rate: int, below_peak_db: float = 35.0) -> np.ndarray:
    """``x`` trimmed to its audible extent: first to last 10-ms frame within ``below_peak_db`` of its loud frames."""
    db = _frame_db(x, rate)
    loud = np.flatnonzero(db > np.percentile(db, 95) - below_peak_db)
    f = int(0.01 * rate)
    return x[loud[0] * f:(loud[-1] + 1) * f] if loud.size else x


def _active_db(x: np.ndarray, rate: int) -> float:
    """Active speech level: RMS over the 10-ms frames within 30 dB of the loud ones [dB]."""
    db = _frame_db(x, rate)
    act = db[db > np.percentile(db, 95) - 30]
    return float(10 * np.log10(np.mean(10 ** (act / 10))))


def _phrases(x: np.ndarray, rate: int, n: int = 3) -> list[np.ndarray]:
    """A read utterance cut into ``n`` phrases at its ``n - 1`` longest pauses (>= 0.15 s, 25 dB down)."""
    db = _frame_db(x, rate)
    quiet = db < np.percentile(db, 95) - 25
    m = np.concatenate([[False], quiet, [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    gaps = [(b - a, a, b) for a, b in zip(edges[0::2], edges[1::2]) if a > 0 and b < len(db) and b - a >= 15]
    cuts = sorted((a + b) // 2 for _, a, b in sorted(gaps, reverse=True)[: n - 1])
    f = int(0.01 * rate)
    bounds = [0, *(c * f for c in cuts), len(x)]
    return [_audible(x[a:b], rate) for a, b in zip(bounds, bounds[1:])]


def _voices(shared_audio: Path, rate: int) -> list[tuple[str, list[np.ndarray]]]:
    """The human readers: (name, phrases in order), mono at ``rate``."""
    out = []
    for p in sorted((shared_audio / "speech").glob("*.ogg")):
        x = _load(p, rate)[:, 0].astype(np.float64)
        out.append((f"reader {p.stem}", _phrases(x, rate)))
    return out


def _recordings(shared_audio: Path, rate: int) -> list[tuple[str, np.ndarray]]:
    """The music recordings of 20 s or more, stereo float64 at ``rate``."""
    out = []
    for p in sorted((shared_audio / "music").glob("*.ogg")):
        x = _load(p, rate).astype(np.float64)
        if len(x) >= 20 * rate:
            out.append((p.stem[:24], x))
    return out


def _excerpt(x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    """A random excerpt of 45-75 s (all of a shorter recording): (start sample, samples)."""
    n = min(len(x), int(rng.uniform(45, 75) * rate))
    start = int(rng.integers(0, len(x) - n + 1))
    return start, x[start:start + n]


def _splice(x: np.ndarray, rate: int, fade_in_s: float = 0.02, fade_out_s: float = 0.05) -> np.ndarray:
    """Short fades so an excerpt neither clicks in nor out (a tape splice)."""
    x = x.copy()
    a, b = int(fade_in_s * rate), int(fade_out_s * rate)
    x[:a] *= np.linspace(0, 1, a)[:, None]
    x[len(x) - b:] *= np.linspace(1, 0, b)[:, None]
    return x


def _place(track: list, start: int, x: np.ndarray) -> None:
    track.append((start, x))


def build_niven_tapes(shared_audio: Path, *, seed: int = 14, n_tapes: int = 4, tunes_per_tape: int = 5) -> list[NivenTape]:
    """The test tapes (see the module docstring), in a fixed order for a given ``seed``.

    Parameters
    ----------
    shared_audio : Path
        Folder with ``speech/*.ogg`` and ``music/*.ogg`` (``../shared/audio``).
    seed : int
        Seed of every random choice (excerpts, voices, sentences, pauses, hiss).
    n_tapes : int
        Number of tapes (at most 4 differ in level, band limit and hiss; more repeat those).
    tunes_per_tape : int
        Introductions and tunes on each tape (each pair about 1-1.5 minutes).

    Returns
    -------
    list of NivenTape
        The recordings are used in turn, each excerpt drawn anew.

    Raises
    ------
    RuntimeError
        If espeak-ng is not installed.
    """
    rate = TAPE_RATE
    rng = np.random.default_rng(seed)
    readers = _voices(shared_audio, rate)
    records = _recordings(shared_audio, rate)
    order = rng.permutation(len(records))
    # Transitions cycle so every tape has each kind.
    before = ("pause", "none", "fade")  # tune -> next introduction
    after = ("pause", "over", "none")  # introduction -> its tune
    tapes = []
    k_intro = k_tune = k_espeak = 0
    for t_i in range(n_tapes):
        mine = []
        for _ in range(tunes_per_tape):
            name, x = records[order[k_tune % len(records)]]
            start, m = _excerpt(x, rate, rng)
            mine.append((f"{name}@{start / rate:.0f}s", m))
            k_tune += 1
        band_hz, hiss_db = CASSETTE[t_i % len(CASSETTE)]
        rel_kind = SPEECH_REL_DB[t_i % len(SPEECH_REL_DB)]
        placed: list[tuple[int, np.ndarray]] = []  # (start sample, stereo signal) mixed at the end
        tape = NivenTape(identifier=f"niven_test_tape_{t_i + 1}", audio=np.zeros((0, 2), np.float32))
        t = int(rng.uniform(0.5, 1.5) * rate)  # hiss before the first introduction
        prev_tune_end: int | None = None
        for j, (tune_name, tune) in enumerate(mine):
            # --- the introduction: 2-3 sentences of one voice, 1-4 s pauses between them
            if k_intro % 3 == 2:
                name, phrases = readers[(k_intro // 3) % len(readers)]
            else:
                voice, pitch, wpm = ESPEAK_VOICES[k_espeak % len(ESPEAK_VOICES)]
                k_espeak += 1
                texts = rng.choice(SENTENCES, size=int(rng.integers(2, 4)), replace=False)
                name = f"espeak {voice}"
                phrases = [_audible(speak(str(s), rate, speed_wpm=int(wpm), voice=voice, pitch=int(pitch)), rate)
                           for s in texts]
            rel = {"-10": -10.0, "+10": 10.0, "alternating": -10.0 if j % 2 == 0 else 10.0,
                   "near0": float(rng.uniform(-3, 3))}[rel_kind]
            speech_db = MUSIC_DB + rel
            gain = 10 ** ((speech_db - _active_db(np.concatenate(phrases), rate)) / 20)
            how_in = before[k_intro % 3] if prev_tune_end is not None else "first"
            how_out = after[(k_intro // 3 + k_intro) % 3]
            k_intro += 1
            if how_in == "pause":
                t = prev_tune_end + int(rng.uniform(0.3, 1.5) * rate)
            elif how_in == "none":
                t = prev_tune_end
            elif how_in == "fade":
                t = prev_tune_end - rate  # the record's last second fades under the first words
            intro_start = t
            for i, ph in enumerate(phrases):
                if i:
                    t += int(rng.uniform(1.0, 4.0) * rate)
                x = (gain * ph)[:, None] * np.array([[1.0, 0.95]])
                _place(placed, t, x)
                tape.sentences.append((t / rate, (t + len(ph)) / rate))
                t += len(ph)
            intro_end = t
            tape.speech.append((intro_start / rate, intro_end / rate))
            # --- the tune
            m = _splice(tune, rate) * 10 ** ((MUSIC_DB + rng.uniform(-2, 2) - _db(tune)) / 20)
            if how_out == "pause":
                m_start = intro_end + int(rng.uniform(0.3, 1.5) * rate)
            elif how_out == "none":
                m_start = intro_end
            else:  # talk-over: the record starts under the last words, ducked, and comes up after
                over = int(rng.uniform(1.5, 4.0) * rate)
                m_start = max(intro_end - over, intro_end - len(phrases[-1]))
                duck_db = min(0.0, speech_db - TALKOVER_DUCK_DB - MUSIC_DB)
                env = np.ones(len(m))
                k_end = intro_end - m_start
                env[:k_end] = 10 ** (duck_db / 20)
                env[k_end:k_end + rate] = np.linspace(10 ** (duck_db / 20), 1.0, rate)[: len(env) - k_end]
                m = m * env[:, None]
                tape.talkover.append((m_start / rate, intro_end / rate))
            tune_end = m_start + len(m)
            # The next introduction may begin with this record's last second fading under it.
            if j + 1 < len(mine) and before[k_intro % 3] == "fade":
                m = m.copy()
                m[-rate:] *= np.linspace(1, 0, rate)[:, None]
            _place(placed, m_start, m)
            tape.music.append((m_start / rate, tune_end / rate))
            tape.notes.append(f"{name}, voice {rel:+.0f} dB vs music, starts after {how_in}, ends with {how_out}; "
                              f"then {tune_name}")
            prev_tune_end = tune_end
            t = tune_end
        n = t + int(rng.uniform(0.5, 1.5) * rate)
        mix = np.zeros((n, 2))
        for start, x in placed:
            mix[start:start + len(x)] += x
        sos = butter(8, band_hz, btype="lowpass", fs=rate, output="sos")
        mix = sosfilt(sos, mix, axis=0)
        hiss = rng.normal(0, 10 ** (hiss_db / 20), mix.shape)
        mix += sosfilt(butter(2, 1000, btype="highpass", fs=rate, output="sos"), hiss, axis=0)
        peak = np.abs(mix).max()
        if peak > 0.99:
            mix *= 0.99 / peak
        tape.audio = mix.astype(np.float32)
        tape.notes.insert(0, f"band limit {band_hz / 1000:.1f} kHz, hiss {hiss_db:.0f} dBFS, voice level {rel_kind}")
        tapes.append(tape)
    return tapes
