"""Procedural timbres in numpy: always available, fast, and as many as there are presets.

Strings are Karplus–Strong plucks (with a fractional-delay all-pass so they are in tune),
drums are modal membranes, the güira and maracas are shaped noise, the voice and the keys
are wavetables with formants and vibrato. Each note's sound is rendered once per pitch
and articulation and then reused, so a whole song takes about a second.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

from .mix import bandpass, peaking
from .patterns import (
    COWBELL,
    LOW_BONGO,
    LOW_CONGA,
    MARACAS,
    MUTE_HI_CONGA,
    OPEN_HI_CONGA,
    SHORT_GUIRO,
    Note,
)

# Preset parameters by part. A song jitters them a little, so no two songs sound alike.
PRESETS: dict[str, dict[str, dict[str, float]]] = {
    "guitar": {
        "nylon-warm": {"decay": 1.4, "brightness": 0.35, "pluck": 0.20, "body": 220},
        "nylon-bright": {"decay": 1.2, "brightness": 0.65, "pluck": 0.12, "body": 260},
        "steel": {"decay": 2.2, "brightness": 0.85, "pluck": 0.10, "body": 180},
        "requinto": {"decay": 1.0, "brightness": 0.75, "pluck": 0.15, "body": 300},
        "dark-archtop": {"decay": 1.6, "brightness": 0.25, "pluck": 0.25, "body": 150},
        "clean-electric": {"decay": 2.8, "brightness": 0.55, "pluck": 0.08, "body": 400},
    },
    "bass": {
        "round": {"decay": 2.0, "brightness": 0.15, "pluck": 0.25, "body": 90, "lowpass": 900},
        "finger": {"decay": 1.6, "brightness": 0.3, "pluck": 0.18, "body": 120, "lowpass": 1400},
        "pick": {"decay": 1.4, "brightness": 0.6, "pluck": 0.10, "body": 150, "lowpass": 2500},
        "upright": {"decay": 0.8, "brightness": 0.25, "pluck": 0.30, "body": 110, "lowpass": 1100},
        "fretless": {"decay": 2.4, "brightness": 0.2, "pluck": 0.35, "body": 100, "lowpass": 1200},
    },
    "bongo": {
        "classic": {"pitch": 420, "ratio": 0.68, "decay": 0.18, "slap": 0.8},
        "tight": {"pitch": 500, "ratio": 0.72, "decay": 0.12, "slap": 1.0},
        "deep": {"pitch": 360, "ratio": 0.64, "decay": 0.24, "slap": 0.6},
        "bright": {"pitch": 470, "ratio": 0.7, "decay": 0.15, "slap": 1.2},
        "dry": {"pitch": 440, "ratio": 0.66, "decay": 0.09, "slap": 0.9},
    },
    "guira": {
        "fine": {"ridges": 380, "low": 3000, "high": 11000, "long": 0.16, "ring": 6500},
        "coarse": {"ridges": 220, "low": 2200, "high": 9000, "long": 0.18, "ring": 5200},
        "bright": {"ridges": 300, "low": 4000, "high": 14000, "long": 0.14, "ring": 8000},
        "dark": {"ridges": 260, "low": 1800, "high": 7000, "long": 0.17, "ring": 4300},
        "soft": {"ridges": 330, "low": 2500, "high": 10000, "long": 0.12, "ring": 6000},
    },
    "voice": {
        "ah": {"f1": 800, "f2": 1150, "f3": 2900, "vibrato": 0.012},
        "oh": {"f1": 450, "f2": 800, "f3": 2830, "vibrato": 0.010},
        "eh": {"f1": 400, "f2": 1700, "f3": 2600, "vibrato": 0.015},
    },
    "keys": {
        "pad": {"attack": 0.25, "decay": 0.0, "rolloff": 1.6, "detune": 0.004},
        "electric-piano": {"attack": 0.005, "decay": 1.2, "rolloff": 3.0, "detune": 0.001},
        "strings": {"attack": 0.12, "decay": 0.0, "rolloff": 1.1, "detune": 0.006},
    },
    "percussion": {
        "latin": {"bell": 560, "conga": 200, "shaker": 6000},
        "bright": {"bell": 640, "conga": 230, "shaker": 8000},
        "low": {"bell": 510, "conga": 180, "shaker": 5000},
    },
}
MEMBRANE_MODES = (1.0, 1.59, 2.14, 2.30, 2.65, 2.92, 3.16)
RELEASE_SECONDS = 0.05
WAVETABLE_SIZE = 2048


# How far a song moves each preset parameter by default (±8 %).
TIMBRE_SPREAD = 0.08


def jittered(params: dict[str, float], rng: np.random.Generator, spread: float = TIMBRE_SPREAD):
    """The preset with every parameter scaled by up to ±``spread`` for this song."""
    return {
        name: value * float(rng.uniform(1 - spread, 1 + spread)) for name, value in params.items()
    }


def midi_hz(pitch: float) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


def render_part(
    part: str,
    notes: list[Note],
    preset: str,
    sample_rate: int,
    length: int,
    rng: np.random.Generator,
    spread: float = TIMBRE_SPREAD,
) -> np.ndarray:
    """Render one part (notes in seconds) with one procedural preset: mono float32;
    ``spread`` is the preset jitter (wider for training, so presets blur into a range)."""
    params = jittered(PRESETS[part][preset], rng, spread)
    voice = VOICES[part]
    out = np.zeros(length, dtype=np.float32)
    for note in notes:
        start = int(round(note.start * sample_rate))
        if start >= length:
            continue
        sound = voice(note, params, sample_rate, variant=start % 3)
        sound = sound[: max(0, length - start)] * np.float32(note.velocity**1.5)
        out[start : start + len(sound)] += sound
    if "body" in params:
        out = sosfilt(peaking(params["body"], 5.0, 1.2, sample_rate), out)
    if "lowpass" in params:
        out = sosfilt(butter(4, params["lowpass"], fs=sample_rate, output="sos"), out)
    return out.astype(np.float32)


def with_release(sound: np.ndarray, duration: float, sample_rate: int) -> np.ndarray:
    """Cut a ringing sound at its note-off with a short fade (a damped string)."""
    held = int(duration * sample_rate)
    release = int(RELEASE_SECONDS * sample_rate)
    if held + release >= len(sound):
        return sound
    out = sound[: held + release].copy()
    out[held:] *= np.linspace(1.0, 0.0, release, dtype=np.float32)
    return out


def string_voice(note: Note, params, sample_rate: int, variant: int) -> np.ndarray:
    muted = note.articulation == "mute"
    layer = note.velocity > 0.6
    sound = pluck(
        note.pitch,
        round(params["decay"] * (0.15 if muted else 1.0), 3),
        round(params["brightness"] * (1.0 if layer else 0.7), 3),
        round(params["pluck"], 3),
        sample_rate,
        variant,
    )
    return with_release(sound, note.duration, sample_rate)


@lru_cache(maxsize=512)
def pluck(
    pitch: int, decay: float, brightness: float, position: float, sample_rate: int, variant: int
) -> np.ndarray:
    """Karplus–Strong string: ``decay`` is T60 in seconds at 220 Hz, shorter when higher."""
    frequency = midi_hz(pitch)
    period = sample_rate / frequency
    delay = int(period - 0.6)
    fraction = period - 0.5 - delay
    allpass = (1 - fraction) / (1 + fraction)
    t60 = decay * min(2.0, (220.0 / frequency) ** 0.5)
    loop_gain = 10 ** (-3 / (frequency * t60))
    rng = np.random.default_rng([pitch, variant])
    excitation = rng.uniform(-1, 1, delay)
    excitation = lfilter([brightness], [1, brightness - 1], excitation)
    excitation -= np.roll(excitation, max(1, int(position * delay)))
    total = int(min(3.0, 1.2 * t60) * sample_rate)
    signal = np.zeros(total + delay)
    signal[:delay] = excitation
    # y[n] = x[n] + F(y)[n - delay], F = loop gain × two-point average × fractional all-pass;
    # solved a period at a time, since the feedback only reaches one period back.
    numerator = 0.5 * loop_gain * np.array([allpass, 1 + allpass, 1.0])
    denominator = np.array([1.0, allpass])
    state = np.zeros(2)
    fed_back = np.zeros(delay)
    for begin in range(0, total, delay):
        block = signal[begin : begin + delay]
        block += fed_back[: len(block)]
        fed_back, state = lfilter(numerator, denominator, block, zi=state)
    out = signal[:total]
    return (out / (np.max(np.abs(out)) + 1e-9)).astype(np.float32)


def drum_voice(note: Note, params, sample_rate: int, variant: int) -> np.ndarray:
    if note.pitch in (MUTE_HI_CONGA, OPEN_HI_CONGA, LOW_CONGA):
        pitch = params["conga"] * (0.8 if note.pitch == LOW_CONGA else 1.0)
        stroke = "mute" if note.pitch == MUTE_HI_CONGA else "open"
        return membrane(round(pitch), stroke, 0.2, 0.5, sample_rate, variant)
    pitch = params["pitch"] * (params["ratio"] if note.pitch == LOW_BONGO else 1.0)
    return membrane(
        round(pitch),
        note.articulation or "open",
        round(params["decay"], 3),
        round(params["slap"], 3),
        sample_rate,
        variant,
    )


@lru_cache(maxsize=256)
def membrane(
    frequency: float, stroke: str, decay: float, slap: float, sample_rate: int, variant: int
) -> np.ndarray:
    """A drum head as damped circular-membrane modes, plus a noise crack for a slap."""
    rng = np.random.default_rng([int(frequency), variant])
    decay = {"open": decay, "mute": decay * 0.2, "slap": decay * 0.35}[stroke]
    length = int((5 * decay + 0.03) * sample_rate)
    time = np.arange(length) / sample_rate
    glide = 1 + 0.04 * np.exp(-time / 0.02)
    sound = np.zeros(length)
    for number, ratio in enumerate(MEMBRANE_MODES):
        amplitude = (1.0 if number == 0 else 0.6 / number) * rng.uniform(0.7, 1.3)
        if stroke == "slap":
            amplitude *= 1 + number * 0.4
        phase = 2 * np.pi * np.cumsum(frequency * ratio * glide) / sample_rate
        sound += amplitude * np.sin(phase) * np.exp(-time * (1 + 0.6 * number) / decay)
    click = rng.standard_normal(length) * np.exp(-time / 0.004)
    crack_level = slap if stroke == "slap" else 0.15
    sound += crack_level * 3 * sosfilt(bandpass(1500, 7000, sample_rate), click)
    return (sound / (np.max(np.abs(sound)) + 1e-9)).astype(np.float32)


def scrape_voice(note: Note, params, sample_rate: int, variant: int) -> np.ndarray:
    if note.pitch == MARACAS:
        return shaker(round(params["shaker"]), sample_rate, variant)
    long = note.pitch != SHORT_GUIRO
    duration = params["long"] * (1.0 if long else 0.35)
    return scrape(
        round(duration, 3),
        round(params["ridges"]),
        round(params["low"]),
        round(params["high"]),
        round(params["ring"]),
        sample_rate,
        variant,
    )


@lru_cache(maxsize=64)
def scrape(
    duration: float,
    ridges: float,
    low: float,
    high: float,
    ring: float,
    sample_rate: int,
    variant: int,
) -> np.ndarray:
    """A güira stroke: band-passed noise chopped by the ridges the scraper crosses."""
    rng = np.random.default_rng([variant, int(duration * 1000)])
    length = int((duration + 0.03) * sample_rate)
    time = np.arange(length) / sample_rate
    noise = sosfilt(bandpass(low, high, sample_rate), rng.standard_normal(length))
    metal = sosfilt(peaking(ring, 9.0, 6.0, sample_rate), noise)
    speed = ridges * (1 + 0.3 * time / duration)
    ridge = (0.5 + 0.5 * np.cos(2 * np.pi * np.cumsum(speed) / sample_rate)) ** 3
    envelope = np.minimum(1, time / 0.004) * np.where(
        time < duration, 1.0, np.exp(-(time - duration) / 0.008)
    )
    sound = metal * (0.35 + ridge) * envelope
    return (sound / (np.max(np.abs(sound)) + 1e-9)).astype(np.float32)


@lru_cache(maxsize=16)
def shaker(brightness: float, sample_rate: int, variant: int) -> np.ndarray:
    rng = np.random.default_rng([variant, 70])
    length = int(0.06 * sample_rate)
    time = np.arange(length) / sample_rate
    noise = sosfilt(
        bandpass(brightness * 0.6, brightness * 2, sample_rate), rng.standard_normal(length)
    )
    sound = noise * np.minimum(1, time / 0.008) * np.exp(-time / 0.02)
    return (0.6 * sound / (np.max(np.abs(sound)) + 1e-9)).astype(np.float32)


def percussion_voice(note: Note, params, sample_rate: int, variant: int) -> np.ndarray:
    if note.pitch == COWBELL:
        return bell(round(params["bell"]), sample_rate)
    if note.pitch == MARACAS:
        return scrape_voice(note, params, sample_rate, variant)
    return drum_voice(note, params, sample_rate, variant)


@lru_cache(maxsize=8)
def bell(frequency: float, sample_rate: int) -> np.ndarray:
    """A cowbell: two inharmonic square-ish partials through a resonant band."""
    length = int(0.35 * sample_rate)
    time = np.arange(length) / sample_rate
    sound = np.zeros(length)
    for partial in (frequency, frequency * 1.5):
        for harmonic in (1, 3, 5):
            sound += np.sin(2 * np.pi * partial * harmonic * time) / harmonic
    sound = sosfilt(bandpass(frequency * 0.8, frequency * 6, sample_rate), sound)
    sound *= np.exp(-time / 0.02) * 0.6 + np.exp(-time / 0.12) * 0.4
    return (sound / (np.max(np.abs(sound)) + 1e-9)).astype(np.float32)


def sung_voice(note: Note, params, sample_rate: int, variant: int) -> np.ndarray:
    """A formant-shaped wavetable with delayed vibrato: reads as a singer to a separator."""
    frequency = midi_hz(note.pitch)
    harmonics = np.arange(1, int(5000 / frequency) + 1) * frequency
    amplitude = sum(
        np.exp(-0.5 * ((harmonics - params[f]) / width) ** 2) * gain
        for f, width, gain in (("f1", 90, 1.0), ("f2", 120, 0.6), ("f3", 200, 0.3))
    )
    amplitude = amplitude + 0.05 / np.arange(1, len(harmonics) + 1)
    length = int((note.duration + 0.08) * sample_rate)
    time = np.arange(length) / sample_rate
    vibrato = 1 + params["vibrato"] * np.sin(2 * np.pi * 5.5 * time) * np.minimum(1, time / 0.3)
    envelope = np.minimum(1, time / 0.04) * np.clip((note.duration + 0.08 - time) / 0.08, 0, 1)
    return wavetable(amplitude, frequency * vibrato, sample_rate) * envelope.astype(np.float32)


def keys_voice(note: Note, params, sample_rate: int, variant: int) -> np.ndarray:
    """Pad, strings or electric piano: a rolled-off harmonic wavetable, two detuned voices."""
    frequency = midi_hz(note.pitch)
    count = int(6000 / frequency)
    amplitude = 1.0 / np.arange(1, count + 1) ** params["rolloff"]
    length = int((note.duration + 0.3) * sample_rate)
    time = np.arange(length) / sample_rate
    sound = sum(
        wavetable(
            amplitude, np.full(length, frequency * (1 + sign * params["detune"])), sample_rate
        )
        for sign in (-1, 1)
    )
    envelope = np.minimum(1, time / params["attack"])
    if params["decay"] > 0:
        envelope *= np.exp(-time / params["decay"])
    envelope *= np.clip((note.duration + 0.3 - time) / 0.3, 0, 1)
    return (0.5 * sound * envelope).astype(np.float32)


def wavetable(amplitudes: np.ndarray, frequency: np.ndarray, sample_rate: int) -> np.ndarray:
    """Play one period built from harmonic ``amplitudes`` at a time-varying ``frequency``."""
    spectrum = np.zeros(WAVETABLE_SIZE // 2 + 1, dtype=complex)
    spectrum[1 : len(amplitudes) + 1] = amplitudes[: WAVETABLE_SIZE // 2] * -1j
    table = np.fft.irfft(spectrum, WAVETABLE_SIZE)
    table /= np.max(np.abs(table)) + 1e-9
    phase = (np.cumsum(frequency) / sample_rate % 1.0) * WAVETABLE_SIZE
    lower = phase.astype(int)
    fraction = phase - lower
    return (table[lower] * (1 - fraction) + table[(lower + 1) % WAVETABLE_SIZE] * fraction).astype(
        np.float32
    )


VOICES = {
    "guitar": string_voice,
    "bass": string_voice,
    "bongo": drum_voice,
    "guira": scrape_voice,
    "voice": sung_voice,
    "keys": keys_voice,
    "percussion": percussion_voice,
}
