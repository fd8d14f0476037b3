"""What a beat tracker's timing error costs: the full song pipeline cut on the true bar
lines moved by a few milliseconds, and cut on the tracked ones as they are and moved a
few milliseconds earlier (the pipeline cuts ``CUT_LEAD_SECONDS`` ahead of them).

Each model sees bars cut on the downbeat in training. A tracker that places the downbeat
10 ms late cuts the bar's first hit in two, and a model that has learnt hits at the bar
start can lose dB there. Every row states where the cut lies, so the grid handed to
``separate`` is moved by the lead that ``bar_segments`` takes off again. Scored per true
bar (``evaluate.score_song_bars``), so the rows differ only in where the song was cut.
Use ``--split valid`` for any choice, the test songs only to report.

    python benchmarks/cut_offset.py [--checkpoints checkpoints] [--split test] [--songs 6]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from bachata_sep.api import separate, track
from bachata_sep.beat_tracking import BeatGrid
from bachata_sep.clips import CUT_LEAD_SECONDS
from bachata_sep.data.song import render_song
from bachata_sep.model import ModelSeparator
from bachata_sep.train.evaluate import held_out_songs, score_song_bars

OFFSETS_MS = (-20.0, -10.0, -5.0, 0.0, 5.0, 10.0, 20.0)
TRACKED_SHIFTS_MS = (0.0, -5.0, -10.0, -15.0)
LABELS = (
    *(f"{offset:+.0f} ms" for offset in OFFSETS_MS),
    *(f"tracked {shift:+.0f}" if shift else "tracked" for shift in TRACKED_SHIFTS_MS),
)
LEAD_MS = 1000 * CUT_LEAD_SECONDS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    parser.add_argument("--split", choices=("valid", "test"), default="test")
    parser.add_argument("--songs", type=int, default=6)
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args()

    separator = ModelSeparator.from_folder(args.checkpoints)
    names = separator.instruments
    scores: dict = defaultdict(list)
    late_ms = []
    for held_out in held_out_songs(args.songs, args.split):
        song = render_song(held_out.seed, held_out.source, args.duration)
        beats = np.array(song.annotations["beats"])
        downbeats = np.array(song.annotations["downbeats"])
        tracked = track(song.mixture, song.sample_rate)
        nearest = np.abs(downbeats[None] - tracked.downbeats[:, None]).argmin(axis=1)
        late_ms.append(1000 * float(np.median(tracked.downbeats - downbeats[nearest])))
        truth = BeatGrid(beats, downbeats)
        grids = [
            *(moved(truth, ms + LEAD_MS) for ms in OFFSETS_MS),
            *(moved(tracked, ms + LEAD_MS) for ms in TRACKED_SHIFTS_MS),
        ]
        mixture = score_song_bars(song, dict.fromkeys(names, song.mixture), names)
        for label, grid in zip(LABELS, grids, strict=True):
            stems = separate(
                song.mixture,
                song.sample_rate,
                names,
                separator=separator,
                grid=grid,
                progress=False,
            )
            for name, values in score_song_bars(song, stems, names).items():
                scores[label, name].extend(np.subtract(values, mixture[name]))
    print(
        f"{args.split} songs: {args.songs}; tracked downbeats late by (median per song) "
        + ", ".join(f"{value:+.1f}" for value in late_ms)
        + " ms"
    )
    print(
        "full song SI-SDRi (dB) per true bar, cut on the true bar lines moved by "
        f"(the pipeline cuts {LEAD_MS:.0f} ms ahead of the tracked ones):"
    )
    print(f"{'':12s}" + "".join(f"{name:>9s}" for name in names))
    for label in LABELS:
        row = "".join(f"{np.mean(scores[label, name]):9.2f}" for name in names)
        print(f"{label:12s}{row}")


def moved(grid: BeatGrid, ms: float) -> BeatGrid:
    """``grid`` with every beat ``ms`` milliseconds later (earlier when negative)."""
    return replace(grid, beats=grid.beats + ms / 1000, downbeats=grid.downbeats + ms / 1000)


if __name__ == "__main__":
    main()
