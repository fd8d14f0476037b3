"""Bachata as notes: keys, progressions, sections and the idiomatic pattern of every part.

Everything here is symbolic (beats, MIDI pitches, velocities), so one arrangement can be
rendered by any timbre source and its annotations are exact by construction. Times are
in beats from the first downbeat of the song; a pickup starts at a negative beat.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..spec import BEATS_PER_BAR

TEMPO_RANGE = (110.0, 160.0)

# General MIDI percussion keys, also used as stroke names by the procedural drums.
HI_BONGO, LOW_BONGO = 60, 61
MUTE_HI_CONGA, OPEN_HI_CONGA, LOW_CONGA = 62, 63, 64
COWBELL, MARACAS = 56, 70
SHORT_GUIRO, LONG_GUIRO = 73, 74

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
QUALITIES = {"maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "min7": (0, 3, 7, 10)}
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
# Bachata keys as guitarists play them: mostly minor, in keys open on the guitar.
KEYS = (
    ("A", "minor"),
    ("E", "minor"),
    ("D", "minor"),
    ("B", "minor"),
    ("G", "minor"),
    ("C", "major"),
    ("G", "major"),
    ("D", "major"),
    ("A", "major"),
    ("F", "major"),
)
# Four-bar progressions as (semitones above the tonic, quality), one chord per bar.
PROGRESSIONS = {
    "minor": (
        ((0, "min"), (5, "min"), (7, "7"), (0, "min")),
        ((0, "min"), (8, "maj"), (3, "maj"), (10, "maj")),
        ((0, "min"), (10, "maj"), (8, "maj"), (7, "7")),
        ((0, "min"), (5, "min"), (0, "min"), (7, "7")),
    ),
    "major": (
        ((0, "maj"), (5, "maj"), (7, "7"), (0, "maj")),
        ((0, "maj"), (9, "min"), (5, "maj"), (7, "7")),
        ((0, "maj"), (7, "7"), (9, "min"), (5, "maj")),
        ((2, "min"), (7, "7"), (0, "maj"), (0, "maj")),
    ),
}
TARGET_PARTS = ("bongo", "guira", "bass", "guitar")
INTERFERER_PARTS = ("voice", "keys", "percussion")
PARTS = TARGET_PARTS + INTERFERER_PARTS
# The full song form; a song limited in time keeps the intro, as many of the body
# sections as fit (8 or 4 bars each) and the outro.
FULL_FORM = (
    ("intro", 4),
    ("verse", 8),
    ("chorus", 8),
    ("mambo", 8),
    ("verse", 8),
    ("chorus", 8),
    ("outro", 4),
)
FEELS = ("derecho", "majao", "mambo")


@dataclass(frozen=True)
class Note:
    """One note or stroke: ``pitch`` is a MIDI note, or a GM drum key for percussion."""

    start: float
    duration: float
    pitch: int
    velocity: float
    articulation: str = ""


@dataclass(frozen=True)
class Chord:
    root: int  # pitch class
    quality: str

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + step) % 12 for step in QUALITIES[self.quality])

    @property
    def name(self) -> str:
        suffix = {"maj": "", "min": "m", "7": "7", "min7": "m7"}[self.quality]
        return PITCH_CLASSES[self.root] + suffix


@dataclass(frozen=True)
class Section:
    name: str
    start_bar: int
    chords: tuple[Chord, ...]  # one per bar
    feel: str

    @property
    def bars(self) -> int:
        return len(self.chords)


@dataclass
class Arrangement:
    """A whole song in beats: what every part plays, and where its bars and sections are."""

    tempo: float
    key: str
    sections: list[Section]
    pickup_beats: int
    parts: dict[str, list[Note]] = field(default_factory=dict)

    @property
    def bars(self) -> int:
        return sum(section.bars for section in self.sections)

    @property
    def beat_seconds(self) -> float:
        return 60.0 / self.tempo


def pitch_in_range(pitch_class: int, low: int, high: int, rng: np.random.Generator) -> int:
    """A MIDI pitch of ``pitch_class`` between ``low`` and ``high``, chosen at random."""
    candidates = [p for p in range(low, high + 1) if p % 12 == pitch_class]
    return int(rng.choice(candidates))


def nearest_pitch(pitch_class: int, reference: int) -> int:
    """The MIDI pitch of ``pitch_class`` nearest to ``reference`` (voice leading)."""
    offset = (pitch_class - reference) % 12
    return reference + offset if offset <= 6 else reference + offset - 12


# --- the arrangement -------------------------------------------------------------------


def choose_shape(tempo: float, seconds: float | None) -> tuple[tuple[str, int], ...]:
    """The form with the most bars that fit in ``seconds`` (the full form when None).

    Ties go to the form with more sections; the shortest form is an intro of 2 bars,
    a verse of 4 and an outro of 2.
    """
    if seconds is None:
        return FULL_FORM
    fitting = int(seconds * tempo / 60 / BEATS_PER_BAR)
    body = FULL_FORM[1:-1]
    best: tuple[tuple[str, int], ...] = (("intro", 2), body[0][:1] + (4,), ("outro", 2))
    for count in range(1, len(body) + 1):
        for lengths in itertools.product((8, 4), repeat=count):
            for intro, outro in itertools.product((4, 2), repeat=2):
                total = intro + sum(lengths) + outro
                shape = (
                    ("intro", intro),
                    *((name, bars) for (name, _), bars in zip(body, lengths, strict=False)),
                    ("outro", outro),
                )
                if total <= fitting and (total, len(shape)) > (bar_count(best), len(best)):
                    best = shape
    return best


def bar_count(shape: tuple[tuple[str, int], ...]) -> int:
    return sum(bars for _, bars in shape)


def arrange(
    rng: np.random.Generator, seconds: float | None = None, tempo: float | None = None
) -> Arrangement:
    """Compose a song: key, tempo, sections with their chords and feels, and every part.

    ``seconds`` limits the time its bars may take (None: the full form).
    """
    tempo = float(tempo if tempo is not None else rng.uniform(*TEMPO_RANGE))
    tonic_name, mode = KEYS[rng.integers(len(KEYS))]
    tonic = PITCH_CLASSES.index(tonic_name)
    progressions = PROGRESSIONS[mode]
    by_name: dict[str, tuple[Chord, ...]] = {}
    sections = []
    bar = 0
    for name, bars in choose_shape(tempo, seconds):
        if name not in by_name:
            steps = progressions[rng.integers(len(progressions))]
            by_name[name] = tuple(Chord((tonic + step) % 12, quality) for step, quality in steps)
        chords = tuple(by_name[name][i % 4] for i in range(bars))
        feel = "mambo" if name == "mambo" else str(rng.choice(FEELS[:2]))
        sections.append(Section(name, bar, chords, feel))
        bar += bars
    arrangement = Arrangement(
        tempo, f"{tonic_name} {mode}", sections, pickup_beats=int(rng.choice([0, 0, 1, 2, 3]))
    )
    scale = tuple((tonic + step) % 12 for step in SCALES[mode])
    for part, write in PART_WRITERS.items():
        arrangement.parts[part] = write(arrangement, scale, rng)
    return arrangement


def section_bars(arrangement: Arrangement):
    """Yield ``(section, bar index in section, bar start beat, chord, next chord)``."""
    all_chords = [chord for section in arrangement.sections for chord in section.chords]
    for section in arrangement.sections:
        for index, chord in enumerate(section.chords):
            absolute = section.start_bar + index
            following = all_chords[min(absolute + 1, len(all_chords) - 1)]
            yield section, index, absolute * BEATS_PER_BAR, chord, following


def final_beat(arrangement: Arrangement) -> float:
    """The beat of the closing hit: the downbeat after the last bar."""
    return float(arrangement.bars * BEATS_PER_BAR)


# --- the four target parts -------------------------------------------------------------


def bongo_part(arrangement: Arrangement, scale, rng: np.random.Generator) -> list[Note]:
    """Martillo in eighths (tip, thumb, ..., slap on 4, open hembra on 4&), fills at ends."""
    notes = []
    for section, index, start, _, _ in section_bars(arrangement):
        if section.name == "intro":
            continue
        last_bar = index == section.bars - 1
        open_one = section.feel == "mambo" or rng.random() < 0.2
        for step in range(8):
            position = step * 0.5
            if last_bar and position >= 2.0 and section.name != "outro":
                continue  # the fill takes beats 3 and 4
            if step == 6:
                notes.append(Note(start + position, 0.5, HI_BONGO, 0.95, "slap"))
            elif step == 7:
                notes.append(Note(start + position, 0.5, LOW_BONGO, 0.8, "open"))
            elif step == 0 and open_one:
                notes.append(Note(start + position, 0.5, HI_BONGO, 0.7, "open"))
            else:
                velocity = 0.5 if step % 2 == 0 else 0.35
                notes.append(Note(start + position, 0.5, HI_BONGO, velocity, "mute"))
        if last_bar and section.name != "outro":
            for step in range(8):
                drum = HI_BONGO if rng.random() < 0.5 else LOW_BONGO
                notes.append(
                    Note(start + 2.0 + step * 0.25, 0.25, drum, 0.55 + 0.05 * step, "open")
                )
    notes.append(Note(final_beat(arrangement), 1.0, LOW_BONGO, 0.9, "open"))
    return notes


GUIRA_BEATS = {
    # (offset in the beat, duration, long stroke?) per pattern: long-short-short and kin.
    "long-short-short": ((0.0, 0.5, True), (0.5, 0.25, False), (0.75, 0.25, False)),
    "long-short": ((0.0, 0.5, True), (0.5, 0.5, False)),
    "short-short-long": ((0.0, 0.25, False), (0.25, 0.25, False), (0.5, 0.5, True)),
    "sixteenths": ((0.0, 0.25, True), (0.25, 0.25, False), (0.5, 0.25, False), (0.75, 0.25, False)),
}


def guira_part(arrangement: Arrangement, scale, rng: np.random.Generator) -> list[Note]:
    """Scrapes on every beat (long–short–short and variations), accent on 4, busy mambo."""
    notes = []
    calm = [str(rng.choice(list(GUIRA_BEATS)[:3])) for _ in range(2)]
    for section, _, start, _, _ in section_bars(arrangement):
        if section.name == "intro":
            continue
        for beat in range(BEATS_PER_BAR):
            if section.feel == "mambo":
                pattern = "sixteenths" if beat % 2 else "long-short-short"
            else:
                pattern = calm[0] if beat < 3 else calm[1]
            accent = 0.25 if beat == 3 else 0.0
            for offset, duration, long in GUIRA_BEATS[pattern]:
                velocity = (0.75 if long else 0.5) + (accent if offset == 0 else 0.0)
                pitch = LONG_GUIRO if long else SHORT_GUIRO
                notes.append(Note(start + beat + offset, duration, pitch, velocity))
    notes.append(Note(final_beat(arrangement), 0.5, LONG_GUIRO, 0.9))
    return notes


BASS_PATTERNS = (
    # (beat, chord degree or "next" for the anticipation of the next bar's root, beats)
    ((0.0, "root", 2.0), (2.0, "fifth", 1.5), (3.5, "next", 0.5)),
    (
        (0.0, "root", 1.0),
        (1.5, "root", 0.5),
        (2.0, "fifth", 1.0),
        (3.0, "third", 0.5),
        (3.5, "next", 0.5),
    ),
    ((0.0, "root", 1.5), (2.0, "fifth", 1.0), (3.0, "fifth", 0.5), (3.5, "next", 0.5)),
)


def bass_part(arrangement: Arrangement, scale, rng: np.random.Generator) -> list[Note]:
    """Root and fifth lines that anticipate the next chord's root on 4& (tied over the bar)."""
    notes = []
    pattern = BASS_PATTERNS[rng.integers(len(BASS_PATTERNS))]
    anticipated = False
    last_start = final_beat(arrangement) - BEATS_PER_BAR
    for section, _, start, chord, following in section_bars(arrangement):
        if section.name == "intro":
            continue
        pattern_here = BASS_PATTERNS[1] if section.feel == "mambo" else pattern
        root = pitch_in_range(chord.root, 33, 44, rng) if not anticipated else None
        for beat, degree, duration in pattern_here:
            if beat == 0.0 and anticipated:
                continue  # the anticipation is tied into this downbeat
            if degree == "next" and start == last_start:
                continue  # the closing hit follows instead
            if degree == "next":
                pitch = nearest_pitch(following.root, notes[-1].pitch if notes else 40)
                pitch = pitch if 28 <= pitch <= 47 else pitch_in_range(following.root, 33, 44, rng)
                notes.append(Note(start + beat, duration + 1.0, pitch, 0.85))
                continue
            reference = root if root is not None else notes[-1].pitch
            interval = {"root": 0, "third": chord_third(chord), "fifth": 7}[degree]
            pitch = nearest_pitch((chord.root + interval) % 12, reference)
            notes.append(Note(start + beat, duration, pitch, 0.9 if beat == 0 else 0.75))
        anticipated = True
    last = arrangement.sections[-1].chords[-1]
    notes.append(Note(final_beat(arrangement), 2.0, pitch_in_range(last.root, 33, 44, rng), 0.95))
    return notes


