"""The separator interface that every model implements, and two non-learned separators.

A separator turns a batch of mixture clips (heatmaps in the model domain) plus, per
instrument, optional query heatmaps into one soft mask per instrument and clip. The song
pipeline does everything else (beats, clips, stretching, full-resolution masking).

``IdentitySeparator`` passes the mixture through (a round-trip check of the pipeline);
``OracleSeparator`` computes the ideal ratio mask from known stems, clip by clip in the
same model domain, so it is the upper bound of any magnitude-mask model in this pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from .audio import to_mono
from .clips import Segment, excerpt
from .errors import BadInputError
from .spec import INSTRUMENTS, ClipSpec
from .transforms import heatmap, model_magnitude, universal_clip


@dataclass(frozen=True)
class ClipBatch:
    """Clips of one song: model-domain magnitudes and heatmaps ``(B, F, T)`` and where
    each clip lies in the song."""

    magnitudes: torch.Tensor
    heatmaps: torch.Tensor
    segments: Sequence[Segment]
    sample_rate: int

    @classmethod
    def cut(
        cls,
        mono_excerpt: Callable[[Segment], np.ndarray],
        segments: Sequence[Segment],
        sample_rate: int,
        spec: ClipSpec,
    ) -> ClipBatch:
        """The clips at ``segments`` of a song (``mono_excerpt`` reads one), each stretched
        to the universal clip: what a separator sees, in the separation and in any pass
        before it."""
        universal = np.stack([universal_clip(mono_excerpt(s), spec) for s in segments])
        magnitudes = model_magnitude(universal, spec)
        return cls(magnitudes, heatmap(magnitudes), segments, sample_rate)


class Separator(Protocol):
    """What the pipeline needs from a model: its clip format and a mask per instrument."""

    spec: ClipSpec

    @property
    def instruments(self) -> tuple[str, ...]:
        """The instruments it offers (the app shows one row per instrument)."""
        ...

    def supports(self, instrument: str) -> bool: ...

    def masks(
        self, batch: ClipBatch, queries: Mapping[str, torch.Tensor | None]
    ) -> dict[str, torch.Tensor]:
        """Masks ``(B, F, T)`` in [0, 1] for every instrument in ``queries``; a query is a
        ``(Q, F, T)`` stack of reference-clip heatmaps, or None for the default reference."""
        ...


class IdentitySeparator:
    """Every instrument gets the whole mixture: mask 1 everywhere. It supports any name
    and offers ``instruments``."""

    def __init__(
        self, spec: ClipSpec | None = None, instruments: Sequence[str] = INSTRUMENTS
    ) -> None:
        self.spec = spec or ClipSpec()
        self.instruments = tuple(instruments)

    def supports(self, instrument: str) -> bool:
        return True

    def masks(
        self, batch: ClipBatch, queries: Mapping[str, torch.Tensor | None]
    ) -> dict[str, torch.Tensor]:
        return {name: torch.ones_like(batch.heatmaps) for name in queries}


class BaselineSeparator:
    """A plain DSP baseline with no learning and no query: harmonic/percussive separation
    (librosa's median-filter HPSS, see :func:`hpss_masks`) plus fixed bands. Models must
    beat it, because SI-SDRi alone flatters quiet sources that a filter already isolates."""

    BANDS: dict[str, tuple[str, float, float]] = {
        "bass": ("all", 0.0, 200.0),
        "guira": ("percussive", 4000.0, float("inf")),
        "bongo": ("percussive", 150.0, 1500.0),
        "guitar": ("harmonic", 200.0, 5000.0),
    }

    def __init__(self, spec: ClipSpec | None = None) -> None:
        self.spec = spec or ClipSpec()
        self.instruments = tuple(name for name in INSTRUMENTS if name in self.BANDS)

    def supports(self, instrument: str) -> bool:
        return instrument in self.BANDS

    def masks(
        self, batch: ClipBatch, queries: Mapping[str, torch.Tensor | None]
    ) -> dict[str, torch.Tensor]:
        magnitudes = batch.magnitudes.float()
        harmonic, percussive = hpss_masks(magnitudes)
        components = {
            "all": torch.ones_like(magnitudes),
            "harmonic": harmonic,
            "percussive": percussive,
        }
        frequencies = torch.arange(self.spec.n_bins) * self.spec.sample_rate / self.spec.n_fft
        masks = {}
        for name in queries:
            component, low, high = self.BANDS[name]
            band = ((frequencies >= low) & (frequencies < high)).float()
            masks[name] = components[component] * band[:, None]
        return masks


HPSS_KERNEL = 31  # librosa.decompose.hpss's default, in frames and in bins


def _median_filter(values: torch.Tensor, dim: int) -> torch.Tensor:
    """Running median of :data:`HPSS_KERNEL` along ``dim``, edges mirrored as scipy's
    ``median_filter(mode="reflect")`` mirrors them (``d c b a | a b c d``)."""
    half = HPSS_KERNEL // 2
    moved = values.movedim(dim, -1)
    padded = torch.cat([moved[..., :half].flip(-1), moved, moved[..., -half:].flip(-1)], -1)
    return padded.unfold(-1, HPSS_KERNEL, 1).median(-1).values.movedim(-1, dim)


def hpss_masks(magnitudes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Harmonic and percussive soft masks of magnitudes ``(..., F, T)``: what
    ``librosa.decompose.hpss(S, mask=True)`` returns for each clip, for a whole batch at
    once in torch, about ten times faster (the güira's DSP floor runs it on every clip)."""
    harmonic = _median_filter(magnitudes, -1)
    percussive = _median_filter(magnitudes, -2)
    largest = torch.maximum(harmonic, percussive)
    silent = largest < torch.finfo(magnitudes.dtype).tiny  # librosa splits these 0.5 / 0.5
    scale = torch.where(silent, 1.0, largest)
    harmonic_power, percussive_power = (harmonic / scale) ** 2, (percussive / scale) ** 2
    total = torch.where(silent, 1.0, harmonic_power + percussive_power)
    return (
        torch.where(silent, 0.5, harmonic_power / total),
        torch.where(silent, 0.5, percussive_power / total),
    )


class OracleSeparator:
    """Ideal ratio masks |S_k| / Σ_j |S_j| from the song's true stems.

    ``stems`` maps instrument names to audio shaped like the mixture; whatever the stems
    do not cover (voice, keys, ...) is added as one more source, so the masks of the named
    stems are not flattered when the mixture holds more than they do.
    """

    def __init__(
        self, stems: Mapping[str, np.ndarray], mixture: np.ndarray, spec: ClipSpec | None = None
    ) -> None:
        self.spec = spec or ClipSpec()
        self.stems = {name: to_mono(np.atleast_2d(audio)) for name, audio in stems.items()}
        residual = to_mono(np.atleast_2d(mixture)) - sum(self.stems.values())
        self.sources = {**self.stems, "__rest__": residual}
        self.instruments = tuple(self.stems)

    def supports(self, instrument: str) -> bool:
        return instrument in self.stems

    def masks(
        self, batch: ClipBatch, queries: Mapping[str, torch.Tensor | None]
    ) -> dict[str, torch.Tensor]:
        magnitudes = {
            name: model_magnitude(
                np.stack([self._clip(audio, segment) for segment in batch.segments]), self.spec
            )
            for name, audio in self.sources.items()
        }
        total = sum(magnitudes.values()) + 1e-8
        for name in queries:
            if name not in self.stems:
                raise BadInputError(f"the oracle has no stem for {name!r}")
        return {name: magnitudes[name] / total for name in queries}

    def _clip(self, audio: np.ndarray, segment: Segment) -> np.ndarray:
        return universal_clip(excerpt(audio, segment.start, segment.end), self.spec)


# Passes of --shifts at most: 8 already costs eight times the model time for a frame or
# four each way.
MAX_SHIFTS = 8


def check_shifts(shifts: int) -> None:
    """Refuse a number of shifted passes that is not a whole number from 1 to
    :data:`MAX_SHIFTS`: each pass costs a full run of the model, and shifts further than a
    few frames no longer look at the same clip."""
    if not isinstance(shifts, int) or not 1 <= shifts <= MAX_SHIFTS:
        raise BadInputError(
            f"shifts must be a whole number of passes from 1 to {MAX_SHIFTS}, not {shifts}"
        )


def shift_offsets(shifts: int) -> list[int]:
    """Frame offsets of ``shifts`` passes, nearest first: 0, +1, -1, +2, -2, ..."""
    return [(-1) ** (index + 1) * ((index + 1) // 2) for index in range(shifts)]


class ShiftedSeparator:
    """Another separator run ``shifts`` times on every clip, each time shifted by whole
    STFT frames (0, +1, -1, ...; the clip wraps around, as a bar of a loop does), its
    masks shifted back and averaged: test-time augmentation, like demucs's ``--shifts``.

    Why: the U-Net sees the clip on a grid 16 frames coarse at its bottleneck, so its mask
    for a note presumably depends a little on where the note falls on that grid, and
    averaging evens that out. Three passes, chosen on the 12 validation songs and on 8
    songs of new training seeds (aligned clips): bongo +0.46 / +0.37 dB SI-SDRi, güira
    +0.40 / +0.10, bass +0.11 / +0.05, guitar -0.04 / -0.02, for three times the model
    time; reaching ±2 frames (five passes) lost 0.38 dB on the guitar. On the held-out
    songs (full song) only the bongo gained: +0.20 dB, the others within 0.05. It only
    makes sense for separators whose masks come from the clips' heatmaps (the oracle
    reads true stems).
    """

    def __init__(self, separator: Separator, shifts: int) -> None:
        check_shifts(shifts)
        self.separator = separator
        self.shifts = shifts
        self.spec = separator.spec

    @property
    def instruments(self) -> tuple[str, ...]:
        return self.separator.instruments

    def supports(self, instrument: str) -> bool:
        return self.separator.supports(instrument)

    def masks(
        self, batch: ClipBatch, queries: Mapping[str, torch.Tensor | None]
    ) -> dict[str, torch.Tensor]:
        summed: dict[str, torch.Tensor] = {}
        for offset in shift_offsets(self.shifts):
            shifted = ClipBatch(
                batch.magnitudes.roll(offset, dims=-1),
                batch.heatmaps.roll(offset, dims=-1),
                batch.segments,
                batch.sample_rate,
            )
            for name, mask in self.separator.masks(shifted, queries).items():
                back = mask.roll(-offset, dims=-1)
                summed[name] = summed[name] + back if name in summed else back
        return {name: mask / self.shifts for name, mask in summed.items()}


def with_shifts(separator: Separator, shifts: int) -> Separator:
    """``separator`` itself for one pass, else wrapped in a :class:`ShiftedSeparator`."""
    return separator if shifts == 1 else ShiftedSeparator(separator, shifts)
