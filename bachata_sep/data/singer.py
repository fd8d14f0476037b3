"""A sung lead voice: Spanish syllables from a speech synthesiser, re-pitched onto the melody.

The procedural voice and the SoundFont choirs hold one vowel per note; a real singer
has consonants (sibilants up where the güira lives, plosives on the bongo's attacks),
moving formants and slides, all in the guitar's register. A speech synthesiser speaks
random Spanish syllables, and Praat's pitch-synchronous overlap-add
(``praat-parselmouth``) stretches each phrase onto its notes and sings it on their
pitches with vibrato and scoops.

Two synthesisers, two families, both for evaluation only (``benchmarks/sung_voice.py``:
what a real lead vocal may cost a model that never heard one; training on them did not
pay, docs/data.md): espeak-ng (formant synthesis, Debian ``espeak-ng``) and Festival
(Debian ``festival`` with its Italian diphone and US English HTS voices, built from
recordings of real speakers).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ..errors import BadInputError
from .patterns import Note
from .procedural import midi_hz

PART = "voice"
ESPEAK = "espeak"
FESTIVAL = "festival"
SOURCES = (ESPEAK, FESTIVAL)
LANGUAGES = ("es", "es-419")  # espeak-ng's Spanish rules: Spain, Latin America
# espeak-ng voice variants: two men, two women, each its own formant set and base pitch.
ESPEAK_SINGERS = ("m8", "f3", "klatt6", "linda")
# Festival's voices: Debian festvox-italp16k, -itapc16k, -us-slt-hts. (Its Catalan HTS
# voice is left out: its creaky onsets stay unpitched under the overlap-add.)
FESTIVAL_SINGERS = ("lp_diphone", "pc_diphone", "cmu_us_slt_arctic_hts")
SINGERS = {ESPEAK: ESPEAK_SINGERS, FESTIVAL: FESTIVAL_SINGERS}
PROGRAMS = {ESPEAK: ("espeak-ng", "espeak-ng"), FESTIVAL: ("text2wave", "festival")}
# Spanish syllables a bachata lyric is made of (and the consonants that come with them).
SYLLABLES = (
    "a", "e", "o", "u", "mi", "me", "ma", "mo", "te", "ta", "tu", "lo", "la", "le", "no",
    "ni", "nun", "que", "quie", "ro", "ra", "re", "co", "zon", "mor", "por", "de", "da",
    "di", "se", "si", "su", "yo", "vi", "ven", "ca", "be", "bes", "so", "ga", "ne", "cie",
    "bai", "lar", "llo", "llan", "cho", "sien", "to", "pre", "dor", "cuan", "gus", "fue",
    "ras", "tras", "bra", "cla", "plo",
)  # fmt: skip
PHRASE_GAP_SECONDS = 0.3  # notes further apart than this start a new breath
SPEECH_RATE_WPM = (110, 190)
VIBRATO_HZ = (4.5, 6.5)
VIBRATO_DEPTH = (0.005, 0.025)  # fraction of the pitch
SCOOP_SEMITONES = (0.0, 1.5)  # how far below a note the voice slides in
SCOOP_SECONDS = 0.06
PITCH_FLOOR_HZ, PITCH_CEILING_HZ = 75.0, 600.0  # Praat's pitch analysis range
SILENCE = 1e-3  # the speech's lead-in and tail (re its peak), trimmed before stretching


def require(source: str) -> str:
    """The synthesiser's executable, or a clear error naming the package to install."""
    program, package = PROGRAMS[source]
    path = shutil.which(program)
    if path is None:
        raise BadInputError(f"{program} not found: install the Debian package {package} (setup.sh)")
    return path


def phrases(notes: Sequence[Note]) -> list[list[Note]]:
    """Group notes into breaths: a gap longer than ``PHRASE_GAP_SECONDS`` starts a new one."""
    groups: list[list[Note]] = []
    for note in sorted(notes, key=lambda n: n.start):
        last = groups[-1][-1] if groups else None
        if last is None or note.start - (last.start + last.duration) > PHRASE_GAP_SECONDS:
            groups.append([note])
        else:
            groups[-1].append(note)
    return groups


