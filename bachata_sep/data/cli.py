"""The ``render-song`` and ``render-loops`` sub-commands (thin wrappers over the data engine)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .loops import LOOP_BEATS, render_library
from .procedural import TIMBRE_SPREAD
from .song import AUDIO_FORMATS, render_song, save_song
from .tempo import DRIFT_SHAPES, SINE_PERIOD_SECONDS
from .timbres import SAMPLES, SOUNDFONTS, SPLITS

SOURCES_HELP = (
    f"procedural, mixed, {SAMPLES} (needs --samples), {', '.join(SOUNDFONTS)}, "
    "or the path of a .sf2/.sf3 file"
)


def add_wide_options(parser: argparse.ArgumentParser) -> None:
    """The options that widen what a render draws: real samples and domain randomisation."""
    parser.add_argument(
        "--samples",
        type=Path,
        metavar="DIR",
        help="a folder of real recorded one-shots with samples.csv (e.g. ../shared/samples): "
        "the 'samples' timbres, also drawn by 'mixed' and the splits' draws when given",
    )
    parser.add_argument(
        "--randomise",
        action="store_true",
        help="domain randomisation: tempo 100-170 BPM, swing, wide registers and levels, "
        "an effect chain per part (chorus, amp, compression, reverb...) and a codec or "
        "band limit on the mixture",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    song = subparsers.add_parser(
        "render-song",
        help="render a synthetic bachata song with exact stems and annotations",
        description="Write DIR/mixture, DIR/stems/<instrument> (summing to the mixture) "
        "and DIR/annotations.json (beats, downbeats, sections, chords, tempo, key, timbres).",
    )
    song.add_argument("--seed", type=int, required=True, help="the song (same seed, same song)")
    song.add_argument(
        "--timbres",
        "--soundfont",
        dest="timbres",
        default="procedural",
        metavar="SOURCE",
        help=f"timbres: {SOURCES_HELP} (default: procedural)",
    )
    song.add_argument("--duration", type=float, help="seconds (default: the whole song)")
    song.add_argument("--tempo", type=float, help="BPM (default: drawn from 110-160)")
    song.add_argument(
        "--tempo-drift",
        type=float,
        default=0.0,
        metavar="PERCENT",
        help="let the tempo wander by up to +-PERCENT as a live band's does; notes and "
        "annotated beats are warped alike (default: 0, a steady tempo)",
    )
    song.add_argument(
        "--drift-shape",
        choices=DRIFT_SHAPES,
        default="sine",
        help=f"sine: a slow swell every {SINE_PERIOD_SECONDS:g} s; ramp: from PERCENT slow "
        "to PERCENT fast over the song (default: sine)",
    )
    song.add_argument(
        "--format",
        choices=AUDIO_FORMATS,
        default="wav",
        help="wav is float32 and exact; flac/ogg are compact (default: wav)",
    )
    add_wide_options(song)
    song.add_argument("-o", "--out", type=Path, required=True, metavar="DIR")
    song.set_defaults(run=run_render_song)

    loops = subparsers.add_parser(
        "render-loops",
        help="render a loop library LIB/<instrument>/<section>/*.wav + loops.csv",
        description="Render synthetic songs and cut every stem into loops on the downbeats.",
    )
    loops.add_argument("-o", "--out", type=Path, required=True, metavar="LIB")
    loops.add_argument("--songs", type=int, default=10, help="songs to render (default: 10)")
    loops.add_argument("--seed", type=int, default=0, help="first song seed (default: 0)")
    loops.add_argument(
        "--timbres",
        default="train",
        metavar="SPLIT_OR_SOURCE",
        help=f"a split ({', '.join(SPLITS)}: its timbres and seed range) or "
        f"one source: {SOURCES_HELP} (default: train)",
    )
    loops.add_argument("--beats", type=int, choices=LOOP_BEATS, default=4)
    loops.add_argument("--loops-per-section", type=int, default=2)
    loops.add_argument(
        "--duration", type=float, default=60.0, help="seconds per song (default: 60)"
    )
    loops.add_argument(
        "--timbre-spread",
        type=float,
        metavar="FRACTION",
        help="how far each song moves every procedural preset parameter, e.g. 0.3 for "
        f"+-30%% (wider timbre variety for training) (default: {TIMBRE_SPREAD}, "
        "0.5 with --randomise)",
    )
    add_wide_options(loops)
    loops.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="FAMILY",
        help="leave a timbre family out of the draw (procedural, fluidr3, timgm6mb or a "
        "sample set such as emily-guitar), to train without it and evaluate on it; repeatable",
    )
    loops.add_argument(
        "--extra-programs",
        action="store_true",
        help="also draw the SoundFonts' variation programs (more sampled guitars: "
        "palm-muted, 12-string, ukulele, mandolin...; two held out for validation)",
    )
    loops.add_argument(
        "--split-other",
        action="store_true",
        help="write the voice, the keys and the extra percussion as instruments of their own "
        "instead of one 'other' folder (more target families for a shared model)",
    )
    loops.set_defaults(run=run_render_loops)


def run_render_song(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    song = render_song(
        args.seed,
        args.timbres,
        args.duration,
        args.tempo,
        samples=args.samples,
        randomise=args.randomise,
        tempo_drift=args.tempo_drift,
        drift_shape=args.drift_shape,
    )
    save_song(song, args.out, args.format)
    notes = song.annotations
    print(
        f"{args.out}: {notes['duration']:.1f} s, {notes['tempo_bpm']:.1f} BPM, {notes['key']}, "
        f"rendered in {time.perf_counter() - started:.1f} s"
    )
    return 0


def run_render_loops(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    render_library(
        args.out,
        args.songs,
        args.seed,
        args.timbres,
        args.beats,
        args.loops_per_section,
        args.duration,
        args.timbre_spread,
        args.extra_programs,
        args.samples,
        args.randomise,
        tuple(args.exclude),
        args.split_other,
    )
    print(
        f"{args.out}: {args.songs} song(s) cut into loops in {time.perf_counter() - started:.1f} s"
    )
    return 0
