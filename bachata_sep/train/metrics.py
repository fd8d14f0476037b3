"""Separation metrics. We report SI-SDR (scale-invariant SDR, Le Roux et al. 2019) and its
improvement over the mixture (SI-SDRi), the norm for query-based separation, and SDR
(the Music Demixing Challenge's, with no distortion allowed), which also counts a stem
at the wrong level as error: SI-SDR alone cannot tell a stem 50 dB too quiet from a right
one, so training and the checkpoint tests use SDR to keep the level honest.

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
    backend, reference, estimate = _in_float64(reference, estimate)
    scale = (reference * estimate).sum(-1, keepdims=True) / (
        (reference * reference).sum(-1, keepdims=True) + EPSILON
    )
    target = scale * reference
    return _decibels(backend, target, estimate - target)


def sdr(reference: Signal, estimate: Signal) -> Signal:
    """SDR in dB of each item over its last axis, ``10 log10(|s|² / |s - ŝ|²)``: unlike
    :func:`si_sdr`, an estimate at the wrong level scores low."""
    backend, reference, estimate = _in_float64(reference, estimate)
    return _decibels(backend, reference, reference - estimate)


def _in_float64(reference: Signal, estimate: Signal) -> tuple:
    """The array module of the inputs (numpy or torch) and both in float64."""
    if isinstance(reference, torch.Tensor):
        return torch, reference.double(), estimate.double()
    return np, reference.astype(np.float64), estimate.astype(np.float64)


def _decibels(backend, signal: Signal, error: Signal) -> Signal:
    """10 log10 of the energy ratio of ``signal`` to ``error``, clamped to ±100 dB."""
    ratio = (signal * signal).sum(-1) / (error * error).sum(-1).clip(EPSILON)
    return backend.clip(10 * backend.log10(ratio.clip(EPSILON)), -CLAMP_DB, CLAMP_DB)
