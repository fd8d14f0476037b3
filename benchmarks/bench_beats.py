"""Benchmark the beat and downbeat tracker on rendered songs (not a timed test).

Songs have intros with the guitar alone, pickups, tempos spread over 110-160 BPM and
every timbre source; references come from the score, so they are exact. Each song is
rendered steady and, by default, with its tempo drifting ±3 % (a slow sine, and a ramp
from 3 % slow to 3 % fast: ``render_song(tempo_drift=...)``, notes and beats warped
alike). Scores are ``mir_eval.beat.f_measure`` (±70 ms) over the whole song: the first
5 s are *not* trimmed, because finding the first downbeat after a guitar intro is the
hard part. Plain ``librosa.beat.beat_track`` is scored alongside on the same songs, and so
are the tracker's beats taken with the best of the four bar phases (how much a right bar
phase would give).

    python benchmarks/bench_beats.py --songs 24 [--drift 3] [--shapes steady sine ramp]
        [--duration 60] [--json results.json]

``--randomise --samples DIR`` scores the domain-randomised songs of the held-out-source
evaluation instead (mixed test timbres with real samples, 100-170 BPM, swing, loose
timing, effects; ``train.source_evaluation.FIRST_SEED`` on), steady only:

    python benchmarks/bench_beats.py --songs 24 --duration 30 --randomise \
        --samples ../shared/samples --shapes steady
"""

from __future__ import annotations

import argparse
import json
import time

import librosa
import mir_eval
import numpy as np

import bachata_sep
from bachata_sep.data.song import render_song
from bachata_sep.data.timbres import SEED_RANGES

SOURCES = ("procedural", "fluidr3", "timgm6mb", "musescore")
FIRST_SEED = SEED_RANGES["test"].start + 700


def f_measure(reference: list[float], estimated: np.ndarray) -> float:
    return float(mir_eval.beat.f_measure(np.asarray(reference), np.asarray(estimated)))


def librosa_beats(mono: np.ndarray, sample_rate: int) -> np.ndarray:
    _, beats = librosa.beat.beat_track(y=mono, sr=sample_rate, units="time")
    return beats


def evaluate(
    index: int,
    count: int,
    duration: float | None,
    shape: str,
    drift: float,
    samples: str | None = None,
) -> dict:
    seed = FIRST_SEED + index
    steady = shape == "steady"
    if samples is not None:
        song = render_song(seed, "mixed", duration, samples=samples, randomise=True)
    else:
        song = render_song(
            seed,
            SOURCES[index % len(SOURCES)],
            duration,
            110 + 50 * index / max(1, count - 1),
            tempo_drift=0.0 if steady else drift,
            drift_shape="sine" if steady else shape,
        )
    notes = song.annotations
    started = time.perf_counter()
    beats, downbeats = bachata_sep.beats(song.mixture, sr=song.sample_rate)
    seconds = time.perf_counter() - started
    mono = song.mixture.mean(axis=0)
    return {
        "shape": shape,
        "seed": seed,
        "source": notes["soundfont"],
        "tempo": notes["tempo_bpm"],
        "pickup": notes["pickup_beats"],
        "intro_bars": round(
            (notes["sections"][0]["end"] - notes["sections"][0]["start"]) * notes["tempo_bpm"] / 240
        ),
        "duration": notes["duration"],
        "beat_f1": f_measure(notes["beats"], beats),
        "downbeat_f1": f_measure(notes["downbeats"], downbeats),
        # The same beats with the best of the 4 bar phases: what a right bar phase would give.
        "best_phase_downbeat_f1": max(
            f_measure(notes["downbeats"], beats[phase::4]) for phase in range(4)
        ),
        "librosa_beat_f1": f_measure(notes["beats"], librosa_beats(mono, song.sample_rate)),
        "tracker_seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=24)
    parser.add_argument("--duration", type=float, help="seconds per song (default: whole)")
    parser.add_argument("--json", help="also write the per-song results here")
    parser.add_argument("--drift", type=float, default=3.0, help="tempo drift in %% (default 3)")
    parser.add_argument(
        "--shapes",
        nargs="+",
        choices=("steady", "sine", "ramp"),
        default=["steady", "sine", "ramp"],
        help="which renders of each song (default: all three)",
    )
    parser.add_argument(
        "--randomise", action="store_true", help="the domain-randomised evaluation songs"
    )
    parser.add_argument("--samples", help="with --randomise: the real samples folder")
    args = parser.parse_args()
    if args.randomise and (args.samples is None or args.shapes != ["steady"]):
        parser.error("--randomise needs --samples and --shapes steady")
    header = (
        f"{'shape':>6} {'seed':>8} {'source':>10} {'bpm':>6} {'pick':>4} {'secs':>5} "
        f"{'beatF1':>7} {'downF1':>7} {'best':>7} {'librosa':>7}"
    )
    print(header)
    rows = []
    samples = args.samples if args.randomise else None
    for shape in args.shapes:
        for index in range(args.songs):
            row = evaluate(index, args.songs, args.duration, shape, args.drift, samples)
            rows.append(row)
            print(
                f"{shape:>6} {row['seed']:>8} {row['source']:>10} {row['tempo']:6.1f} "
                f"{row['pickup']:>4} {row['duration']:5.0f} {row['beat_f1']:7.3f} "
                f"{row['downbeat_f1']:7.3f} {row['best_phase_downbeat_f1']:7.3f} "
                f"{row['librosa_beat_f1']:7.3f}",
                flush=True,
            )
    for shape in args.shapes:
        chosen = [row for row in rows if row["shape"] == shape]
        print(f"{shape}:")
        for key in ("beat_f1", "downbeat_f1", "best_phase_downbeat_f1", "librosa_beat_f1"):
            values = np.array([row[key] for row in chosen])
            print(
                f"{key:>24}: mean {values.mean():.4f}  min {values.min():.3f}  "
                f"songs < 0.95: {int((values < 0.95).sum())}"
            )
        seconds = np.array([row["tracker_seconds"] for row in chosen])
        speed = sum(r["duration"] for r in chosen) / seconds.sum()
        print(f"{'tracker':>24}: {seconds.mean():.2f} s a song, {speed:.0f}x real time")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
