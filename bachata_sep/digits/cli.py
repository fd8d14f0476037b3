"""``bachata-sep digits train|evaluate``: the MNIST proof of concept from the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..pretrained import DIGITS_CHECKPOINT
from .data import OVERLAYS

# Training writes where the user is; evaluation reads the committed (or installed) model.
TRAIN_OUT = Path("checkpoints/digits")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "digits",
        help="proof of concept: extract one MNIST digit from an overlay of four",
        description="Query-by-example segmentation of MNIST overlays with the shared U-Net.",
    )
    actions = parser.add_subparsers(dest="digits_command", required=True, metavar="ACTION")

    train = actions.add_parser("train", help="train the digits model on overlays made on the fly")
    train.add_argument("--out", type=Path, default=TRAIN_OUT, help="checkpoint folder")
    train.add_argument("--steps", type=_positive_int, default=3000)
    train.add_argument("--batch-size", type=_positive_int, default=64)
    train.add_argument("--learning-rate", type=float, default=3e-3)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    train.add_argument("--resume", action="store_true", help="continue from --out's saved state")
    train.add_argument(
        "--overlay", choices=OVERLAYS, default="mean", help="how digits combine (default: mean)"
    )
    train.add_argument(
        "--query-class-weight",
        type=float,
        default=1.0,
        help="weight of the training-only loss that names the query's class (0: off)",
    )
    train.add_argument("--validation-every", type=_positive_int, default=500, metavar="STEPS")
    train.add_argument("--mnist-dir", type=Path, help="folder with full MNIST's IDX files")
    train.set_defaults(run=_run_train)

    evaluate = actions.add_parser("evaluate", help="score a checkpoint on held-out test overlays")
    evaluate.add_argument("--checkpoint", type=Path, default=DIGITS_CHECKPOINT)
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")
    evaluate.add_argument("--figure", type=Path, help="save the example grid to this PNG")
    evaluate.add_argument("--overlays", type=_positive_int, default=2000, help="test overlays")
    evaluate.add_argument("--seed", type=int, help="overlay seed (default: the fixed one)")
    evaluate.add_argument(
        "--overlay", choices=OVERLAYS, default="mean", help="how digits combine (default: mean)"
    )
    evaluate.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    evaluate.add_argument("--mnist-dir", type=Path, help="folder with full MNIST's IDX files")
    evaluate.set_defaults(run=_run_evaluate)


def _run_train(args: argparse.Namespace) -> int:
    from .train import TrainConfig, train

    config = TrainConfig(
        out=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        device=args.device,
        resume=args.resume,
        overlay=args.overlay,
        query_class_weight=args.query_class_weight,
        validation_every=args.validation_every,
        mnist_dir=args.mnist_dir,
    )
    best = train(config)
    print(
        f"best validation IoU {best['val_mean_iou']:.4f} at step {int(best['step'])}, "
        f"absent FP rate {best['val_absent_fp_rate']:.4f}, "
        f"query steering {best['val_query_steering']:.4f}"
        + (
            f" (presence threshold moved by {best['presence_shift']:+.2f} logits)"
            if "presence_shift" in best
            else ""
        )
        + f"; saved to {args.out}"
    )
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import EVALUATION_SEED, evaluate

    scores = evaluate(
        args.checkpoint,
        n_overlays=args.overlays,
        seed=EVALUATION_SEED if args.seed is None else args.seed,
        overlay=args.overlay,
        mnist_dir=args.mnist_dir,
        figure=args.figure,
        device=args.device,
    )
    if args.json:
        print(json.dumps(scores, indent=2))
    else:
        print(
            f"mean IoU {scores['mean_iou']:.4f}  mean Dice {scores['mean_dice']:.4f}  "
            f"absent FP rate {scores['absent_fp_rate']:.4f}  "
            f"query steering {scores['query_steering']:.4f}  ({scores['overlay']} overlay, "
            f"{scores['n_present']} present, {scores['n_absent']} absent queries)"
        )
    if args.figure is not None and not args.json:
        print(f"figure saved to {args.figure}")
    return 0
