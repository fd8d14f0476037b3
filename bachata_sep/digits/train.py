"""Train the query-conditioned U-Net on MNIST overlay triplets made on the fly.

Batch ``s`` is made of triplets ``s*B .. (s+1)*B - 1`` of one seeded stream, so a resumed
run sees exactly the batches an uninterrupted one would have seen.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor
from torch.utils.data import default_collate
from tqdm import tqdm

from ..errors import BadInputError
from ..unet import ConditionedUNet
from .data import OverlayTriplets, load_splits
from .metrics import summarize

STATE_FILE = "training_state.safetensors"
LOG_FILE = "training_log.csv"
LOG_COLUMNS = ("step", "loss", "val_mean_iou", "val_mean_dice", "val_absent_fp_rate", "elapsed_s")

DIGITS_MODEL = {"in_channels": 1, "base_channels": 16, "depth": 2, "embedding_dim": 64}
"""Small enough to train in minutes on two CPU cores: 28 -> 14 -> 7 pixels."""


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
    residual: bool = False
    mnist_dir: Path | None = None
    model: dict = field(default_factory=lambda: dict(DIGITS_MODEL))


def pick_device(name: str) -> torch.device:
    """``auto`` means CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise BadInputError(f"Unknown device {name!r}: use auto, cpu or cuda.") from error


def mask_loss(logits: Tensor, mask: Tensor, present: Tensor) -> Tensor:
    """Pixel BCE for every item plus soft Dice on present items.

    BCE alone is dominated by the easy background; Dice rewards the overlap itself,
    which is what IoU measures. Absent items have no overlap to reward, only BCE.
    """
    bce = F.binary_cross_entropy_with_logits(logits, mask)
    if not present.any():
        return bce
    probabilities = torch.sigmoid(logits[present]).flatten(1)
    truth = mask[present].flatten(1)
    dice = (2 * (probabilities * truth).sum(1) + 1) / (probabilities.sum(1) + truth.sum(1) + 1)
    return bce + (1 - dice).mean()


@torch.no_grad()
def predict(
    model: ConditionedUNet, triplets: OverlayTriplets, device: torch.device, batch_size: int = 250
) -> tuple[Tensor, Tensor, Tensor]:
    """Probabilities, true masks and presence flags of every triplet, on the CPU."""
    model.eval()
    outputs, masks, presence = [], [], []
    for start in range(0, len(triplets), batch_size):
        indices = range(start, min(start + batch_size, len(triplets)))
        overlay, query, mask, present = default_collate([triplets[i] for i in indices])
        outputs.append(model(overlay.to(device), query.to(device)).cpu())
        masks.append(mask)
        presence.append(present)
    return torch.cat(outputs), torch.cat(masks), torch.cat(presence)


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up over 5% of the steps, then cosine decay to zero."""
    warmup = max(1, config.steps // 20)
    if step < warmup:
        return config.learning_rate * (step + 1) / warmup
    progress = (step - warmup) / max(1, config.steps - warmup)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def train(config: TrainConfig) -> dict[str, float]:
    """Run (or resume) training; returns the best validation metrics."""
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    splits = load_splits(config.mnist_dir)
    stream = OverlayTriplets(
        splits.train, config.steps * config.batch_size, config.seed, config.absent_fraction
    )
    validation = OverlayTriplets(
        splits.validation, config.validation_size, config.seed + 1, config.absent_fraction
    )
    model = ConditionedUNet(**config.model, residual=config.residual).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    config.out.mkdir(parents=True, exist_ok=True)
    start, best, elapsed = 0, {"val_mean_iou": -1.0}, 0.0
    if config.resume:
        start, best, elapsed = _load_state(config.out, model, optimizer)
    elif (config.out / LOG_FILE).exists():
        (config.out / LOG_FILE).unlink()

    began = time.monotonic() - elapsed
    progress = tqdm(range(start, config.steps), initial=start, total=config.steps, unit="step")
    running_loss = math.nan
    for step in progress:
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        first = step * config.batch_size
        batch = default_collate([stream[i] for i in range(first, first + config.batch_size)])
        overlay, query, mask, present = (tensor.to(device) for tensor in batch)
        loss = mask_loss(model.logits(overlay, query), mask, present)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running_loss = (
            loss.item() if math.isnan(running_loss) else 0.95 * running_loss + 0.05 * loss.item()
        )
        progress.set_postfix(loss=f"{running_loss:.3f}", best_iou=f"{best['val_mean_iou']:.3f}")

        if (step + 1) % config.validation_every == 0 or step + 1 == config.steps:
            scores = summarize(*predict(model, validation, device))
            row = {
                "step": step + 1,
                "loss": running_loss,
                **{
                    f"val_{key}": scores[key] for key in ("mean_iou", "mean_dice", "absent_fp_rate")
                },
                "elapsed_s": time.monotonic() - began,
            }
            _append_log(config.out, row)
            if row["val_mean_iou"] > best["val_mean_iou"]:
                best = {key: float(value) for key, value in row.items()}
                model.save_pretrained(config.out)
            _save_state(config.out, model, optimizer, step + 1, best, row["elapsed_s"])
    return best


def _append_log(out: Path, row: dict[str, float]) -> None:
    path = out / LOG_FILE
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, LOG_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({key: round(value, 5) for key, value in row.items()})


def _save_state(
    out: Path,
    model: ConditionedUNet,
    optimizer: torch.optim.Optimizer,
    step: int,
    best: dict[str, float],
    elapsed: float,
) -> None:
    """Last weights and AdamW moments as safetensors, counters as its JSON metadata."""
    tensors = {f"model.{key}": value for key, value in model.state_dict().items()}
    for index, state in optimizer.state_dict()["state"].items():
        tensors.update({f"optimizer.{index}.{key}": value for key, value in state.items()})
    tensors = {key: value.detach().cpu().contiguous() for key, value in tensors.items()}
    metadata = {"step": str(step), "best": json.dumps(best), "elapsed_s": str(elapsed)}
    save_file(tensors, out / STATE_FILE, metadata)


def _load_state(
    out: Path, model: ConditionedUNet, optimizer: torch.optim.Optimizer
) -> tuple[int, dict[str, float], float]:
    """Restore what ``_save_state`` wrote; returns (step, best metrics, elapsed seconds)."""
    path = out / STATE_FILE
    if not path.is_file():
        raise BadInputError(f"Cannot resume: {path} does not exist (train without --resume).")
    with safe_open(path, "pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(path)
    weights = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        raise BadInputError(f"Cannot resume from {path}: it holds another model shape.") from error
    state = optimizer.state_dict()
    state["state"] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state["state"].setdefault(int(index), {})[name] = value
    optimizer.load_state_dict(state)
    return int(metadata["step"]), json.loads(metadata["best"]), float(metadata["elapsed_s"])
