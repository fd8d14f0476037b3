"""Shared fixtures: small synthetic signals whose beats and stems are known exactly."""

from __future__ import annotations

import numpy as np
import pytest


def _hit(sample_rate: int, frequency: float, decay: float, length: float, noise: float,
         rng: np.random.Generator) -> np.ndarray:
    time = np.arange(int(length * sample_rate)) / sample_rate
    tone = np.sin(2 * np.pi * frequency * time * (1 + 0.5 * np.exp(-time * 30)))
    return (tone * (1 - noise) + rng.standard_normal(len(time)) * noise) * np.exp(-time / decay)


def percussion_track(
    bpm: float = 128.0,
    bars: int = 8,
    pickup_beats: int = 0,
    intro_seconds: float = 0.0,
    sample_rate: int = 22050,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A drum loop with a low drum on beat 1, a loud bright slap on beat 4 and light
    ticks on 2 and 3, preceded by ``pickup_beats`` beats (the end of a bar) and
    ``intro_seconds`` of silence. Returns (mono audio, beat times, downbeat times)."""
    rng = np.random.default_rng(seed)
    period = 60.0 / bpm
    first_downbeat = intro_seconds + pickup_beats * period
    n_beats = bars * 4
    beat_times = first_downbeat + period * np.arange(-pickup_beats, n_beats)
    audio = np.zeros(int((beat_times[-1] + 2 * period) * sample_rate))
    low = _hit(sample_rate, 70, 0.15, 0.5, 0.05, rng)
    slap = _hit(sample_rate, 900, 0.05, 0.2, 0.7, rng)
    tick = _hit(sample_rate, 3000, 0.02, 0.1, 0.9, rng) * 0.25
    for index, time in enumerate(beat_times):
        position = (index - pickup_beats) % 4
        sound = {0: low, 1: tick, 2: tick, 3: slap}[position]
        start = int(time * sample_rate)
        audio[start : start + len(sound)] += sound
    downbeats = beat_times[pickup_beats::4]
    return (0.5 * audio / np.abs(audio).max()).astype(np.float32), beat_times, downbeats


@pytest.fixture
def drum_loop() -> tuple[np.ndarray, int]:
    audio, _, _ = percussion_track(bpm=125, bars=4, pickup_beats=1, intro_seconds=0.3)
    return audio, 22050
