"""Query clips: a reference recording of an instrument turned into model-domain heatmaps.

A query says *what* to look for, so any few bars of the instrument will do: we take up to
eight of its 4-beat clips, the loudest first, each stretched to the universal clip.
"""

from __future__ import annotations

import numpy as np
import torch

from .audio import AudioSource, as_audio, is_silent, to_mono
from .beat_tracking import BEATS_PER_BAR, BeatTracker
from .clips import bar_segments, excerpt
from .errors import BadInputError
from .spec import ClipSpec
from .transforms import heatmap, model_magnitude, universal_clip

MAX_QUERY_CLIPS = 8


def query_heatmaps(
    reference: AudioSource, sr: int | None, spec: ClipSpec, tracker: BeatTracker
) -> torch.Tensor:
    """Heatmaps ``(Q, F, T)`` of up to eight 4-beat clips of a reference, the loudest first.
    A reference too short to track is taken as one clip."""
    samples, sample_rate, _ = as_audio(reference, sr)
    mono = to_mono(samples)
    if is_silent(mono):
        raise BadInputError("the reference clip is silent")
    grid = tracker(mono, sample_rate)
    segments = bar_segments(
        grid.downbeats, sample_rate, len(mono), grid.beat_period * BEATS_PER_BAR
    )
    clips = [excerpt(mono, s.start, s.end) for s in segments if s.start >= 0 and s.end <= len(mono)]
    return loudest_clip_heatmaps([mono] if grid.fallback or not clips else clips, spec)


def loudest_clip_heatmaps(clips: list[np.ndarray], spec: ClipSpec) -> torch.Tensor:
    """Heatmaps ``(Q, F, T)`` of up to eight 4-beat mono clips, the loudest first, each
    stretched to the universal clip: where the instrument plays most is the best example."""
    loudest = sorted(clips, key=lambda clip: -float(np.square(clip).mean()))[:MAX_QUERY_CLIPS]
    universal = np.stack([universal_clip(clip, spec) for clip in loudest])
    return heatmap(model_magnitude(universal, spec))


def universal_clip_heatmaps(samples: np.ndarray, spec: ClipSpec) -> torch.Tensor:
    """Heatmaps of audio already at the universal tempo and rate (a stored default
    reference): consecutive ``spec.length`` chunks, no beat tracking needed."""
    count = len(samples) // spec.length
    if count == 0:
        raise BadInputError(f"a universal-tempo reference needs at least {spec.length} samples")
    clips = samples[: count * spec.length].reshape(count, spec.length)
    return heatmap(model_magnitude(clips, spec))
