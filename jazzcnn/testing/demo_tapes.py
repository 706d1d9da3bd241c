"""A small synthetic Niven-like collection, made in code, for the offline demo and tests.

Each tape alternates spoken introductions (espeak-ng, standing in for Niven's voice) with tunes
whose character follows what recordings of each era sounded like on a cassette transfer:

================  ===========  =========  ===============  ======================================
era               bandwidth    tempo      surface noise    instrumentation
================  ===========  =========  ===============  ======================================
Early Jazz        ~3 kHz       200-230    crackle + hiss   two-beat tuba, banjo, cornet lead
Swing/Big Band    ~6 kHz       150-180    light hiss       walking bass, sax-section chords, hi-hat
Bop               ~10 kHz      240-300    faint hiss       fast eighth-note runs, ride cymbal
Cool Jazz         ~14 kHz      100-130    clean            soft flute-like long notes, brushes
================  ===========  =========  ===============  ======================================

The bandwidths follow the usual account of acoustic/early electrical 78s (about 3-5 kHz) versus
1950s tape and LP masters; the rest is a caricature meant to be learnable, not realistic.
The answer key (true speech spans in each tape) is returned so the demo can measure removal.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import butter, sosfilt

#: Output rate of the generated tapes, as the collection's CD-quality WAV transfers [Hz].
TAPE_RATE = 44100


@dataclass(frozen=True)
class EraStyle:
    """Sound of one era's recordings. Rates in Hz, tempo in beats per minute, levels in dBFS."""

    name: str
    years: tuple[int, int]
    bandwidth_hz: float
    tempo_bpm: tuple[int, int]
    hiss_db: float
    crackle_per_s: float
    artists: tuple[str, ...]


ERA_STYLES = (
    EraStyle("Early Jazz", (1923, 1930), 3000.0, (200, 230), -32.0, 25.0, ("King_Oliver", "Bix_Beiderbecke", "Jelly_Roll_Morton")),
    EraStyle("Swing/Big Band", (1931, 1944), 6000.0, (150, 180), -42.0, 4.0, ("Benny_Goodman", "Count_Basie", "Fletcher_Henderson")),
    EraStyle("Bop", (1945, 1949), 10000.0, (240, 300), -52.0, 0.0, ("Charlie_Parker", "Dizzy_Gillespie", "Bud_Powell")),
    EraStyle("Cool Jazz", (1950, 1955), 14000.0, (100, 130), -70.0, 0.0, ("Chet_Baker", "Gerry_Mulligan", "Lee_Konitz")),
)


@dataclass
class DemoTape:
    """One generated tape: stereo audio at :data:`TAPE_RATE` and its answer key."""

    identifier: str
    artist: str
    era: str
    year_start: int
    year_end: int
    audio: np.ndarray  # shape=(n, 2), float32 in [-1, 1]
    speech_spans: list[tuple[float, float]] = field(default_factory=list)  # [s]
    music_spans: list[tuple[float, float]] = field(default_factory=list)  # [s]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / TAPE_RATE


def _midi_hz(note: np.ndarray | float) -> np.ndarray | float:
    return 440.0 * 2.0 ** ((np.asarray(note) - 69) / 12.0)


def _tone(freq: float, dur_s: float, sr: int, harmonics: int, decay: float, brightness: float, rng) -> np.ndarray:
    """Additive tone: ``harmonics`` partials falling off as brightness**k, exponential decay [1/s]."""
    n = max(int(dur_s * sr), 1)
    t = np.arange(n) / sr
    vib = 1.0 + 0.004 * np.sin(2 * np.pi * rng.uniform(4.5, 6.0) * t)
    phase = 2 * np.pi * freq * np.cumsum(vib) / sr
    y = np.zeros(n)
    for k in range(1, harmonics + 1):
        if freq * k > sr / 2 - 200:
            break
        y += brightness ** (k - 1) * np.sin(k * phase)
    attack = np.minimum(1.0, t / 0.01)
    return (y * attack * np.exp(-decay * t)).astype(np.float64)


def _noise_burst(dur_s: float, sr: int, lo: float, hi: float, decay: float, rng) -> np.ndarray:
    n = max(int(dur_s * sr), 1)
    sos = butter(2, [lo, min(hi, sr / 2 - 100)], btype="bandpass", fs=sr, output="sos")
    return sosfilt(sos, rng.standard_normal(n)) * np.exp(-decay * np.arange(n) / sr)


