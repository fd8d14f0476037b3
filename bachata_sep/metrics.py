"""Separation metrics. We report SI-SDR (scale-invariant SDR, Le Roux et al. 2019) and its
improvement over the mixture (SI-SDRi), the norm for query-based separation.

Written out here rather than taken from ``fast_bss_eval``: that library solves a
permutation first and fails on the silent or perfect estimates our absent-target and
identity cases produce. Scores are clamped to ±100 dB instead.
"""

from __future__ import annotations

import numpy as np
import torch

Signal = np.ndarray | torch.Tensor
CLAMP_DB = 100.0
EPSILON = 1e-12


def si_sdr(reference: Signal, estimate: Signal) -> Signal:
    """SI-SDR in dB of each item over its last axis: ``(..., samples)`` → ``(...)``."""
    backend = torch if isinstance(reference, torch.Tensor) else np
    reference = reference.astype(np.float64) if backend is np else reference.double()
    estimate = estimate.astype(np.float64) if backend is np else estimate.double()
    scale = (reference * estimate).sum(-1, keepdims=True) / (
        (reference * reference).sum(-1, keepdims=True) + EPSILON
    )
    target = scale * reference
    ratio = (target * target).sum(-1) / ((estimate - target) ** 2).sum(-1).clip(EPSILON)
    return backend.clip(10 * backend.log10(ratio.clip(EPSILON)), -CLAMP_DB, CLAMP_DB)


def si_sdr_improvement(reference: Signal, estimate: Signal, mixture: Signal) -> Signal:
    """How many dB the estimate gains over the mixture itself."""
    return si_sdr(reference, estimate) - si_sdr(reference, mixture)
