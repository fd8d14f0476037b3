"""Benchmark the whole `bachata-sep separate` command (not a timed test).

Renders a synthetic bachata song (held-out seed, stereo, 44.1 kHz), tiles it to each
requested duration, runs the real command line on it in a fresh process and reports
wall time, realtime factor (song seconds per second of processing) and the command's
peak resident memory.

    python benchmarks/bench_pipeline.py --durations 180 600 [--json results.json]
    python benchmarks/bench_pipeline.py --separator identity   # the pipeline alone

``--separator identity`` runs the same steps through the Python API with the identity
separator (every stem is the mixture), which measures the pipeline without any model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from bachata_sep.data.song import render_song
from bachata_sep.data.timbres import SEED_RANGES

IDENTITY_RUN = """
import sys
from pathlib import Path
from bachata_sep.api import separate
from bachata_sep.audio import read_audio, write_audio
from bachata_sep.separators import IdentitySeparator
samples, rate, subtype = read_audio(sys.argv[1])
stems = separate(samples, sr=rate, instruments=sys.argv[3].split(","),
                 separator=IdentitySeparator(), progress=False)
for name, stem in stems.items():
    write_audio(Path(sys.argv[2]) / f"{name}.wav", stem, rate, subtype)
"""


def run_command(arguments: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"command failed ({status}): {' '.join(arguments)}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", type=float, nargs="+", default=[180.0, 600.0])
    parser.add_argument("--instruments", default="bongo,guira,bass,guitar")
    parser.add_argument("--separator", choices=("default", "identity"), default="default")
    parser.add_argument("--seed", type=int, default=SEED_RANGES["test"].start + 900)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    song = render_song(args.seed, "procedural", duration=60.0)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for duration in args.durations:
            length = int(duration * song.sample_rate)
            repeats = length // song.mixture.shape[1] + 1
            audio = np.tile(song.mixture, repeats)[:, :length]
            path = Path(folder) / f"song-{duration:g}s.wav"
            sf.write(path, audio.T, song.sample_rate, subtype="PCM_16")
            out = Path(folder) / "out"
            command = (
                [sys.executable, "-c", IDENTITY_RUN, str(path), str(out), args.instruments]
                if args.separator == "identity"
                else [
                    sys.executable,
                    "-m",
                    "bachata_sep.cli",
                    "separate",
                    str(path),
                    "-o",
                    str(out),
                    "--instruments",
                    args.instruments,
                ]
            )
            seconds, peak_mb = run_command(command)
            results.append(
                {
                    "duration_s": duration,
                    "channels": audio.shape[0],
                    "sample_rate": song.sample_rate,
                    "instruments": args.instruments,
                    "separator": args.separator,
                    "wall_s": round(seconds, 2),
                    "realtime_factor": round(duration / seconds, 2),
                    "peak_rss_mb": round(peak_mb),
                }
            )
            print(
                f"{duration:6.0f} s song: {seconds:6.1f} s wall, {duration / seconds:5.1f}x "
                f"realtime, peak RSS {peak_mb:6.0f} MB",
                flush=True,
            )
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "results": results,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
