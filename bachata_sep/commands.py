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
from .cards import SETTINGS
from .errors import BadInputError
from .pretrained import CHECKPOINTS
from .separators import check_shifts, with_shifts
from .spec import INSTRUMENTS
from .train import KEEPS, LOSSES, TrainConfig, train
from .unet import CONDITIONINGS

# The committed models' tests may score this much below the quick check in their card.
TEST_FLOOR_MARGIN_DB = 1.0


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
        metavar="INSTRUMENT=PATH",
        help="a clip of the instrument to look for (query-by-example); repeatable",
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
        "gains the bongo 0.2 dB on the held-out songs, for 1.7x the time (default: 1)",
    )
    separate.set_defaults(run=run_separate)

    beats = subparsers.add_parser("beats", help="print beat and downbeat times of a song")
    beats.add_argument("input", type=Path, metavar="INPUT")
    beats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    beats.set_defaults(run=run_beats)

    train = subparsers.add_parser(
        "train",
        help="train an instrument model on a loop library",
        description="Train a query-conditioned U-Net for one instrument (any name, e.g. "
        "maracas) from LIB/<instrument>/<section>/*.wav, or one shared model for several "
        "that the query tells apart; runs unchanged under torchrun.",
    )
    train.add_argument(
        "--instrument",
        required=True,
        help="a name, or several separated by commas (e.g. bongo,guira,bass,guitar) for one "
        "shared model that separates whichever instrument its query clip shows",
    )
    train.add_argument("--library", type=Path, required=True, metavar="LIB")
    train.add_argument(
        "--validation-library",
        type=Path,
        metavar="LIB",
        help="default: the 'valid' split of --library",
    )
    train.add_argument("-o", "--out", type=Path, required=True, metavar="DIR")
    defaults = TrainConfig(instrument="", library=Path(), out=Path())
    for name in (
        "steps",
        "batch_size",
        "learning_rate",
        "seed",
        "validation_every",
        "validation_size",
        "absent_rate",
        "base_channels",
        "depth",
        "frequency_pool",
        "full_resolution_bins",
        "workers",
    ):
        value = getattr(defaults, name)
        train.add_argument(
            f"--{name.replace('_', '-')}", type=type(value), default=value, help=f"default: {value}"
        )
    train.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    train.add_argument("--residual", action="store_true", help="residual U-Net blocks")
    train.add_argument(
        "--conditioning",
        choices=CONDITIONINGS,
        default=defaults.conditioning,
        help="how the query steers the U-Net: film (every level) or concat (input and "
        "bottleneck channels) (default: %(default)s)",
    )
    train.add_argument(
        "--frequency-mixing",
        action="store_true",
        help="a fully connected layer across frequency after every U-Net block (TDF), so "
        "the net sees an instrument's partials over the whole spectrum at once; with "
        "--init from a model without it, it starts at zero and keeps that model's masks",
    )
    train.add_argument(
        "--time-mixing",
        action="store_true",
        help="with --frequency-mixing, a fully connected layer across time too, so the net "
        "sees a part's pattern over the whole clip at once; it starts at zero as well",
    )
    train.add_argument(
        "--loss",
        choices=LOSSES,
        default=defaults.loss,
        help="l1: masked-magnitude L1; sdr: waveform SDR (default: %(default)s); si-sdr: "
        "level-blind, a first stage from scratch for masks that SDR would silence, then "
        "--init with sdr",
    )
    train.add_argument(
        "--adversarial-weight",
        type=float,
        default=defaults.adversarial_weight,
        help="weight of a patch discriminator's verdict in the loss (GAN refinement; "
        "0 = off) (default: %(default)s)",
    )
    train.add_argument(
        "--eq-db",
        type=float,
        default=defaults.eq_db,
        help="timbre augmentation: a random EQ of up to +-DB at 8 bands on every training "
        "loop (0 = off) (default: %(default)s)",
    )
    train.add_argument(
        "--shift-ms",
        type=float,
        default=defaults.shift_ms,
        help="cut augmentation: roll every training mixture and its target by up to +-MS "
        "ms, so that bars cut off the downbeat by the beat tracker still separate "
        "(0 = off) (default: %(default)s)",
    )
    train.add_argument(
        "--song-query-rate",
        type=float,
        default=defaults.song_query_rate,
        help="share of training items whose query is another loop of the target's own "
        "song (its timbre) rather than of another song (default: %(default)s)",
    )
    train.add_argument(
        "--keep",
        choices=KEEPS,
        default=defaults.keep,
        help="the weights written to DIR/model.safetensors: the best-validated step's, or "
        "the last step's (the end of the schedule, for a stage to fine-tune further from) "
        "(default: %(default)s)",
    )
    train.add_argument("--resume", action="store_true", help="continue from DIR's last state")
    train.add_argument(
        "--init",
        type=Path,
        metavar="FOLDER",
        help="start from the trained weights in FOLDER (same architecture, any instrument; "
        "or a --base-channels that is a multiple of FOLDER's: its model widened, same "
        "output; or another --frequency-pool / --full-resolution-bins: its model moved onto "
        "that frequency grid) with a fresh optimizer and schedule: fine tuning",
    )
    train.set_defaults(run=run_train)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="score the models on held-out rendered songs (SI-SDR, baseline, oracle)",
    )
    evaluate.add_argument("--checkpoints", type=Path, default=CHECKPOINTS, metavar="DIR")
    evaluate.add_argument("--songs", type=int, default=6, help="test songs (default: 6)")
    evaluate.add_argument("--duration", type=float, default=30.0, help="seconds per song")
    evaluate.add_argument("--clips-only", action="store_true", help="skip the full-song runs")
    evaluate.add_argument(
        "--shifts", type=int, default=1, metavar="N", help="score with N shifted passes"
    )
    evaluate.add_argument("--figure", type=Path, help="also save the heatmap figure (PNG)")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.add_argument(
        "--write-cards",
        action="store_true",
        help="record the results (and each model's test floor) in the model cards",
    )
    evaluate.set_defaults(run=run_evaluate)

    push_parser = subparsers.add_parser(
        "push", help="upload the models and their cards to the Hugging Face Hub"
    )
    push_parser.add_argument("--repo-id", required=True, metavar="USER/NAME")
    push_parser.add_argument("--checkpoints", type=Path, default=CHECKPOINTS, metavar="DIR")
    push_parser.add_argument("--private", action="store_true")
    push_parser.set_defaults(run=run_push)


