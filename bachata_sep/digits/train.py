"""Train the query-conditioned U-Net on MNIST overlay triplets made on the fly.

Batch ``s`` is made of triplets ``s*B .. (s+1)*B - 1`` of one seeded stream, so a resumed
run sees exactly the batches an uninterrupted one would have seen.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import default_collate
from tqdm import tqdm

from ..folders import load_weights
from ..train.training import (
    LOG_FILE,
    append_log,
    cosine_learning_rate,
    load_state,
    pick_device,
    save_state,
)
from ..unet import ConditionedUNet
from .data import OverlayTriplets, SteeringQueries, load_splits
from .metrics import MASK_THRESHOLD, per_item_scores, steering_hits, summarize

METRICS = ("mean_iou", "mean_dice", "absent_fp_rate", "query_steering")

LOG_COLUMNS = (
    "step",
    "loss",
    "val_mean_iou",
    "val_mean_dice",
    "val_absent_fp_rate",
    "val_query_steering",
    "elapsed_s",
)
VALIDATION_STEERING_OVERLAYS = 250
"""Overlays (x4 queries) for the steering figure at each validation: enough for +-0.02."""

DIGITS_MODEL = {
    "in_channels": 1,
    "base_channels": 16,
    "depth": 3,
    "embedding_dim": 64,
    "presence_head": True,
    "presence_encoder": True,
}
"""Small enough to train in minutes on two CPU cores. Three levels (28 pixels, padded to
32 -> 16 -> 8 -> 4) rather than two: the 4x4 bottleneck sees the whole overlay, which
the presence head needs, and it led by 0.03 validation IoU after 750 steps (0.51 vs 0.48)."""


@dataclass
class TrainConfig:
    out: Path
    steps: int = 4000
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    learning_rate: float = 3e-3
    absent_fraction: float = 0.2
    validation_every: int = 250
    validation_size: int = 1000
    overlay: str = "mean"
    query_class_weight: float = 1.0
    mnist_dir: Path | None = None
    model: dict = field(default_factory=lambda: dict(DIGITS_MODEL))


class WithQueryClassifier(nn.Module):
    """The U-Net plus a training-only linear head that names the query's digit class.

    The auxiliary loss makes the query embedding say *which* digit was asked for, which
    the mask loss alone learns slowly (the query steers too little early on). The head is
    never saved with the model and never used at inference: the product stays
    query-by-example.

    With a presence encoder, a second training-only head names the overlay's classes from
    its embedding (multi-label), for the same reason: the presence head compares the two
    embeddings, which is easy once each says which digits it holds.
    """

    def __init__(self, unet: ConditionedUNet, classes: int = 10) -> None:
        super().__init__()
        self.unet = unet
        size = unet.query_encoder.project[-1].out_features
        self.query_classifier = nn.Linear(size, classes)
        self.overlay_classifier = nn.Linear(size, classes) if unet.mixture_encoder else None

    def forward(
        self, overlay: Tensor, query: Tensor
    ) -> tuple[Tensor, Tensor | None, Tensor, Tensor | None]:
        """Mask logits, presence logits, query-class logits and overlay-class logits."""
        embedding = self.unet.encode_query(query)
        mixture_embedding = overlay_logits = None
        if self.overlay_classifier is not None:
            mixture_embedding = self.unet.mixture_encoder(overlay)
            overlay_logits = self.overlay_classifier(mixture_embedding)
        mask, presence = self.unet.outputs(
            overlay, query_embedding=embedding, mixture_embedding=mixture_embedding
        )
        return mask, presence, self.query_classifier(embedding), overlay_logits


def mask_loss(
    mask_logits: Tensor, presence_logits: Tensor | None, mask: Tensor, present: Tensor
) -> Tensor:
    """Pixel BCE plus soft Dice on the mask, plus BCE on presence when the model has a head.

    BCE alone is dominated by the easy background; Dice rewards the overlap itself,
    which is what IoU measures. With a presence head the mask means "where the digit is,
    if present", so it learns from present items only and presence answers the rest;
    without one, absent items teach the mask itself to stay empty.
    """
    loss = torch.zeros((), device=mask_logits.device)
    if presence_logits is not None:
        loss = F.binary_cross_entropy_with_logits(presence_logits[:, 0], present.float())
        mask_logits, mask, present = mask_logits[present], mask[present], present[present]
    if len(mask):
        loss = loss + F.binary_cross_entropy_with_logits(mask_logits, mask)
    if present.any():
        probabilities = torch.sigmoid(mask_logits[present]).flatten(1)
        truth = mask[present].flatten(1)
        overlap = 2 * (probabilities * truth).sum(1) + 1
        dice = overlap / (probabilities.sum(1) + truth.sum(1) + 1)
        loss = loss + (1 - dice).mean()
    return loss


@torch.no_grad()
def predict(
    model: ConditionedUNet,
    triplets: OverlayTriplets,
    device: torch.device,
    batch_size: int = 250,
    gated: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """Probabilities, true masks and presence flags of every triplet, on the CPU; with
    ``gated`` off, the mask as if the presence head always said present."""
    model.eval()
    answer = model if gated else lambda *inputs: torch.sigmoid(model.logits(*inputs))
    outputs, masks, presence = [], [], []
    for start in range(0, len(triplets), batch_size):
        indices = range(start, min(start + batch_size, len(triplets)))
        overlay, query, mask, present = default_collate([triplets[i] for i in indices])[:4]
        outputs.append(answer(overlay.to(device), query.to(device)).cpu())
        masks.append(mask)
        presence.append(present)
    return torch.cat(outputs), torch.cat(masks), torch.cat(presence)


@torch.no_grad()
def predict_steering(
    model: ConditionedUNet, steering: SteeringQueries, device: torch.device, batch_size: int = 64
) -> tuple[Tensor, Tensor]:
    """Probabilities (N, 4, H, W) answered to each overlay's four queries, and the four
    digits' true masks (N, 4, H, W), on the CPU."""
    model.eval()
    answers, masks = [], []
    for start in range(0, len(steering), batch_size):
        items = [steering[i] for i in range(start, min(start + batch_size, len(steering)))]
        overlays = torch.from_numpy(np.stack([drawn.image for drawn, _ in items]))
        queries = torch.from_numpy(np.stack([query for _, query in items]))
        count, digits = queries.shape[:2]
        mixture = overlays[:, None, None].expand(-1, digits, -1, -1, -1).flatten(0, 1)
        output = model(mixture.to(device), queries.flatten(0, 1)[:, None].to(device)).cpu()
        answers.append(output.view(count, digits, *output.shape[-2:]))
        masks.append(torch.from_numpy(np.stack([drawn.masks for drawn, _ in items])))
    return torch.cat(answers), torch.cat(masks)


