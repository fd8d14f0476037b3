"""Mix effects that keep stems exact: every effect is per part, or one gain curve for all.

EQ, panning and reverb are linear and applied to each part on its own; the bus
compressor computes one gain curve on the mix and multiplies every stem by it, so the
stems still sum to the mixture sample for sample.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft
from scipy.signal import butter, lfilter, sosfilt


def db_to_gain(decibels: float | np.ndarray) -> float | np.ndarray:
    return 10.0 ** (np.asarray(decibels) / 20.0)


def _biquad(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    return np.concatenate([b / a[0], a / a[0]])[None, :]


def peaking(frequency: float, gain_db: float, q: float, sample_rate: int) -> np.ndarray:
    """RBJ peaking EQ as one second-order section."""
    amplitude = 10 ** (gain_db / 40)
    omega = 2 * np.pi * frequency / sample_rate
    alpha = np.sin(omega) / (2 * q)
    b = np.array([1 + alpha * amplitude, -2 * np.cos(omega), 1 - alpha * amplitude])
    a = np.array([1 + alpha / amplitude, -2 * np.cos(omega), 1 - alpha / amplitude])
    return _biquad(b, a)


def shelf(frequency: float, gain_db: float, sample_rate: int, high: bool) -> np.ndarray:
    """RBJ low or high shelf (slope 1) as one second-order section."""
    amplitude = 10 ** (gain_db / 40)
    omega = 2 * np.pi * frequency / sample_rate
    cos, root = np.cos(omega), 2 * np.sqrt(amplitude) * np.sin(omega) / np.sqrt(2)
    sign = -1 if high else 1
    up, down = amplitude + 1, amplitude - 1
    b = amplitude * np.array(
        [
            up - sign * down * cos + root,
            2 * sign * (down - sign * up * cos),
            up - sign * down * cos - root,
        ]
    )
    a = np.array(
        [
            up + sign * down * cos + root,
            -2 * sign * (down + sign * up * cos),
            up + sign * down * cos - root,
        ]
    )
    return _biquad(b, a)


def bandpass(low: float, high: float, sample_rate: int) -> np.ndarray:
    """A second-order Butterworth band-pass as sections (for noise-based timbres)."""
    return butter(
        2, [low, min(high, 0.45 * sample_rate)], btype="band", fs=sample_rate, output="sos"
    )


def random_eq(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A gentle random channel EQ: low shelf, one bell, high shelf, each within ±4 dB."""
    return np.concatenate(
        [
            shelf(rng.uniform(80, 250), rng.uniform(-4, 4), sample_rate, high=False),
            peaking(rng.uniform(300, 4000), rng.uniform(-4, 4), rng.uniform(0.7, 2.0), sample_rate),
            shelf(rng.uniform(4000, 10000), rng.uniform(-4, 4), sample_rate, high=True),
        ]
    )


def equalise(samples: np.ndarray, sections: np.ndarray) -> np.ndarray:
    return sosfilt(sections, samples, axis=-1).astype(np.float32)


def pan(mono: np.ndarray, position: float) -> np.ndarray:
    """Constant-power pan of a mono signal; ``position`` from -1 (left) to 1 (right)."""
    angle = (position + 1) * np.pi / 4
    return np.stack([np.cos(angle) * mono, np.sin(angle) * mono]).astype(np.float32)


def reverb_impulse(
    rng: np.random.Generator, sample_rate: int, rt60: float, predelay: float = 0.015
) -> np.ndarray:
    """A stereo room: decorrelated noise decaying by 60 dB in ``rt60``, darker as it decays."""
    length = int(rt60 * sample_rate)
    time = np.arange(length) / sample_rate
    noise = rng.standard_normal((2, length))
    bright = noise * np.exp(-6.9 * time / (0.5 * rt60))
    dark = lfilter([0.15], [1, -0.85], noise, axis=-1) * np.exp(-6.9 * time / rt60)
    tail = bright + dark
    tail /= np.sqrt(np.sum(tail**2, axis=-1, keepdims=True))
    delay = np.zeros((2, int(predelay * sample_rate)))
    return np.concatenate([delay, tail], axis=-1).astype(np.float32)


def add_reverb(dry: np.ndarray, sends: np.ndarray, impulse: np.ndarray) -> np.ndarray:
    """Stereo stems ``(S, 2, N)`` plus the room's stereo return of their mono sends ``(S, N)``.

    One reverb per stem (linear), so each stem carries its own tail and the sum still holds.
    """
    size = next_fast_len(dry.shape[-1] + impulse.shape[-1], real=True)
    spectrum = rfft(sends, size, workers=2)[:, None] * rfft(impulse, size, workers=2)[None]
    wet = irfft(spectrum, size, workers=2)[..., : dry.shape[-1]]
    return (dry + wet).astype(np.float32)


def compressor_gain(
    mix: np.ndarray,
    sample_rate: int,
    threshold_db: float,
    ratio: float,
    time_constant: float = 0.03,
) -> np.ndarray:
    """The bus compressor's gain curve, computed on the mix (to apply to every stem)."""
    power = np.mean(np.square(mix, dtype=np.float64), axis=0)
    pole = np.exp(-1.0 / (time_constant * sample_rate))
    envelope = lfilter([1 - pole], [1, -pole], power)
    level_db = 10 * np.log10(envelope + 1e-12)
    reduction_db = np.minimum(0.0, (threshold_db - level_db) * (1 - 1 / ratio))
    smoothed = lfilter([1 - pole], [1, -pole], reduction_db)
    return db_to_gain(smoothed).astype(np.float32)
