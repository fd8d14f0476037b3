"""Query clips: a reference recording of an instrument turned into model-domain heatmaps.

A query says *what* to look for, so any few bars of the instrument will do: we take up to
eight of its 4-beat clips, the loudest first, each stretched to the universal clip. A
reference can also be a time span of the song itself (a guitar intro, say): its bars, cut
on the song's own downbeats, are the query, in the very timbre the song has.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from .audio import AudioSource, as_audio, is_silent, to_mono
from .beat_tracking import BeatTracker, BeatTrackingWarning
from .clips import Segment, bar_segments, excerpt
from .errors import BadInputError
from .spec import BEATS_PER_BAR, ClipSpec
from .transforms import heatmap, model_magnitude, universal_clip

MAX_QUERY_CLIPS = 8
# Clips this far under a reference's loudest are left out of its query: a heatmap is
# level-normalised, so a silent bar (an instrument that comes in late in a span) would show
# the model amplified noise, a query no training ever drew, and pull the averaged query to
# another instrument (a bongo intro span with two silent bars queried the bass).
QUERY_RANGE_DB = 20.0
# A bar counts as inside a span when this share of it is; a span holding no such bar is
# taken as one clip if it lasts this long at least.
SPAN_BAR_SHARE = 0.75
MIN_SPAN_SECONDS = 0.5

Span = tuple[float, float]


def is_span(reference: object) -> bool:
    """Whether a reference is a ``(start, end)`` span in seconds rather than audio."""
    return (
        isinstance(reference, tuple)
        and len(reference) == 2
        and all(isinstance(value, int | float) for value in reference)
    )


def parse_span(text: str) -> Span:
    """``0:05-0:13`` or ``5-13.5``: a span of a song in (minutes and) seconds, as people
    write it (the command line's ``@0:05-0:13``, a box in the app)."""
    start, _, end = text.strip().partition("-")
    try:
        return _seconds(start), _seconds(end)
    except ValueError:
        raise BadInputError(
            f"a reference span is START-END in seconds or M:SS, e.g. 0:05-0:13, not {text!r}"
        ) from None


def _seconds(text: str) -> float:
    minutes, colon, seconds = text.strip().rpartition(":")
    if not seconds or (colon and not minutes):
        raise ValueError(text)
    return 60 * float(minutes or 0) + float(seconds)


def span_heatmaps(
    mono: np.ndarray, sample_rate: int, segments: list[Segment], span: Span, spec: ClipSpec
) -> torch.Tensor:
    """Heatmaps of the song's own bars inside ``span`` (seconds), the loudest first; a span
    shorter than a bar is taken as one clip."""
    start, end = span
    seconds = len(mono) / sample_rate
    if not 0 <= start < end <= seconds + 1e-6:
        raise BadInputError(
            f"the reference span {start:g}-{end:g} s must lie within the song (0-{seconds:.2f} s) "
            "and end after it starts"
        )
    first, last = round(start * sample_rate), round(end * sample_rate)
    inside = [
        excerpt(mono, s.start, s.end)
        for s in segments
        if min(s.end, last) - max(s.start, first) >= SPAN_BAR_SHARE * s.length
    ]
    if not inside:
        if end - start < MIN_SPAN_SECONDS:
            raise BadInputError(
                f"the reference span {start:g}-{end:g} s is too short: give at least one bar"
            )
        inside = [mono[first:last]]
    if all(is_silent(clip) for clip in inside):
        raise BadInputError(f"the song is silent from {start:g} to {end:g} s")
    return loudest_clip_heatmaps(inside, spec)


def query_heatmaps(
    reference: AudioSource,
    sr: int | None,
    spec: ClipSpec,
    tracker: BeatTracker,
    bar_seconds: float | None = None,
) -> torch.Tensor:
    """Heatmaps ``(Q, F, T)`` of up to eight 4-beat clips of a reference, the loudest first.

    A reference without a pulse of its own (a bass line alone often has none the tracker
    trusts) is cut into bars of ``bar_seconds``, the song's; squeezing it whole into one
    clip would show the model a pattern many times too dense. A reference too short for
    that is taken as one clip. ``sr`` is the song's and applies to an array only: a
    reference file keeps its own rate."""
    samples, sample_rate, _ = as_audio(reference, sr if isinstance(reference, np.ndarray) else None)
    mono = to_mono(samples)
    if is_silent(mono):
        raise BadInputError("the reference clip is silent")
    with warnings.catch_warnings():
        if bar_seconds is not None:
            warnings.simplefilter("ignore", BeatTrackingWarning)
        grid = tracker(mono, sample_rate)
    if grid.fallback and bar_seconds is not None:
        bar = round(bar_seconds * sample_rate)
        starts = range(0, len(mono) - bar + 1, bar)
        segments = [Segment(start, start + bar) for start in starts]
    else:
        segments = bar_segments(
            grid.downbeats, sample_rate, len(mono), grid.beat_period * BEATS_PER_BAR
        )
    clips = [excerpt(mono, s.start, s.end) for s in segments if s.start >= 0 and s.end <= len(mono)]
    if not clips or (grid.fallback and bar_seconds is None):
        clips = [mono]
    return loudest_clip_heatmaps(clips, spec)


def loudest_clip_heatmaps(clips: list[np.ndarray], spec: ClipSpec) -> torch.Tensor:
    """Heatmaps ``(Q, F, T)`` of up to eight 4-beat mono clips, the loudest first, each
    stretched to the universal clip: where the instrument plays most is the best example.
    Clips more than :data:`QUERY_RANGE_DB` under the loudest are left out."""
    energies = [float(np.square(clip, dtype=np.float64).mean()) for clip in clips]
    floor = max(energies) * 10 ** (-QUERY_RANGE_DB / 10)
    order = sorted(range(len(clips)), key=lambda i: -energies[i])
    loudest = [clips[i] for i in order if energies[i] >= floor][:MAX_QUERY_CLIPS]
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