def query_steering(
    model: ConditionedUNet, steering: SteeringQueries, device: torch.device
) -> float:
    """Fraction of queries whose answer overlaps the queried digit most of the four."""
    probabilities, masks = predict_steering(model, steering, device)
    return steering_hits(probabilities >= MASK_THRESHOLD, masks).float().mean().item()


PRESENCE_SHIFTS = torch.arange(-2.0, 4.01, 0.25)
"""Presence-logit thresholds tried by :func:`calibrate_presence` (0: probability 0.5)."""


@torch.no_grad()
def calibrate_presence(
    model: ConditionedUNet, triplets: OverlayTriplets, device: torch.device
) -> float:
    """Set the presence threshold where ``triplets`` (validation) score best and fold it
    into the head's bias, so the saved model needs no extra setting; returns the shift.

    The head is trained on four present queries to one absent and stays unsure, so where
    its threshold sits trades absent-query false positives against missed digits. Scored
    as the mean IoU over every query: an absent one scores 1 for an empty answer, else 0.
    """
    model.eval()
    overlay, query, mask = default_collate([triplets[i] for i in range(len(triplets))])[:3]
    mask_logits, presence_logits = model.outputs(overlay.to(device), query.to(device))
    drawn = (torch.sigmoid(mask_logits) >= MASK_THRESHOLD).cpu()
    logits = presence_logits.cpu()
    scores = [
        per_item_scores(drawn & (logits >= shift)[:, :, None, None], mask)[0].mean()
        for shift in PRESENCE_SHIFTS
    ]
    shift = PRESENCE_SHIFTS[int(torch.stack(scores).argmax())].item()
    model.presence[-1].bias -= shift
    return shift


