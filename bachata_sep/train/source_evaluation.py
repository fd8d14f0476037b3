"""Evaluation per timbre *family*, on families training never heard.

Held-out songs from the generator a model trained on are not held out: our models reached
76-86 % of the oracle on them and fell to or below a DSP filter on real recordings. A
family (a SoundFont, the procedural presets, one set of real recorded samples) is the
unit of generalisation here: each family's songs play the instruments it has from that
family and the rest from the test split's timbres, and a family is *held out* for a model
only if none of its recordings was in that model's training data (``training.sources`` of
its ``metrics.json``; MuseScore General shares FluidR3's; leave-one-source-out: to measure
a source, train without it).

Per family and instrument it reports, for the DSP baseline, the model and the oracle ratio
mask through the full pipeline: SI-SDRi (mean over songs), SDR (mean over songs; it counts
a stem at the wrong level as error) and the median stem level error over the scored bars
(dB, estimate over truth: −51 means a silent stem, however clean its SI-SDR).

With ``references`` the model is also scored with a query from the song itself instead of
its default reference: the target's own isolated stem (a reference from elsewhere in the
same recording), and a span of the mixture, the two bars where the target is loudest
against the rest (what a user would mark: other instruments play there too); and the
automatic second pass, ``refine``, whose query is the first pass's cleanest bars.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..api import separate
from ..clips import Segment
from ..data.song import Song, render_song
from ..data.timbres import SAMPLES, SEED_RANGES, SOUNDFONTS, Timbre, is_held_out
from ..separators import Separator
from ..spec import INSTRUMENTS
from .evaluate import bar_excerpts, full_song_stems, methods_for, scored_bars, true_bars
from .metrics import sdr, si_sdr

SYNTHETIC_FAMILIES = ("procedural", *SOUNDFONTS)
FIRST_SEED = SEED_RANGES["test"].start + 700
SCORED_METHODS = ("baseline", "model", "oracle")
REFERENCE_METHODS = ("stem-reference", "span-reference", "refine")
SPAN_BARS = 2


def families(samples: str | Path | None) -> dict[str, tuple[str, ...]]:
    """Every family to report and the instruments it can play: the synthetic ones play
    all four, a sample set those it has samples for."""
    found = {family: INSTRUMENTS for family in SYNTHETIC_FAMILIES}
    if samples is not None:
        from ..data.samples import load_bank

        bank = load_bank(str(samples))
        for set_name in sorted({entry.set_name for entry in bank.entries}):
            playable = tuple(name for name in INSTRUMENTS if set_name in bank.sets(name))
            if playable:
                found[set_name] = playable
    return found


def render_family_song(
    family: str,
    index: int,
    duration: float,
    samples: str | Path | None,
    randomise: bool,
    instruments: tuple[str, ...],
) -> Song:
    """Song ``index`` of a family: a synthetic family is the song's whole source; a sample
    set plays ``instruments`` and the test split's timbres play the rest."""
    seed = FIRST_SEED + index
    if family in SYNTHETIC_FAMILIES:
        return render_song(seed, family, duration, samples=samples, randomise=randomise)
    timbres = {name: Timbre(name, SAMPLES, family) for name in instruments}
    return render_song(
        seed, "mixed", duration, timbres=timbres, samples=samples, randomise=randomise
    )


def training_sources(folders: Mapping[str, Path]) -> dict[str, list[str] | None]:
    """The families each instrument's model (in its checkpoint folder) trained on, from its
    card's facts; None where the card does not say."""
    sources = {}
    for name, folder in folders.items():
        path = Path(folder) / "metrics.json"
        facts = json.loads(path.read_text()) if path.is_file() else {}
        sources[name] = facts.get("training", {}).get("sources")
    return sources


def evaluate_sources(
    separator: Separator,
    instruments: Iterable[str],
    trained_on: Mapping[str, list[str] | None],
    samples: str | Path | None = None,
    songs: int = 3,
    duration: float = 30.0,
    randomise: bool = True,
    only: Iterable[str] | None = None,
    references: bool = False,
) -> dict:
    """Per family (``only`` picks some), per instrument: SI-SDRi, SDR and median level
    error of the baseline, model and oracle (and of the model with references from the
    song itself), and whether the family is held out."""
    instruments = tuple(instruments)
    available = families(samples)
    chosen = list(only) if only is not None else list(available)
    plays = {
        family: tuple(name for name in available[family] if name in instruments)
        for family in chosen
    }
    # A family with none of the models' instruments (a model folder for the guitar alone
    # and a set of percussion samples) has nothing to score: no song is rendered for it.
    plays = {family: playable for family, playable in plays.items() if playable}
    report = {
        "songs_per_family": songs,
        "duration_s": duration,
        "randomised": randomise,
        "methods": [*SCORED_METHODS, *(REFERENCE_METHODS if references else ())],
        "metrics": "full song; SI-SDRi and SDR (dB) mean over songs, level error (dB, "
        "estimate over truth) median over scored bars",
        "families": {},
    }
    progress = tqdm(total=len(plays) * songs, desc="Evaluating families", unit="song")
    for family, playable in plays.items():
        scores: dict = defaultdict(lambda: defaultdict(list))
        for index in range(songs):
            song = render_family_song(family, index, duration, samples, randomise, playable)
            for name, values in score_song(song, separator, playable, references).items():
                for key, value in values.items():
                    scores[name][key].extend(value)
            progress.update()
        report["families"][family] = {
            name: {
                **summarise_family(scores[name], report["methods"]),
                "held_out": _held_out(family, trained_on.get(name)),
            }
            for name in playable
        }
    progress.close()
    return report


