import numpy as np
import pytest
import torch

from bachata_sep.spec import ClipSpec
from bachata_sep.transforms import (
    _window,
    full_resolution_stft_size,
    heatmap,
    istft,
    model_magnitude,
    resample_axis,
    stft,
    unstretch_mask,
)


@pytest.mark.parametrize("shape", [(44100,), (2, 44101), (6, 8000)])
def test_stft_round_trip(shape):
    signal = torch.randn(shape)
    n_fft, hop = full_resolution_stft_size(44100)
    back = istft(stft(signal, n_fft, hop), n_fft, hop, shape[-1])
    assert back.shape == signal.shape
    assert torch.allclose(back, signal, atol=1e-5)


def test_full_resolution_window_is_about_46_ms():
    assert full_resolution_stft_size(44100) == (2048, 512)
    assert full_resolution_stft_size(8000) == (512, 128)
    assert full_resolution_stft_size(96000) == (4096, 1024)


def test_heatmap_is_level_invariant_and_bounded():
    spec = ClipSpec()
    clip = np.random.default_rng(1).standard_normal(spec.length).astype(np.float32) * 0.1
    loud, quiet = heatmap(model_magnitude(clip, spec)), heatmap(model_magnitude(clip * 0.01, spec))
    assert loud.shape == (spec.n_bins, spec.n_frames)
    assert float(loud.min()) >= 0 and float(loud.max()) == pytest.approx(1.0)
    assert torch.allclose(loud, quiet, atol=1e-3)
    silent = heatmap(model_magnitude(np.zeros(spec.length, dtype=np.float32), spec))
    assert float(silent.max()) == 0.0


def test_resample_axis_interpolates_linearly():
    values = torch.tensor([[0.0, 10.0, 20.0]])
    out = resample_axis(values, torch.tensor([0.0, 0.5, 1.75, 5.0, -1.0]), dim=1)
    assert torch.allclose(out, torch.tensor([[0.0, 5.0, 17.5, 20.0, 0.0]]))


def test_unstretch_mask_maps_time_and_frequency():
    """A mask that is on only in the model's 2nd half (time) and below 1 kHz must land in
    the 2nd half of the original clip and below 1 kHz * ratio."""
    spec = ClipSpec()
    mask = torch.zeros(spec.n_bins, spec.n_frames)
    cutoff_bin = int(1000 * spec.n_fft / spec.sample_rate)
    mask[:cutoff_bin, spec.n_frames // 2 :] = 1.0
    rate, ratio = 44100, 1.2
    original_length = round(spec.length / spec.sample_rate / ratio * rate)
    n_fft, hop = full_resolution_stft_size(rate)
    frames = original_length // hop + 1
    full = unstretch_mask(mask, spec, ratio, rate, n_fft, hop, frames, offset=0)
    assert full.shape == (n_fft // 2 + 1, frames)
    frequencies = np.arange(n_fft // 2 + 1) * rate / n_fft
    times = np.arange(frames) * hop / rate
    half = original_length / rate / 2
    on = full.numpy() > 0.5
    assert on[(frequencies < 1000 * ratio * 0.95)][:, times > half * 1.05].all()
    assert not on[(frequencies > 1000 * ratio * 1.05)].any()
    assert not on[:, times < half * 0.95].any()


def test_a_window_first_made_in_inference_mode_still_serves_training():
    _window.cache_clear()
    with torch.inference_mode():
        stft(torch.zeros(4096), 1024, 256)
    spectrum = stft(torch.randn(4096), 1024, 256).requires_grad_()
    istft(spectrum, 1024, 256, 4096).square().sum().backward()
    assert spectrum.grad is not None
