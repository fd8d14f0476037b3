"""Every timbre a part can be rendered with, and the split that keeps evaluation honest.

A timbre is a procedural preset, a (SoundFont, GM program) pair or a set of real recorded
samples. The split is by timbre *and* by seed: training uses procedural presets, FluidR3
GM, TimGM6mb and the real sample sets; one procedural preset per part is held out for
validation and one for test, and the MuseScore General SoundFont is test-only, so
evaluation timbres are never heard in training. A timbre's *family* (its SoundFont, the
procedural presets, or one sample set) is the unit a held-out-source evaluation leaves out
of training as a whole: a held-out preset of a family training knows is not held out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BadInputError
from . import singer
from .patterns import PARTS
from .procedural import PRESETS

SOUNDFONTS = {
    "fluidr3": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    "timgm6mb": Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    "musescore": Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
}
TRAIN_SOUNDFONTS = ("fluidr3", "timgm6mb")
SAMPLES = "samples"  # the source of timbres played from real recorded one-shots
DRUM_KIT = "kit"  # the preset of a percussion timbre: GM drum kit 0 on bank 128
DRUM_PARTS = ("bongo", "guira", "percussion")
# GM programs per melodic part: guitars 24-27, basses 32-35, choir/voice, keys and pads.
GM_PROGRAMS = {
    "guitar": (24, 25, 26, 27),
    "bass": (32, 33, 34, 35),
    "voice": (52, 53, 54),
    "keys": (0, 4, 5, 48, 88, 89),
}
# The training SoundFonts' other guitars, as "bank:program" (FluidR3: palm-muted, ukulele,
# 12-string, Hawaiian, funk, mandolin; TimGM6mb: mutes): drawn only with
# ``extra_programs``, so libraries rendered without it stay as they were. Two are held out
# so that validation can tell whether more sampled guitars help on unseen sampled ones.
VARIATION_PROGRAMS = {
    "fluidr3": {"guitar": ("0:28", "8:24", "8:25", "8:26", "8:28", "16:25")},
    "timgm6mb": {"guitar": ("0:28",)},
}
VALID_VARIATIONS = frozenset({"fluidr3/guitar/8:26", "timgm6mb/guitar/0:28"})
# Held-out procedural presets, one per part for validation and one for test.
VALID_PRESETS = {
    "guitar": "dark-archtop",
    "bass": "upright",
    "bongo": "bright",
    "guira": "dark",
    "voice": "oh",
    "keys": "strings",
    "percussion": "bright",
}
TEST_PRESETS = {
    "guitar": "clean-electric",
    "bass": "fretless",
    "bongo": "dry",
    "guira": "soft",
    "voice": "eh",
    "keys": "electric-piano",
    "percussion": "low",
}
# Families that share their recordings with another: MuseScore General is derived from
# FluidR3 (its bongo, güira and bass stems of one song correlate at 0.99 with FluidR3's),
# so it is held out only from a model that never heard FluidR3 either.
DERIVED_FAMILIES = {"musescore": "fluidr3"}
SPLITS = ("train", "valid", "test")
# Song seeds per split; the shipped examples use seeds above all of them.
SEED_RANGES = {
    "train": range(0, 1_000_000),
    "valid": range(1_000_000, 2_000_000),
    "test": range(2_000_000, 3_000_000),
}


@dataclass(frozen=True)
class Timbre:
    """How one part sounds: ``source`` is "procedural", a SoundFont name, or a path."""

    part: str
    source: str
    preset: str  # a procedural preset name, a GM program number, DRUM_KIT, or a sample set

    @property
    def name(self) -> str:
        source = Path(self.source).name if self.is_custom else self.source
        return f"{source}/{self.part}/{self.preset}"

    @property
    def is_custom(self) -> bool:
        return self.source not in ("procedural", SAMPLES, *singer.SOURCES, *SOUNDFONTS)

    @property
    def family(self) -> str:
        """The source family held out as a whole: a sample set, else the source's name."""
        return family_of(self.name)

    @property
    def soundfont(self) -> Path:
        return SOUNDFONTS.get(self.source, Path(self.source))


def soundfont_timbres(source: str, part: str, extra_programs: bool = False) -> list[Timbre]:
    """The source's timbres of ``part``; with ``extra_programs`` its variation programs too."""
    presets = [DRUM_KIT] if part in DRUM_PARTS else [str(p) for p in GM_PROGRAMS[part]]
    if extra_programs:
        presets += VARIATION_PROGRAMS.get(source, {}).get(part, ())
    return [Timbre(part, source, preset) for preset in presets]


def bank_and_program(preset: str) -> tuple[int, int]:
    """A SoundFont preset as (bank, program): "25" is GM bank 0, "8:25" a variation bank."""
    bank, _, program = preset.rpartition(":")
    return int(bank or 0), int(program)


def _split_of_procedural(timbre: Timbre) -> str:
    if timbre.preset == TEST_PRESETS[timbre.part]:
        return "test"
    return "valid" if timbre.preset == VALID_PRESETS[timbre.part] else "train"


def family_of(timbre_name: str) -> str:
    """The family of a timbre name: ``samples/guitar/emily-guitar`` → ``emily-guitar``,
    ``fluidr3/bass/33`` → ``fluidr3``."""
    source, _, rest = timbre_name.partition("/")
    return rest.rpartition("/")[2] if source == SAMPLES else source


