"""The ``separate`` and ``beats`` sub-commands (thin wrappers over :mod:`bachata_sep.api`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from . import api
from .audio import AudioWriter, output_subtype, read_audio
from .errors import BadInputError
from .names import safe_stem
from .pretrained import default_separator
from .queries import parse_span
from .separators import check_shifts
from .spec import INSTRUMENTS


def register(subparsers: argparse._SubParsersAction) -> None:
    separate = subparsers.add_parser(
        "separate",
        help="separate instruments from songs into OUTDIR/<song>/<instrument>.wav",
        description="Write one WAV per instrument with the input's rate, channels and length.",
    )
    separate.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    separate.add_argument("-o", "--out", type=Path, required=True, metavar="OUTDIR")
    separate.add_argument(
        "--instruments",
        type=lambda text: tuple(name.strip() for name in text.split(",") if name.strip()),
        default=INSTRUMENTS,
        help=f"comma-separated (default: {','.join(INSTRUMENTS)})",
    )
    separate.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="INSTRUMENT=PATH|@START-END",
        help="a clip of the instrument to look for (query-by-example), or a time span of "
        "the input where it plays, e.g. guitar=@0:05-0:13 (its bars there); repeatable",
    )
    separate.add_argument(
        "--checkpoints",
        type=Path,
        metavar="DIR",
        help="instrument models from DIR/<name>/ (e.g. ones you trained) instead of the "
        "default ($BACHATA_SEP_REPO_ID on the Hub, else the shipped checkpoints/)",
    )
    separate.add_argument(
        "--shifts",
        type=int,
        default=1,
        metavar="N",
        help="run the models N times per clip, shifted a frame each way, and average: 3 "
        "gains the bongo 0.2 dB on the held-out songs, for 2x the time (default: 1)",
    )
    separate.add_argument(
        "--refine",
        action="store_true",
        help="a second pass whose query is each instrument's strongest, cleanest bars of "
        "the song itself (from a first pass), for one more run of the models",
    )
    separate.set_defaults(run=run_separate)

    beats = subparsers.add_parser("beats", help="print beat and downbeat times of a song")
    beats.add_argument("input", type=Path, metavar="INPUT")
    beats.add_argument(
        "--json", action="store_true", help="print JSON instead of a table (with the local tempo)"
    )
    beats.add_argument(
        "--counts",
        type=int,
        choices=(4, 8),
        default=4,
        help="8 adds the dancer's count, 1-8 over two bars from the first downbeat (default: 4)",
    )
    beats.set_defaults(run=run_beats)


def run_separate(args: argparse.Namespace) -> int:
    references = _parse_references(args.reference)
    check_shifts(args.shifts)
    if args.out.exists() and not args.out.is_dir():
        raise BadInputError(f"-o {args.out} is a file; give a folder for the stems")
    destinations = _destinations(args.inputs, args.out)
    if args.checkpoints is not None:
        from .model import ModelSeparator

        separator = ModelSeparator.from_folder(args.checkpoints)
    else:  # once, before any song: no weights anywhere is one error, not one per song
        separator = default_separator().separator
    failures = 0
    for source, destination in destinations.items():
        try:
            samples, sample_rate, subtype = read_audio(source)
            blocks = api.separate_blocks(
                samples,
                sr=sample_rate,
                instruments=args.instruments,
                references=references,
                separator=separator,
                shifts=args.shifts,
                refine=args.refine,
            )
            _save_stems(
                destination,
                blocks,
                args.instruments,
                samples.shape[0],
                sample_rate,
                output_subtype(subtype),
            )
            print(destination)
        except (BadInputError, OSError) as error:
            message = _failure(error, destination)
            if len(destinations) == 1:
                raise BadInputError(message) from None
            if str(source) not in message:
                message = f"{source}: {message}"
            print(f"bachata-sep: error: {message}", file=sys.stderr)
            failures += 1
    return 2 if failures else 0


def _failure(error: BadInputError | OSError, destination: Path) -> str:
    """One line for a failed song: the bad input's own sentence, or for a filesystem error
    the stems' folder and the cause (a file where a folder must be, no space left, ...)."""
    if isinstance(error, BadInputError):
        return str(error)
    in_the_way = next(
        (path for path in (destination, *destination.parents) if path.is_file()), None
    )
    if in_the_way is not None:
        return f"cannot write {destination}: {in_the_way} is a file, not a folder"
    cause = os.strerror(error.errno).lower() if error.errno else str(error)
    return f"cannot write {destination}: {cause}"


