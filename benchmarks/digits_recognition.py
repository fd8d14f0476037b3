"""How well can the overlay's digits be named at all? A ceiling for the presence decision.

The absent-query goal (false positives <= 5 %) and the steering goal (>= 98 %, where an
empty answer is a miss) together ask the presence decision to pass 98 % of present
queries and stop 95 % of absent ones. This trains a plain CNN for that sub-problem alone,
told the class labels outright (multi-label: which four of the ten classes are in this
overlay?), on the same training images and overlays as ``bachata-sep digits train``, and
scores it on the same held-out test triplets as ``bachata-sep digits evaluate``: a query
is scored by the CNN's probability for its class. Beside it, the committed model's
presence head on the same triplets. A benchmark only.

    OMP_NUM_THREADS=1 python benchmarks/digits_recognition.py --steps 6000
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import default_collate

from bachata_sep.digits.data import OverlayTriplets, load_splits
from bachata_sep.digits.evaluate import EVALUATION_SEED, load_model
from bachata_sep.pretrained import DIGITS_CHECKPOINT
from bachata_sep.train.training import cosine_learning_rate

RECALLS = (0.95, 0.98)


def _block(inputs: int, outputs: int) -> nn.Sequential:
    """Two 3x3 convolutions with BatchNorm, not the U-Net's ``ConvBlock``: the ceiling is
    an ordinary image classifier, which may depend on its batch (a mask may not)."""
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(),
        nn.Conv2d(outputs, outputs, 3, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(),
    )


def classifier(width: int) -> nn.Sequential:
    """Three VGG-style levels (28 -> 14 -> 7), global average pooling, ten logits."""
    return nn.Sequential(
        _block(1, width),
        nn.MaxPool2d(2),
        _block(width, 2 * width),
        nn.MaxPool2d(2),
        _block(2 * width, 4 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * width, 10),
    )


def separability(scores: Tensor, present: Tensor) -> dict[str, float]:
    """ROC AUC of present against absent queries, and the absent queries passed at the
    threshold that keeps each of RECALLS of the present ones."""
    positives, negatives = scores[present], scores[~present]
    above = positives[:, None] - negatives[None, :]
    figures = {"auc": ((above > 0).float() + 0.5 * (above == 0).float()).mean().item()}
    for recall in RECALLS:
        passed = negatives >= positives.quantile(1 - recall)
        figures[f"fp_at_{round(recall * 100)}_recall"] = passed.float().mean().item()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default=str(DIGITS_CHECKPOINT))
    parser.add_argument("--overlays", type=int, default=2000, help="test overlays")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    splits = load_splits()
    stream = OverlayTriplets(splits.train, args.steps * args.batch_size, args.seed, 0.0)
    network = classifier(args.width)
    optimizer = torch.optim.AdamW(network.parameters(), lr=args.learning_rate, weight_decay=1e-4)
    began = time.monotonic()
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_learning_rate(args.learning_rate, step, args.steps)
        first = step * args.batch_size
        items = default_collate([stream[i] for i in range(first, first + args.batch_size)])
        loss = F.binary_cross_entropy_with_logits(network(items[0]), items[5])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    seconds = time.monotonic() - began

    test = OverlayTriplets(splits.test, args.overlays, EVALUATION_SEED)
    overlay, query, _, present, target, _ = default_collate([test[i] for i in range(len(test))])
    network.eval()
    with torch.no_grad():
        named = torch.sigmoid(network(overlay)).gather(1, target[:, None])[:, 0]
        presence = load_model(args.checkpoint).outputs(overlay, query)[1][:, 0]
    print(
        json.dumps(
            {
                **vars(args),
                "training_seconds": round(seconds),
                "classifier_told_the_labels": separability(named, present),
                "presence_head": separability(presence, present),
            }
        )
    )


if __name__ == "__main__":
    main()