def run_separate(args: argparse.Namespace) -> int:
    references = _parse_references(args.reference)
    check_shifts(args.shifts)
    destinations = _destinations(args.inputs, args.out)
    separator = None
    if args.checkpoints is not None:
        from .model import ModelSeparator

        separator = ModelSeparator.from_folder(args.checkpoints)
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
        except BadInputError as error:
            if len(destinations) == 1:
                raise
            print(f"bachata-sep: error: {error}", file=sys.stderr)
            failures += 1
    return 2 if failures else 0


def run_beats(args: argparse.Namespace) -> int:
    grid = api.track(args.input)
    beat_numbers = _beat_numbers(grid.beats, grid.downbeats)
    if args.json:
        print(
            json.dumps(
                {
                    "bpm": round(60.0 / grid.beat_period, 2),
                    "fallback_grid": grid.fallback,
                    "beats": [round(float(t), 4) for t in grid.beats],
                    "downbeats": [round(float(t), 4) for t in grid.downbeats],
                    "beat_numbers": beat_numbers,
                }
            )
        )
    else:
        print("time_s\tbeat")
        for time, number in zip(grid.beats, beat_numbers, strict=True):
            print(f"{time:.3f}\t{number}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    fields = {name: value for name, value in vars(args).items() if name not in ("run", "command")}
    best = train(TrainConfig(**fields))
    if best:
        print(json.dumps(best))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    # Imported here: rendering and plotting would slow every other command's start.
    from .evaluate import evaluate, results_figure
    from .model import ModelSeparator
    from .plots import save_png

    check_shifts(args.shifts)
    if args.write_cards and args.shifts != 1:
        raise BadInputError("model cards record the models as they run by default: drop --shifts")
    separator = ModelSeparator.from_folder(args.checkpoints)
    report = evaluate(
        with_shifts(separator, args.shifts),
        separator.instruments,
        args.songs,
        args.duration,
        not args.clips_only,
    )
    report["checkpoints"] = str(args.checkpoints)
    report["shifts"] = args.shifts
    if args.figure:
        save_png(results_figure(separator, separator.instruments), args.figure)
    if args.write_cards:
        _write_cards(args, separator, report)
    print(json.dumps(report, indent=2) if args.json else _results_table(report))
    return 0


def _write_cards(args: argparse.Namespace, separator, report: dict) -> None:
    """Each model folder's card gets its instrument's figures; a shared model's card gets
    them per instrument."""
    from .cards import update_metrics
    from .evaluate import quick_check

    command = f"bachata-sep evaluate --songs {args.songs} --duration {args.duration:g}"
    floors = quick_check(separator, separator.instruments)
    by_folder: dict[Path, dict[str, dict]] = {}
    for name in separator.instruments:
        by_folder.setdefault(separator.folders[name], {})[name] = {
            "command": command,
            "songs": report["songs"],
            **{setting: report[setting].get(name) for setting in SETTINGS},
            "min_si_sdri_db": round(floors[name] - TEST_FLOOR_MARGIN_DB, 2),
        }
    for folder, sections in by_folder.items():
        # A folder holds one model, so it has several instruments only if that is shared.
        shared = len(sections) > 1
        update_metrics(folder, evaluation=sections if shared else next(iter(sections.values())))


def run_push(args: argparse.Namespace) -> int:
    from .push import push

    print(push(args.checkpoints, args.repo_id, args.private))
    return 0


def _results_table(report: dict) -> str:
    lines = []
    for setting, label in SETTINGS.items():
        if not report[setting]:
            continue
        lines.append(f"{label}: SI-SDRi in dB over the mixture")
        lines.append("instrument  mixture SI-SDR  baseline  model  oracle  model/oracle")
        for name, summary in report[setting].items():
            gain = summary["si_sdri"]
            lines.append(
                f"{name:<10}  {summary['si_sdr']['mixture']:14.2f}  {gain['baseline']:8.2f}"
                f"  {gain['model']:5.2f}  {gain['oracle']:6.2f}"
                f"  {summary['model_share_of_oracle']:12.0%}"
            )
    if report["full_song"]:
        lines.append("full song: SDR in dB, the level included")
        lines.append("instrument  mixture  baseline  model  oracle")
        for name, summary in report["full_song"].items():
            level = summary["sdr"]
            lines.append(
                f"{name:<10}  {level['mixture']:7.2f}  {level['baseline']:8.2f}"
                f"  {level['model']:5.2f}  {level['oracle']:6.2f}"
            )
    return "\n".join(lines)


def _beat_numbers(beat_times: np.ndarray, downbeat_times: np.ndarray) -> list[int]:
    """1-4 position of every beat in its bar; beats before the first "1" count backwards."""
    if len(downbeat_times) == 0:
        return [index % 4 + 1 for index in range(len(beat_times))]
    first = int(np.argmin(np.abs(beat_times - downbeat_times[0])))
    return [(index - first) % 4 + 1 for index in range(len(beat_times))]


def _parse_references(items: list[str]) -> dict[str, Path]:
    references = {}
    for item in items:
        name, separator, path = item.partition("=")
        if not separator or not name or not path:
            raise BadInputError(f"--reference wants INSTRUMENT=PATH, got {item!r}")
        references[name.strip()] = Path(path)
    return references


def _destinations(inputs: list[Path], out: Path) -> dict[Path, Path]:
    destinations: dict[Path, Path] = {}
    for source in inputs:
        destination = out / source.stem
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
