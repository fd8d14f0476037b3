"""Tempo that wanders as a live band's does, as a warp of the score's steady seconds.

A tempo curve (the speed relative to the nominal tempo, piecewise linear over score
seconds) integrates into a time map; notes and annotations go through the same map, so
the rendered audio and its beats stay exactly in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import BadInputError

DRIFT_SHAPES = ("sine", "ramp")
# One slow swell of the sine drift: long enough to sound like a band, short enough that
# a 60 s excerpt holds two.
SINE_PERIOD_SECONDS = 30.0
SINE_POINTS_PER_PERIOD = 64
MAX_DRIFT_PERCENT = 20.0
# Step of the numeric integration of the curve (seconds).
RESOLUTION = 0.005


@dataclass(frozen=True)
class TempoCurve:
    """Relative speed ``factors`` at score ``times`` (seconds), linear in between and
    constant beyond; 1.03 plays 3 % fast."""

    times: np.ndarray
    factors: np.ndarray

    def warp(self, seconds: np.ndarray | float | list[float]) -> np.ndarray:
        """Performed time of each score time: the integral of 1 / speed from zero."""
        seconds = np.asarray(seconds, dtype=np.float64)
        grid, performed = self._time_map
        beyond = (seconds - grid[-1]).clip(0.0, None) / self.factors[-1]
        return np.interp(seconds, grid, performed) + beyond

    @cached_property
    def _time_map(self) -> tuple[np.ndarray, np.ndarray]:
        grid = np.arange(0.0, float(self.times[-1]) + 2 * RESOLUTION, RESOLUTION)
        slowness = 1.0 / np.interp(grid, self.times, self.factors)
        steps = 0.5 * (slowness[1:] + slowness[:-1]) * RESOLUTION
        return grid, np.concatenate([[0.0], np.cumsum(steps)])


def drift_curve(shape: str, percent: float, span: float) -> TempoCurve:
    """±``percent`` drift over ``span`` score seconds: a slow sine (starting on tempo) or
    a steady ramp from ``percent`` slow to ``percent`` fast."""
    if shape not in DRIFT_SHAPES:
        raise BadInputError(f"tempo drift shape must be one of {', '.join(DRIFT_SHAPES)}")
    if not 0 <= percent <= MAX_DRIFT_PERCENT:
        raise BadInputError(
            f"tempo drift must be between 0 and {MAX_DRIFT_PERCENT:g} %, not {percent:g}"
        )
    depth = percent / 100
    if shape == "ramp":
        return TempoCurve(np.array([0.0, span]), np.array([1 - depth, 1 + depth]))
    points = int(np.ceil(span / SINE_PERIOD_SECONDS * SINE_POINTS_PER_PERIOD)) + 1
    times = np.linspace(0.0, span, max(points, 2))
    return TempoCurve(times, 1 + depth * np.sin(2 * np.pi * times / SINE_PERIOD_SECONDS))
