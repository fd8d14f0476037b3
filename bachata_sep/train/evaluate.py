"""Evaluation on held-out rendered songs: our models next to the mixture, a plain DSP
baseline and the oracle ideal ratio mask, per instrument, in SI-SDR and SI-SDRi.

Settings, as the models are used:
- *aligned clips*: the songs' true bars, stretched to the universal clip, scored in the
  model domain (what the model itself achieves);
- *full song*: the whole pipeline (beat tracking → clips → stretch → masks → back to the
  song's own rate and length), scored on the complete stereo stem, in SI-SDR and also in
  SDR, which counts a stem at the wrong level as error (what a listener would notice);
- *full song, per bar*: the same stems scored on the aligned clips' bars and averaged
  like them, so that its gap to the aligned clips is the pipeline's alone (a whole-song
  SI-SDR weighs loud bars more than a mean over bars does).

The test songs use unseen seeds and the test timbres only (the held-out procedural
presets and the MuseScore General SoundFont), so no model has heard them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from ..api import separate
from ..audio import to_mono
from ..clips import Segment, excerpt
from ..data.song import Song, render_song
from ..data.timbres import SEED_RANGES
from ..plots import draw_heatmap
from ..separators import BaselineSeparator, ClipBatch, OracleSeparator, Separator
from ..spec import ClipSpec
from ..transforms import heatmap, istft, model_magnitude, stft, universal_clip
from .cards import SETTINGS
from .metrics import sdr, si_sdr

# Timbre sources of the fixed song sets per split: MuseScore is test-only.
SPLIT_SOURCES = {"valid": ("mixed", "procedural"), "test": ("musescore", "mixed", "procedural")}
FIRST_SEED_OFFSET = 500
FIRST_TEST_SEED = SEED_RANGES["test"].start + FIRST_SEED_OFFSET
METHODS = ("mixture", "baseline", "model", "oracle")
# Bars where the target is this far below its own loudest bar are silent for it: SI-SDR
# of a silent reference means nothing, so those bars are not scored.
SILENT_BAR_DB = -30.0
# Bars where the target already is the mixture (others 30 dB below it, e.g. a guitar-alone
# intro) pose no separation problem; their near-infinite mixture SI-SDR would swamp means.
TRIVIAL_BAR_DB = 30.0
QUICK_CHECK_SECONDS = 16.0


@dataclass(frozen=True)
class HeldOutSong:
    seed: int
    source: str


def held_out_songs(count: int, split: str = "test") -> list[HeldOutSong]:
    """A fixed set of songs no model trained on: ``count`` seeds of the split cycling over
    its timbre sources. The test set reports; the validation set is for choices."""
    first, sources = SEED_RANGES[split].start + FIRST_SEED_OFFSET, SPLIT_SOURCES[split]
    return [HeldOutSong(first + index, sources[index % len(sources)]) for index in range(count)]


def evaluate(
    separator: Separator,
    instruments: Iterable[str],
    songs: int = 6,
    duration: float = 30.0,
    full_song: bool = True,
) -> dict:
    """Mean SI-SDR per method and instrument, and SI-SDRi over the mixture, for every
    setting; the model's share of the oracle's improvement; full-song SDR per method."""
    instruments = tuple(instruments)
    clip_scores: dict = defaultdict(lambda: defaultdict(list))
    bar_scores: dict = defaultdict(lambda: defaultdict(list))
    song_scores: dict = defaultdict(lambda: defaultdict(list))
    song_sdrs: dict = defaultdict(lambda: defaultdict(list))
    for held_out in tqdm(held_out_songs(songs), desc="Evaluating", unit="song"):
        song = render_song(held_out.seed, held_out.source, duration)
        separators = methods_for(separator, song)
        for name, values in score_clips(song, separators, instruments).items():
            for method, scores in values.items():
                clip_scores[name][method].extend(scores)
        if full_song:
            for method, method_separator in separators.items():
                stems = full_song_stems(song, method_separator, instruments)
                for name, values in score_song_bars(song, stems, instruments).items():
                    bar_scores[name][method].extend(values)
                for name in instruments:
                    song_scores[name][method].append(
                        float(si_sdr(song.stems[name], stems[name]).mean())
                    )
                    song_sdrs[name][method].append(float(sdr(song.stems[name], stems[name]).mean()))
    report = {
        "songs": [vars(s) for s in held_out_songs(songs)],
        "duration_s": duration,
        "metric": "SI-SDR (dB), mean over scored items",
        **{setting: {} for setting in SETTINGS},
    }
    results = {"aligned_clips": clip_scores, "full_song_bars": bar_scores, "full_song": song_scores}
    for setting, scores in results.items():
        for name in instruments:
            if name in scores:
                report[setting][name] = summarise(scores[name])
    for name, values in song_sdrs.items():
        means = {method: float(np.mean(scores)) for method, scores in values.items()}
        report["full_song"][name]["sdr"] = means
    return report


def summarise(scores: dict[str, list[float]]) -> dict:
    """Means, improvements over the mixture, and the model's share of the oracle's gain."""
    means = {method: float(np.mean(values)) for method, values in scores.items()}
    summary = {"items": len(scores["mixture"]), "si_sdr": means}
    summary["si_sdri"] = {
        method: means[method] - means["mixture"] for method in METHODS if method != "mixture"
    }
    oracle_gain = summary["si_sdri"]["oracle"]
    summary["model_share_of_oracle"] = (
        summary["si_sdri"]["model"] / oracle_gain if oracle_gain > 0 else float("nan")
    )
    return summary


def score_clips(
    song: Song, separators: dict[str, Separator | None], instruments: tuple[str, ...]
) -> dict[str, dict[str, list[float]]]:
    """SI-SDR of every method on every scored bar of the song, in the model domain."""
    spec = next(s for s in separators.values() if s is not None).spec
    universal, targets, segments = _aligned_bars(song, spec, instruments)
    spectrum = stft(torch.from_numpy(universal), spec.n_fft, spec.hop_length)
    magnitudes = spectrum.abs()
    batch = ClipBatch(magnitudes, heatmap(magnitudes), segments, song.sample_rate)
    scores: dict = defaultdict(lambda: defaultdict(list))
    masks = {
        method: (
            {name: torch.ones_like(magnitudes) for name in instruments}
            if method_separator is None
            else method_separator.masks(batch, dict.fromkeys(instruments))
        )
        for method, method_separator in separators.items()
    }
    for name in instruments:
        target = torch.from_numpy(targets[name])
        scored = scored_bars(targets[name], universal)
        for method, method_masks in masks.items():
            estimate = istft(
                spectrum * method_masks[name], spec.n_fft, spec.hop_length, spec.length
            )
            scores[name][method].extend(si_sdr(target[scored], estimate[scored]).tolist())
    return scores


def score_song_bars(
    song: Song, stems: dict[str, np.ndarray], instruments: tuple[str, ...]
) -> dict[str, list[float]]:
    """SI-SDR of full-song ``stems`` on the song's true bars, chosen by the rule of
    :func:`score_clips`, at the song's own rate: the pipeline's result measured like the
    aligned clips, so the two differ only in how the song was cut into bars."""
    bars = true_bars(song)
    length = min(bar.length for bar in bars)
    mixture = bar_excerpts(song.mixture, bars, length)
    scores = {}
    for name in instruments:
        target = bar_excerpts(song.stems[name], bars, length)
        scored = scored_bars(target, mixture)
        estimate = bar_excerpts(stems[name], bars, length)[scored]
        scores[name] = si_sdr(target[scored], estimate).tolist()
    return scores


def quick_check(separator: Separator, instruments: tuple[str, ...]) -> dict[str, float]:
    """Mean SI-SDRi of the model on the aligned bars of one short held-out MuseScore song:
    the figure each model card records (minus a margin) as the floor its test checks."""
    song = render_song(FIRST_TEST_SEED, "musescore", QUICK_CHECK_SECONDS)
    scores = score_clips(song, {"mixture": None, "model": separator}, instruments)
    return {
        name: float(np.mean(values["model"]) - np.mean(values["mixture"]))
        for name, values in scores.items()
    }


def results_figure(
    separator: Separator, instruments: tuple[str, ...], examples: int = 5, duration: float = 30.0
) -> Figure:
    """The research's figure: ground-truth vs predicted heatmaps, one row per example bar
    and two columns per instrument."""
    spec = separator.spec
    figure = Figure(figsize=(3.2 * len(instruments), 1.6 * examples), layout="constrained")
    axes = figure.subplots(examples, 2 * len(instruments), squeeze=False)
    for row, held_out in enumerate(held_out_songs(examples)):
        song = render_song(held_out.seed, held_out.source, duration)
        universal, targets, segments = _aligned_bars(song, spec, instruments)
        middle = len(segments) // 2
        magnitude = model_magnitude(universal[middle : middle + 1], spec)
        batch = ClipBatch(
            magnitude, heatmap(magnitude), segments[middle : middle + 1], song.sample_rate
        )
        masks = separator.masks(batch, dict.fromkeys(instruments))
        seconds = spec.length / spec.sample_rate
        for column, name in enumerate(instruments):
            truth = heatmap(model_magnitude(targets[name][middle], spec)).numpy()
            predicted = heatmap(masks[name][0] * magnitude[0]).numpy()
            for offset, (values, label) in enumerate(((truth, "truth"), (predicted, "predicted"))):
                cell = axes[row, 2 * column + offset]
                draw_heatmap(cell, values, seconds, spec.sample_rate / 2)
                cell.set_title(f"{name} {label}" if row == 0 else "", fontsize=9)
                cell.set_xlabel("")
                cell.set_ylabel("")
    return figure


def methods_for(separator: Separator, song: Song) -> dict[str, Separator | None]:
    """The methods compared, in the order reported; ``None`` is the mixture itself."""
    return {
        "mixture": None,
        "baseline": BaselineSeparator(separator.spec),
        "model": separator,
        "oracle": OracleSeparator(song.stems, song.mixture, separator.spec),
    }


def _aligned_bars(
    song: Song, spec: ClipSpec, instruments: tuple[str, ...]
) -> tuple[np.ndarray, dict[str, np.ndarray], list[Segment]]:
    """Every full bar of the song by its true downbeats: the mono mixture and each target,
    stretched to the universal clip."""
    segments = true_bars(song)
    mixture = to_mono(song.mixture)
    universal = np.stack([universal_clip(excerpt(mixture, s.start, s.end), spec) for s in segments])
    targets = {
        name: np.stack(
            [
                universal_clip(excerpt(to_mono(song.stems[name]), s.start, s.end), spec)
                for s in segments
            ]
        )
        for name in instruments
    }
    return universal, targets, segments


def true_bars(song: Song) -> list[Segment]:
    """Every full bar of the rendered song between its annotated downbeats."""
    downbeats = np.round(np.array(song.annotations["downbeats"]) * song.sample_rate).astype(int)
    downbeats = downbeats[downbeats <= song.mixture.shape[-1]]
    return [Segment(int(a), int(b)) for a, b in zip(downbeats[:-1], downbeats[1:], strict=True)]


def bar_excerpts(audio: np.ndarray, bars: list[Segment], length: int) -> np.ndarray:
    """The first ``length`` mono samples of every bar, stacked."""
    mono = to_mono(np.atleast_2d(audio))
    return np.stack([excerpt(mono, bar.start, bar.start + length) for bar in bars])


def scored_bars(targets: np.ndarray, mixtures: np.ndarray) -> np.ndarray:
    """Which bars are scored: the target is audible and not already the whole mixture."""
    return _audible(targets) & (si_sdr(targets, mixtures) < TRIVIAL_BAR_DB)


def _audible(clips: np.ndarray) -> np.ndarray:
    level = 10 * np.log10(np.square(clips).mean(axis=-1) + 1e-12)
    return level > level.max() + SILENT_BAR_DB


def full_song_stems(song: Song, separator: Separator | None, instruments: tuple[str, ...]) -> dict:
    if separator is None:
        return dict.fromkeys(instruments, song.mixture)
    return separate(
        song.mixture,
        sr=song.sample_rate,
        instruments=instruments,
        separator=separator,
        progress=False,
    )