def _place(out: np.ndarray, sound: np.ndarray, start: int, gain: float) -> None:
    end = min(len(out), start + len(sound))
    if start < end:
        out[start:end] += gain * sound[: end - start]


def synth_tune(style: EraStyle, seconds: float, rng: np.random.Generator, sr: int = TAPE_RATE) -> np.ndarray:
    """A tune in the manner of ``style``: mono float64, shape=(seconds*sr,), peak about 0.5.

    Parameters
    ----------
    style : EraStyle
    seconds : float
        Length [s].
    rng : np.random.Generator
    sr : int
        Sample rate [Hz].
    """
    n = int(seconds * sr)
    out = np.zeros(n)
    bpm = rng.uniform(*style.tempo_bpm)
    beat = 60.0 / bpm
    key = int(rng.integers(50, 58))
    # I-vi-ii-V in the key, one chord per bar of four beats
    progression = [(0, 4, 7), (9, 12, 16), (2, 5, 9), (7, 11, 14)]
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16])
    n_beats = int(seconds / beat) + 1
    era = style.name
    for b in range(n_beats):
        t0 = int(b * beat * sr)
        chord = progression[(b // 4) % 4]
        root = key - 24 + chord[0]
        if era == "Early Jazz":
            if b % 2 == 0:  # two-beat tuba
                _place(out, _tone(_midi_hz(root), beat * 0.9, sr, 6, 3.0, 0.6, rng), t0, 0.5)
            # banjo strum on every beat: bright, fast decay
            for i, iv in enumerate(chord):
                _place(out, _tone(_midi_hz(key + iv), 0.25, sr, 10, 14.0, 0.8, rng), t0 + int(i * 0.008 * sr), 0.12)
            for half in range(2):  # cornet lead in eighths, brassy
                note = key + 12 + scale[int(rng.integers(0, 7))]
                _place(out, _tone(_midi_hz(note), beat / 2 * 0.95, sr, 12, 1.5, 0.75, rng), t0 + int(half * beat / 2 * sr), 0.22)
        elif era == "Swing/Big Band":
            walk = root + int(rng.choice([0, 2, 4, 5, 7]))
            _place(out, _tone(_midi_hz(walk), beat * 0.9, sr, 5, 2.5, 0.5, rng), t0, 0.45)
            if b % 4 in (0, 2):  # sax section: sustained three-voice chords
                for iv in chord:
                    _place(out, _tone(_midi_hz(key + iv), beat * 2 * 0.95, sr, 7, 0.8, 0.65, rng), t0, 0.13)
            if b % 2 == 1:
                _place(out, _noise_burst(0.08, sr, 5000, 9000, 40.0, rng), t0, 0.15)
        elif era == "Bop":
            walk = root + int(rng.choice([0, 3, 4, 7, 10]))
            _place(out, _tone(_midi_hz(walk), beat * 0.9, sr, 5, 2.5, 0.5, rng), t0, 0.4)
            for q in range(2):  # fast eighth-note lines with chromatic steps
                note = key + 12 + int(rng.integers(-5, 14))
                _place(out, _tone(_midi_hz(note), beat / 2 * 0.9, sr, 9, 2.0, 0.7, rng), t0 + int(q * beat / 2 * sr), 0.2)
            _place(out, _noise_burst(0.3, sr, 6000, 16000, 8.0, rng), t0, 0.12)  # ride cymbal
            if rng.random() < 0.25:  # drop "bombs" on the bass drum
                _place(out, _tone(60.0, 0.2, sr, 2, 20.0, 0.3, rng), t0 + int(beat / 2 * sr), 0.6)
        else:  # Cool Jazz
            if b % 2 == 0:
                _place(out, _tone(_midi_hz(root), beat * 1.9, sr, 3, 1.0, 0.4, rng), t0, 0.4)
            if b % 4 == 0:  # long, soft, nearly pure lead notes
                note = key + 12 + scale[int(rng.integers(0, 8))]
                _place(out, _tone(_midi_hz(note), beat * 3.9, sr, 3, 0.3, 0.25, rng), t0, 0.3)
            _place(out, _noise_burst(beat * 0.9, sr, 2000, 12000, 3.0, rng), t0, 0.03)  # brushes
    return 0.5 * out / max(np.abs(out).max(), 1e-9)


def _surface(style: EraStyle, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Era surface noise (hiss and 78 rpm crackle) for ``n`` samples."""
    hiss = rng.standard_normal(n) * 10 ** (style.hiss_db / 20)
    if style.crackle_per_s > 0:
        clicks = rng.random(n) < style.crackle_per_s / sr
        hiss += clicks * rng.uniform(-0.3, 0.3, n)
    return hiss


def lowpass(y: np.ndarray, cutoff_hz: float, sr: int) -> np.ndarray:
    """Eighth-order Butterworth low-pass at ``cutoff_hz`` [Hz] (band limit of a transfer)."""
    if cutoff_hz >= sr / 2 - 100:
        return y
    return sosfilt(butter(8, cutoff_hz, fs=sr, output="sos"), y)


def speak(text: str, sr: int = TAPE_RATE, *, speed_wpm: int = 150, voice: str = "en-us", pitch: int = 50) -> np.ndarray:
    """Spoken ``text`` from espeak-ng, resampled to ``sr`` [Hz]; mono float64, peak 0.4.

    ``voice`` is an espeak-ng voice name (``espeak-ng --voices``), ``pitch`` its 0-99 pitch
    setting (espeak-ng's default 50), ``speed_wpm`` the speaking rate [words per minute].

    Raises
    ------
    RuntimeError
        If espeak-ng is not installed (Debian package ``espeak-ng``).
    """
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("the demo needs espeak-ng for its spoken introductions: apt-get install espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run([exe, "-v", voice, "-s", str(speed_wpm), "-p", str(pitch), "-w", str(wav), text], check=True, capture_output=True)
        y, rate = sf.read(wav, dtype="float64")
    y = soxr.resample(y, rate, sr, quality="HQ")
    return 0.4 * y / max(np.abs(y).max(), 1e-9)


def make_tape(style: EraStyle, index: int, seconds: float, rng: np.random.Generator) -> DemoTape:
    """One tape of about ``seconds`` [s]: introduction, tune, introduction, tune, ...

    The identifier follows the collection's pattern, e.g. ``Benny_Goodman_Tape_5_1933-1934``.
    """
    artist = style.artists[index % len(style.artists)]
    y0 = int(rng.integers(style.years[0], style.years[1] + 1))
    y1 = min(style.years[1], y0 + int(rng.integers(0, 2)))
    years = f"{y0}" if y0 == y1 else f"{y0}-{y1}"
    identifier = f"{artist}_Tape_{index + 1}_{years}"
    sr = TAPE_RATE
    pieces, speech, music, t = [], [], [], 0.0
    tune_no = 0
    while t < seconds - 10:
        words = artist.replace("_", " ")
        intro = [
            f"Here is {words}, recorded in {y0}. Listen to the rhythm section on this one.",
            f"That was {words}. Next we have another side from {y1}, a favourite of mine.",
            f"Now {words} again, number {tune_no + 1} on this tape, from the original record.",
        ][tune_no % 3]
        voice = speak(intro, sr, speed_wpm=int(rng.integers(140, 175)))
        pause = np.zeros(int(rng.uniform(0.4, 1.0) * sr))
        # The answer key marks the voice: espeak-ng ends every utterance with ~0.4 s of silence.
        audible = np.flatnonzero(np.abs(voice) > np.abs(voice).max() * 10 ** (-40 / 20))
        speech.append((t, t + (audible[-1] + 1) / sr))
        t += (len(voice) + len(pause)) / sr
        tune_s = float(min(rng.uniform(18, 28), max(seconds - t, 6.0)))
        tune = lowpass(synth_tune(style, tune_s, rng) + _surface(style, int(tune_s * sr), sr, rng), style.bandwidth_hz, sr)
        music.append((t, t + len(tune) / sr))
        t += len(tune) / sr
        pieces += [voice, pause, tune]
        tune_no += 1
    mono = np.concatenate(pieces)
    mono += rng.standard_normal(len(mono)) * 10 ** (-60 / 20)  # cassette hiss common to every tape
    stereo = np.stack([mono, 0.9 * mono + 0.1 * np.roll(mono, 7)], axis=1)
    stereo = (0.9 * stereo / max(np.abs(stereo).max(), 1e-9)).astype(np.float32)
    return DemoTape(identifier, artist.replace("_", " "), style.name, y0, y1, stereo, speech, music)


def make_collection(tapes_per_era: int, tape_seconds: float, seed: int = 0) -> list[DemoTape]:
    """``tapes_per_era`` tapes for each of the four seed eras, each about ``tape_seconds`` [s]."""
    rng = np.random.default_rng(seed)
    return [make_tape(style, i, tape_seconds, rng) for style in ERA_STYLES for i in range(tapes_per_era)]
