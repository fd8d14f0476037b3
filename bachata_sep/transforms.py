"""Spectral transforms: STFT/iSTFT, the model's heatmap, and mapping a model mask back.

A model sees the *stretched* clip at the model's sample rate, but we apply its mask to the
full-resolution STFT of the *original* clip (every channel, the input's own rate), so the
stems keep the input's quality. FFT resampling scales time by r and frequency by 1/r, so
the inverse stretch of a mask is a bilinear resampling of its time and frequency axes.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from .spec import ClipSpec
from .stretch import stretch

HEATMAP_RANGE_DB = 80.0
# Reference floor in dB of STFT power (about -90 dBFS for a 1024-point frame): near-silent
# clips are not boosted into maps of noise.
HEATMAP_FLOOR_DB = -40.0
FULL_RESOLUTION_WINDOW_S = 0.046


@functools.lru_cache(maxsize=8)
def _window(n_fft: int, device: torch.device | None = None) -> torch.Tensor:
    """Cached, so made outside inference mode: training may reuse it under autograd."""
    with torch.inference_mode(False):
        return torch.hann_window(n_fft, device=device)


def stft(samples: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """Complex STFT of ``(..., samples)`` audio → ``(..., bins, frames)``, centred frames."""
    shape = samples.shape
    flat = samples.reshape(-1, shape[-1])
    spectrum = torch.stft(
        flat,
        n_fft=n_fft,
        hop_length=hop_length,
        window=_window(n_fft, samples.device),
        center=True,
        return_complex=True,
    )
    return spectrum.reshape(*shape[:-1], *spectrum.shape[-2:])


def istft(spectrum: torch.Tensor, n_fft: int, hop_length: int, length: int) -> torch.Tensor:
    """Inverse of :func:`stft`, trimmed or padded to exactly ``length`` samples."""
    shape = spectrum.shape
    flat = spectrum.reshape(-1, *shape[-2:])
    samples = torch.istft(
        flat,
        n_fft=n_fft,
        hop_length=hop_length,
        window=_window(n_fft, spectrum.device),
        center=True,
        length=length,
    )
    return samples.reshape(*shape[:-2], length)


def heatmap(magnitude: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
    """Log-power heatmap in [0, 1], normalised per clip to its loudest bin (level-invariant).

    With ``reference`` (e.g. the mixture's magnitude) the scale is set by *its* loudest
    bin instead, so a stem drawn on its mixture's scale keeps its relative level.
    """
    power_db = _power_db(magnitude)
    loudest = power_db if reference is None else _power_db(reference)
    top = loudest.amax(dim=(-2, -1), keepdim=True).clamp_min(HEATMAP_FLOOR_DB)
    return ((power_db - top) / HEATMAP_RANGE_DB + 1.0).clamp(0.0, 1.0)


def _power_db(magnitude: torch.Tensor) -> torch.Tensor:
    return 10.0 * torch.log10(magnitude.square() + 1e-14)


def model_magnitude(clips: np.ndarray | torch.Tensor, spec: ClipSpec) -> torch.Tensor:
    """STFT magnitude of clips already at the universal length: ``(..., length)`` → (..., F, T)."""
    tensor = torch.as_tensor(clips, dtype=torch.float32)
    return stft(tensor, spec.n_fft, spec.hop_length).abs()


def universal_clip(samples: np.ndarray, spec: ClipSpec) -> np.ndarray:
    """Stretch one 4-beat clip (any length, any rate) to the universal length and rate."""
    return stretch(samples, spec.length)


def full_resolution_stft_size(sample_rate: int) -> tuple[int, int]:
    """Window and hop of the output STFT: ~46 ms windows at any input rate, 75 % overlap."""
    n_fft = 2 ** round(math.log2(FULL_RESOLUTION_WINDOW_S * sample_rate))
    return n_fft, n_fft // 4


def resample_axis(values: torch.Tensor, coordinates: torch.Tensor, dim: int) -> torch.Tensor:
    """Linearly interpolate ``values`` along ``dim`` at fractional ``coordinates``
    (clamped to the ends): a gather, not a dense matrix product."""
    size = values.shape[dim]
    position = coordinates.clamp(0, size - 1)
    lower = position.floor().long().clamp(max=size - 1)
    upper = (lower + 1).clamp(max=size - 1)
    shape = [1] * values.dim()
    shape[dim] = -1
    fraction = (position - lower).to(values.dtype).reshape(shape)
    return (
        values.index_select(dim, lower) * (1 - fraction)
        + values.index_select(dim, upper) * fraction
    )


def unstretch_mask(
    mask: torch.Tensor,
    spec: ClipSpec,
    ratio: float,
    sample_rate: int,
    n_fft: int,
    hop_length: int,
    n_frames: int,
    offset: int,
) -> torch.Tensor:
    """Map model-domain masks ``(..., F_model, T_model)`` onto the full-resolution STFT grid.

    ``ratio`` is the clip's stretch factor (model duration / original duration) and
    ``offset`` the number of original samples between the STFT window start and the clip
    start (its context margin). Frequencies above the model's band take its top bin.
    """
    frame_times = torch.arange(n_frames) * hop_length / sample_rate - offset / sample_rate
    model_frames = frame_times * ratio * spec.sample_rate / spec.hop_length
    frequencies = torch.arange(n_fft // 2 + 1) * sample_rate / n_fft
    model_bins = frequencies / ratio * spec.n_fft / spec.sample_rate
    along_time = resample_axis(mask.to(torch.float32), model_frames, dim=-1)
    return resample_axis(along_time, model_bins, dim=-2)
