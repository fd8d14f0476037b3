"""The Python API that the CLI and the app both call: ``separate`` and ``beats``.

``separate`` runs the song pipeline: beat tracking → 4-beat clips on the downbeats →
FFT stretch to the universal clip → heatmap → separator masks → masks mapped back onto
the full-resolution STFT of every channel → crossfaded overlap-add at the input's own
sample rate and exact length. Clips go through in small batches, and a stretch of the
stems is final once no later clip's window reaches it, so ``separate_blocks`` can hand the
stems out piece by piece: memory stays bounded on long songs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .audio import AudioSource, as_audio, is_silent, to_mono
from .beat_tracking import BeatGrid, BeatTracker, LocalTempoTracker
from .clips import Segment, bar_segments, batched, crossfade_weights, excerpt
from .errors import BadInputError
from .pretrained import default_separator
from .queries import Span, is_span, query_heatmaps, span_heatmaps
from .refine import checked_queries, refined_queries
from .separators import ClipBatch, Separator, with_shifts
from .spec import BEATS_PER_BAR, INSTRUMENTS
from .stretch import stretch_ratio
from .transforms import (
    full_resolution_stft_size,
    istft,
    stft,
    unstretch_mask,
)

BATCH_SIZE = 8
# Neighbouring clips are blended over 20 ms centred on each bar line.
CROSSFADE_SECONDS = 0.02
# No bachata bar is shorter than 4 beats at 200 BPM: anything shorter cannot hold one.
MIN_SECONDS = BEATS_PER_BAR * 60 / 200
SILENT_SONG = "the song is silent (peak below -90 dBFS): there is nothing in it to work on"


def beats(
    audio_or_path: AudioSource, sr: int | None = None, tracker: BeatTracker | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Beat and downbeat times in seconds ("where is the 1")."""
    grid = track(audio_or_path, sr, tracker)
    return grid.beats, grid.downbeats


def track(
    audio_or_path: AudioSource, sr: int | None = None, tracker: BeatTracker | None = None
) -> BeatGrid:
    """The full beat grid, including whether it is a fixed-tempo fallback. Silence is
    refused, as :func:`separate` refuses it: a grid found in nothing would be made up."""
    samples, sample_rate, _ = as_audio(audio_or_path, sr)
    if is_silent(samples):
        raise BadInputError(SILENT_SONG)
    return (tracker or LocalTempoTracker())(to_mono(samples), sample_rate)


def separate(
    audio_or_path: AudioSource,
    sr: int | None = None,
    instruments: str | Sequence[str] = INSTRUMENTS,
    references: Mapping[str, AudioSource | Span] | None = None,
    separator: Separator | None = None,
    tracker: BeatTracker | None = None,
    grid: BeatGrid | None = None,
    batch_size: int = BATCH_SIZE,
    progress: bool = True,
    shifts: int = 1,
    refine: bool = False,
) -> dict[str, np.ndarray]:
    """Separate ``instruments`` from a song; each stem has the input's rate, channels and
    length (``(channels, samples)``, or 1-D when a 1-D array was given).

    ``references`` maps an instrument to a clip of it (path or array at ``sr``), or to a
    ``(start, end)`` span of this song in seconds (its bars there, e.g. a guitar intro),
    that replaces the separator's default query. Without ``separator`` the best available one
    is used: trained weights from the Hub or the shipped checkpoints, else
    :class:`~bachata_sep.errors.MissingWeightsError` (see :mod:`bachata_sep.pretrained`).
    ``grid`` takes beats already tracked for this song (e.g. by :func:`track` for a
    display), so they are not tracked twice. ``shifts``
    above 1 runs the separator that many times on every clip, shifted by a frame each way,
    and averages the masks (:class:`~bachata_sep.separators.ShiftedSeparator`; 3 gains
    the bongo 0.2 dB on the held-out songs, for three times the model time). ``refine``
    runs a first pass and takes each instrument's strongest, cleanest bars of this song
    as its query (:mod:`bachata_sep.refine`), for one more run of the model.
    """
    song, queries, separator, was_1d = _prepare(
        audio_or_path,
        sr,
        _instrument_names(instruments),
        references,
        separator,
        tracker,
        grid,
        shifts,
        refine,
        batch_size,
    )
    # The blocks cover every sample exactly once, so the stems need no zeroing.
    stems = {name: np.empty_like(song.samples) for name in queries}
    for start, block in _overlap_add(song, queries, separator, batch_size, progress):
        for name, audio in block.items():
            stems[name][:, start : start + audio.shape[-1]] = audio
    return {name: stem[0] if was_1d else stem for name, stem in stems.items()}


