"""Timbre augmentation: the random EQ reshapes the spectrum, keeps the level and the timing."""

from __future__ import annotations

import numpy as np
import pytest

from bachata_sep.data.augment import ANCHORS, apply_eq_curve, random_eq_db

RATE = 22050
LENGTH = 40708  # a 4-beat clip at 130 BPM: 4 x 10177, an FFT-unfriendly length


def _band_energy(signal: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(signal)) ** 2
    frequencies = np.fft.rfftfreq(len(signal), 1 / RATE)
    return float(spectrum[(frequencies >= low) & (frequencies < high)].sum())


def test_flat_curve_returns_the_clip():
    clip = np.random.default_rng(0).standard_normal(LENGTH).astype(np.float32)
    out = apply_eq_curve(clip, np.zeros(ANCHORS), RATE)
    assert out.shape == clip.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, clip, atol=1e-5)


def test_tilt_moves_energy_and_keeps_the_level():
    clip = np.random.default_rng(1).standard_normal(LENGTH).astype(np.float32)
    tilt = np.linspace(6.0, -6.0, ANCHORS)  # +6 dB at 60 Hz down to -6 dB at 8 kHz
    out = apply_eq_curve(clip, tilt, RATE)
    before = _band_energy(clip, 60, 200) / _band_energy(clip, 4000, 8000)
    after = _band_energy(out, 60, 200) / _band_energy(out, 4000, 8000)
    # The curve is about +4.5 dB over 60-200 Hz and -5 dB over 4-8 kHz: ~9.5 dB between.
    assert 8.5 < 10 * np.log10(after / before) < 10.5
    assert np.sqrt(np.mean(out**2)) == pytest.approx(np.sqrt(np.mean(clip**2)), rel=1e-4)


def test_timing_is_kept_and_silence_stays_silent():
    clip = np.zeros(LENGTH, dtype=np.float32)
    clip[LENGTH // 2] = 1.0  # a click: a zero-phase EQ leaves its peak where it was
    out = apply_eq_curve(clip, random_eq_db(np.random.default_rng(2), 6.0), RATE)
    assert int(np.argmax(np.abs(out))) == LENGTH // 2
    assert not apply_eq_curve(np.zeros(LENGTH, np.float32), np.full(ANCHORS, 6.0), RATE).any()


def test_random_gains_stay_in_range():
    gains = random_eq_db(np.random.default_rng(3), 4.0)
    assert gains.shape == (ANCHORS,) and np.all(np.abs(gains) <= 4.0) and gains.std() > 0
