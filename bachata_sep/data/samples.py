"""Real recorded one-shots as a timbre source: bongos, güiro and cabasa, basses and guitars.

Procedural and SoundFont timbres leave the separator a gap to real recordings; a folder of
real one-shots (``shared/samples``, listed in ``samples.csv``) narrows it. A note plays the
nearest sample, re-pitched by resampling and cut to the note's length, so the notes, and
with them the song's annotations, stay exact. Drum strokes map to hits, güira strokes to
scrapes cut or stretched to the pattern's durations. Every draw comes from the song's rng,
so a seed renders the same audio bit for bit; decoded and re-pitched samples are cached, so
a part renders in a fraction of a second.
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soxr
from scipy.signal import butter, sosfilt

from ..audio import AUDIO_SUFFIXES, is_silent, read_audio, to_mono
from ..errors import BadInputError
from .patterns import (
    COWBELL,
    HI_BONGO,
    LOW_BONGO,
    LOW_CONGA,
    MARACAS,
    MUTE_HI_CONGA,
    OPEN_HI_CONGA,
    Note,
)
from .procedural import RELEASE_SECONDS, with_release
from .timbres import SAMPLES, Timbre

CSV_NAME = "samples.csv"
FLAT_SET = "samples"  # the set of files lying directly in the bank's folder
# The sample families each part may play; voice and keys have none.
PART_FAMILIES: dict[str, tuple[str, ...]] = {
    "bongo": ("bongo",),
    "guira": ("guiro", "cabasa", "shaker"),
    "bass": ("bass",),
    "guitar": ("guitar",),
    "percussion": ("conga", "cowbell", "agogo", "claves", "shaker"),
}
PITCHED_FAMILIES = ("guitar", "bass")
USABLE_FAMILIES = frozenset(family for families in PART_FAMILIES.values() for family in families)
# Words in a file's path that name its family when there is no samples.csv: the leftmost
# one found counts (so the set folder's name wins); "guira" lets a user's güira folder count.
FAMILY_WORDS = {
    **{family: family for family in USABLE_FAMILIES},
    "güira": "guiro",
    "guira": "guiro",
}
FAMILY_PATTERN = re.compile("|".join(sorted(map(re.escape, FAMILY_WORDS), key=len, reverse=True)))
ARTICULATION_WORDS = ("high", "low", "mute", "slap", "open")
UNLISTED_SOURCE = "unlisted (no samples.csv)"
UNKNOWN_LICENCE = "unknown"
# pYIN search range per pitched family when a pitch has to be measured (no samples.csv);
# the guitar's top stays below the second harmonic of F5, which pYIN otherwise picks.
PITCH_RANGES_HZ = {"guitar": (70.0, 1200.0), "bass": (28.0, 500.0)}
PITCH_RATE = 22_050
PITCH_SECONDS = 1.0
DYNAMIC_WORDS = {"ppp": 1, "pp": 2, "p": 3, "mp": 4, "mf": 5, "f": 6, "ff": 7, "fff": 8}

# An attack: the first millisecond within ATTACK_DB of the loudest, back to the last one
# below ONSET_THRESHOLD_DB (above the soft VCSL hits' noise floor, with its blips).
ATTACK_DB = -20.0
ONSET_THRESHOLD_DB = -35.0
ONSET_FADE_SECONDS = 0.001
MAX_SAMPLE_SECONDS = 3.0  # longer than any note of a song; bounds the cache's memory
LOUD_VELOCITY = 0.6
LAYER_BIAS = 3.0  # how much likelier the layer nearer the velocity is, per layer
LAYER_SPREAD = 0.5  # layers of a stroke: velocity * layers + this much normal noise
MUTE_SECONDS = 0.1
MUTE_LOWPASS_HZ = {"guitar": 2000.0, "bass": 800.0}
HIT_MUTE_SECONDS = 0.06
HIT_MUTE_FADE_SECONDS = 0.015
LOW_CONGA_SHIFT = -3  # the low conga is the open conga tuned down when the set has no low one
SCRAPE_FADE_SECONDS = 0.01
SCRAPE_ATTACK_SECONDS = 0.002
SCRAPE_OFFSET_CHANCE = 0.5
SCRAPE_BODY_DB = -20.0  # a scrape's body: until its 10 ms energy last reaches this re its peak
ROUND_ROBINS = 8  # takes of one scrape per part: variety, and few stretches to cache
MAX_STRETCH = 4.0
LOOP_FADE_SECONDS = 0.01
# General MIDI percussion keys and the families that can play them.
PERCUSSION_KEYS = {
    COWBELL: ("cowbell", "agogo"),
    MARACAS: ("shaker",),
    MUTE_HI_CONGA: ("conga",),
    OPEN_HI_CONGA: ("conga",),
    LOW_CONGA: ("conga",),
}
BONGO_DRUMS = {HI_BONGO: "high", LOW_BONGO: "low"}


@dataclass(frozen=True)
class SampleEntry:
    """One recorded one-shot: ``pitch`` is its sounding MIDI pitch, None when unpitched."""

    file: str  # relative to the bank's folder
    family: str
    articulation: str
    pitch: int | None
    dynamic: str
    set_name: str
    source: str
    licence: str


@dataclass(frozen=True)
class SampleBank:
    """The usable samples of a folder, and the files skipped (each with its reason)."""

    root: Path
    entries: tuple[SampleEntry, ...]
    skipped: tuple[str, ...]

    def sets(self, part: str) -> list[str]:
        """The sets with samples that ``part`` can play, sorted."""
        families = PART_FAMILIES.get(part, ())
        return sorted({entry.set_name for entry in self.entries if entry.family in families})

    def entries_for(self, part: str, set_name: str) -> list[SampleEntry]:
        """The samples of ``set_name`` that ``part`` can play."""
        families = PART_FAMILIES.get(part, ())
        return [e for e in self.entries if e.set_name == set_name and e.family in families]


# --- loading a bank ---------------------------------------------------------------------


def load_bank(root: str | os.PathLike) -> SampleBank:
    """The sample bank in ``root``, loaded once per folder (a warning lists skipped files)."""
    return _load_bank(str(Path(root).expanduser().resolve()))


@lru_cache(maxsize=8)
def _load_bank(root_name: str) -> SampleBank:
    root = Path(root_name)
    if not root.is_dir():
        raise BadInputError(f"the sample folder {root} does not exist or is not a folder")
    listed = (root / CSV_NAME).is_file()
    entries, skipped = _listed_entries(root) if listed else _inferred_entries(root)
    usable = any(entry.family in USABLE_FAMILIES for entry in entries)
    notice = []
    if not listed:
        notice.append(
            f"{root} has no {CSV_NAME}: inferred {len(entries)} sample(s) from file and "
            "folder names"
        )
    if skipped:
        notice.append(f"skipped {len(skipped)} sample(s) of {root}: " + "; ".join(skipped))
    if notice:
        warnings.warn("; ".join(notice), stacklevel=3)
    if not usable:
        raise BadInputError(
            f"no usable samples in {root}: list them in {CSV_NAME} or put audio files whose "
            f"names say the instrument ({', '.join(sorted(FAMILY_WORDS))}) in it"
        )
    entries = tuple(sorted(entries, key=lambda entry: entry.file))
    return SampleBank(root, entries, tuple(skipped))


def _listed_entries(root: Path) -> tuple[list[SampleEntry], list[str]]:
    """The rows of ``samples.csv`` whose files exist and decode."""
    with open(root / CSV_NAME, newline="", encoding="utf-8") as table:
        rows = list(csv.DictReader(table))
    entries, skipped = [], []
    for number, row in enumerate(rows, start=2):
        file = (row.get("file") or "").strip()
        family = (row.get("family") or "").strip().lower()
        if not file or not family:
            skipped.append(f"row {number} of {CSV_NAME} (no file or family)")
            continue
        try:
            pitch = _parse_pitch(row.get("midi_pitch"))
        except ValueError:
            skipped.append(f"{file} (midi_pitch {row.get('midi_pitch')!r} is not a number)")
            continue
        if family in PITCHED_FAMILIES and pitch is None:
            skipped.append(f"{file} (a {family} sample needs its midi_pitch)")
            continue
        problem = _decode_problem(root / file)
        if problem:
            skipped.append(f"{file} ({problem})")
            continue
        entries.append(
            SampleEntry(
                file=file,
                family=family,
                articulation=(row.get("articulation") or "").strip(),
                pitch=pitch,
                dynamic=(row.get("dynamic") or "").strip(),
                set_name=_set_name(file),
                source=(row.get("source") or "").strip(),
                licence=(row.get("licence") or "").strip(),
            )
        )
    return entries, skipped


def _inferred_entries(root: Path) -> tuple[list[SampleEntry], list[str]]:
    """Entries for the audio files in ``root`` and its sub-folders, named by their paths."""
    files = sorted(
        path
        for path in [*root.glob("*/*"), *root.glob("*")]
        if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES
    )
    entries, skipped = [], []
    for path in files:
        file = path.relative_to(root).as_posix()
        name = file.lower()
        found = FAMILY_PATTERN.search(name)
        if found is None:
            skipped.append(f"{file} (no instrument family in its name)")
            continue
        family = FAMILY_WORDS[found.group()]
        try:
            samples, rate, _ = read_audio(path)
        except BadInputError as error:
            skipped.append(f"{file} ({error})")
            continue
        pitch = None
        if family in PITCHED_FAMILIES:
            pitch = measure_pitch(trim_leading_silence(to_mono(samples), rate), rate, family)
            if pitch is None:
                skipped.append(f"{file} (no pitch found)")
                continue
        articulation = next((word for word in ARTICULATION_WORDS if word in name), "")
        entries.append(
            SampleEntry(
                file=file,
                family=family,
                articulation=articulation,
                pitch=pitch,
                dynamic="",
                set_name=_set_name(file),
                source=UNLISTED_SOURCE,
                licence=UNKNOWN_LICENCE,
            )
        )
    return entries, skipped


def _parse_pitch(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(round(float(text))) if text else None


def _set_name(file: str) -> str:
    parts = Path(file).parts
    return parts[0] if len(parts) > 1 else FLAT_SET


def _decode_problem(path: Path) -> str | None:
    """Why ``path`` cannot be played (missing, undecodable, silent), or None."""
    if not path.is_file():
        return "missing"
    try:
        samples, _, _ = read_audio(path)
    except BadInputError as error:
        return str(error)
    return "silent" if is_silent(samples) else None


def measure_pitch(mono: np.ndarray, rate: int, family: str) -> int | None:
    """The sounding MIDI pitch of a sample (pYIN median over voiced frames), None if none."""
    import librosa

    low, high = PITCH_RANGES_HZ[family]
    clip = soxr.resample(mono[: int(PITCH_SECONDS * rate)], rate, PITCH_RATE)
    if len(clip) < 2048:
        return None
    f0, voiced, _ = librosa.pyin(clip, fmin=low, fmax=high, sr=PITCH_RATE, frame_length=2048)
    f0 = f0[voiced & np.isfinite(f0)]
    if len(f0) == 0:
        return None
    return int(round(float(librosa.hz_to_midi(np.median(f0)))))


# --- timbres ------------------------------------------------------------------------------


def sample_timbres(bank: SampleBank) -> list[Timbre]:
    """One timbre per part and set of the bank that has samples for that part."""
    return [
        Timbre(part, SAMPLES, set_name) for part in PART_FAMILIES for set_name in bank.sets(part)
    ]


def describe(timbre: Timbre, bank: SampleBank) -> dict:
    """What a timbre plays, for a song's annotations: the sources and licences it draws on
    (CC-BY sets must be credited wherever the songs go)."""
    entries = bank.entries_for(timbre.part, timbre.preset)
    return {
        "set": timbre.preset,
        "families": sorted({entry.family for entry in entries}),
        "files": len(entries),
        "sources": sorted({entry.source for entry in entries}),
        "licences": sorted({entry.licence for entry in entries}),
    }


# --- sample audio, decoded once -------------------------------------------------------------


def trim_leading_silence(mono: np.ndarray, rate: int) -> np.ndarray:
    """Start a sample where its attack rises out of the noise floor, so that a note's sound
    starts at the note: the last quiet millisecond before its first loud one."""
    frame = max(1, rate // 1000)
    frames = len(mono) // frame
    if frames == 0:
        return mono.astype(np.float32)
    energy = np.sqrt(np.mean(np.square(mono[: frames * frame].reshape(frames, frame)), axis=1))
    loud = int(np.argmax(energy >= energy.max() * 10 ** (ATTACK_DB / 20)))
    quiet = np.flatnonzero(energy[:loud] < energy.max() * 10 ** (ONSET_THRESHOLD_DB / 20))
    first = int(quiet[-1]) if len(quiet) else 0
    trimmed = mono[first * frame :].astype(np.float32)
    fade = min(len(trimmed), int(ONSET_FADE_SECONDS * rate))
    trimmed[:fade] *= np.linspace(0.0, 1.0, fade, dtype=np.float32)
    return trimmed


@lru_cache(maxsize=32)
def decoded(path: str) -> tuple[np.ndarray, int]:
    """A sample as read-only mono float32 at its own rate: leading silence trimmed, at most
    ``MAX_SAMPLE_SECONDS``, peak 1 (the sets' levels differ by 30 dB; the mix sets a part's
    loudness and the velocity its strokes')."""
    samples, rate, _ = read_audio(path)
    mono = trim_leading_silence(to_mono(samples), rate)
    if len(mono) > MAX_SAMPLE_SECONDS * rate:
        mono = cut(mono, MAX_SAMPLE_SECONDS, RELEASE_SECONDS, rate)
    peak = float(np.max(np.abs(mono)))
    mono = mono / np.float32(peak) if peak > 0 else mono
    mono.setflags(write=False)
    return mono, rate


@lru_cache(maxsize=160)
def pitched(path: str, shift: int, sample_rate: int) -> np.ndarray:
    """A sample shifted by ``shift`` semitones by resampling, at the song's rate (read-only)."""
    mono, rate = decoded(path)
    if shift == 0 and rate == sample_rate:
        return mono
    shifted = soxr.resample(mono, rate * 2 ** (shift / 12), sample_rate).astype(np.float32)
    shifted.setflags(write=False)
    return shifted


@lru_cache(maxsize=64)
def body_length(path: str, sample_rate: int) -> int:
    """Where a scrape's body ends (its last 10 ms above ``SCRAPE_BODY_DB``): random offsets
    stay inside it, so a cut stroke never plays only the sample's fading tail."""
    sound = pitched(path, 0, sample_rate)
    frame = max(1, sample_rate // 100)
    frames = len(sound) // frame
    if frames == 0:
        return len(sound)
    energy = np.sqrt(np.mean(np.square(sound[: frames * frame].reshape(frames, frame)), axis=1))
    loud = np.flatnonzero(energy >= energy.max() * 10 ** (SCRAPE_BODY_DB / 20))
    return int((loud[-1] + 1) * frame)


@lru_cache(maxsize=64)
def stretched(path: str, factor: float, sample_rate: int) -> np.ndarray:
    """A scrape's body slowed to ``factor`` of its speed without a change of pitch
    (read-only). Only the body is stretched, which keeps it quick: noise-like scrapes need
    no high-quality mode."""
    import pedalboard

    body = body_length(path, sample_rate)
    sound = np.ascontiguousarray(pitched(path, 0, sample_rate)[None, :body])
    slower = pedalboard.time_stretch(sound, float(sample_rate), factor, high_quality=False)[0]
    slower = slower.astype(np.float32)
    slower.setflags(write=False)
    return slower


# --- rendering ------------------------------------------------------------------------------


def render_part(
    part: str,
    notes: list[Note],
    timbre: Timbre,
    bank: SampleBank,
    sample_rate: int,
    length: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Render one part (notes in seconds) from the samples of ``timbre.preset``: mono
    float32 of ``length`` samples; all randomness comes from ``rng``."""
    entries = bank.entries_for(part, timbre.preset)
    if not entries:
        raise BadInputError(
            f"the sample set {timbre.preset!r} in {bank.root} has no samples for the {part}"
        )
    player = _player(part, entries, bank.root, sample_rate, rng)
    out = np.zeros(length, dtype=np.float32)
    for note in notes:
        start = int(round(note.start * sample_rate))
        if start >= length:
            continue
        sound = player(note)
        if start < 0:
            sound, start = sound[-start:], 0
        sound = sound[: length - start]
        out[start : start + len(sound)] += sound * np.float32(note.velocity**1.5)
    return out


def _player(
    part: str,
    entries: list[SampleEntry],
    root: Path,
    sample_rate: int,
    rng: np.random.Generator,
) -> Callable[[Note], np.ndarray]:
    """The function that turns one note of ``part`` into its sound."""
    if part in ("guitar", "bass"):
        return PitchedPlayer(part, entries, root, sample_rate, rng)
    if part == "bongo":
        return BongoPlayer(entries, root, sample_rate, rng)
    if part == "guira":
        return ScrapePlayer(entries, root, sample_rate, rng)
    return PercussionPlayer(entries, root, sample_rate, rng)


def dynamic_rank(label: str) -> float:
    """A dynamic layer's loudness rank: musical marks (p < mf < f), else its number (vl2)."""
    label = label.strip().lower()
    if label in DYNAMIC_WORDS:
        return float(DYNAMIC_WORDS[label])
    digits = re.search(r"\d+", label)
    return float(digits.group()) if digits else 0.0


def _layers(entries: list[SampleEntry]) -> list[list[SampleEntry]]:
    """The entries grouped by dynamic layer, softest first."""
    ranks = sorted({dynamic_rank(entry.dynamic) for entry in entries})
    return [[e for e in entries if dynamic_rank(e.dynamic) == rank] for rank in ranks]


def choose_biased(
    entries: list[SampleEntry], velocity: float, rng: np.random.Generator
) -> SampleEntry:
    """Any layer, the louder ones likelier for a loud note (like round robins)."""
    layers = _layers(entries)
    order = np.arange(len(layers)) if velocity > LOUD_VELOCITY else np.arange(len(layers))[::-1]
    weights = LAYER_BIAS ** order.astype(float)
    layer = layers[int(rng.choice(len(layers), p=weights / weights.sum()))]
    return layer[int(rng.integers(len(layer)))]


def choose_by_velocity(
    entries: list[SampleEntry], velocity: float, rng: np.random.Generator
) -> SampleEntry:
    """The layer that the velocity points to, give or take one (a player's uneven hands)."""
    layers = _layers(entries)
    position = velocity * len(layers) + rng.normal(0.0, LAYER_SPREAD)
    layer = layers[int(np.clip(np.floor(position), 0, len(layers) - 1))]
    return layer[int(rng.integers(len(layer)))]


def loudest(entries: list[SampleEntry], rng: np.random.Generator) -> SampleEntry:
    """A sample of the loudest layer (a slap is always the hardest stroke)."""
    layer = _layers(entries)[-1]
    return layer[int(rng.integers(len(layer)))]


def with_articulation(entries: list[SampleEntry], *wanted: str) -> list[SampleEntry]:
    """The entries of the first wanted articulation the set has; all of them if none."""
    for articulation in wanted:
        matching = [entry for entry in entries if entry.articulation == articulation]
        if matching:
            return matching
    return entries


def of_families(entries: list[SampleEntry], families: tuple[str, ...]) -> list[SampleEntry]:
    """The entries of ``families``; all of them if the set has none (any sound beats none)."""
    return [entry for entry in entries if entry.family in families] or entries


def cut(sound: np.ndarray, seconds: float, fade_seconds: float, sample_rate: int) -> np.ndarray:
    """The first ``seconds`` of a sound, its last ``fade_seconds`` faded out (a damped hit)."""
    total = int(seconds * sample_rate)
    if total >= len(sound):
        return sound
    out = sound[:total].copy()
    fade = min(total, int(fade_seconds * sample_rate))
    out[total - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return out


class PitchedPlayer:
    """Guitar and bass: the nearest sample re-pitched, held for the note, then released."""

    def __init__(
        self,
        part: str,
        entries: list[SampleEntry],
        root: Path,
        sample_rate: int,
        rng: np.random.Generator,
    ) -> None:
        self.part, self.root, self.sample_rate, self.rng = part, root, sample_rate, rng
        pitched_entries = [entry for entry in entries if entry.pitch is not None]
        if not pitched_entries:
            raise BadInputError(f"the {part} samples in {root} have no pitches")
        self.by_pitch: dict[int, list[SampleEntry]] = {}
        for entry in pitched_entries:
            self.by_pitch.setdefault(entry.pitch, []).append(entry)
        self.pitches = np.array(sorted(self.by_pitch))
        self.mute_filter = butter(
            2, MUTE_LOWPASS_HZ[part], fs=sample_rate, output="sos", btype="lowpass"
        )

    def __call__(self, note: Note) -> np.ndarray:
        distance = np.abs(self.pitches - note.pitch)
        nearest = self.pitches[distance == distance.min()]
        sample_pitch = int(nearest[self.rng.integers(len(nearest))])
        entry = choose_biased(self.by_pitch[sample_pitch], note.velocity, self.rng)
        sound = pitched(str(self.root / entry.file), note.pitch - sample_pitch, self.sample_rate)
        if note.articulation == "mute":
            held = with_release(sound, min(note.duration, MUTE_SECONDS), self.sample_rate)
            return sosfilt(self.mute_filter, held).astype(np.float32)
        return with_release(sound, note.duration, self.sample_rate)


class BongoPlayer:
    """Bongo strokes: GM key 60 the high drum, 61 the low one; slaps hit the high drum hard,
    mutes are damped after ``HIT_MUTE_SECONDS``."""

    def __init__(
        self, entries: list[SampleEntry], root: Path, sample_rate: int, rng: np.random.Generator
    ) -> None:
        self.entries, self.root, self.sample_rate, self.rng = entries, root, sample_rate, rng

    def __call__(self, note: Note) -> np.ndarray:
        if note.articulation == "slap":
            entry = loudest(with_articulation(self.entries, "slap", "high"), self.rng)
        else:
            drum = BONGO_DRUMS.get(note.pitch, "")
            candidates = with_articulation(self.entries, drum) if drum else self.entries
            entry = choose_by_velocity(candidates, note.velocity, self.rng)
        sound = pitched(str(self.root / entry.file), 0, self.sample_rate)
        if note.articulation == "mute":
            return cut(sound, HIT_MUTE_SECONDS, HIT_MUTE_FADE_SECONDS, self.sample_rate)
        return sound


class PercussionPlayer:
    """Extra percussion: cowbell (or agogo), shaker and congas by GM key, anything else from
    the whole set. One bell per part: a player does not switch instruments between hits."""

    def __init__(
        self, entries: list[SampleEntry], root: Path, sample_rate: int, rng: np.random.Generator
    ) -> None:
        self.entries, self.root, self.sample_rate, self.rng = entries, root, sample_rate, rng
        self.bell = self._one_family(PERCUSSION_KEYS[COWBELL])

    def _one_family(self, families: tuple[str, ...]) -> tuple[str, ...]:
        present = [family for family in families if any(e.family == family for e in self.entries)]
        return (present[int(self.rng.integers(len(present)))],) if present else families

    def __call__(self, note: Note) -> np.ndarray:
        shift = 0
        if note.pitch == COWBELL:
            candidates = of_families(self.entries, self.bell)
        elif note.pitch in PERCUSSION_KEYS:
            candidates = of_families(self.entries, PERCUSSION_KEYS[note.pitch])
        else:
            candidates = self.entries
        if note.pitch == LOW_CONGA:
            low = [entry for entry in candidates if entry.articulation == "low"]
            candidates, shift = (low, 0) if low else (candidates, LOW_CONGA_SHIFT)
        entry = choose_by_velocity(candidates, note.velocity, self.rng)
        sound = pitched(str(self.root / entry.file), shift, self.sample_rate)
        if note.pitch == MUTE_HI_CONGA or note.articulation == "mute":
            return cut(sound, HIT_MUTE_SECONDS, HIT_MUTE_FADE_SECONDS, self.sample_rate)
        return sound


class ScrapePlayer:
    """Güira strokes as scrapes of one instrument of the set (a song's güirero keeps one,
    with ``ROUND_ROBINS`` takes of it), lasting exactly as long as the pattern's strokes:
    scrapes with a longer body are cut, shorter ones slowed without a change of pitch (at
    most ``MAX_STRETCH`` times, then looped)."""

    def __init__(
        self, entries: list[SampleEntry], root: Path, sample_rate: int, rng: np.random.Generator
    ) -> None:
        self.root, self.sample_rate, self.rng = root, sample_rate, rng
        families = sorted({entry.family for entry in entries})
        family = families[int(rng.integers(len(families)))]
        takes = [entry for entry in entries if entry.family == family]
        if len(takes) > ROUND_ROBINS:
            chosen = sorted(rng.choice(len(takes), ROUND_ROBINS, replace=False))
            takes = [takes[index] for index in chosen]
        self.entries = takes

    def __call__(self, note: Note) -> np.ndarray:
        entry = choose_by_velocity(self.entries, note.velocity, self.rng)
        path = str(self.root / entry.file)
        held = max(1, int(note.duration * self.sample_rate))
        needed = held + int(SCRAPE_FADE_SECONDS * self.sample_rate)
        body = body_length(path, self.sample_rate)
        if body >= needed:
            offset = 0
            if body > needed and self.rng.random() < SCRAPE_OFFSET_CHANCE:
                offset = int(self.rng.integers(body - needed + 1))
            stroke = pitched(path, 0, self.sample_rate)[offset : offset + needed].copy()
            if offset:
                attack = int(SCRAPE_ATTACK_SECONDS * self.sample_rate)
                stroke[:attack] *= np.linspace(0.0, 1.0, attack, dtype=np.float32)
        else:
            # Slowed by a factor on a semitone-sized grid, rounded down so that the body
            # still lasts the note: a song's few stroke lengths reuse a few stretches.
            steps = np.floor(12 * np.log2(body / needed)) / 12
            factor = round(max(float(2**steps), 1 / MAX_STRETCH), 6)
            stroke = looped(stretched(path, factor, self.sample_rate), needed, self.sample_rate)
            stroke = stroke[:needed].copy()
        stroke[held:] *= np.linspace(1.0, 0.0, len(stroke) - held, dtype=np.float32)
        return stroke


def looped(sound: np.ndarray, needed: int, sample_rate: int) -> np.ndarray:
    """``sound`` repeated with short crossfades until it lasts ``needed`` samples."""
    if len(sound) >= needed:
        return sound
    overlap = min(int(LOOP_FADE_SECONDS * sample_rate), len(sound) // 4)
    ramp = np.linspace(0.0, 1.0, overlap, dtype=np.float32)
    out = np.asarray(sound, dtype=np.float32)
    while len(out) < needed:
        joint = out[len(out) - overlap :] * (1 - ramp) + sound[:overlap] * ramp
        out = np.concatenate([out[: len(out) - overlap], joint, sound[overlap:]])
    return out
