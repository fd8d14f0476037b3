"""Tempo normalisation by FFT resampling, as in the original research.

Resampling a 4-beat clip to the universal length changes its duration and pitch by
the same factor (like a tape played faster or slower). It is band-limited and exactly
invertible when the clip is lengthened, which is the common case here.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import resample


def stretch(samples: np.ndarray, length: int) -> np.ndarray:
    """FFT-resample the last axis of ``samples`` to ``length`` samples."""
    if length <= 0:
        raise ValueError(f"target length must be positive, got {length}")
    if samples.shape[-1] == length:
        return samples.astype(np.float32, copy=True)
    return resample(samples, length, axis=-1).astype(np.float32)


def stretch_ratio(original_length: int, original_rate: int, length: int, rate: int) -> float:
    """Time scale factor r of a stretch: durations grow by r and frequencies shrink by r."""
    return (length / rate) / (original_length / original_rate)
