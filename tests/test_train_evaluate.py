import math

import numpy as np
import pytest

from bachata_sep.data.song import render_song
from bachata_sep.data.timbres import split_of_seed
from bachata_sep.separators import BaselineSeparator, IdentitySeparator, OracleSeparator
from bachata_sep.train.evaluate import (
    FIRST_TEST_SEED,
    evaluate,
    held_out_songs,
    score_clips,
    score_song_bars,
    summarise,
)


@pytest.fixture(scope="module")
def song():
    return render_song(FIRST_TEST_SEED, "procedural", 14.0)


def test_test_set_is_held_out():
    songs = held_out_songs(6)
    assert len({s.seed for s in songs}) == 6
    assert all(split_of_seed(s.seed) == "test" for s in songs)
    assert {s.source for s in songs} >= {"musescore"}
    validation = held_out_songs(4, "valid")
    assert all(split_of_seed(s.seed) == "valid" for s in validation)
    assert {s.source for s in validation} == {"mixed", "procedural"}  # MuseScore: test only


def test_oracle_beats_baseline_beats_nothing_on_aligned_clips(song):
    instruments = ("bass", "guira")
    separators = {
        "mixture": None,
        "baseline": BaselineSeparator(),
        "model": IdentitySeparator(),
        "oracle": OracleSeparator(song.stems, song.mixture),
    }
    scores = score_clips(song, separators, instruments)
    for name in instruments:
        summary = summarise(scores[name])
        assert summary["items"] >= 3
        assert summary["si_sdri"]["model"] == pytest.approx(0.0, abs=1e-3)  # identity
        assert summary["si_sdri"]["oracle"] > summary["si_sdri"]["baseline"] + 1
        assert summary["si_sdri"]["oracle"] > 5
        assert summary["model_share_of_oracle"] == pytest.approx(0.0, abs=1e-3)


def test_song_bars_score_full_song_stems_on_the_aligned_bars(song):
    instruments = ("bass", "guira")
    aligned = score_clips(song, {"mixture": None, "model": IdentitySeparator()}, instruments)
    untouched = score_song_bars(song, dict.fromkeys(instruments, song.mixture), instruments)
    perfect = score_song_bars(song, song.stems, instruments)
    half_way = {name: (song.mixture + song.stems[name]) / 2 for name in instruments}
    between = score_song_bars(song, half_way, instruments)
    for name in instruments:
        # The same bars as the aligned clips, and the same mixture SI-SDR within the
        # stretch's rounding (those are at the model's rate, these at the song's).
        assert len(untouched[name]) == len(aligned[name]["mixture"])
        np.testing.assert_allclose(untouched[name], aligned[name]["mixture"], atol=0.5)
        assert min(perfect[name]) > 40
        gains = np.subtract(between[name], untouched[name])
        assert 0 < gains.mean() < 20


def test_summary_arithmetic():
    summary = summarise(
        {
            "mixture": [0.0, 2.0],
            "baseline": [1.0, 3.0],
            "model": [4.0, 6.0],
            "oracle": [8.0, 10.0],
        }
    )
    assert summary["si_sdr"]["mixture"] == 1.0
    assert summary["si_sdri"] == {"baseline": 1.0, "model": 4.0, "oracle": 8.0}
    assert summary["model_share_of_oracle"] == 0.5
    flat = summarise({"mixture": [1.0], "baseline": [1.0], "model": [1.0], "oracle": [1.0]})
    assert math.isnan(flat["model_share_of_oracle"])
    assert np.isfinite(flat["si_sdr"]["oracle"])


def test_results_figure_pairs_truth_and_prediction():
    from bachata_sep.train.evaluate import results_figure

    figure = results_figure(IdentitySeparator(), ("bass", "guitar"), examples=2, duration=12.0)
    titles = [axes.get_title() for axes in figure.axes]
    assert len(figure.axes) == 2 * 4
    assert titles[:4] == ["bass truth", "bass predicted", "guitar truth", "guitar predicted"]


def test_report_has_every_setting_and_full_song_sdr():
    report = evaluate(IdentitySeparator(), ("bass", "guira"), songs=1, duration=10.0)
    for setting in ("aligned_clips", "full_song_bars", "full_song"):
        assert set(report[setting]) == {"bass", "guira"}
    for name in ("bass", "guira"):
        level = report["full_song"][name]["sdr"]
        # The identity returns the mixture itself; the oracle's stems have the right level.
        assert level["model"] == pytest.approx(level["mixture"], abs=1e-6)
        assert level["oracle"] > level["baseline"] > level["mixture"]
        assert level["oracle"] > 5
