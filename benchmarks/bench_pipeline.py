"""Benchmark the whole `bachata-sep separate` command (not a timed test).

Renders a synthetic bachata song (held-out seed, stereo, 44.1 kHz), tiles it to each
requested duration, runs the real command line on it in a fresh process and reports
wall time, CPU time (user + system, less sensitive than wall time to other load on the
machine), realtime factor (song seconds per second of processing) and the command's
peak resident memory.

    python benchmarks/bench_pipeline.py --durations 180 600 [--json results.json]
    python benchmarks/bench_pipeline.py --separator identity   # the pipeline alone
    python benchmarks/bench_pipeline.py --durations 180 --peer htdemucs_6s
    python benchmarks/bench_pipeline.py --durations 180 --shifts 3   # test-time augmentation
    python benchmarks/bench_pipeline.py --durations 180 --refine     # the second pass

``--separator identity`` runs the same steps through the Python API with the identity
separator (every stem is the mixture), which measures the pipeline without any model.
``--peer htdemucs_6s`` also runs ``benchmarks/peer_htdemucs.py`` (the htdemucs_6s
architecture, random weights; needs ``pip install --no-deps -r requirements-bench.txt``)
on the same file, in its own process, right after ours.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
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
MEASURE = """
import json, os, subprocess, sys, time
start = time.perf_counter()
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(process.pid, 0)
print(json.dumps({"status": status, "wall_s": time.perf_counter() - start,
                  "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}))
"""
PEERS = {"htdemucs_6s": Path(__file__).with_name("peer_htdemucs.py")}


def run_command(arguments: list[str]) -> dict[str, float]:
    """Wall and CPU seconds and peak RSS (MB) of one command, started from a small process:
    a child's peak RSS counts from that of the process that spawned it, and this one holds
    the rendered song."""
    launched = subprocess.run(
        [sys.executable, "-c", MEASURE, *arguments], stdout=subprocess.PIPE, text=True, check=True
    )
    measured = json.loads(launched.stdout)
    if measured.pop("status") != 0:
        raise SystemExit(f"command failed: {' '.join(arguments)}")
    return measured


def commands(args: argparse.Namespace, song: Path, out: Path) -> dict[str, list[str]]:
    """The command lines to measure on one song file, by the name they are reported as."""
    if args.separator == "identity":
        ours = [sys.executable, "-c", IDENTITY_RUN, str(song), str(out), args.instruments]
    else:
        ours = [sys.executable, "-m", "bachata_sep.cli", "separate", str(song), "-o", str(out)]
        ours += ["--instruments", args.instruments, "--shifts", str(args.shifts)]
        ours += ["--refine"] if args.refine else []
    shifted = f" --shifts {args.shifts}" if args.shifts != 1 else ""
    runs = {args.separator + shifted + (" --refine" if args.refine else ""): ours}
    for peer in args.peer:
        command = [sys.executable, str(PEERS[peer]), str(song), str(out / f"peer-{peer}")]
        runs[f"{peer} (peer, random weights)"] = command
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", type=float, nargs="+", default=[180.0, 600.0])
    parser.add_argument("--instruments", default="bongo,guira,bass,guitar")
    parser.add_argument("--separator", choices=("default", "identity"), default="default")
    parser.add_argument("--shifts", type=int, default=1, help="passed to separate (default: 1)")
    parser.add_argument("--refine", action="store_true", help="passed to separate")
    parser.add_argument("--peer", choices=sorted(PEERS), action="append", default=[])
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
            for name, command in commands(args, path, Path(folder) / "out").items():
                measured = run_command(command)
                results.append(
                    {
                        "duration_s": duration,
                        "channels": audio.shape[0],
                        "sample_rate": song.sample_rate,
                        "separator": name,
                        "wall_s": round(measured["wall_s"], 2),
                        "cpu_s": round(measured["cpu_s"], 2),
                        "realtime_factor": round(duration / measured["wall_s"], 2),
                        "peak_rss_mb": round(measured["peak_rss_mb"]),
                    }
                )
                print(
                    f"{duration:6.0f} s song, {name}: {measured['wall_s']:6.1f} s wall "
                    f"({measured['cpu_s']:6.1f} s CPU), {duration / measured['wall_s']:5.1f}x "
                    f"realtime, peak RSS {measured['peak_rss_mb']:6.0f} MB",
                    flush=True,
                )
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "instruments": args.instruments,
        "results": results,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
