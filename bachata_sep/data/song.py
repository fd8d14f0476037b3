"""A whole synthetic bachata song: arrangement → humanised notes → parts → mix → exact stems.

The four targets are stems of their own; the interferers (voice, keys, extra percussion)
share the ``other`` stem, so the stems always sum to the mixture. Annotations (beats,
downbeats, sections, chords, tempo, key, timbres) come from the score, so they are exact.

A *randomised* song (domain randomisation) is drawn far wider, as real records vary:
tempo 100-170 BPM, swing, looser timing, bass lines from E1 up to G3 and guitars from the
rhythm register to high requinto runs, presets jittered by ±50 %, each part through its
own random effect chain (``effects``), levels from 12 dB under to 6 dB over the plain mix,
and the finished mixture through a codec or band limit (then, and only then, the stems no
longer sum to the mixture exactly: ``annotations["mixture_effects"]`` says so). Its draws
come from a second random stream, so the plain song of a seed stays what it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from ..audio import write_audio
from ..errors import BadInputError
from ..spec import BEATS_PER_BAR, INSTRUMENTS
from . import effects, procedural, singer, soundfont
from .mix import (
    add_reverb,
    compressor_gain,
    db_to_gain,
    equalise,
    pan,
    random_eq,
    reverb_impulse,
)
from .patterns import INTERFERER_PARTS, PARTS, Arrangement, Note, arrange
from .tempo import TempoCurve, drift_curve
from .timbres import SAMPLES, Timbre, choose_timbres, split_of_seed

if TYPE_CHECKING:
    from .samples import SampleBank

SAMPLE_RATE = 44_100
OTHER = "other"
STEMS = (*INSTRUMENTS, OTHER)
MIN_DURATION = 5.0
# Beyond ±50 % a preset's filters leave the audio band (the bright güira's 14 kHz edge).
MAX_TIMBRE_SPREAD = 0.5
TAIL_SECONDS = 2.5
# Per part: loudness (dB RMS while playing), pan range, reverb send range, timing sigma (s).
LEVELS_DB = {
    "bongo": -20,
    "guira": -25,
    "bass": -17,
    "guitar": -20,
    "voice": -20,
    "keys": -27,
    "percussion": -27,
}
PAN_RANGE = {
    "bongo": 0.35,
    "guira": 0.5,
    "bass": 0.1,
    "guitar": 0.45,
    "voice": 0.1,
    "keys": 0.4,
    "percussion": 0.6,
}
SEND_RANGE = {
    "bongo": (0.1, 0.3),
    "guira": (0.1, 0.3),
    "bass": (0.0, 0.1),
    "guitar": (0.15, 0.4),
    "voice": (0.25, 0.5),
    "keys": (0.3, 0.6),
    "percussion": (0.15, 0.4),
}
TIMING_SIGMA = {
    "bongo": 0.005,
    "guira": 0.006,
    "bass": 0.007,
    "guitar": 0.007,
    "voice": 0.015,
    "keys": 0.01,
    "percussion": 0.006,
}
# Domain randomisation (``randomise=True``): a second random stream, tempo range, level
# offsets, the longest swing (a fraction of a beat by which off-beat eighths land late),
# timing looseness, and register moves (octaves, folded back into each part's range).
RANDOMISE_STREAM = 25
WIDE_TEMPO_RANGE = (100.0, 170.0)
WIDE_LEVEL_DB = (-12.0, 6.0)
MAX_SWING = 0.1
TIMING_SCALE = (0.5, 2.0)
REGISTER_SHIFTS = {"bass": (0, 0, 12), "guitar": (-12, 0, 0, 12)}
REGISTER_RANGES = {"bass": (28, 55), "guitar": (40, 91)}  # E1-G3; E2 up to requinto G6
AUDIO_FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}
# Vorbis at 0.3 keeps the stem sum within about -23 dB of the mixture at ~3 MB per 28 s song.
COMPRESSION = {"flac": 1.0, "ogg": 0.3}


@dataclass
class Song:
    sample_rate: int
    mixture: np.ndarray  # (2, samples) float32
    stems: dict[str, np.ndarray]  # STEMS → (2, samples), summing to the mixture
    annotations: dict


def humanise(
    notes: list[Note],
    arrangement: Arrangement,
    first_downbeat: float,
    sigma: float,
    rng: np.random.Generator,
    swing: float = 0.0,
) -> list[Note]:
    """Beats → seconds, with a player's small timing drift and velocity variation;
    ``swing`` (a fraction of a beat) delays off-beat eighths, and sixteenths by half."""
    beat = arrangement.beat_seconds
    lay_back = rng.normal(0, 0.003)
    jitter = np.clip(rng.normal(0, sigma, len(notes)), -2.5 * sigma, 2.5 * sigma) + lay_back
    accents = np.clip(rng.normal(1, 0.07, len(notes)), 0.8, 1.2)
    return [
        Note(
            first_downbeat + (note.start + swing_delay(note.start, swing)) * beat + float(shift),
            note.duration * beat,
            note.pitch,
            float(min(1.0, note.velocity * accent)),
            note.articulation,
        )
        for note, shift, accent in zip(notes, jitter, accents, strict=True)
    ]


def swing_delay(position: float, swing: float) -> float:
    """How late (in beats) a note at ``position`` (beats) lands under ``swing``."""
    fraction = position % 1.0
    if abs(fraction - 0.5) < 1e-6:
        return swing
    return swing / 2 if min(abs(fraction - 0.25), abs(fraction - 0.75)) < 1e-6 else 0.0


def warp_notes(notes: list[Note], curve: TempoCurve) -> list[Note]:
    """``notes`` played along ``curve``: starts and ends both move, so a slower
    passage also holds its notes longer."""
    starts = curve.warp([note.start for note in notes])
    ends = curve.warp([note.start + note.duration for note in notes])
    return [
        Note(float(start), float(end - start), note.pitch, note.velocity, note.articulation)
        for note, start, end in zip(notes, starts, ends, strict=True)
    ]


def fold_register(notes: list[Note], shift: int, low: int, high: int) -> list[Note]:
    """``notes`` moved by ``shift`` semitones, each folded by octaves into [low, high]."""
    moved = []
    for note in notes:
        pitch = note.pitch + shift
        while pitch > high:
            pitch -= 12
        while pitch < low:
            pitch += 12
        moved.append(Note(note.start, note.duration, pitch, note.velocity, note.articulation))
    return moved


def render_notes(
    part: str,
    notes: list[Note],
    timbre: Timbre,
    length: int,
    rng: np.random.Generator,
    spread: float,
    bank: SampleBank | None = None,
) -> np.ndarray:
    if timbre.source == "procedural":
        return procedural.render_part(part, notes, timbre.preset, SAMPLE_RATE, length, rng, spread)
    if timbre.source in singer.SOURCES:
        return singer.render_part(notes, timbre.source, timbre.preset, SAMPLE_RATE, length, rng)
    if timbre.source == SAMPLES:
        from .samples import render_part

        return render_part(part, notes, timbre, bank, SAMPLE_RATE, length, rng)
    return soundfont.render_part(notes, timbre, SAMPLE_RATE, length)


def level(samples: np.ndarray, target_db: float) -> np.ndarray:
    """Scale a part to ``target_db`` RMS measured where it plays (silence does not count)."""
    active = np.abs(samples) > 1e-4
    if not active.any():
        return samples
    rms = np.sqrt(np.mean(np.square(samples[active])))
    return (samples * (db_to_gain(target_db) / rms)).astype(np.float32)


def render_song(
    seed: int,
    source: str = "procedural",
    duration: float | None = None,
    tempo: float | None = None,
    timbre_spread: float | None = None,
    extra_programs: bool = False,
    timbres: Mapping[str, Timbre] | None = None,
    samples: str | os.PathLike | None = None,
    randomise: bool = False,
    exclude: tuple[str, ...] = (),
    tempo_drift: float = 0.0,
    drift_shape: str = "sine",
    split_other: bool = False,
) -> Song:
    """Render the song of ``seed``: same seed and options → the same audio, bit for bit.

    ``source`` is "procedural", "mixed" (every part from any timbre of the seed's split),
    "samples" (real recorded one-shots from the folder ``samples``), a SoundFont name or
    a path. Timbres follow the seed's split (see ``timbres.SEED_RANGES``); with
    ``samples`` given, "mixed" draws from its sample sets too. ``timbre_spread`` is how
    far each procedural preset's parameters are jittered (default ±8 %, ±50 % when
    randomised; the draws are the same whatever it is, so only the procedural timbres
    change); ``extra_programs`` also draws the SoundFonts' variation programs (see
    ``timbres``); ``exclude`` leaves whole timbre families out of the draw. ``timbres``
    replaces the drawn timbres of the parts it names (the draws are made all the same, so
    the arrangement stays that of the seed): one song in several timbres. ``randomise``
    draws the song far wider (see the module's docstring). ``tempo_drift`` (percent) lets
    the tempo wander as a band's does, by ``drift_shape`` (see ``tempo.drift_curve``):
    notes and annotations are warped alike, and the song is otherwise the same.
    ``split_other`` gives the voice, the keys and the extra percussion a stem each instead
    of sharing ``other``.
    """
    if duration is not None and duration < MIN_DURATION:
        raise BadInputError(f"a song must last at least {MIN_DURATION:g} s, not {duration:g} s")
    if timbre_spread is None:
        timbre_spread = MAX_TIMBRE_SPREAD if randomise else procedural.TIMBRE_SPREAD
    drift_curve(drift_shape, tempo_drift, 1.0)  # refuse a bad drift before any work
    if not 0 <= timbre_spread <= MAX_TIMBRE_SPREAD:
        raise BadInputError(
            f"timbre spread must be between 0 and {MAX_TIMBRE_SPREAD:g}, not {timbre_spread:g}"
        )
    unknown = sorted(set(timbres or {}) - set(PARTS))
    if unknown:
        raise BadInputError(
            f"no part called {', '.join(unknown)}: the parts are {', '.join(PARTS)}"
        )
    needs_samples = source == SAMPLES or any(t.source == SAMPLES for t in (timbres or {}).values())
    if needs_samples and samples is None:
        raise BadInputError("timbres from samples need a samples folder (--samples DIR)")
    bank, sample_timbres = None, ()
    if samples is not None:
        from .samples import load_bank
        from .samples import sample_timbres as timbres_of_bank

        bank = load_bank(str(samples))
        sample_timbres = tuple(timbres_of_bank(bank))
    rng = np.random.default_rng(seed)
    wide = np.random.default_rng([seed, RANDOMISE_STREAM]) if randomise else None
    timbres = {
        **choose_timbres(rng, source, split_of_seed(seed), extra_programs, sample_timbres, exclude),
        **(timbres or {}),
    }
    if wide is not None and tempo is None:
        tempo = float(wide.uniform(*WIDE_TEMPO_RANGE))
    # Leave room for the lead-in (up to 1 s), a pickup of up to 3 beats and the last ring.
    slowest = min(tempo or 110.0, 110.0)
    bars_seconds = None if duration is None else duration - 1.0 - 3 * 60 / slowest - TAIL_SECONDS
    arrangement = arrange(rng, bars_seconds, tempo)
    beat = arrangement.beat_seconds
    first_downbeat = rng.uniform(0.2, 1.0) + arrangement.pickup_beats * beat
    final = arrangement.bars * BEATS_PER_BAR
    span = first_downbeat + final * beat
    curve = drift_curve(drift_shape, tempo_drift, span) if tempo_drift else None
    natural = (span if curve is None else float(curve.warp(span))) + TAIL_SECONDS
    length = int(round((duration or natural) * SAMPLE_RATE))

    wide_notes: dict = {}
    if wide is not None:
        wide_notes["swing"] = float(wide.uniform(0, MAX_SWING))
        wide_notes["timing_scale"] = float(wide.uniform(*TIMING_SCALE))
        wide_notes["register_shifts"] = {
            part: int(wide.choice(shifts)) for part, shifts in REGISTER_SHIFTS.items()
        }
        for part, shift in wide_notes["register_shifts"].items():
            arrangement.parts[part] = fold_register(
                arrangement.parts[part], shift, *REGISTER_RANGES[part]
            )
    # ``split_other`` keeps each interferer a stem of its own (voice, keys, percussion), for
    # separating an instrument no model trained on; the song itself is the same.
    stem_names = (*INSTRUMENTS, *INTERFERER_PARTS) if split_other else STEMS
    dry = np.zeros((len(stem_names), 2, length), dtype=np.float32)
    sends = np.zeros((len(stem_names), length), dtype=np.float32)
    chains = {}
    for part in PARTS:
        notes = humanise(
            arrangement.parts[part],
            arrangement,
            first_downbeat,
            TIMING_SIGMA[part] * wide_notes.get("timing_scale", 1.0),
            rng,
            wide_notes.get("swing", 0.0),
        )
        if curve is not None:
            notes = warp_notes(notes, curve)
        mono = render_notes(part, notes, timbres[part], length, rng, timbre_spread, bank)
        offset_db = rng.uniform(-3, 3)
        if wide is not None:
            board, chains[part] = effects.stem_chain(part, wide)
            mono = effects.apply(board, mono, SAMPLE_RATE)
            offset_db += wide.uniform(*WIDE_LEVEL_DB)
        mono = level(mono, LEVELS_DB[part] + offset_db)
        mono = equalise(mono, random_eq(rng, SAMPLE_RATE))
        stem = stem_names.index(part if part in INSTRUMENTS or split_other else OTHER)
        dry[stem] += pan(mono, rng.uniform(-1, 1) * PAN_RANGE[part])
        sends[stem] += np.float32(rng.uniform(*SEND_RANGE[part])) * mono
    impulse = reverb_impulse(rng, SAMPLE_RATE, rt60=rng.uniform(0.5, 1.5))
    wet = add_reverb(dry, sends, impulse)
    stems = dict(zip(stem_names, wet, strict=True))
    stems = master(stems, rng, fade=duration is not None)
    mixture = np.sum(np.stack(list(stems.values())), axis=0, dtype=np.float32)
    annotations = annotate(arrangement, first_downbeat, length / SAMPLE_RATE, curve)
    if curve is not None:
        annotations["tempo_drift"] = {"shape": drift_shape, "percent": tempo_drift}
    if wide is not None:
        board, wide_notes["mixture_effects"] = effects.mixture_chain(wide, SAMPLE_RATE)
        mixture = effects.apply(board, mixture, SAMPLE_RATE)
        wide_notes["effects"] = chains
        annotations.update(randomised=wide_notes)
    annotations.update(
        seed=int(seed),
        soundfont=source,
        split=split_of_seed(seed),
        sample_rate=SAMPLE_RATE,
        timbres={part: timbres[part].name for part in PARTS},
        timbre_spread=timbre_spread,
        extra_programs=extra_programs,
        stems={name: [name] for name in stem_names}
        if split_other
        else {**{name: [name] for name in INSTRUMENTS}, OTHER: list(INTERFERER_PARTS)},
    )
    if bank is not None:
        from .samples import describe

        annotations["samples"] = {
            part: describe(timbres[part], bank) for part in PARTS if timbres[part].source == SAMPLES
        }
    return Song(SAMPLE_RATE, mixture, stems, annotations)


def master(
    stems: dict[str, np.ndarray], rng: np.random.Generator, fade: bool
) -> dict[str, np.ndarray]:
    """Bus compression and master gain: one gain curve from the mix, applied to every stem."""
    mix = sum(stems.values())
    mix_db = 10 * np.log10(np.mean(np.square(mix)) + 1e-12)
    gain = compressor_gain(
        mix, SAMPLE_RATE, threshold_db=mix_db + rng.uniform(0, 6), ratio=rng.uniform(2, 4)
    )
    if fade:
        ramp = int(0.5 * SAMPLE_RATE)
        gain[-ramp:] *= np.linspace(1, 0, ramp, dtype=np.float32)
    peak = np.max(np.abs(mix * gain)) + 1e-9
    gain *= np.float32(db_to_gain(rng.uniform(-6, -1)) / peak)
    return {name: (stem * gain).astype(np.float32) for name, stem in stems.items()}


def annotate(
    arrangement: Arrangement,
    first_downbeat: float,
    seconds: float,
    curve: TempoCurve | None = None,
) -> dict:
    """Beats (pickup included), downbeats, sections and chords in seconds, up to ``seconds``,
    warped by ``curve`` as the notes were."""
    beat = arrangement.beat_seconds
    final = arrangement.bars * BEATS_PER_BAR

    def at(beats: float) -> float:
        score = first_downbeat + beats * beat
        return score if curve is None else float(curve.warp(score))

    beats = [at(b) for b in range(-arrangement.pickup_beats, final + 1)]
    downbeats = [at(b) for b in range(0, final + 1, BEATS_PER_BAR)]
    sections, chords = [], []
    for section in arrangement.sections:
        start = at(section.start_bar * BEATS_PER_BAR)
        end = at((section.start_bar + section.bars) * BEATS_PER_BAR)
        if start < seconds:
            sections.append(
                {
                    "name": section.name,
                    "start": round(start, 6),
                    "end": round(min(end, seconds), 6),
                    "feel": section.feel,
                }
            )
        for index, chord in enumerate(section.chords):
            bar_start = at((section.start_bar + index) * BEATS_PER_BAR)
            if bar_start < seconds:
                chords.append({"start": round(bar_start, 6), "chord": chord.name})
    return {
        "tempo_bpm": round(arrangement.tempo, 4),
        "key": arrangement.key,
        "pickup_beats": arrangement.pickup_beats,
        "duration": round(seconds, 6),
        "beats": [round(t, 6) for t in beats if t < seconds],
        "downbeats": [round(t, 6) for t in downbeats if t < seconds],
        "sections": sections,
        "chords": chords,
    }


def save_song(song: Song, directory: str | os.PathLike, audio_format: str = "wav") -> Path:
    """Write mixture, stems/<name> and annotations.json; a failed save leaves nothing half done.

    Files are written in a hidden sibling folder first and moved into place at the end.
    WAV is float32 (stems sum to the mixture exactly); FLAC/OGG are compact, for examples.
    """
    if audio_format not in AUDIO_FORMATS:
        raise BadInputError(f"audio format must be one of {', '.join(AUDIO_FORMATS)}")
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise BadInputError(f"{directory} exists and is not a folder")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".partial-{directory.name}-", dir=directory.parent))
    try:
        tracks = {"mixture": song.mixture, **{f"stems/{n}": s for n, s in song.stems.items()}}
        for name, samples in tracks.items():
            path = staging / f"{name}.{audio_format}"
            if audio_format == "wav":
                write_audio(path, samples, song.sample_rate)
            else:
                path.parent.mkdir(exist_ok=True)
                sf.write(
                    path,
                    samples.T,
                    song.sample_rate,
                    format=AUDIO_FORMATS[audio_format],
                    compression_level=COMPRESSION[audio_format],
                )
        (staging / "annotations.json").write_text(json.dumps(song.annotations, indent=1))
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                destination = directory / path.relative_to(staging)
                destination.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory
