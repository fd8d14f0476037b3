import warnings

import mir_eval
import numpy as np
import pytest
from conftest import percussion_track

from bachata_sep.beat_tracking import (
    BeatTrackingWarning,
    LibrosaTracker,
    fixed_grid,
    tempo_and_clarity,
)


@pytest.mark.parametrize(
    ("bpm", "pickup_beats", "intro_seconds"),
    [(112, 0, 0.0), (128, 1, 0.0), (140, 2, 0.7), (155, 3, 1.5), (120, 1, 2.0)],
)
def test_downbeats_after_intro_and_pickup(bpm, pickup_beats, intro_seconds):
    audio, beats, downbeats = percussion_track(bpm, 8, pickup_beats, intro_seconds, seed=bpm)
    grid = LibrosaTracker()(audio, 22050)
    assert not grid.fallback
    assert mir_eval.beat.f_measure(beats, grid.beats) >= 0.95
    assert mir_eval.beat.f_measure(downbeats, grid.downbeats) >= 0.95
    assert abs(grid.downbeats[0] - downbeats[0]) < 0.07


@pytest.mark.parametrize(
    "signal",
    [
        np.zeros(22050 * 8),
        np.random.default_rng(0).standard_normal(22050 * 8) * 0.1,
        np.sin(2 * np.pi * 220 * np.arange(22050 * 8) / 22050),
    ],
    ids=["silence", "noise", "drone"],
)
def test_pulseless_input_falls_back_to_a_grid_with_a_warning(signal):
    with pytest.warns(BeatTrackingWarning, match="fixed 130 BPM grid"):
        grid = LibrosaTracker()(signal.astype(np.float32), 22050)
    assert grid.fallback
    assert np.allclose(np.diff(grid.beats), 60 / 130)
    assert np.allclose(grid.downbeats, grid.beats[::4])


def test_pulse_clarity_separates_drums_from_noise():
    audio, _, _ = percussion_track(128, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not LibrosaTracker()(audio, 22050).fallback
    rng = np.random.default_rng(0)
    assert tempo_and_clarity(np.abs(rng.standard_normal(2000)), 86.1)[1] < 0.2


def test_fixed_grid_covers_the_duration():
    grid = fixed_grid(10.0, bpm=120)
    assert grid.beats[0] == 0 and grid.beats[-1] < 10.0 and len(grid.beats) == 20
    assert grid.beat_period == pytest.approx(0.5)
