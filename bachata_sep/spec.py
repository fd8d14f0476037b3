"""The universal clip format shared by the data engine, the models and the song pipeline.

Every 4-beat clip, whatever its original tempo and sample rate, is FFT-resampled to
``ClipSpec.length`` samples at ``ClipSpec.sample_rate`` before it is turned into a heatmap,
so a model sees every bar at one tempo (``ClipSpec.bpm``) and one size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

INSTRUMENTS: tuple[str, ...] = ("bongo", "guira", "bass", "guitar")
BEATS_PER_BAR = 4
"""Bachata is in 4/4: the songs rendered, the beat tracker and the clips all count bars so."""


@dataclass(frozen=True)
class ClipSpec:
    """Geometry of the model domain: universal tempo, sample rate and STFT."""

    sample_rate: int = 22050
    bpm: float = 130.0
    beats: int = BEATS_PER_BAR
    n_fft: int = 1024
    hop_length: int = 320

    @property
    def length(self) -> int:
        """Samples in one clip of ``beats`` beats at the universal tempo."""
        return round(self.beats * 60.0 / self.bpm * self.sample_rate)

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def n_frames(self) -> int:
        return self.length // self.hop_length + 1

    def to_dict(self) -> dict:
        return asdict(self)
