"""Mask metrics: IoU and Dice on present queries, false positives on absent ones."""

from __future__ import annotations

import math

import torch
from torch import Tensor

MASK_THRESHOLD = 0.5
FALSE_POSITIVE_FRACTION = 0.01
"""An absent query counts as a false positive when its predicted mask covers at least
this fraction of the image (8 of 784 pixels for MNIST): a few stray pixels are noise,
a digit-sized blob is a wrong answer."""


def false_positive_pixels(height: int, width: int) -> int:
    """Smallest predicted-mask area (in pixels) that counts as a false positive."""
    return math.ceil(FALSE_POSITIVE_FRACTION * height * width)


def per_item_scores(predicted: Tensor, truth: Tensor) -> tuple[Tensor, Tensor]:
    """IoU and Dice of each item's binary masks, shape (N, ...) -> (N,), (N,).

    Two empty masks agree perfectly (score 1), so the scores are defined for every item.
    """
    predicted = predicted.flatten(1).bool()
    truth = truth.flatten(1).bool()
    intersection = (predicted & truth).sum(1).float()
    union = (predicted | truth).sum(1).float()
    total = predicted.sum(1).float() + truth.sum(1).float()
    iou = torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))
    dice = torch.where(total > 0, 2 * intersection / total.clamp(min=1), torch.ones_like(total))
    return iou, dice


def summarize(probabilities: Tensor, truth: Tensor, present: Tensor) -> dict[str, float]:
    """Mean IoU and Dice over present queries and the absent-query false-positive rate."""
    predicted = probabilities >= MASK_THRESHOLD
    iou, dice = per_item_scores(predicted[present], truth[present])
    height, width = probabilities.shape[-2:]
    area = predicted[~present].flatten(1).sum(1)
    false_positives = area >= false_positive_pixels(height, width)
    return {
        "mean_iou": iou.mean().item() if len(iou) else math.nan,
        "mean_dice": dice.mean().item() if len(dice) else math.nan,
        "absent_fp_rate": false_positives.float().mean().item() if len(area) else math.nan,
        "n_present": int(present.sum()),
        "n_absent": int((~present).sum()),
    }


def steering_hits(predicted: Tensor, masks: Tensor) -> Tensor:
    """(N, K, H, W) answers to the queries for each of an overlay's K digits and (N, K, H, W)
    the digits' true masks -> (N, K): answer k overlaps digit k more than any other digit.

    An empty answer overlaps none and misses, so a model cannot pass by saying nothing.
    """
    answers = predicted.flatten(2).bool()[:, :, None]
    truth = masks.flatten(2).bool()[:, None]
    intersection = (answers & truth).sum(-1).float()
    iou = intersection / (answers | truth).sum(-1).float().clamp(min=1)
    own = iou.diagonal(dim1=1, dim2=2)
    eye = torch.eye(iou.shape[1], dtype=torch.bool, device=iou.device)
    others = iou.masked_fill(eye, -1.0).amax(dim=2)
    return own > others
