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
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .data.song import Song, render_song
from .data.timbres import SAMPLES, SEED_RANGES, SOUNDFONTS, Timbre, is_held_out
from .evaluate import bar_excerpts, full_song_stems, methods_for, scored_bars, true_bars
from .metrics import sdr, si_sdr
from .separators import Separator
from .spec import INSTRUMENTS

SYNTHETIC_FAMILIES = ("procedural", *SOUNDFONTS)
FIRST_SEED = SEED_RANGES["test"].start + 700
SCORED_METHODS = ("baseline", "model", "oracle")


def families(samples: str | Path | None) -> dict[str, tuple[str, ...]]:
    """Every family to report and the instruments it can play: the synthetic ones play
    all four, a sample set those it has samples for."""
    found = {family: INSTRUMENTS for family in SYNTHETIC_FAMILIES}
    if samples is not None:
        from .data.samples import load_bank

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
) -> dict:
    """Per family (``only`` picks some), per instrument: SI-SDRi, SDR and median level
    error of the baseline, model and oracle, and whether the family is held out."""
    instruments = tuple(instruments)
    available = families(samples)
    chosen = list(only) if only is not None else list(available)
    report = {
        "songs_per_family": songs,
        "duration_s": duration,
        "randomised": randomise,
        "metrics": "full song; SI-SDRi and SDR (dB) mean over songs, level error (dB, "
        "estimate over truth) median over scored bars",
        "families": {},
    }
    progress = tqdm(total=len(chosen) * songs, desc="Evaluating families", unit="song")
    for family in chosen:
        playable = tuple(name for name in available[family] if name in instruments)
        scores: dict = defaultdict(lambda: defaultdict(list))
        for index in range(songs):
            song = render_family_song(family, index, duration, samples, randomise, playable)
            for name, values in score_song(song, separator, playable).items():
                for key, value in values.items():
                    scores[name][key].extend(value)
            progress.update()
        report["families"][family] = {
            name: {
                **summarise_family(scores[name]),
                "held_out": _held_out(family, trained_on.get(name)),
            }
            for name in playable
        }
    progress.close()
    return report


def _held_out(family: str, sources: list[str] | None) -> bool | None:
    return None if sources is None else is_held_out(family, sources)


def score_song(
    song: Song, separator: Separator, instruments: tuple[str, ...]
) -> dict[str, dict[str, list[float]]]:
    """Whole-stem SI-SDR and SDR per method, and the level error of each scored bar."""
    bars = true_bars(song)
    length = min(bar.length for bar in bars)
    mixture_bars = bar_excerpts(song.mixture, bars, length)
    scores: dict = defaultdict(dict)
    for method, method_separator in methods_for(separator, song).items():
        stems = full_song_stems(song, method_separator, instruments)
        for name in instruments:
            truth = song.stems[name]
            scores[name][f"si_sdr/{method}"] = [float(si_sdr(truth, stems[name]).mean())]
            scores[name][f"sdr/{method}"] = [float(sdr(truth, stems[name]).mean())]
            truth_bars = bar_excerpts(truth, bars, length)
            scored = scored_bars(truth_bars, mixture_bars)
            estimate = bar_excerpts(stems[name], bars, length)[scored]
            scores[name][f"level/{method}"] = level_error_db(truth_bars[scored], estimate).tolist()
    return scores


def level_error_db(truth: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """How many dB louder each estimate is than its truth (energy over the last axis)."""
    return 10 * np.log10(_energy(estimate) / _energy(truth))


def _energy(clips: np.ndarray) -> np.ndarray:
    return np.maximum(np.sum(np.square(clips, dtype=np.float64), axis=-1), 1e-12)


def summarise_family(scores: Mapping[str, list[float]]) -> dict:
    """Means over songs (SI-SDRi, SDR) and the median over bars (level error)."""
    mixture = float(np.mean(scores["si_sdr/mixture"]))
    return {
        "songs": len(scores["si_sdr/mixture"]),
        "bars": len(scores["level/model"]),
        "mixture_si_sdr": mixture,
        "si_sdri": {m: float(np.mean(scores[f"si_sdr/{m}"])) - mixture for m in SCORED_METHODS},
        "sdr": {m: float(np.mean(scores[f"sdr/{m}"])) for m in SCORED_METHODS},
        "level_error_db": {m: float(np.median(scores[f"level/{m}"])) for m in SCORED_METHODS},
    }


def table(report: dict) -> str:
    """The report as text: one row per family and instrument."""
    lines = [
        "SI-SDRi / SDR / median level error (dB): baseline | model | oracle; "
        "held out = no timbre of the family in the model's training data",
        "family               instrument  held out  SI-SDRi b/m/o        "
        "SDR b/m/o            level b/m/o",
    ]
    for family, by_instrument in report["families"].items():
        for name, summary in by_instrument.items():
            cells = [
                " ".join(f"{summary[metric][method]:6.1f}" for method in SCORED_METHODS)
                for metric in ("si_sdri", "sdr", "level_error_db")
            ]
            held = {True: "yes", False: "no", None: "?"}[summary["held_out"]]
            lines.append(f"{family:<20} {name:<10}  {held:<8}  " + "  ".join(cells))
    return "\n".join(lines)
