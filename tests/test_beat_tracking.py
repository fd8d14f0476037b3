import warnings

import mir_eval
import numpy as np
import pytest
from conftest import percussion_track

from bachata_sep.beat_tracking import (
    BAR_TEMPLATE,
    FRAME_RATE,
    HALF_BEATS_PER_BAR,
    BeatTrackingWarning,
    ConstantTempoTracker,
    bar_position,
    fixed_grid,
    periodic_grid,
    tempo_and_clarity,
)
from bachata_sep.data.song import render_song


@pytest.mark.parametrize(
    ("bpm", "pickup_beats", "intro_seconds"),
    [(112, 0, 0.0), (128, 1, 0.0), (140, 2, 0.7), (155, 3, 1.5), (120, 1, 2.0)],
)
def test_downbeats_after_intro_and_pickup(bpm, pickup_beats, intro_seconds):
    audio, beats, downbeats = percussion_track(bpm, 8, pickup_beats, intro_seconds, seed=bpm)
    grid = ConstantTempoTracker()(audio, 22050)
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
        grid = ConstantTempoTracker()(signal.astype(np.float32), 22050)
    assert grid.fallback
    assert np.allclose(np.diff(grid.beats), 60 / 130)
    assert np.allclose(grid.downbeats, grid.beats[::4])


def test_pulse_clarity_separates_drums_from_noise():
    audio, _, _ = percussion_track(128, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not ConstantTempoTracker()(audio, 22050).fallback
    rng = np.random.default_rng(0)
    assert tempo_and_clarity(np.abs(rng.standard_normal(2000)), 86.1)[1] < 0.2


def test_fixed_grid_covers_the_duration():
    grid = fixed_grid(10.0, bpm=120)
    assert grid.beats[0] == 0 and grid.beats[-1] < 10.0 and len(grid.beats) == 20
    assert grid.beat_period == pytest.approx(0.5)


def click_envelope(period: float, phase: float, n_frames: int) -> np.ndarray:
    """An onset envelope with strong beats, weaker offbeats and a little noise."""
    envelope = np.random.default_rng(1).uniform(0, 0.2, n_frames)
    for beat in np.arange(phase, n_frames - 1, period):
        envelope[int(round(beat))] += 3.0
        envelope[int(round(beat + period / 2)) % n_frames] += 1.0
    return envelope


@pytest.mark.parametrize("tempo_error", [1.0, 1.012, 2 / 3, 3 / 2])
def test_periodic_grid_finds_the_exact_period_and_phase(tempo_error):
    period, phase = 37.3, 11.6  # frames: 138.5 BPM
    envelope = click_envelope(period, phase, 8000)
    tempo = 60 * FRAME_RATE / period * tempo_error
    found_period, found_phase = periodic_grid(envelope, tempo)
    assert found_period == pytest.approx(period, abs=0.01)
    assert found_phase == pytest.approx(phase, abs=0.6)


@pytest.mark.parametrize("downbeat", range(HALF_BEATS_PER_BAR))
def test_bar_position_finds_the_rotation_of_the_template(downbeat):
    bars = np.tile(np.roll(BAR_TEMPLATE, downbeat, axis=1), 12)
    noise = np.random.default_rng(downbeat).normal(0, 0.5, bars.shape)
    assert bar_position(bars + noise) == downbeat


def test_no_beats_in_a_final_chord_ringing_out():
    audio, beats, _ = percussion_track(132, 8, intro_seconds=1.0)
    seconds = np.arange(4 * 22050) / 22050
    ring = 0.3 * np.sin(2 * np.pi * 196 * seconds) * np.exp(-seconds)
    song = np.concatenate([audio, np.zeros(len(ring))])
    last = int(beats[-1] * 22050)
    song[last : last + len(ring)] += ring
    grid = ConstantTempoTracker()(song.astype(np.float32), 22050)
    assert abs(grid.beats[0] - beats[0]) < 0.07
    assert abs(grid.beats[-1] - beats[-1]) < 0.07


def test_a_rendered_bachata_song_with_a_guitar_intro_and_a_pickup():
    song = render_song(716, "procedural", duration=24.0, tempo=135.6)
    notes = song.annotations
    assert notes["pickup_beats"] == 3 and notes["sections"][0]["name"] == "intro"
    grid = ConstantTempoTracker()(song.mixture.mean(axis=0), song.sample_rate)
    assert mir_eval.beat.f_measure(np.array(notes["beats"]), grid.beats) >= 0.99
    assert mir_eval.beat.f_measure(np.array(notes["downbeats"]), grid.downbeats) >= 0.95