def run_beats(args: argparse.Namespace) -> int:
    grid = api.track(args.input)
    beat_numbers = _beat_numbers(grid.beats, grid.downbeats)
    counts = _beat_numbers(grid.beats, grid.downbeats, args.counts)
    if args.json:
        report = {
            "bpm": round(60.0 / grid.beat_period, 2),
            "fallback_grid": grid.fallback,
            "beats": [round(float(t), 4) for t in grid.beats],
            "downbeats": [round(float(t), 4) for t in grid.downbeats],
            "beat_numbers": beat_numbers,
            "local_bpm": [round(float(bpm), 2) for bpm in grid.local_bpm],
        }
        print(json.dumps(report | ({"counts": counts} if args.counts == 8 else {})))
    elif args.counts == 8:
        print("time_s\tbeat\tcount")
        for time, number, count in zip(grid.beats, beat_numbers, counts, strict=True):
            print(f"{time:.3f}\t{number}\t{count}")
    else:
        print("time_s\tbeat")
        for time, number in zip(grid.beats, beat_numbers, strict=True):
            print(f"{time:.3f}\t{number}")
    return 0


def _beat_numbers(beat_times: np.ndarray, downbeat_times: np.ndarray, per: int = 4) -> list[int]:
    """1-``per`` position of every beat counted from the first "1" (4: in its bar; 8: the
    dancer's count over two bars); beats before it count backwards."""
    if len(downbeat_times) == 0:
        return [index % per + 1 for index in range(len(beat_times))]
    first = int(np.argmin(np.abs(beat_times - downbeat_times[0])))
    return [(index - first) % per + 1 for index in range(len(beat_times))]


def _parse_references(items: list[str]) -> dict[str, Path | tuple[float, float]]:
    references: dict[str, Path | tuple[float, float]] = {}
    for item in items:
        name, separator, value = item.partition("=")
        if not separator or not name or not value:
            raise BadInputError(
                f"--reference wants INSTRUMENT=PATH or INSTRUMENT=@START-END, got {item!r}"
            )
        references[name.strip()] = _parse_span(value) if value.startswith("@") else Path(value)
    return references


def _parse_span(text: str) -> tuple[float, float]:
    """``@0:05-0:13`` or ``@5-13.5``: a span of the input in (minutes and) seconds."""
    try:
        return parse_span(text[1:])
    except BadInputError:
        raise BadInputError(
            f"a reference span is @START-END in seconds or M:SS, e.g. @0:05-0:13, not {text!r}"
        ) from None


def _destinations(inputs: list[Path], out: Path) -> dict[Path, Path]:
    destinations: dict[Path, Path] = {}
    for source in inputs:
        destination = out / safe_stem(source.name)
        if destination in destinations.values():
            raise BadInputError(f"two inputs would both write to {destination}; rename one")
        destinations[source] = destination
    return destinations


def _save_stems(
    folder: Path,
    blocks: Iterator[tuple[int, dict[str, np.ndarray]]],
    instruments: Sequence[str],
    channels: int,
    sample_rate: int,
    subtype: str,
) -> None:
    """Write the stems block by block as they are separated (no whole stem is ever held)
    into a hidden folder, and move them in only when all are complete, so a failure never
    leaves a half-separated song behind."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".partial-{folder.name}-", dir=folder.parent))
    try:
        with contextlib.ExitStack() as files:
            writers = {
                name: files.enter_context(
                    AudioWriter(staging / f"{name}.wav", sample_rate, channels, subtype)
                )
                for name in instruments
            }
            for _, block in blocks:
                for name, audio in block.items():
                    writers[name].write(audio)
        folder.mkdir(exist_ok=True)
        for name in writers:
            os.replace(staging / f"{name}.wav", folder / f"{name}.wav")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
