"""Queries from the song itself, and the check that keeps a query from ruining a stem.

The default reference says what a güira sounds like in general; the song's own güira is
the better example of what to look for in it. ``refine`` runs a first pass with the given
queries; the bars where an instrument's masked share of the mixture is highest (strongest
and cleanest: it dominates there) become its new query, as heatmaps of the masked clips.

A query from elsewhere can also mislead the model: a span of the mixture holds other
instruments, a reference may be cut at another tempo. ``checked_queries`` compares, over
the whole song, the stem a query gives with the stem of the default reference, in the
model domain; a query whose stem keeps too little of the default stem's energy, or
shares too little of it, is dropped for the default (see ``docs/queries.md`` for how
the thresholds were chosen). Both passes stay in the model domain (no full-resolution
STFT): each costs one more run of the models over the song.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .clips import Segment, batched
from .separators import ClipBatch, Separator
from .transforms import heatmap

REFINE_CLIPS = 4
# Only bars within this many dB of the instrument's loudest masked bar can be chosen: a
# quiet bar where it is alone (an intro's last note) is clean but says little.
STRONG_BAR_DB = 10.0
# A query's stem must stay within this many dB of the default query's stem, and share
# this much of it (cosine of the two masked spectrograms), or the default is kept. Chosen
# on the training families with the shipped models (benchmarks/reference_check.py): the
# güira's look-alike model, which reads its query, lost up to 5.6 dB to spans of the
# mixture whose stems still agreed at 0.82-0.96, the bass's 4.3 dB to one at 0.975; at
# 0.98 no kept reference costs more than 1 dB.
MAX_LEVEL_DROP_DB = 3.0
MIN_AGREEMENT = 0.98

Excerpt = Callable[[Segment], np.ndarray]


@dataclass(frozen=True)
class Agreement:
    """How a query's stem compares with the default query's over a song."""

    level_change_db: float  # energy of the query's stem over the default's
    similarity: float  # cosine of the two stems' model-domain magnitudes

    @property
    def safe(self) -> bool:
        return self.level_change_db >= -MAX_LEVEL_DROP_DB and self.similarity >= MIN_AGREEMENT


def _clip_batches(
    mono_excerpt: Excerpt,
    segments: Sequence[Segment],
    sample_rate: int,
    separator: Separator,
    batch_size: int,
) -> Iterator[ClipBatch]:
    for batch_segments in batched(segments, batch_size):
        yield ClipBatch.cut(mono_excerpt, batch_segments, sample_rate, separator.spec)


@torch.inference_mode()
def refined_queries(
    mono_excerpt: Excerpt,
    segments: Sequence[Segment],
    sample_rate: int,
    queries: Mapping[str, torch.Tensor | None],
    separator: Separator,
    batch_size: int,
) -> dict[str, torch.Tensor]:
    """Each instrument's query ``(Q, F, T)`` from its strongest, cleanest first-pass bars."""
    shares: dict[str, list[torch.Tensor]] = {name: [] for name in queries}
    energies: dict[str, list[torch.Tensor]] = {name: [] for name in queries}
    for batch in _clip_batches(mono_excerpt, segments, sample_rate, separator, batch_size):
        mixture_energy = batch.magnitudes.square().sum(dim=(-2, -1)).clamp_min(1e-12)
        for name, mask in separator.masks(batch, queries).items():
            energy = (mask * batch.magnitudes).square().sum(dim=(-2, -1))
            shares[name].append(energy / mixture_energy)
            energies[name].append(energy)
    refined = {}
    for name in queries:
        chosen = [
            segments[int(i)] for i in _cleanest(torch.cat(shares[name]), torch.cat(energies[name]))
        ]
        (batch,) = _clip_batches(mono_excerpt, chosen, sample_rate, separator, len(chosen))
        mask = separator.masks(batch, queries)[name]
        refined[name] = heatmap(mask * batch.magnitudes)
    return refined


def _cleanest(shares: torch.Tensor, energies: torch.Tensor) -> torch.Tensor:
    """Indices of the :data:`REFINE_CLIPS` clips with the highest share among the strong."""
    level = 10 * torch.log10(energies.clamp_min(1e-12))
    strong = level >= level.max() - STRONG_BAR_DB
    ranked = torch.where(strong, shares, torch.full_like(shares, -1.0))
    return ranked.argsort(descending=True)[: min(REFINE_CLIPS, int(strong.sum()))]


@torch.inference_mode()
def agreements(
    mono_excerpt: Excerpt,
    segments: Sequence[Segment],
    sample_rate: int,
    queries: Mapping[str, torch.Tensor],
    separator: Separator,
    batch_size: int,
) -> dict[str, Agreement]:
    """Each query's stem against the default reference's, over the whole song."""
    totals = {name: torch.zeros(3, dtype=torch.float64) for name in queries}
    defaults = dict.fromkeys(queries)
    for batch in _clip_batches(mono_excerpt, segments, sample_rate, separator, batch_size):
        given = separator.masks(batch, queries)
        default = separator.masks(batch, defaults)
        for name in queries:
            ours, theirs = given[name] * batch.magnitudes, default[name] * batch.magnitudes
            totals[name] += torch.stack(
                [(ours * theirs).sum(), ours.square().sum(), theirs.square().sum()]
            ).double()
    result = {}
    for name, (cross, ours, theirs) in totals.items():
        ours, theirs = max(float(ours), 1e-12), max(float(theirs), 1e-12)
        result[name] = Agreement(
            10 * np.log10(ours / theirs), float(cross) / float(np.sqrt(ours * theirs))
        )
    return result


class ReferenceWarning(UserWarning):
    """A reference was set aside for the default one: its stem strayed too far. It names
    the instrument, so the app can say which stem fell back to its default reference."""

    def __init__(self, message: str, instrument: str = "") -> None:
        super().__init__(message)
        self.instrument = instrument


def checked_queries(
    mono_excerpt: Excerpt,
    segments: Sequence[Segment],
    sample_rate: int,
    queries: Mapping[str, torch.Tensor | None],
    separator: Separator,
    batch_size: int,
) -> dict[str, torch.Tensor | None]:
    """``queries`` with each one whose stem strays from the default's replaced by None."""
    given = {name: query for name, query in queries.items() if query is not None}
    if not given:
        return dict(queries)
    found = agreements(mono_excerpt, segments, sample_rate, given, separator, batch_size)
    for name, agreement in found.items():
        if not agreement.safe:
            warnings.warn(
                ReferenceWarning(
                    f"the {name} reference was set aside for the default one: its stem "
                    f"strayed from the default's (level {agreement.level_change_db:+.1f} dB, "
                    f"similarity {agreement.similarity:.2f})",
                    name,
                ),
                stacklevel=2,
            )
    return {
        name: query if query is None or found[name].safe else None
        for name, query in queries.items()
    }
