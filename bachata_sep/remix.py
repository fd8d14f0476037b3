"""Remixing separated stems: each instrument and "the rest" at a gain of its own.

A listener wants "everything but the guitar" or "the bongo and güira louder": that is a
weighted sum of tracks already separated, with no second separation. "The rest" is the
mixture minus the separated stems (voice, keys, whatever was not asked for), so with every
gain at 1 the remix is the song again. Gains are linear, from 0 (silent) to 2 (+6 dB).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection, Mapping

import numpy as np
import soundfile as sf

from .audio import write_audio
from .errors import BadInputError

REST = "rest"
MAX_GAIN = 2.0
# 16-bit PCM full scale.
INT16_SCALE = 32768


def rest_of(mixture: np.ndarray, stems: Mapping[str, np.ndarray]) -> np.ndarray:
    """The mixture minus the stems: what no separated instrument claimed."""
    rest = np.array(mixture, dtype=np.float32, copy=True)
    for name, stem in stems.items():
        if stem.shape != rest.shape:
            raise BadInputError(
                f"the {name} stem is shaped {stem.shape}, the mixture {rest.shape}: "
                "stems must match the mixture"
            )
        rest -= stem
    return rest


def solo_and_mute(
    gains: Mapping[str, float], soloed: Collection[str] = (), muted: Collection[str] = ()
) -> dict[str, float]:
    """The gains a mixing desk's buttons leave: with any track soloed only the soloed ones
    sound; a muted track is silent. Each keeps its own gain, so unmuting restores it."""
    for name in [*soloed, *muted]:
        if name not in gains:
            raise BadInputError(f"there is no {name!r} track to solo or mute")
    return {
        name: 0.0 if name in muted or (soloed and name not in soloed) else gain
        for name, gain in gains.items()
    }


def remix(tracks: Mapping[str, np.ndarray], gains: Mapping[str, float]) -> np.ndarray:
    """``Σ gain × track`` in float32; a track not in ``gains`` keeps gain 1 (as it was in
    the song). Tracks share one shape: the song's channels and length."""
    if not tracks:
        raise BadInputError("there is nothing to remix: separate a song first")
    _check_gains(gains, tracks)
    shapes = {track.shape for track in tracks.values()}
    if len(shapes) != 1:
        raise BadInputError(f"tracks to remix must all have one shape, not {sorted(shapes)}")
    return _weighted_sum(tracks, gains, tracks.__getitem__, shapes.pop())


def remix_files(
    paths: Mapping[str, str | os.PathLike], gains: Mapping[str, float], output: str | os.PathLike
) -> None:
    """Remix the track files ``paths`` into ``output`` (atomically) at their own rate,
    channels, length and bit depth. A mix whose gains push it past full scale is scaled
    down to full scale as a whole rather than clipped: a little quieter, never distorted.

    16-bit tracks are read and written as integers: converting 2 × 10 M samples to and
    from float in libsndfile took most of a second for a 4-minute song."""
    _check_gains(gains, paths)
    infos = {name: sf.info(str(path)) for name, path in paths.items()}
    formats = {
        (info.samplerate, info.channels, info.frames, info.subtype) for info in infos.values()
    }
    if len(formats) != 1:
        raise BadInputError("the tracks to remix differ in rate, channels, length or bit depth")
    sample_rate, channels, frames, subtype = formats.pop()
    integer = subtype == "PCM_16"

    def read(name: str) -> np.ndarray:
        dtype = "int16" if integer else "float32"
        return sf.read(str(paths[name]), dtype=dtype, always_2d=True)[0]

    # In the files' own (frames, channels) layout, 16-bit tracks scaled as they are added.
    scale = 1 / INT16_SCALE if integer else 1.0
    mix = _weighted_sum(paths, gains, read, (frames, channels), scale)
    peak = float(np.abs(mix).max(initial=0.0))
    if peak > 1.0:
        mix /= peak
    if integer:
        mix *= INT16_SCALE
        np.clip(np.rint(mix, out=mix), -INT16_SCALE, INT16_SCALE - 1, out=mix)
        mix = mix.astype(np.int16)
    write_audio(output, mix.T, sample_rate, subtype)


def _weighted_sum(
    names: Collection[str],
    gains: Mapping[str, float],
    read: Callable[[str], np.ndarray],
    shape: tuple[int, ...],
    scale: float = 1.0,
) -> np.ndarray:
    """``Σ gain × scale × read(name)`` in float32; a name not in ``gains`` keeps gain 1, and
    a silent track is never read."""
    mix = np.zeros(shape, dtype=np.float32)
    scaled = np.empty_like(mix)
    for name in names:
        gain = float(gains.get(name, 1.0))
        if gain:
            mix += np.multiply(read(name), np.float32(gain * scale), out=scaled)
    return mix


def _check_gains(gains: Mapping[str, float], tracks: Collection[str]) -> None:
    for name, gain in gains.items():
        if name not in tracks:
            raise BadInputError(f"there is no {name!r} track to remix")
        if not isinstance(gain, int | float) or not math.isfinite(gain):
            raise BadInputError(f"the {name} gain must be a number, not {gain!r}")
        if not 0 <= gain <= MAX_GAIN:
            raise BadInputError(f"the {name} gain is {gain:g}: gains go from 0 to {MAX_GAIN:g}")