def chord_third(chord: Chord) -> int:
    return QUALITIES[chord.quality][1]


# Sixteenth-note slots (of a bar) on which the requinto plays, per feel.
REQUINTO_RHYTHMS = {
    "derecho": ((0, 2, 3, 4, 6, 8, 10, 11, 12, 14), (0, 2, 4, 5, 6, 8, 10, 12, 13, 14)),
    "majao": ((0, 3, 4, 6, 8, 11, 12, 14), (2, 3, 6, 7, 10, 11, 14)),
    "mambo": ((0, 2, 3, 4, 6, 7, 8, 10, 11, 12, 14, 15), (0, 1, 2, 4, 6, 8, 9, 10, 12, 14)),
}


def guitar_part(arrangement: Arrangement, scale, rng: np.random.Generator) -> list[Note]:
    """Requinto arpeggio riffs over the chords plus a rhythm guitar in the section's feel."""
    notes = []
    contour = rng.choice([-1, 1], size=16)
    for section, index, start, chord, _ in section_bars(arrangement):
        rhythms = REQUINTO_RHYTHMS[section.feel]
        slots = rhythms[index % 2] if section.name != "intro" or rng.random() < 0.8 else rhythms[0]
        tones = sorted({nearest_pitch(pc, 72) for pc in chord.pitch_classes})
        tones = tones + [tone + 12 for tone in tones]
        position = int(rng.integers(len(tones) // 2))
        for number, slot in enumerate(slots):
            position = int(np.clip(position + contour[number % 16], 0, len(tones) - 1))
            pitch = tones[position]
            if rng.random() < 0.12:  # a passing tone from the scale
                pitch = nearest_pitch(scale[int(rng.integers(len(scale)))], pitch)
            velocity = 0.85 if slot % 4 == 0 else 0.65
            notes.append(Note(start + slot / 4, 0.5, pitch, velocity))
        notes.extend(rhythm_guitar_bar(start, chord, section.feel, rng))
    if arrangement.pickup_beats:
        first = arrangement.sections[0].chords[0]
        tones = sorted({nearest_pitch(pc, 76) for pc in first.pitch_classes}, reverse=True)
        for number in range(arrangement.pickup_beats * 2):
            beat = -arrangement.pickup_beats + number * 0.5
            notes.append(Note(beat, 0.5, tones[number % len(tones)], 0.7))
    last = arrangement.sections[-1].chords[-1]
    for pitch in sorted({nearest_pitch(pc, 60) for pc in last.pitch_classes}):
        notes.append(Note(final_beat(arrangement), 2.0, pitch, 0.85))
    return notes


def rhythm_guitar_bar(
    start: float, chord: Chord, feel: str, rng: np.random.Generator
) -> list[Note]:
    """The segunda: arpeggiated eighths (derecho), muted offbeat stabs (majao) or a riff."""
    voicing = sorted({nearest_pitch(pc, 57) for pc in chord.pitch_classes})
    notes = []
    if feel == "derecho":
        for step in range(8):
            pitch = voicing[(step if step < 4 else 7 - step) % len(voicing)]
            notes.append(Note(start + step * 0.5, 0.5, pitch, 0.55 if step % 2 else 0.65))
    elif feel == "majao":
        for beat in (0.0, 1.5, 2.0, 3.5):
            for number, pitch in enumerate(voicing):
                notes.append(Note(start + beat + 0.01 * number, 0.3, pitch, 0.6, "mute"))
    else:
        for step in range(8):
            pitch = voicing[0] if step % 2 == 0 else voicing[-1]
            notes.append(Note(start + step * 0.5, 0.25, pitch, 0.7, "mute"))
    return notes


# --- interferers: never separation targets ---------------------------------------------


def voice_part(arrangement: Arrangement, scale, rng: np.random.Generator) -> list[Note]:
    """A sung-like melody in phrases over verse and chorus, on chord and scale tones."""
    notes = []
    for section, index, start, chord, _ in section_bars(arrangement):
        if section.name not in ("verse", "chorus") or index % 4 == 3:
            continue
        beat = float(rng.choice([0.0, 0.5, 1.0]))
        pitch = nearest_pitch(chord.root, 67)
        while beat < BEATS_PER_BAR:
            duration = float(rng.choice([0.5, 0.5, 1.0, 1.5, 2.0]))
            duration = min(duration, BEATS_PER_BAR - beat)
            target = scale if rng.random() < 0.4 else chord.pitch_classes
            pitch = nearest_pitch(int(rng.choice(target)), pitch + int(rng.integers(-3, 4)))
            pitch = int(np.clip(pitch, 57, 77))
            notes.append(Note(start + beat, duration * 0.95, pitch, 0.7))
            beat += duration
    return notes


def keys_part(arrangement: Arrangement, scale, rng: np.random.Generator) -> list[Note]:
    """A pad holding each chord through the chorus and mambo."""
    notes = []
    for section, _, start, chord, _ in section_bars(arrangement):
        if section.name not in ("chorus", "mambo"):
            continue
        for pitch in sorted({nearest_pitch(pc, 64) for pc in chord.pitch_classes}):
            notes.append(Note(start, 3.9, pitch, 0.5))
    return notes


def percussion_part(arrangement: Arrangement, scale, rng: np.random.Generator) -> list[Note]:
    """Cowbell on the beats in the mambo, maracas in eighths, conga strokes in the chorus."""
    notes = []
    maracas = rng.random() < 0.5
    for section, _, start, _, _ in section_bars(arrangement):
        if section.name == "mambo" or (section.name == "chorus" and rng.random() < 0.5):
            for beat in range(BEATS_PER_BAR):
                notes.append(Note(start + beat, 0.5, COWBELL, 0.8 if beat % 2 == 0 else 0.6))
        if maracas and section.name in ("verse", "chorus"):
            for step in range(8):
                notes.append(Note(start + step * 0.5, 0.25, MARACAS, 0.5 if step % 2 else 0.35))
        if section.name == "chorus":
            for beat, drum in ((1.0, MUTE_HI_CONGA), (2.5, OPEN_HI_CONGA), (3.5, LOW_CONGA)):
                notes.append(Note(start + beat, 0.5, drum, 0.6))
    return notes


PART_WRITERS: dict[str, Callable[..., list[Note]]] = {
    "bongo": bongo_part,
    "guira": guira_part,
    "bass": bass_part,
    "guitar": guitar_part,
    "voice": voice_part,
    "keys": keys_part,
    "percussion": percussion_part,
}
