"""Time the app's remix of a 4-minute stereo 44.1 kHz song: four stems and the rest read
from 16-bit WAV files, mixed with gains and written as one WAV, as the app's /remix does.

Usage: python benchmarks/bench_remix.py [--minutes 4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bachata_sep.audio import write_audio
from bachata_sep.remix import REST, remix, remix_files
from bachata_sep.spec import INSTRUMENTS

SAMPLE_RATE = 44100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    frames = round(args.minutes * 60 * SAMPLE_RATE)
    names = [*INSTRUMENTS, REST]
    tracks = {name: (0.1 * rng.standard_normal((2, frames))).astype(np.float32) for name in names}
    gains = {name: 0.0 for name in names} | {"bongo": 1.0, "guira": 1.5}
    with tempfile.TemporaryDirectory() as folder:
        paths = {name: Path(folder) / f"{name}.wav" for name in names}
        for name, path in paths.items():
            write_audio(path, tracks[name], SAMPLE_RATE, "PCM_16")
        everything = dict.fromkeys(names, 0.8)
        for label, chosen in (("two tracks audible", gains), ("all five audible", everything)):
            seconds = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                remix_files(paths, chosen, Path(folder) / "remix.wav")
                seconds.append(time.perf_counter() - start)
            print(
                f"remix_files, {label}: median {np.median(seconds):.3f} s, "
                f"best {min(seconds):.3f} s ({args.repeats} runs)"
            )
        start = time.perf_counter()
        remix(tracks, everything)
        print(f"remix in memory, all five: {time.perf_counter() - start:.3f} s")
    print(f"song: {args.minutes:g} min, 2 channels, {SAMPLE_RATE} Hz, 16-bit WAV tracks")


if __name__ == "__main__":
    main()
