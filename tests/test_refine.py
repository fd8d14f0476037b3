"""The second pass whose query is the song's own cleanest bars, and the check that sets
a straying reference aside."""

import warnings

import numpy as np
import pytest
import torch
from conftest import si_sdr, synthetic_song

import bachata_sep
from bachata_sep.beat_tracking import LocalTempoTracker
from bachata_sep.clips import Segment, bar_segments
from bachata_sep.queries import query_heatmaps
from bachata_sep.refine import REFINE_CLIPS, ReferenceWarning, _cleanest, agreements
from bachata_sep.separators import OracleSeparator
from bachata_sep.spec import ClipSpec
from bachata_sep.transforms import heatmap, model_magnitude, universal_clip


class RecordingOracle(OracleSeparator):
    """The oracle, remembering the queries of its last call."""

    def masks(self, batch, queries):
        self.queries = dict(queries)
        return super().masks(batch, queries)


def test_refine_queries_the_bars_where_the_instrument_plays_alone():
    mixture, stems = synthetic_song(22050, 1, bars=8, pickup_beats=0)
    alone = 8 * 22050  # the guitar plays alone in the first 4 bars
    song = mixture.copy()
    song[:, :alone] = stems["guitar"][:, :alone]
    truth = {name: stem.copy() for name, stem in stems.items()}
    for name in ("bongo", "bass"):
        truth[name][:, :alone] = 0
    separator = RecordingOracle(truth, song)
    spec = separator.spec
    refined = bachata_sep.separate(
        song, sr=22050, instruments=("guitar",), separator=separator, progress=False, refine=True
    )
    query = separator.queries["guitar"]
    assert query.shape == (REFINE_CLIPS, spec.n_bins, spec.n_frames)
    grid = LocalTempoTracker()(song[0], 22050)
    bars = bar_segments(grid.downbeats, 22050, song.shape[-1], 4 * grid.beat_period)
    bars = [bar for bar in bars if bar.start >= 0 and bar.end <= song.shape[-1]]
    is_solo = torch.tensor([bar.end <= alone for bar in bars])
    assert int(is_solo.sum()) == REFINE_CLIPS
    # Every chosen clip is one of the solo bars (whose whole mixture is the guitar) and
    # none of the bars where the guitar shares the mixture.
    bar_heatmaps = heatmap(
        model_magnitude(
            np.stack([universal_clip(song[0, bar.start : bar.end], spec) for bar in bars]), spec
        )
    )
    for clip in query:
        distances = (bar_heatmaps - clip).abs().mean(dim=(-2, -1))
        assert is_solo[distances.argmin()]
        assert distances[is_solo].min() < 0.5 * distances[~is_solo].min()
    assert refined["guitar"].shape == song.shape


def test_cleanest_prefers_strong_bars_that_the_instrument_dominates():
    shares = torch.tensor([0.9, 0.2, 0.95, 0.5, 0.8, 0.99])
    # The last bar is the cleanest but 30 dB under the loudest: too quiet to be chosen.
    energies = torch.tensor([1.0, 1.0, 0.5, 1.0, 0.2, 1e-3])
    assert _cleanest(shares, energies).tolist() == [2, 0, 4, 3]


class BandSeparator:
    """A query-steered toy: the mask keeps the frequency bins where the query is loud, so
    a query of another instrument moves the stem to that instrument's band."""

    def __init__(self, references):
        self.spec = ClipSpec()
        self.references = references

    def supports(self, instrument):
        return instrument in self.references

    def masks(self, batch, queries):
        masks = {}
        for name, query in queries.items():
            query = self.references[name] if query is None else query
            profile = query.mean(dim=(0, 2))
            band = (profile > profile.max() - 0.2).float()
            masks[name] = band[None, :, None].expand_as(batch.heatmaps).clone()
        return masks


@pytest.mark.filterwarnings("ignore::bachata_sep.beat_tracking.BeatTrackingWarning")
def test_a_reference_that_strays_from_the_default_is_set_aside():
    mixture, stems = synthetic_song(22050, 1, bars=8)
    tracker = LocalTempoTracker()
    spec = ClipSpec()
    bar_seconds = 4 * 60 / 128  # the synthetic song's bar
    guitar_query = query_heatmaps(stems["guitar"][0], 22050, spec, tracker, bar_seconds)
    separator = BandSeparator({"guitar": guitar_query})
    default = bachata_sep.separate(
        mixture, sr=22050, instruments=("guitar",), separator=separator, progress=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReferenceWarning)
        alike = bachata_sep.separate(
            mixture,
            sr=22050,
            instruments=("guitar",),
            references={"guitar": stems["guitar"][0]},
            separator=separator,
            progress=False,
        )
    assert si_sdr(default["guitar"], alike["guitar"]) > 10
    with pytest.warns(ReferenceWarning, match="guitar reference was set aside"):
        strayed = bachata_sep.separate(
            mixture,
            sr=22050,
            instruments=("guitar",),
            references={"guitar": stems["bass"][0]},
            separator=separator,
            progress=False,
        )
    np.testing.assert_allclose(strayed["guitar"], default["guitar"], atol=1e-6)
    # Unchecked, the bass reference would have given the bass band.
    found = agreements(
        lambda s: mixture[0, max(s.start, 0) : s.end],
        [Segment(0, 22050 * 2), Segment(22050 * 2, 22050 * 4)],
        22050,
        {"guitar": query_heatmaps(stems["bass"][0], 22050, spec, tracker, bar_seconds)},
        separator,
        8,
    )
    assert not found["guitar"].safe and found["guitar"].similarity < 0.1
