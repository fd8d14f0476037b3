"""The ``train``, ``evaluate`` and ``push`` sub-commands (thin wrappers over training,
evaluation and the Hub upload)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from pathlib import Path

from ..errors import BadInputError
from ..model import ModelSeparator
from ..pretrained import CHECKPOINTS
from ..separators import check_shifts, with_shifts
from .cards import SETTINGS, SOURCES_EVALUATION, update_metrics
from .train import TrainConfig, train

# The committed models' tests may score this much below the quick check in their card.
TEST_FLOOR_MARGIN_DB = 1.0


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train an instrument model on a loop library",
        description="Train a query-conditioned U-Net for one instrument (any name, e.g. "
        "maracas) from LIB/<instrument>/<section>/*.wav, or one shared model for several "
        "that the query tells apart; runs unchanged under torchrun.",
    )
    add_config_options(train, TrainConfig)
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
    evaluate.add_argument(
        "--by-source",
        action="store_true",
        help="score per timbre family instead (procedural, each SoundFont, each sample set "
        "of --samples), saying which families each model never trained on; --songs is "
        "then per family (SI-SDRi, SDR and median stem level error)",
    )
    evaluate.add_argument(
        "--samples",
        type=Path,
        metavar="DIR",
        help="with --by-source: a folder of real recorded samples (e.g. ../shared/samples); "
        "each of its sets is a family",
    )
    evaluate.add_argument(
        "--family",
        action="append",
        dest="families",
        metavar="NAME",
        help="with --by-source: only this family (repeatable)",
    )
    evaluate.add_argument(
        "--plain",
        action="store_true",
        help="with --by-source: render the songs without domain randomisation",
    )
    evaluate.add_argument(
        "--references",
        action="store_true",
        help="with --by-source: also score the model with queries from the song itself "
        "(the target's own stem; the two bars where it is loudest, as a span of the mixture) "
        "and with --refine's second pass",
    )
    evaluate.set_defaults(run=run_evaluate)

    push_parser = subparsers.add_parser(
        "push", help="upload the models and their cards to the Hugging Face Hub"
    )
    push_parser.add_argument("--repo-id", required=True, metavar="USER/NAME")
    push_parser.add_argument("--checkpoints", type=Path, default=CHECKPOINTS, metavar="DIR")
    push_parser.add_argument("--private", action="store_true")
    push_parser.set_defaults(run=run_push)


def add_config_options(parser: argparse.ArgumentParser, config_class: type) -> None:
    """One option per field of the dataclass ``config_class``, from its type, default and
    metadata (``help``, and ``flags``, ``metavar`` or ``choices`` where given): the class
    is the one source of truth for a command's options and their defaults."""
    types = typing.get_type_hints(config_class)
    for entry in dataclasses.fields(config_class):
        settings = {key: value for key, value in entry.metadata.items() if key != "flags"}
        flags = entry.metadata.get("flags", (f"--{entry.name.replace('_', '-')}",))
        kind = types[entry.name]
        if kind is bool:
            parser.add_argument(*flags, dest=entry.name, action="store_true", **settings)
            continue
        # ``Path | None`` and the like: the option's type is the one that is not None.
        kind = next((arg for arg in typing.get_args(kind) if arg is not type(None)), kind)
        if entry.default is dataclasses.MISSING:
            settings["required"] = True
        else:
            settings["default"] = entry.default
            if entry.default is not None:
                settings["help"] += " (default: %(default)s)"
        parser.add_argument(*flags, dest=entry.name, type=kind, **settings)


def run_train(args: argparse.Namespace) -> int:
    fields = {name: value for name, value in vars(args).items() if name not in ("run", "command")}
    best = train(TrainConfig(**fields))
    if best:
        print(json.dumps(best))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    # Imported here: evaluation's songs and plotting would slow `train` and `push` too.
    from ..plots import save_png
    from .evaluate import evaluate, results_figure

    check_shifts(args.shifts)
    if args.write_cards and args.shifts != 1:
        raise BadInputError("model cards record the models as they run by default: drop --shifts")
    separator = ModelSeparator.from_folder(args.checkpoints)
    if args.by_source:
        return _evaluate_sources(args, separator)
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


def _evaluate_sources(args: argparse.Namespace, separator: ModelSeparator) -> int:
    from .source_evaluation import evaluate_sources, families, table, training_sources

    known = families(args.samples)
    unknown = sorted(set(args.families or ()) - set(known))
    if unknown:
        raise BadInputError(
            f"no family {', '.join(unknown)}: choose from {', '.join(known)}"
            + ("" if args.samples else " (sample sets need --samples DIR)")
        )
    report = evaluate_sources(
        with_shifts(separator, args.shifts),
        separator.instruments,
        training_sources(separator.folders),
        args.samples,
        args.songs,
        args.duration,
        randomise=not args.plain,
        only=args.families,
        references=args.references,
    )
    report["checkpoints"] = str(args.checkpoints)
    if args.write_cards:
        _write_source_cards(args, separator, report)
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


def _write_source_cards(args: argparse.Namespace, separator, report: dict) -> None:
    """Each model folder's card gets its instrument's figures per family."""
    command = (
        f"bachata-sep evaluate --by-source --songs {args.songs} --duration {args.duration:g}"
        + (f" --samples {args.samples}" if args.samples else "")
        + (" --plain" if args.plain else "")
        + (" --references" if args.references else "")
        + "".join(f" --family {name}" for name in args.families or ())
    )
    _record_per_folder(
        separator,
        SOURCES_EVALUATION,
        {
            name: {
                "command": command,
                "randomised": report["randomised"],
                "families": {
                    family: results[name]
                    for family, results in report["families"].items()
                    if name in results
                },
            }
            for name in separator.instruments
        },
    )


def _write_cards(args: argparse.Namespace, separator, report: dict) -> None:
    """Each model folder's card gets its instrument's figures; a shared model's card gets
    them per instrument."""
    from .evaluate import quick_check

    command = f"bachata-sep evaluate --songs {args.songs} --duration {args.duration:g}"
    floors = quick_check(separator, separator.instruments)
    _record_per_folder(
        separator,
        "evaluation",
        {
            name: {
                "command": command,
                "songs": report["songs"],
                **{setting: report[setting].get(name) for setting in SETTINGS},
                "min_si_sdri_db": round(floors[name] - TEST_FLOOR_MARGIN_DB, 2),
            }
            for name in separator.instruments
        },
    )


def _record_per_folder(separator, key: str, sections: dict[str, dict]) -> None:
    """Write each instrument's ``sections`` entry under ``key`` in its model folder's
    metrics; a folder with several instruments holds one shared model, so it gets them
    per instrument."""
    by_folder: dict[Path, dict[str, dict]] = {}
    for name, section in sections.items():
        by_folder.setdefault(separator.folders[name], {})[name] = section
    for folder, held in by_folder.items():
        update_metrics(folder, **{key: held if len(held) > 1 else next(iter(held.values()))})


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
