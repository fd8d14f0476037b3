import librosa
import numpy as np
import pytest
import torch
from conftest import synthetic_song

from bachata_sep.clips import Segment
from bachata_sep.errors import BadInputError
from bachata_sep.separators import (
    ClipBatch,
    IdentitySeparator,
    OracleSeparator,
    ShiftedSeparator,
    hpss_masks,
    shift_offsets,
)
from bachata_sep.spec import ClipSpec


def _batch(spec: ClipSpec, segments: list[Segment]) -> ClipBatch:
    return ClipBatch(*torch.rand(2, len(segments), spec.n_bins, spec.n_frames), segments, 44100)


def test_identity_masks_are_ones_for_every_requested_instrument():
    separator = IdentitySeparator()
    masks = separator.masks(_batch(separator.spec, [Segment(0, 1000)]), {"bongo": None, "x": None})
    assert set(masks) == {"bongo", "x"}
    assert all(bool((mask == 1).all()) for mask in masks.values())
    assert separator.supports("maracas")


def test_oracle_masks_are_ratios_that_favour_the_right_stem():
    mixture, stems = synthetic_song(bars=2)
    oracle = OracleSeparator(stems, mixture)
    spec = oracle.spec
    segments = [Segment(0, 80000), Segment(80000, 160000)]
    masks = oracle.masks(_batch(spec, segments), dict.fromkeys(stems))
    total = sum(masks.values())
    assert float(total.max()) <= 1.0 + 1e-5
    assert all(mask.shape == (2, spec.n_bins, spec.n_frames) for mask in masks.values())
    bass_bin, guitar_bin = (round(f * spec.n_fft / spec.sample_rate) for f in (200, 700))
    assert float(masks["bass"][:, bass_bin - 3 : bass_bin + 3].mean()) > 0.6
    assert float(masks["guitar"][:, guitar_bin - 3 : guitar_bin + 3].mean()) > 0.6
    assert not oracle.supports("guira")
    with pytest.raises(BadInputError, match="guira"):
        oracle.masks(_batch(spec, segments), {"guira": None})


def test_oracle_keeps_what_the_stems_do_not_cover_as_a_source():
    mixture, stems = synthetic_song(bars=2)
    only_bass = OracleSeparator({"bass": stems["bass"]}, mixture)
    mask = only_bass.masks(_batch(only_bass.spec, [Segment(0, 80000)]), {"bass": None})["bass"]
    assert float(mask.mean()) < 0.5
    assert np.isfinite(mask.numpy()).all()


def test_baseline_masks_follow_their_bands():
    from bachata_sep.separators import BaselineSeparator

    baseline = BaselineSeparator()
    spec = baseline.spec
    masks = baseline.masks(_batch(spec, [Segment(0, 1000)] * 2), dict.fromkeys(baseline.BANDS))
    hz = np.arange(spec.n_bins) * spec.sample_rate / spec.n_fft
    assert bool((masks["bass"][:, hz < 200] == 1).all()) and not masks["bass"][:, hz >= 200].any()
    assert not masks["guira"][:, hz < 4000].any()
    assert not masks["bongo"][:, (hz < 150) | (hz >= 1500)].any()
    assert float(masks["guitar"].max()) <= 1.0 and not baseline.supports("maracas")


class _HeatmapEcho:
    """Masks that are the heatmaps themselves: a separator that moves with its input."""

    spec = ClipSpec()

    def supports(self, instrument: str) -> bool:
        return True

    def masks(self, batch, queries):
        return {name: batch.heatmaps.clone() for name in queries}


class _GridLocked:
    """Masks of 1 on every 16th frame: an output fixed to a grid, whatever the input."""

    spec = ClipSpec()

    def supports(self, instrument: str) -> bool:
        return True

    def masks(self, batch, queries):
        mask = torch.zeros_like(batch.heatmaps)
        mask[..., ::16] = 1.0
        return {name: mask for name in queries}


def test_hpss_masks_are_librosas_for_a_whole_batch():
    magnitudes = torch.rand(3, 257, 64, generator=torch.Generator().manual_seed(0)) ** 3
    magnitudes[1, :, :40] = 0  # silent frames: librosa splits them 0.5 / 0.5
    harmonic, percussive = hpss_masks(magnitudes)
    for index, clip in enumerate(magnitudes.numpy()):
        expected_harmonic, expected_percussive = librosa.decompose.hpss(clip, mask=True)
        np.testing.assert_allclose(harmonic[index].numpy(), expected_harmonic, atol=1e-6)
        np.testing.assert_allclose(percussive[index].numpy(), expected_percussive, atol=1e-6)


def test_shift_offsets_are_nearest_first():
    assert shift_offsets(1) == [0]
    assert shift_offsets(5) == [0, 1, -1, 2, -2]


def test_shifts_leave_a_separator_that_moves_with_its_input_unchanged():
    batch = _batch(ClipSpec(), [Segment(0, 1000), Segment(1000, 2000)])
    masks = ShiftedSeparator(_HeatmapEcho(), 3).masks(batch, {"bongo": None})
    torch.testing.assert_close(masks["bongo"], batch.heatmaps)


def test_shifts_average_what_is_fixed_to_a_grid():
    batch = _batch(ClipSpec(), [Segment(0, 1000)])
    single = ShiftedSeparator(_GridLocked(), 1).masks(batch, {"bongo": None})["bongo"]
    averaged = ShiftedSeparator(_GridLocked(), 3).masks(batch, {"bongo": None})["bongo"]
    torch.testing.assert_close(single, _GridLocked().masks(batch, {"bongo": None})["bongo"])
    # Each grid frame's third goes back to it and to its two neighbours.
    assert torch.allclose(averaged[..., 16], torch.tensor(1 / 3))
    assert torch.allclose(averaged[..., 15], torch.tensor(1 / 3))
    assert torch.allclose(averaged[..., 17], torch.tensor(1 / 3))
    assert torch.allclose(averaged[..., 18], torch.tensor(0.0))


@pytest.mark.parametrize("shifts", [0, -2, 1.5, 9, 10**6])
def test_a_bad_number_of_shifts_is_refused(shifts):
    with pytest.raises(BadInputError, match="shifts must be a whole number of passes from 1 to 8"):
        ShiftedSeparator(IdentitySeparator(), shifts)