def separate_blocks(
    audio_or_path: AudioSource,
    sr: int | None = None,
    instruments: str | Sequence[str] = INSTRUMENTS,
    references: Mapping[str, AudioSource | Span] | None = None,
    separator: Separator | None = None,
    tracker: BeatTracker | None = None,
    grid: BeatGrid | None = None,
    batch_size: int = BATCH_SIZE,
    progress: bool = True,
    shifts: int = 1,
    refine: bool = False,
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """:func:`separate` piece by piece: ``(start sample, {instrument: (channels, n)
    block})`` in song order, each block final, together covering the song once.

    A caller that writes the blocks out (the command line does) never holds a whole stem:
    four float32 stems of a 10-minute stereo song are 850 MB. Bad input is refused by this
    call, before the first block.
    """
    song, queries, separator, _ = _prepare(
        audio_or_path,
        sr,
        _instrument_names(instruments),
        references,
        separator,
        tracker,
        grid,
        shifts,
        refine,
        batch_size,
    )
    return _overlap_add(song, queries, separator, batch_size, progress)


def _prepare(
    audio_or_path: AudioSource,
    sr: int | None,
    instruments: Sequence[str],
    references: Mapping[str, AudioSource | Span] | None,
    separator: Separator | None,
    tracker: BeatTracker | None,
    grid: BeatGrid | None,
    shifts: int,
    refine: bool = False,
    batch_size: int = BATCH_SIZE,
) -> tuple[_Song, dict[str, torch.Tensor | None], Separator, bool]:
    """The song cut into bars, the queries, the separator and whether the song was 1-D;
    everything that can refuse the request happens here, before any separation."""
    samples, sample_rate, was_1d = as_audio(audio_or_path, sr)
    separator = with_shifts(separator or default_separator().separator, shifts)
    tracker = tracker or LocalTempoTracker()
    references = references or {}
    _check_request(samples, sample_rate, instruments, references, separator)
    mono = to_mono(samples)
    grid = grid or tracker(mono, sample_rate)
    bar_seconds = grid.beat_period * BEATS_PER_BAR
    if samples.shape[-1] < bar_seconds * sample_rate:
        raise BadInputError(
            f"the song is {samples.shape[-1] / sample_rate:.2f} s long, shorter than one "
            f"4-beat bar ({bar_seconds:.2f} s at {60 / grid.beat_period:.0f} BPM)"
        )
    segments = bar_segments(grid.downbeats, sample_rate, samples.shape[-1], bar_seconds)
    queries: dict[str, torch.Tensor | None] = dict.fromkeys(instruments)
    for name, reference in references.items():
        queries[name] = (
            span_heatmaps(mono, sample_rate, segments, reference, separator.spec)
            if is_span(reference)
            else query_heatmaps(reference, sr, separator.spec, tracker, bar_seconds)
        )
    song = _Song(samples, sample_rate, segments)
    if refine:
        queries = refined_queries(
            song.mono_excerpt, segments, sample_rate, queries, separator, batch_size
        )
    queries = checked_queries(
        song.mono_excerpt, segments, sample_rate, queries, separator, batch_size
    )
    return song, queries, separator, was_1d


def _overlap_add(
    song: _Song,
    queries: Mapping[str, torch.Tensor | None],
    separator: Separator,
    batch_size: int,
    progress: bool,
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Separate batch after batch into a buffer that starts at the first sample still
    open; hand out its front as soon as no later clip's window reaches it."""
    channels, n_samples = song.samples.shape
    batches = list(batched(song.segments, batch_size))
    done = 0
    carried = np.zeros((len(queries), channels, 0), dtype=np.float32)
    for index, batch_segments in enumerate(
        tqdm(batches, desc="Separating", unit="batch", disable=not progress)
    ):
        end = min(song.window(batch_segments[-1])[1], n_samples)
        buffer = np.zeros((len(queries), channels, end - done), dtype=np.float32)
        buffer[..., : carried.shape[-1]] = carried
        _separate_batch(song, batch_segments, queries, separator, buffer, done)
        last = index + 1 == len(batches)
        final = n_samples if last else max(song.window(batches[index + 1][0])[0], done)
        yield done, dict(zip(queries, buffer[..., : final - done], strict=True))
        carried, done = buffer[..., final - done :], final


def _check_request(
    samples: np.ndarray,
    sample_rate: int,
    instruments: Sequence[str],
    references: Mapping[str, AudioSource | Span],
    separator: Separator,
) -> None:
    if not instruments:
        raise BadInputError("choose at least one instrument to separate")
    for name in [*instruments, *references]:
        if not separator.supports(name):
            raise BadInputError(f"this separator has no model for {name!r}")
    for name in references:
        if name not in instruments:
            raise BadInputError(f"a reference was given for {name!r}, which is not being separated")
    if samples.shape[-1] < MIN_SECONDS * sample_rate:
        raise BadInputError(
            f"the song is {samples.shape[-1] / sample_rate:.2f} s long; at least one 4-beat bar "
            f"({MIN_SECONDS:.1f} s or more) is needed"
        )
    if is_silent(samples):
        raise BadInputError(SILENT_SONG)


def _instrument_names(instruments: str | Sequence[str]) -> Sequence[str]:
    """One instrument may be named alone: ``"bass"`` is ``["bass"]``, not four letters."""
    return (instruments,) if isinstance(instruments, str) else instruments


@torch.inference_mode()
def _separate_batch(
    song: _Song,
    batch_segments: list[Segment],
    queries: Mapping[str, torch.Tensor | None],
    separator: Separator,
    stems: np.ndarray,
    stems_start: int,
) -> None:
    """Masks for a batch of clips, applied to each clip's full-resolution STFT and added
    with crossfade weights into ``stems`` (instruments, channels, samples), whose first
    sample is the song's sample ``stems_start``."""
    spec = separator.spec
    batch = ClipBatch.cut(song.mono_excerpt, batch_segments, song.sample_rate, spec)
    masks = separator.masks(batch, queries)
    stacked = torch.stack([masks[name] for name in queries])
    n_fft, hop_length = song.n_fft, song.hop_length
    for index, segment in enumerate(batch_segments):
        window_start, window_end = song.window(segment)
        window = excerpt(song.samples, window_start, window_end)
        spectrum = stft(torch.from_numpy(window), n_fft, hop_length)
        ratio = stretch_ratio(segment.length, song.sample_rate, spec.length, spec.sample_rate)
        full_masks = unstretch_mask(
            stacked[:, index],
            spec,
            ratio,
            song.sample_rate,
            n_fft,
            hop_length,
            spectrum.shape[-1],
            offset=n_fft,
        )
        estimates = istft(spectrum * full_masks[:, None], n_fft, hop_length, window.shape[-1])
        weights = song.crossfade(segment, window_start, window.shape[-1])
        inside = slice(max(window_start, 0), min(window_end, song.samples.shape[-1]))
        local = slice(inside.start - window_start, inside.stop - window_start)
        target = slice(inside.start - stems_start, inside.stop - stems_start)
        stems[..., target] += (estimates.numpy() * weights)[..., local]


@dataclass
class _Song:
    """The song being separated, with what every batch needs from it computed once."""

    samples: np.ndarray
    sample_rate: int
    segments: list[Segment]

    def __post_init__(self) -> None:
        self.half_fade = round(CROSSFADE_SECONDS / 2 * self.sample_rate)
        self.n_fft, self.hop_length = full_resolution_stft_size(self.sample_rate)

    def window(self, segment: Segment) -> tuple[int, int]:
        """The samples a clip's full-resolution STFT covers: its bar and one STFT window
        of context either side (possibly reaching outside the song)."""
        return segment.start - self.n_fft, segment.end + self.n_fft

    def mono_excerpt(self, segment: Segment) -> np.ndarray:
        """Downmixed clip by clip: a whole-song mono copy would cost memory on long songs."""
        return to_mono(excerpt(self.samples, segment.start, segment.end))

    def crossfade(self, segment: Segment, window_start: int, window_length: int) -> np.ndarray:
        return crossfade_weights(
            segment,
            window_start,
            window_length,
            self.half_fade,
            fade_in=segment is not self.segments[0],
            fade_out=segment is not self.segments[-1],
        )
