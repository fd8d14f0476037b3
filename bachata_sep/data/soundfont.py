"""SoundFont rendering with FluidSynth: sampled guitars, basses and GM bongos and güiros.

Each part is rendered in its own pass (a fresh program, all voices reset), so it comes
out as its own stem. FluidSynth's reverb and chorus are off: the mix adds its own effects
per part, which keeps the stems summing to the mixture.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import BadInputError
from .patterns import Note
from .timbres import DRUM_KIT, Timbre, bank_and_program

DRUM_CHANNEL, MELODIC_CHANNEL = 9, 0
DRUM_BANK = 128
SYNTH_GAIN = 0.5
# A reused synthesiser renders the same part the same way only from the same state: note
# events land on its 64-sample blocks, so every render ends on a multiple of them, after
# the last tails have died out; only a fresh synthesiser's first render with notes differs,
# at about -80 dB. Its output is read as float: the 16-bit output (pyfluidsynth's
# get_samples) is dithered from a table drawn afresh in every process, so one seed's song
# differed from one process to the next (by 52-78 dB SNR; an evaluation's figures moved by
# up to 0.9 dB).
SYNTH_BLOCK = 64
TAIL_DRAIN_SECONDS = 0.25


@lru_cache(maxsize=2)
def synth_for(path: str, sample_rate: int):
    """A FluidSynth synthesiser with ``path`` loaded (loading FluidR3 takes ~0.7 s)."""
    import fluidsynth

    if not Path(path).is_file():
        raise BadInputError(f"SoundFont {path} not found")
    synth = fluidsynth.Synth(
        gain=SYNTH_GAIN,
        samplerate=sample_rate,
        **{"synth.reverb.active": 0, "synth.chorus.active": 0},
    )
    font = synth.sfload(path)
    if font < 0:
        raise BadInputError(f"FluidSynth cannot load {path} as a SoundFont")
    return synth, font


def note_events(notes: list[Note], sample_rate: int) -> list[tuple[int, int, int, int]]:
    """(sample, on?, key, velocity) events, a note-off never cutting a repeat of its key."""
    events = []
    next_start: dict[int, int] = {}
    for note in sorted(notes, key=lambda n: n.start, reverse=True):
        start = int(round(note.start * sample_rate))
        end = start + max(1, int(note.duration * sample_rate))
        if note.pitch in next_start:
            end = min(end, next_start[note.pitch] - 1)
        next_start[note.pitch] = start
        velocity = int(np.clip(round(note.velocity * 127), 1, 127))
        events += [(start, 1, note.pitch, velocity), (max(end, start + 1), 0, note.pitch, 0)]
    return sorted(events, key=lambda event: (event[0], event[1]))


def render_part(notes: list[Note], timbre: Timbre, sample_rate: int, length: int) -> np.ndarray:
    """Render one part (notes in seconds) with one SoundFont timbre: mono float32."""
    synth, font = synth_for(str(timbre.soundfont), sample_rate)
    synth.system_reset()
    if timbre.preset == DRUM_KIT:
        channel = DRUM_CHANNEL
        synth.program_select(channel, font, DRUM_BANK, 0)
    else:
        channel = MELODIC_CHANNEL
        if synth.program_select(channel, font, *bank_and_program(timbre.preset)) != 0:
            raise BadInputError(f"{timbre.soundfont} has no program {timbre.preset}")
    blocks = []
    position = 0
    for sample, on, key, velocity in note_events(notes, sample_rate):
        if sample >= length:
            break
        if sample > position:
            blocks.append(write_float(synth, sample - position))
            position = sample
        if on:
            synth.noteon(channel, key, velocity)
        else:
            synth.noteoff(channel, key)
    if position < length:
        blocks.append(write_float(synth, length - position))
    synth.all_notes_off(channel)
    synth.all_sounds_off(channel)
    drain = -length % SYNTH_BLOCK
    while drain < TAIL_DRAIN_SECONDS * sample_rate:
        drain += SYNTH_BLOCK
    write_float(synth, drain)
    stereo = np.concatenate(blocks).reshape(-1, 2)[:length]
    return stereo.mean(axis=1)


@lru_cache(maxsize=1)
def float_writer():
    """libfluidsynth's ``fluid_synth_write_float``, typed once (pyfluidsynth wraps only the
    16-bit writer)."""
    import fluidsynth

    write = fluidsynth._fl.fluid_synth_write_float
    write.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    write.argtypes += [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    return write


def write_float(synth, frames: int) -> np.ndarray:
    """The synthesiser's next ``frames`` stereo frames as interleaved float32, undithered."""
    out = np.zeros(2 * frames, dtype=np.float32)
    pointer = out.ctypes.data_as(ctypes.c_void_p)
    if float_writer()(synth.synth, frames, pointer, 0, 2, pointer, 1, 2) != 0:
        raise RuntimeError("FluidSynth failed to render")
    return out