def train(config: TrainConfig) -> dict[str, float]:
    """Run (or resume) training; returns the best validation metrics."""
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    splits = load_splits(config.mnist_dir)
    stream = OverlayTriplets(
        splits.train,
        config.steps * config.batch_size,
        config.seed,
        config.absent_fraction,
        config.overlay,
    )
    validation = OverlayTriplets(
        splits.validation,
        config.validation_size,
        config.seed + 1,
        config.absent_fraction,
        config.overlay,
    )
    steering = SteeringQueries(
        splits.validation, VALIDATION_STEERING_OVERLAYS, config.seed + 1, config.overlay
    )
    model = ConditionedUNet(**config.model).to(device)
    trainee = WithQueryClassifier(model).to(device)
    optimizer = torch.optim.AdamW(trainee.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    config.out.mkdir(parents=True, exist_ok=True)
    start, best, elapsed = 0, {"val_mean_iou": -1.0}, 0.0
    if config.resume:
        start, best, elapsed = load_state(config.out, trainee, optimizer)
    elif (config.out / LOG_FILE).exists():
        (config.out / LOG_FILE).unlink()

    began = time.monotonic() - elapsed
    progress = tqdm(range(start, config.steps), initial=start, total=config.steps, unit="step")
    running_loss = math.nan
    for step in progress:
        trainee.train()
        for group in optimizer.param_groups:
            group["lr"] = cosine_learning_rate(config.learning_rate, step, config.steps)
        first = step * config.batch_size
        batch = default_collate([stream[i] for i in range(first, first + config.batch_size)])
        overlay, query, mask, present, query_class, overlay_classes = (
            tensor.to(device) for tensor in batch
        )
        mask_logits, presence_logits, class_logits, overlay_logits = trainee(overlay, query)
        loss = mask_loss(mask_logits, presence_logits, mask, present)
        loss = loss + config.query_class_weight * F.cross_entropy(class_logits, query_class)
        if overlay_logits is not None:
            loss = loss + config.query_class_weight * F.binary_cross_entropy_with_logits(
                overlay_logits, overlay_classes
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running_loss = (
            loss.item() if math.isnan(running_loss) else 0.95 * running_loss + 0.05 * loss.item()
        )
        progress.set_postfix(loss=f"{running_loss:.3f}", best_iou=f"{best['val_mean_iou']:.3f}")

        if (step + 1) % config.validation_every == 0 or step + 1 == config.steps:
            scores = summarize(*predict(model, validation, device))
            scores["query_steering"] = query_steering(model, steering, device)
            row = {
                "step": step + 1,
                "loss": running_loss,
                **{f"val_{key}": scores[key] for key in METRICS},
                "elapsed_s": time.monotonic() - began,
            }
            append_log(config.out, row, LOG_COLUMNS)
            if row["val_mean_iou"] > best["val_mean_iou"]:
                best = {key: float(value) for key, value in row.items()}
                model.save_pretrained(config.out)
            save_state(config.out, trainee, optimizer, step + 1, best, row["elapsed_s"])
    if model.presence is not None:
        best = calibrated(config.out, validation, steering, device, best)
    return best


def calibrated(
    out: Path,
    validation: OverlayTriplets,
    steering: SteeringQueries,
    device: torch.device,
    best: dict[str, float],
) -> dict[str, float]:
    """Calibrate the saved best model's presence threshold; its validation scores after."""
    model = load_weights(ConditionedUNet, out, str(device))
    shift = calibrate_presence(model, validation, device)
    model.save_pretrained(out)
    scores = summarize(*predict(model, validation, device))
    scores["query_steering"] = query_steering(model, steering, device)
    return {**best, **{f"val_{key}": scores[key] for key in METRICS}, "presence_shift": shift}
