"""Domain randomisation: pedalboard effect chains per part, and the mixture's codec."""

from __future__ import annotations

import numpy as np
import pytest

from bachata_sep.data.effects import apply, mixture_chain, stem_chain
from bachata_sep.data.patterns import PARTS

RATE = 44_100


def tone(seconds: float = 1.0, frequency: float = 220.0) -> np.ndarray:
    time = np.arange(int(seconds * RATE)) / RATE
    return (0.2 * np.sin(2 * np.pi * frequency * time) * np.exp(-time * 3)).astype(np.float32)


@pytest.mark.parametrize("part", PARTS)
def test_chains_are_deterministic_per_seed_and_vary_between_seeds(part):
    sound = tone()
    first, names = stem_chain(part, np.random.default_rng(3))
    again, same_names = stem_chain(part, np.random.default_rng(3))
    out = apply(first, sound, RATE)
    assert names == same_names
    np.testing.assert_array_equal(out, apply(again, sound, RATE))
    assert out.shape == sound.shape and out.dtype == np.float32 and np.isfinite(out).all()
    others = [apply(stem_chain(part, np.random.default_rng(s))[0], sound, RATE) for s in range(4)]
    assert any(not np.allclose(out, other) for other in others)


def test_guitar_chains_draw_the_effects_of_real_records():
    drawn = set()
    for seed in range(60):
        drawn.update(stem_chain("guitar", np.random.default_rng(seed))[1])
    assert {"Chorus", "Reverb", "Distortion", "Compressor", "Delay"} <= drawn


def test_stereo_audio_keeps_its_shape():
    stereo = np.stack([tone(), tone(frequency=330.0)])
    board, _ = stem_chain("keys", np.random.default_rng(1))
    assert apply(board, stereo, RATE).shape == stereo.shape


def test_mixture_chain_codes_and_band_limits_at_the_rates_asked():
    mixture = np.stack([tone(2.0), tone(2.0, 440.0)]) + np.float32(0.01) * np.random.default_rng(
        0
    ).standard_normal((2, 2 * RATE)).astype(np.float32)
    board, names = mixture_chain(
        np.random.default_rng(0), RATE, codec_rate=1.0, band_limit_rate=1.0
    )
    assert names[0].startswith("band limit") and names[1].startswith("mp3")
    out = apply(board, mixture, RATE)
    spectrum = np.abs(np.fft.rfft(out[0]))
    frequencies = np.fft.rfftfreq(out.shape[-1], 1 / RATE)
    original = np.abs(np.fft.rfft(mixture[0]))
    # The noise above the band limit is gone; the tone below it survives the codec.
    assert spectrum[frequencies > 17_000].sum() < 0.05 * original[frequencies > 17_000].sum()
    assert np.corrcoef(out[0], mixture[0])[0, 1] > 0.9
    none, nothing = mixture_chain(
        np.random.default_rng(0), RATE, codec_rate=0.0, band_limit_rate=0.0
    )
    assert nothing == [] and np.allclose(apply(none, mixture, RATE), mixture)


def test_a_band_limit_above_the_nyquist_frequency_is_not_drawn():
    for seed in range(10):
        _, names = mixture_chain(
            np.random.default_rng(seed), 22_050, codec_rate=0.0, band_limit_rate=1.0
        )
        assert names == []