def lyric(syllable_count: int, rng: np.random.Generator) -> str:
    """Random Spanish-sounding words with ``syllable_count`` syllables in all."""
    words, left = [], syllable_count
    while left > 0:
        size = int(min(left, rng.integers(1, 4)))
        words.append("".join(rng.choice(SYLLABLES, size=size)))
        left -= size
    return " ".join(words)


def speak(
    text: str, program: str, source: str, singer: str, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """The speech of ``text`` by ``program`` (``require(source)``): mono float64 and its
    rate, silence trimmed."""
    with tempfile.TemporaryDirectory() as folder:
        # A file, not a pipe: text2wave writes a piped WAV header with no data length.
        path = Path(folder) / "speech.wav"
        if source == ESPEAK:
            language, words_per_minute = rng.choice(LANGUAGES), rng.integers(*SPEECH_RATE_WPM)
            command = [program, "-v", f"{language}+{singer}", "-s", str(words_per_minute)]
        else:
            command = [program, "-eval", f"(voice_{singer})"]
        command += ["-w" if source == ESPEAK else "-o", str(path)]
        result = subprocess.run(command, input=text.encode(), capture_output=True, check=False)
        if result.returncode != 0 or not path.is_file():
            raise BadInputError(f"{command[0]} failed for the voice {singer}")
        speech, sample_rate = sf.read(path, dtype="float64")
    loud = np.flatnonzero(np.abs(speech) > SILENCE * np.max(np.abs(speech), initial=0.0))
    if not len(loud):
        raise BadInputError(f"{command[0]} said nothing for the voice {singer}")
    return speech[loud[0] : loud[-1] + 1], sample_rate


def sing_phrase(
    phrase: Sequence[Note],
    program: str,
    source: str,
    singer: str,
    sample_rate: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """One breath sung: speech stretched over the phrase's span, on its notes' pitches."""
    # Imported here: Praat takes 0.2 s to load, and only a sung voice needs it.
    import parselmouth
    from parselmouth.praat import call

    start = phrase[0].start
    span = phrase[-1].start + phrase[-1].duration - start
    text = lyric(len(phrase) + int(rng.integers(0, len(phrase) + 1)), rng)
    speech, speech_rate = speak(text, program, source, singer, rng)
    sound = parselmouth.Sound(speech, sampling_frequency=speech_rate)
    length = sound.get_total_duration()
    stretch = span / length
    manipulation = call(sound, "To Manipulation", 0.01, PITCH_FLOOR_HZ, PITCH_CEILING_HZ)
    durations = call("Create DurationTier", "stretch", 0, length)
    call(durations, "Add point", 0, stretch)
    call([durations, manipulation], "Replace duration tier")
    pitches = call("Create PitchTier", "melody", 0, length)
    rate, depth = rng.uniform(*VIBRATO_HZ), rng.uniform(*VIBRATO_DEPTH)
    for note in phrase:
        hertz = midi_hz(note.pitch)
        scoop = 2 ** (-rng.uniform(*SCOOP_SEMITONES) / 12)
        onset = note.start - start
        call(pitches, "Add point", onset / stretch, hertz * scoop)
        for time in np.arange(onset + SCOOP_SECONDS, onset + note.duration, 0.04):
            vibrato = 1 + depth * np.sin(2 * np.pi * rate * time) * min(1.0, time - onset)
            call(pitches, "Add point", time / stretch, hertz * vibrato)
    call([pitches, manipulation], "Replace pitch tier")
    sung = call(manipulation, "Get resynthesis (overlap-add)").values[0]
    return soxr.resample(sung, speech_rate, sample_rate).astype(np.float32)


def render_part(
    notes: Sequence[Note],
    source: str,
    singer: str,
    sample_rate: int,
    length: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """The voice part (notes in seconds) sung by ``source``'s ``singer``: mono float32."""
    if singer not in SINGERS[source]:
        raise BadInputError(
            f"no {source} singer {singer!r}: the singers are {', '.join(SINGERS[source])}"
        )
    program = require(source)
    out = np.zeros(length, dtype=np.float32)
    for phrase in phrases(notes):
        begin = int(round(phrase[0].start * sample_rate))
        if begin >= length:
            continue
        sung = sing_phrase(phrase, program, source, singer, sample_rate, rng)[: length - begin]
        out[begin : begin + len(sung)] += sung
    return out
