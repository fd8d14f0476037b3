"""Benchmark song rendering: seconds of work per minute of audio, per timbre source, plain
and with domain randomisation (not a timed test).

    python benchmarks/bench_render.py [--samples ../shared/samples] [--songs 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bachata_sep.data.song import render_song

DURATION = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, help="real samples (adds the samples source)")
    parser.add_argument("--songs", type=int, default=3, help="songs per row (default: 3)")
    args = parser.parse_args()
    sources = ["procedural", "fluidr3", "mixed"] + (["samples"] if args.samples else [])
    render_song(0, "fluidr3", 6.0)  # load the SoundFont and the caches before timing
    for source in sources:
        for randomise in (False, True):
            started = time.perf_counter()
            for seed in range(args.songs):
                render_song(seed, source, DURATION, samples=args.samples, randomise=randomise)
            per_minute = (time.perf_counter() - started) / args.songs / (DURATION / 60)
            label = "randomised" if randomise else "plain"
            print(f"{source:<10} {label:<10} {per_minute:5.1f} s per minute of audio")


if __name__ == "__main__":
    main()
