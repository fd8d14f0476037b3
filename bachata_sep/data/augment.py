"""Timbre augmentation: a random smooth EQ on every loop of a training triplet.

The loop library has only a handful of timbres per instrument, and the models learn them:
on training loops the bass reaches ~15 dB SI-SDRi, on the held-out validation preset ~9.
A random spectral tilt and bumps change a timbre's envelope (much of what tells one
guitar sound from another) without changing its notes or rhythm, so the model must find
the instrument by what stays the same. The filter is zero-phase, applied in the FFT domain
(zero-padded to a fast length: a 4-beat clip at 130 BPM is 4 x 10,177 samples, where an
exact-length FFT is ten times slower), and keeps each loop's level, so the mixing gains
keep their meaning. The song renderer's channel EQ (``mix.random_eq`` with ``equalise``) is
a different tool: three IIR bands fixed at ±4 dB, which shift phase and level; it is
already baked into every loop, and this one is drawn again for each triplet.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft, rfftfreq

# Anchors of the random EQ curve, log-spaced over the range where timbres differ.
LOWEST_ANCHOR_HZ, HIGHEST_ANCHOR_HZ, ANCHORS = 60.0, 8000.0, 8


def random_eq_db(rng: np.random.Generator, max_db: float) -> np.ndarray:
    """Gains (dB) at the EQ anchors, uniform in [-max_db, max_db]."""
    return rng.uniform(-max_db, max_db, ANCHORS)


def apply_eq_curve(clip: np.ndarray, anchor_db: np.ndarray, sample_rate: int) -> np.ndarray:
    """``clip`` through the EQ curve interpolated (in log frequency) between the anchors,
    rescaled to its original RMS level; silence stays silence."""
    length = clip.shape[-1]
    padded = next_fast_len(length, real=True)
    spectrum = rfft(clip, n=padded)
    frequencies = rfftfreq(padded, 1.0 / sample_rate)
    anchors = np.geomspace(LOWEST_ANCHOR_HZ, HIGHEST_ANCHOR_HZ, len(anchor_db))
    curve_db = np.interp(np.log(np.maximum(frequencies, 1.0)), np.log(anchors), anchor_db)
    shaped = irfft(spectrum * 10.0 ** (curve_db / 20.0), n=padded)[..., :length]
    before, after = np.sqrt(np.mean(clip**2)), np.sqrt(np.mean(shaped**2))
    if after == 0.0:
        return np.zeros_like(clip)
    return (shaped * (before / after)).astype(clip.dtype)