def is_held_out(family: str, trained_on: Collection[str]) -> bool:
    """Whether a model trained on the families ``trained_on`` never heard ``family``'s
    recordings, under its own name or another."""
    return family not in trained_on and DERIVED_FAMILIES.get(family) not in trained_on


def split_of(timbre: Timbre) -> str:
    """Which split may use ``timbre``: MuseScore and held-out presets are never "train";
    real sample sets are training data (held out by family, see ``choose_timbres``)."""
    if timbre.source == "procedural":
        return _split_of_procedural(timbre)
    if timbre.source == SAMPLES:
        return "train"
    if timbre.source in singer.SOURCES:
        return "test"  # evaluation voices, like MuseScore General
    if timbre.name in VALID_VARIATIONS:
        return "valid"
    return "train" if timbre.source in TRAIN_SOUNDFONTS else "test"


PROCEDURAL_TIMBRES = tuple(
    Timbre(part, "procedural", preset) for part in PARTS for preset in PRESETS[part]
)
SOUNDFONT_TIMBRES = tuple(
    timbre for source in SOUNDFONTS for part in PARTS for timbre in soundfont_timbres(source, part)
)
TIMBRES = PROCEDURAL_TIMBRES + SOUNDFONT_TIMBRES
VARIATION_TIMBRES = tuple(
    Timbre(part, source, preset)
    for source, programs in VARIATION_PROGRAMS.items()
    for part, presets in programs.items()
    for preset in presets
)
SINGER_TIMBRES = tuple(
    Timbre(singer.PART, source, name) for source, names in singer.SINGERS.items() for name in names
)
ALL_TIMBRES = TIMBRES + VARIATION_TIMBRES + SINGER_TIMBRES
TRAIN_TIMBRES = frozenset(t.name for t in ALL_TIMBRES if split_of(t) == "train")
VALID_TIMBRES = frozenset(t.name for t in ALL_TIMBRES if split_of(t) == "valid")
TEST_TIMBRES = frozenset(t.name for t in ALL_TIMBRES if split_of(t) == "test")


def split_of_seed(seed: int) -> str | None:
    """The split whose seed range holds ``seed``; None for seeds outside all of them."""
    return next((split for split, seeds in SEED_RANGES.items() if seed in seeds), None)


def resolve_source(source: str) -> str:
    """Check a ``--timbres`` value: procedural, mixed, samples, a SoundFont name, or a file."""
    if source in ("procedural", "mixed", SAMPLES):
        return source
    path = SOUNDFONTS.get(source, Path(source))
    if source not in SOUNDFONTS and path.suffix.lower() not in (".sf2", ".sf3"):
        raise BadInputError(
            f"unknown timbre source {source!r}: use procedural, mixed, {SAMPLES}, "
            f"{', '.join(SOUNDFONTS)} or the path of a .sf2/.sf3 file"
        )
    if not path.is_file():
        hint = (
            " (install the Debian SoundFont packages, see setup.sh)" if source in SOUNDFONTS else ""
        )
        raise BadInputError(f"SoundFont {path} not found{hint}")
    return source


def choose_timbres(
    rng: np.random.Generator,
    source: str = "procedural",
    split: str | None = None,
    extra_programs: bool = False,
    sample_timbres: Sequence[Timbre] = (),
    exclude: Collection[str] = (),
) -> dict[str, Timbre]:
    """One timbre per part. ``source`` "mixed" draws each part from all the split's sources
    (with ``sample_timbres``, a family first, so a sample set weighs as much as a
    SoundFont); "samples" plays every part that has samples from them
    and the others from the split's procedural presets; ``split`` None allows every timbre
    of the source (a user's explicit choice); ``extra_programs`` adds the SoundFonts'
    variation programs to the draw; ``exclude`` leaves whole families out (to train
    without a source and measure on it)."""
    source = resolve_source(source)
    pool = (*TIMBRES, *(VARIATION_TIMBRES if extra_programs else ()), *sample_timbres)
    chosen = {}
    for part in PARTS:
        sampled = [t for t in sample_timbres if t.part == part]
        if source == "mixed":
            candidates = [
                t
                for t in pool
                if t.part == part and (t.source in ("procedural", SAMPLES) or t.soundfont.is_file())
            ]
        elif source == "procedural" or (source == SAMPLES and not sampled):
            candidates = [t for t in PROCEDURAL_TIMBRES if t.part == part]
        elif source == SAMPLES:
            candidates = sampled
        else:
            candidates = soundfont_timbres(source, part, extra_programs)
        # Sample sets asked for by name are a user's explicit choice, whatever the seed.
        by_split = source in ("mixed", "procedural") or (source == SAMPLES and not sampled)
        if split is not None and by_split:
            candidates = [t for t in candidates if split_of(t) == split]
        candidates = [t for t in candidates if t.family not in exclude] or [
            t
            for t in PROCEDURAL_TIMBRES
            if t.part == part
            and "procedural" not in exclude
            and (split is None or split_of(t) == split)
        ]
        if not candidates:
            raise BadInputError(f"leaving out {', '.join(sorted(exclude))} leaves no {part}")
        if sample_timbres and source == "mixed":
            # A family first, then one of its timbres: one real sample set weighs as much
            # as a SoundFont with its dozen programs (draws without samples stay as they were).
            families = sorted({t.family for t in candidates})
            family = families[rng.integers(len(families))]
            candidates = [t for t in candidates if t.family == family]
        chosen[part] = candidates[rng.integers(len(candidates))]
    return chosen
