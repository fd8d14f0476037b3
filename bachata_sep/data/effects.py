"""Domain randomisation with Spotify's ``pedalboard``: how real bachata records sound.

Models trained on our plain renders learned the renderer: dry parts at fixed levels, in
fixed registers, mixed one way. Real records put chorus and reverb on the requinto, an amp
on an electric guitar, compression on the bass, a room on everything, and reach listeners
as MP3s cut at 16 kHz. Each part of a randomised song gets its own random chain (drawn per
song), applied to that part alone, so the stems still sum to the mixture; what happens to
the finished mixture (codec, band limit) is drawn apart, since it breaks that sum.

pedalboard (C++, on numpy arrays) replaces hand-written DSP here: its filters, compressor,
chorus, phaser, delay, reverb, distortion and LAME MP3 codec are tested by their authors
and cost about 2 ms a 2-second clip, fast enough to run per training item.
"""

from __future__ import annotations

import numpy as np
import pedalboard as pb

# Probability of each optional effect, per part family.
CHORUS = {"guitar": 0.5, "bass": 0.1, "keys": 0.4, "voice": 0.2}
AMP = {"guitar": 0.35, "bass": 0.2}
DELAY = {"guitar": 0.2, "voice": 0.3}
PHASER = {"guitar": 0.1, "keys": 0.15}
COMPRESSION = {"bass": 0.8, "guitar": 0.5, "voice": 0.6}
PART_REVERB = {"guitar": 0.5, "voice": 0.6, "keys": 0.5}
DEFAULT_COMPRESSION, DEFAULT_REVERB = 0.4, 0.3
TILT_DB = 6.0  # shelves and one bell, each within ±6 dB
# The finished mixture: a lossy codec (LAME VBR 2-7 is roughly 190 down to 100 kbps) and
# a band limit such as streaming and old CDs have.
CODEC_RATE, BAND_LIMIT_RATE = 0.5, 0.3
VBR_QUALITY = (2.0, 7.0)
BAND_LIMIT_HZ = (11_000.0, 16_000.0)


def stem_chain(part: str, rng: np.random.Generator) -> tuple[pb.Pedalboard, list[str]]:
    """A random effect chain for one part of one song, and a short description of it."""
    effects: list[pb.Plugin] = []
    is_bass = part == "bass"
    effects.append(pb.HighpassFilter(cutoff_frequency_hz=_uniform(rng, 20, 40 if is_bass else 120)))
    effects.append(
        pb.LowShelfFilter(cutoff_frequency_hz=_uniform(rng, 80, 300), gain_db=_tilt(rng))
    )
    effects.append(
        pb.PeakFilter(
            cutoff_frequency_hz=_uniform(rng, 200, 5000),
            gain_db=_tilt(rng),
            q=_uniform(rng, 0.5, 2),
        )
    )
    effects.append(
        pb.HighShelfFilter(cutoff_frequency_hz=_uniform(rng, 3000, 10000), gain_db=_tilt(rng))
    )
    if rng.random() < AMP.get(part, 0.1):
        drive = _uniform(rng, 4, 12) if is_bass else _uniform(rng, 6, 24)
        effects.append(pb.Distortion(drive_db=drive))
        effects.append(pb.LowpassFilter(cutoff_frequency_hz=_uniform(rng, 2500, 7000)))
    if rng.random() < COMPRESSION.get(part, DEFAULT_COMPRESSION):
        effects.append(
            pb.Compressor(
                threshold_db=_uniform(rng, -32, -12),
                ratio=_uniform(rng, 2, 6),
                attack_ms=_uniform(rng, 1, 30),
                release_ms=_uniform(rng, 50, 300),
            )
        )
    if rng.random() < CHORUS.get(part, 0.0):
        effects.append(
            pb.Chorus(
                rate_hz=_uniform(rng, 0.3, 2.0),
                depth=_uniform(rng, 0.1, 0.45),
                centre_delay_ms=_uniform(rng, 4, 12),
                mix=_uniform(rng, 0.2, 0.6),
            )
        )
    if rng.random() < PHASER.get(part, 0.0):
        effects.append(pb.Phaser(rate_hz=_uniform(rng, 0.2, 1.5), mix=_uniform(rng, 0.2, 0.5)))
    if rng.random() < DELAY.get(part, 0.0):
        effects.append(
            pb.Delay(
                delay_seconds=_uniform(rng, 0.08, 0.35),
                feedback=_uniform(rng, 0.1, 0.35),
                mix=_uniform(rng, 0.1, 0.25),
            )
        )
    if rng.random() < PART_REVERB.get(part, DEFAULT_REVERB):
        effects.append(
            pb.Reverb(
                room_size=_uniform(rng, 0.15, 0.75),
                damping=_uniform(rng, 0.2, 0.8),
                wet_level=_uniform(rng, 0.08, 0.3),
                dry_level=1.0,
                width=0.0,
            )
        )
    board = pb.Pedalboard(effects)
    return board, [type(effect).__name__ for effect in effects]


def apply(board: pb.Pedalboard, samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """``samples`` (mono or ``(channels, n)``) through ``board``, same shape, float32."""
    audio = np.ascontiguousarray(np.atleast_2d(samples), dtype=np.float32)
    out = board(audio, float(sample_rate))
    return out.reshape(np.shape(samples)).astype(np.float32)


def mixture_chain(
    rng: np.random.Generator,
    sample_rate: int,
    codec_rate: float = CODEC_RATE,
    band_limit_rate: float = BAND_LIMIT_RATE,
) -> tuple[pb.Pedalboard, list[str]]:
    """What a finished mixture meets on the way to a listener: a band limit (resampling
    down to twice the cut-off and back, below the Nyquist frequency only) and a lossy
    codec, each drawn at its rate."""
    effects: list[pb.Plugin] = []
    names = []
    cutoff = _uniform(rng, *BAND_LIMIT_HZ)
    if rng.random() < band_limit_rate and cutoff < 0.45 * sample_rate:
        effects.append(pb.Resample(target_sample_rate=2 * cutoff))
        names.append(f"band limit {cutoff / 1000:.1f} kHz")
    quality = _uniform(rng, *VBR_QUALITY)
    if rng.random() < codec_rate:
        effects.append(pb.MP3Compressor(vbr_quality=quality))
        names.append(f"mp3 vbr {quality:.1f}")
    return pb.Pedalboard(effects), names


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _tilt(rng: np.random.Generator) -> float:
    return _uniform(rng, -TILT_DB, TILT_DB)