def _held_out(family: str, sources: list[str] | None) -> bool | None:
    return None if sources is None else is_held_out(family, sources)


def score_song(
    song: Song, separator: Separator, instruments: tuple[str, ...], references: bool = False
) -> dict[str, dict[str, list[float]]]:
    """Whole-stem SI-SDR and SDR per method, and the level error of each scored bar."""
    bars = true_bars(song)
    length = min(bar.length for bar in bars)
    mixture_bars = bar_excerpts(song.mixture, bars, length)
    scores: dict = defaultdict(dict)
    runs = {
        method: full_song_stems(song, method_separator, instruments)
        for method, method_separator in methods_for(separator, song).items()
    }
    if references:
        runs |= {
            method: separate(
                song.mixture,
                sr=song.sample_rate,
                instruments=instruments,
                references=song_references(song, method, instruments, bars),
                separator=separator,
                progress=False,
                refine=method == "refine",
            )
            for method in REFERENCE_METHODS
        }
    for method, stems in runs.items():
        for name in instruments:
            truth = song.stems[name]
            scores[name][f"si_sdr/{method}"] = [float(si_sdr(truth, stems[name]).mean())]
            scores[name][f"sdr/{method}"] = [float(sdr(truth, stems[name]).mean())]
            truth_bars = bar_excerpts(truth, bars, length)
            scored = scored_bars(truth_bars, mixture_bars)
            estimate = bar_excerpts(stems[name], bars, length)[scored]
            scores[name][f"level/{method}"] = level_error_db(truth_bars[scored], estimate).tolist()
    return scores


def song_references(
    song: Song, method: str, instruments: tuple[str, ...], bars: list[Segment]
) -> dict[str, np.ndarray | tuple[float, float]]:
    """Each instrument's query from the song itself: its isolated stem (``stem-reference``),
    or the span of :data:`SPAN_BARS` bars where it is loudest against the mixture
    (``span-reference``); none for ``refine``, whose second pass finds its own."""
    if method == "refine":
        return {}
    if method == "stem-reference":
        return {name: song.stems[name] for name in instruments}
    mixture = bar_excerpts(song.mixture, bars, min(bar.length for bar in bars))
    rate = song.sample_rate
    spans = {}
    for name in instruments:
        target = bar_excerpts(song.stems[name], bars, mixture.shape[-1])
        share = level_error_db(mixture, target)
        window = np.convolve(share, np.ones(SPAN_BARS), mode="valid")
        first = int(np.argmax(window))
        last = first + SPAN_BARS - 1
        spans[name] = (bars[first].start / rate, bars[last].end / rate)
    return spans


def level_error_db(truth: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """How many dB louder each estimate is than its truth (energy over the last axis)."""
    return 10 * np.log10(_energy(estimate) / _energy(truth))


def _energy(clips: np.ndarray) -> np.ndarray:
    return np.maximum(np.sum(np.square(clips, dtype=np.float64), axis=-1), 1e-12)


def summarise_family(
    scores: Mapping[str, list[float]], methods: Iterable[str] = SCORED_METHODS
) -> dict:
    """Means over songs (SI-SDRi, SDR) and the median over bars (level error); with
    reference methods, also each song's SI-SDRi change over the default reference, at
    worst (a reference must never ruin a stem)."""
    methods = tuple(methods)
    mixture = float(np.mean(scores["si_sdr/mixture"]))
    summary = {
        "songs": len(scores["si_sdr/mixture"]),
        "bars": len(scores["level/model"]),
        "mixture_si_sdr": mixture,
        "si_sdri": {m: float(np.mean(scores[f"si_sdr/{m}"])) - mixture for m in methods},
        "sdr": {m: float(np.mean(scores[f"sdr/{m}"])) for m in methods},
        "level_error_db": {m: float(np.median(scores[f"level/{m}"])) for m in methods},
    }
    default = np.array(scores["si_sdr/model"])
    worst = {
        m: float(np.min(np.array(scores[f"si_sdr/{m}"]) - default))
        for m in methods
        if m in REFERENCE_METHODS
    }
    return summary | ({"worst_song_change_db": worst} if worst else {})


def table(report: dict) -> str:
    """The report as text: one row per family and instrument."""
    with_references = set(REFERENCE_METHODS) <= set(report.get("methods", ()))
    lines = [
        "SI-SDRi / SDR / median level error (dB): baseline | model | oracle; "
        "held out = no timbre of the family in the model's training data",
        "family               instrument  held out  SI-SDRi b/m/o        "
        "SDR b/m/o            level b/m/o"
        + (
            "  SI-SDRi stem/span/refine  level stem/span/refine  worst song stem/span/refine"
            if with_references
            else ""
        ),
    ]
    for family, by_instrument in report["families"].items():
        for name, summary in by_instrument.items():
            cells = [
                " ".join(f"{summary[metric][method]:6.1f}" for method in SCORED_METHODS)
                for metric in ("si_sdri", "sdr", "level_error_db")
            ]
            if with_references:
                cells += [
                    " ".join(f"{values[method]:6.1f}" for method in REFERENCE_METHODS)
                    for values in (
                        summary["si_sdri"],
                        summary["level_error_db"],
                        summary["worst_song_change_db"],
                    )
                ]
            held = {True: "yes", False: "no", None: "?"}[summary["held_out"]]
            lines.append(f"{family:<20} {name:<10}  {held:<8}  " + "  ".join(cells))
    return "\n".join(lines)
