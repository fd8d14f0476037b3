"""Fit the beat tracker's bar template (``BAR_TEMPLATE``) on rendered training songs.

Each song (train-range seed, tempo spread over 110-160 BPM, every training timbre source)
goes through the tracker up to its half-beat grid and bar evidence; the song's bar
profile is rotated so that column 0 is the score's downbeat, and the template is the
mean of these profiles. A leave-one-out check reports how often a template fitted
without a song finds that song's downbeat. Paste the printed array into
bachata_sep/beat_tracking.py.

    python benchmarks/fit_bar_template.py --songs 32
"""

from __future__ import annotations

import argparse

import numpy as np

from bachata_sep.beat_tracking import HALF_BEATS_PER_BAR, LocalTempoTracker, bar_profile
from bachata_sep.data.song import render_song
from bachata_sep.data.timbres import SEED_RANGES

SOURCES = ("procedural", "fluidr3", "timgm6mb", "mixed")
FIRST_SEED = SEED_RANGES["train"].start + 600
# Tempos step by the golden ratio through 110-160 BPM, so any number of songs covers it.
GOLDEN = (5**0.5 - 1) / 2
# A song whose grid misses more of the score's downbeats than this is left out (and named).
MAX_GRID_ERROR_SECONDS = 0.05


def aligned_profile(index: int) -> tuple[int, np.ndarray | None]:
    """The song's bar profile with its downbeat in column 0 (None when the grid is off)."""
    seed = FIRST_SEED + index
    song = render_song(seed, SOURCES[index % len(SOURCES)], None, 110 + 50 * (index * GOLDEN % 1))
    half_beats, evidence = LocalTempoTracker().half_beats(
        song.mixture.mean(axis=0), song.sample_rate
    )
    downbeats = np.asarray(song.annotations["downbeats"])
    nearest = np.abs(half_beats[:, None] - downbeats[None]).argmin(axis=0)
    if np.median(np.abs(half_beats[nearest] - downbeats)) > MAX_GRID_ERROR_SECONDS:
        return seed, None
    shift = np.bincount(nearest % HALF_BEATS_PER_BAR, minlength=HALF_BEATS_PER_BAR).argmax()
    return seed, np.roll(bar_profile(evidence), -shift, axis=1)


def leave_one_out_errors(profiles: np.ndarray) -> list[int]:
    """Indices of the songs whose downbeat a template fitted on the others misses."""
    errors = []
    for index, profile in enumerate(profiles):
        template = (profiles.sum(axis=0) - profile) / (len(profiles) - 1)
        scores = [(template * np.roll(profile, -shift, axis=1)).sum() for shift in range(8)]
        if int(np.argmax(scores)) != 0:
            errors.append(index)
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=32)
    args = parser.parse_args()
    seeds, profiles = [], []
    for index in range(args.songs):
        seed, profile = aligned_profile(index)
        if profile is None:
            print(f"seed {seed}: the beat grid misses the score, left out", flush=True)
            continue
        seeds.append(seed)
        profiles.append(profile)
    profiles = np.array(profiles)
    errors = leave_one_out_errors(profiles)
    print(f"{len(profiles)} songs; leave-one-out misses: {[seeds[i] for i in errors]}")
    template = np.round(profiles.mean(axis=0), 2) + 0.0  # + 0.0 turns -0.0 into 0.0
    print("BAR_TEMPLATE = np.array(\n    [")
    for row in template:
        print(f"        [{', '.join(f'{value:.2f}' for value in row)}],")
    print("    ]\n)")


if __name__ == "__main__":
    main()
