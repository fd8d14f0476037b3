"""Figures of songs and stems: waveforms with beats and downbeats, spectrogram heatmaps.

Drawing functions take a matplotlib ``Axes``, so the app and the evaluation figures compose
them freely; ``figure_to_image`` and ``save_png`` turn a figure into what each needs. Only
the object-oriented API is used (no pyplot state), so figures can be drawn from the app's
worker threads at the same time.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import soxr
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .audio import to_mono
from .beat_tracking import BeatGrid
from .spec import ClipSpec
from .transforms import heatmap, model_magnitude

HEATMAP_COLORMAP = "magma"
# Enough columns for a sharp picture of a 10-minute song at screen width, few enough to be
# drawn in a fraction of a second.
MAX_COLUMNS = 1600
BEAT_COLOUR = "#9e9e9e"
DOWNBEAT_COLOUR = "#d62728"
WAVE_COLOUR = "#1f77b4"


def song_heatmap(samples: np.ndarray, sample_rate: int, spec: ClipSpec | None = None) -> np.ndarray:
    """The model's heatmap (log power in [0, 1], ``(bins, frames)``) of a whole song at its own
    tempo: what the separator sees, without cutting the song into clips."""
    spec = spec or ClipSpec()
    mono = to_mono(np.atleast_2d(samples))
    if sample_rate != spec.sample_rate:
        mono = soxr.resample(mono, sample_rate, spec.sample_rate).astype(np.float32)
    return heatmap(model_magnitude(torch.from_numpy(mono), spec)).numpy()


def draw_waveform(axes: Axes, mono: np.ndarray, sample_rate: int, grid: BeatGrid | None) -> None:
    """Min/max envelope of the audio (one column per pixel, so long songs stay fast) with
    beats as grey lines and downbeats, the "1"s, as red ones."""
    columns = max(1, min(MAX_COLUMNS, len(mono)))
    buckets = np.array_split(mono, columns)
    lower = np.array([bucket.min() for bucket in buckets])
    upper = np.array([bucket.max() for bucket in buckets])
    times = np.linspace(0, len(mono) / sample_rate, columns)
    axes.fill_between(times, lower, upper, color=WAVE_COLOUR, linewidth=0.5)
    if grid is not None:
        axes.vlines(grid.beats, -1, 1, colors=BEAT_COLOUR, linewidth=0.6, label="beat")
        axes.vlines(grid.downbeats, -1, 1, colors=DOWNBEAT_COLOUR, linewidth=1.2, label="downbeat")
        axes.legend(
            loc="lower center", bbox_to_anchor=(0.7, 1.0), ncols=2, fontsize=7, frameon=False
        )
    peak = max(float(np.abs(mono).max()), 1e-3)
    axes.set_ylim(-1.05 * peak, 1.05 * peak)
    axes.set_xlim(0, len(mono) / sample_rate)
    axes.set_xlabel("time (s)")
    axes.set_yticks([])


def draw_heatmap(axes: Axes, values: np.ndarray, seconds: float, max_hz: float) -> None:
    """A ``(bins, frames)`` heatmap in [0, 1], low frequencies at the bottom, on axes in
    seconds and kHz."""
    frames = values.shape[-1]
    if frames > MAX_COLUMNS:
        values = _shrink_columns(values, MAX_COLUMNS)
    axes.imshow(
        values,
        origin="lower",
        aspect="auto",
        cmap=HEATMAP_COLORMAP,
        vmin=0.0,
        vmax=1.0,
        extent=(0.0, seconds, 0.0, max_hz / 1000),
        interpolation="nearest",
    )
    axes.set_xlabel("time (s)")
    axes.set_ylabel("kHz")


def waveform_image(
    mono: np.ndarray, sample_rate: int, grid: BeatGrid | None, title: str = ""
) -> np.ndarray:
    """The song's waveform with beats and downbeats as an RGB image."""
    return _render(lambda axes: draw_waveform(axes, mono, sample_rate, grid), title, (10, 2.2))


def heatmap_image(values: np.ndarray, seconds: float, max_hz: float, title: str = "") -> np.ndarray:
    """A heatmap with labelled axes as an RGB image."""
    return _render(lambda axes: draw_heatmap(axes, values, seconds, max_hz), title, (10, 2.6))


def figure_to_image(figure: Figure) -> np.ndarray:
    """Rasterise a figure into an ``(height, width, 3)`` uint8 array."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_png(figure: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Write a figure as a PNG (folders created as needed)."""
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=dpi)


def _render(draw: Callable[[Axes], None], title: str, size: tuple[float, float]) -> np.ndarray:
    figure = Figure(figsize=size, dpi=100, layout="constrained")
    axes = figure.add_subplot()
    draw(axes)
    if title:
        axes.set_title(title, fontsize=10, loc="left")
    return figure_to_image(figure)


def _shrink_columns(values: np.ndarray, columns: int) -> np.ndarray:
    """Max over groups of neighbouring frames: short hits stay visible when shrunk."""
    groups = np.array_split(np.arange(values.shape[-1]), columns)
    return np.stack([values[:, group].max(axis=-1) for group in groups], axis=-1)
