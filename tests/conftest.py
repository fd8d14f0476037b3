"""Shared fixtures: small synthetic signals whose beats and stems are known exactly."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (VmHWM). Not ``ru_maxrss``: a child
    process starts with its parent's, so under pytest it would measure pytest."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("this system reports no VmHWM")


def _hit(
    sample_rate: int,
    frequency: float,
    decay: float,
    length: float,
    noise: float,
    rng: np.random.Generator,
) -> np.ndarray:
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
    warp: Callable[[np.ndarray], np.ndarray] | None = None,
    offbeats: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A drum loop with a low drum on beat 1, a loud bright slap on beat 4 and light
    ticks on 2 and 3, preceded by ``pickup_beats`` beats (the end of a bar) and
    ``intro_seconds`` of silence, its beat times moved by ``warp`` (a tempo curve's), and
    with ``offbeats`` a light tick between every two beats (as the güira's eighths).
    Returns (mono audio, beat times, downbeat times)."""
    rng = np.random.default_rng(seed)
    period = 60.0 / bpm
    first_downbeat = intro_seconds + pickup_beats * period
    n_beats = bars * 4
    beat_times = first_downbeat + period * np.arange(-pickup_beats, n_beats)
    if warp is not None:
        beat_times = warp(beat_times)
    audio = np.zeros(int((beat_times[-1] + 2 * period) * sample_rate))
    low = _hit(sample_rate, 70, 0.15, 0.5, 0.05, rng)
    slap = _hit(sample_rate, 900, 0.05, 0.2, 0.7, rng)
    tick = _hit(sample_rate, 3000, 0.02, 0.1, 0.9, rng) * 0.25
    for index, time in enumerate(beat_times):
        position = (index - pickup_beats) % 4
        sound = {0: low, 1: tick, 2: tick, 3: slap}[position]
        start = int(time * sample_rate)
        audio[start : start + len(sound)] += sound
    if offbeats:
        for time in 0.5 * (beat_times[1:] + beat_times[:-1]):
            start = int(time * sample_rate)
            audio[start : start + len(tick)] += 0.5 * tick
    downbeats = beat_times[pickup_beats::4]
    return (0.5 * audio / np.abs(audio).max()).astype(np.float32), beat_times, downbeats


@pytest.fixture
def drum_loop() -> tuple[np.ndarray, int]:
    audio, _, _ = percussion_track(bpm=125, bars=4, pickup_beats=1, intro_seconds=0.3)
    return audio, 22050


def synthetic_song(
    sample_rate: int = 44100,
    channels: int = 2,
    bars: int = 8,
    bpm: float = 128.0,
    pickup_beats: int = 1,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A mixture and its three stems, each in its own time-frequency region: drums
    (``bongo``), a bass line at 165-220 Hz and a vibrato 'guitar' tone at 660 Hz and up.
    Returns (mixture, stems), all ``(channels, samples)``."""
    drums, _, _ = percussion_track(bpm, bars, pickup_beats, 0.2, sample_rate)
    time = np.arange(len(drums)) / sample_rate
    bass_frequency = np.where((time * bpm / 60 // 4) % 2 == 0, 165.0, 220.0)
    bass = 0.25 * np.sin(2 * np.pi * np.cumsum(bass_frequency) / sample_rate)
    guitar = sum(
        0.1
        / harmonic
        * np.sin(2 * np.pi * 660 * harmonic * time + 2 * np.sin(2 * np.pi * 3 * time))
        for harmonic in (1, 2, 3)
    )
    pans = np.linspace(0.6, 1.0, channels)[:, None]
    stems = {
        "bongo": (pans * drums).astype(np.float32),
        "bass": (pans[::-1] * bass).astype(np.float32),
        "guitar": (np.ones((channels, 1)) * guitar).astype(np.float32),
    }
    return sum(stems.values()).astype(np.float32), stems


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB over all channels (Le Roux et al. 2019)."""
    reference, estimate = reference.ravel().astype(np.float64), estimate.ravel().astype(np.float64)
    target = np.dot(estimate, reference) / np.dot(reference, reference) * reference
    with np.errstate(divide="ignore"):  # an exact estimate is +inf dB, not a warning
        return float(10 * np.log10(np.sum(target**2) / np.sum((estimate - target) ** 2)))


@pytest.fixture(scope="session")
def small_loop_library(tmp_path_factory):
    """A rendered loop library with train and valid splits (2 short songs each)."""
    from bachata_sep.data.loops import render_library

    root = tmp_path_factory.mktemp("loops")
    for split in ("train", "valid"):
        render_library(root, songs=2, timbres=split, duration=12.0, loops_per_section=2)
    return root
