import numpy as np
import pytest

from bachata_sep.clips import (
    CUT_LEAD_SECONDS,
    Segment,
    bar_segments,
    crossfade_weights,
    excerpt,
)

LEAD = round(CUT_LEAD_SECONDS * 1000)  # in samples at 1 kHz


def test_bars_cover_pickup_and_tail():
    rate, n_samples = 1000, 10_500
    downbeats = np.array([1.2, 3.2, 5.2, 7.2])
    segments = bar_segments(downbeats, rate, n_samples, bar_seconds=2.0)
    assert segments[0] == Segment(-800 - LEAD, 1200 - LEAD)
    assert segments[-1] == Segment(9200 - LEAD, 11200 - LEAD)
    starts = [s.start for s in segments]
    assert [s.end for s in segments[:-1]] == starts[1:]


def test_bar_lines_lie_just_ahead_of_the_downbeats():
    # A tracked downbeat lies a few ms after the note-on the models learnt to cut on.
    assert 0 < LEAD <= 20
    downbeats = np.array([0.5, 2.5, 4.5])
    starts = [s.start for s in bar_segments(downbeats, 1000, 6000, bar_seconds=2.0)]
    assert [start for start in starts if start >= 0] == [500 - LEAD, 2500 - LEAD, 4500 - LEAD]


def test_bars_follow_a_local_grid_and_extend_by_the_bar_beside_them():
    downbeats = np.array([1.0, 3.0, 4.8, 6.4])  # bars of 2.0, 1.8 and 1.6 s: speeding up
    segments = bar_segments(downbeats, 1000, 9000, bar_seconds=1.8)
    assert [s.length for s in segments] == [2000, 2000, 1800, 1600, 1600, 1600]
    assert segments[0].start == -1000 - LEAD and segments[-1].end == 9600 - LEAD


def test_bars_without_downbeats_use_the_bar_length():
    segments = bar_segments(np.array([]), 1000, 4500, bar_seconds=2.0)
    assert segments == [Segment(0, 2000), Segment(2000, 4000), Segment(4000, 6000)]


def test_excerpt_pads_with_zeros():
    signal = np.arange(1, 11, dtype=np.float32)[None]
    assert excerpt(signal, -2, 3).tolist() == [[0, 0, 1, 2, 3]]
    assert excerpt(signal, 8, 12).tolist() == [[9, 10, 0, 0]]
    assert excerpt(signal, 12, 14).tolist() == [[0, 0]]


@pytest.mark.parametrize("half_fade", [0, 7, 50])
def test_crossfade_weights_sum_to_one(half_fade):
    segments = bar_segments(np.array([0.3, 1.1, 1.9]), 1000, 2600, bar_seconds=0.8)
    total = np.zeros(2600)
    for index, segment in enumerate(segments):
        start, length = segment.start - 100, segment.length + 200
        weights = crossfade_weights(
            segment, start, length, half_fade, index > 0, index < len(segments) - 1
        )
        assert weights.min() >= 0 and weights.max() <= 1
        inside = slice(max(start, 0), min(start + length, 2600))
        total[inside] += weights[inside.start - start : inside.stop - start]
    assert np.allclose(total, 1.0, atol=1e-6)
