"""Score a digits checkpoint on held-out test overlays and draw the figure grid."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import BadInputError
from ..folders import load_weights
from ..train.training import pick_device
from ..unet import ConditionedUNet
from .data import OverlayTriplets, SteeringQueries, Triplet, load_splits
from .metrics import (
    MASK_THRESHOLD,
    false_positive_pixels,
    per_item_scores,
    steering_hits,
    summarize,
)
from .train import predict, predict_steering

if TYPE_CHECKING:
    from matplotlib.axes import Axes

EVALUATION_SEED = 1234
"""Fixed, so that the same checkpoint always gets the same numbers."""


def load_model(checkpoint: str | Path, device: torch.device | str = "cpu") -> ConditionedUNet:
    """Load a local checkpoint folder (config.json + model.safetensors), strictly."""
    folder = Path(checkpoint)
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise BadInputError(
            f"Checkpoint folder {folder} needs config.json and model.safetensors "
            "(train one with: bachata-sep digits train --out FOLDER)."
        )
    return load_weights(ConditionedUNet, folder, str(device))


def evaluate(
    checkpoint: str | Path,
    n_overlays: int = 2000,
    seed: int = EVALUATION_SEED,
    absent_fraction: float = 0.2,
    overlay: str = "mean",
    mnist_dir: str | Path | None = None,
    figure: str | Path | None = None,
    device: str = "auto",
) -> dict[str, float | int | str]:
    """Mean IoU / Dice on present queries, absent-query false-positive rate and query
    steering; the IoU of the mask alone (as if the presence head always said present),
    which tells the mask's misses from the head's; and the two figures that put them in
    scale: the IoU of answering with every digit's ink, and the share of the target's
    pixels that no other digit covers.

    The overlays are built from test images only, which training never saw. Steering
    queries each of ``n_overlays`` further overlays for all four of its classes.
    """
    torch_device = pick_device(device)
    model = load_model(checkpoint, torch_device)
    images = load_splits(mnist_dir).test
    test = OverlayTriplets(images, n_overlays, seed, absent_fraction, overlay)
    probabilities, masks, present = predict(model, test, torch_device)
    examples = [test.triplet(index) for index in range(len(test))]
    scores: dict[str, float | int | str] = dict(summarize(probabilities, masks, present))
    ungated, _, _ = predict(model, test, torch_device, gated=False)
    scores["mask_only_iou"] = summarize(ungated, masks, present)["mean_iou"]
    steering = SteeringQueries(images, n_overlays, seed, overlay)
    answers, digit_masks = predict_steering(model, steering, torch_device)
    hits = steering_hits(answers >= MASK_THRESHOLD, digit_masks)
    scores.update(
        query_steering=hits.float().mean().item(),
        overlay=overlay,
        n_overlays=n_overlays,
        seed=seed,
        mask_threshold=MASK_THRESHOLD,
        false_positive_min_pixels=false_positive_pixels(*probabilities.shape[-2:]),
        **occlusion_context(examples),
    )
    if figure is not None:
        drawn, queries = steering[0]
        save_figure(drawn.image, queries, answers[0], digit_masks[0], drawn.classes, Path(figure))
    return scores


def occlusion_context(examples: list[Triplet]) -> dict[str, float]:
    """How much the overlays give away, over present queries, whatever the model."""
    present = [example for example in examples if example.present]
    overlay_ink = torch.from_numpy(np.stack([e.ink for e in present]))
    masks = torch.from_numpy(np.stack([e.mask for e in present]))
    all_ink_iou, _ = per_item_scores(overlay_ink, masks)
    visible = np.mean([e.visible.sum() / e.mask.sum() for e in present])
    return {"all_ink_iou": all_ink_iou.mean().item(), "visible_fraction": float(visible)}


def save_figure(
    overlay: np.ndarray,
    queries: np.ndarray,
    answers: torch.Tensor,
    digit_masks: torch.Tensor,
    classes: tuple[int, ...],
    path: Path,
) -> None:
    """One overlay, then its four queries above the four masks they got back: the same
    mixture, a different answer for each query."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    predicted = answers >= MASK_THRESHOLD
    hits = steering_hits(predicted[None], digit_masks[None])[0]
    figure, axes = plt.subplots(2, 5, figsize=(8.0, 3.6), squeeze=False)
    shown = ", ".join(map(str, sorted(classes)))
    _panel(axes[0, 0], overlay, f"overlay of {shown}", vmax=float(overlay.max()))
    _panel(axes[1, 0], digit_masks.amax(0).numpy(), "every digit's ink")
    for column, digit in enumerate(classes, start=1):
        iou, _ = per_item_scores(predicted[column - 1][None], digit_masks[column - 1][None])
        verdict = "steered" if hits[column - 1] else "missed"
        _panel(axes[0, column], queries[column - 1], f"query: a {digit}")
        _panel(axes[1, column], predicted[column - 1].numpy(), f"IoU {iou.item():.2f}, {verdict}")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _panel(axis: Axes, image: np.ndarray, label: str, vmax: float = 1.0) -> None:
    axis.imshow(image, cmap="gray", vmin=0, vmax=vmax)
    axis.set_xticks([])
    axis.set_yticks([])
    axis.set_xlabel(label, fontsize=8)
