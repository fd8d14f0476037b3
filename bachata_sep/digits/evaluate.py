"""Score a digits checkpoint on held-out test overlays and draw the figure grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import BadInputError
from ..pretrained import load_weights
from ..training import pick_device
from ..unet import ConditionedUNet
from .data import INK_THRESHOLD, OverlayTriplets, Triplet, load_splits
from .metrics import MASK_THRESHOLD, false_positive_pixels, per_item_scores, summarize
from .train import predict

EVALUATION_SEED = 1234
"""Fixed, so that the same checkpoint always gets the same numbers."""

FIGURE_ROWS = 8
FIGURE_ABSENT_ROWS = 2


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
    mnist_dir: str | Path | None = None,
    figure: str | Path | None = None,
    device: str = "auto",
) -> dict[str, float]:
    """Mean IoU / Dice on present queries and absent-query false-positive rate, with the
    two figures that put them in scale: the IoU of answering with the overlay's whole
    ink, and the share of the target's pixels that no other digit covers.

    The overlays are built from test images only, which training never saw.
    """
    torch_device = pick_device(device)
    model = load_model(checkpoint, torch_device)
    test = OverlayTriplets(load_splits(mnist_dir).test, n_overlays, seed, absent_fraction)
    probabilities, masks, present = predict(model, test, torch_device)
    examples = [test.triplet(index) for index in range(len(test))]
    scores = summarize(probabilities, masks, present)
    scores.update(
        n_overlays=n_overlays,
        seed=seed,
        mask_threshold=MASK_THRESHOLD,
        false_positive_min_pixels=false_positive_pixels(*probabilities.shape[-2:]),
        **occlusion_context(examples),
    )
    if figure is not None:
        save_figure(examples, probabilities, Path(figure))
    return scores


def occlusion_context(examples: list[Triplet]) -> dict[str, float]:
    """How much the overlays give away, over present queries, whatever the model."""
    present = [example for example in examples if example.present]
    overlay_ink = torch.from_numpy(np.stack([e.overlay for e in present]) > INK_THRESHOLD)
    masks = torch.from_numpy(np.stack([e.mask for e in present]))
    all_ink_iou, _ = per_item_scores(overlay_ink, masks)
    visible = np.mean([e.visible.sum() / e.mask.sum() for e in present])
    return {"all_ink_iou": all_ink_iou.mean().item(), "visible_fraction": float(visible)}


def _figure_rows(present: np.ndarray) -> list[int]:
    """The first present and absent examples, so the figure shows both cases."""
    absent_rows = np.flatnonzero(~present)[:FIGURE_ABSENT_ROWS].tolist()
    present_rows = np.flatnonzero(present)[: FIGURE_ROWS - len(absent_rows)].tolist()
    return sorted(present_rows + absent_rows)


def save_figure(examples: list[Triplet], probabilities: torch.Tensor, path: Path) -> None:
    """Grid of overlay | query | ground truth | prediction, one example per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _figure_rows(np.array([example.present for example in examples]))
    predicted = probabilities >= MASK_THRESHOLD
    figure, axes = plt.subplots(len(rows), 4, figsize=(6.4, 1.7 * len(rows)), squeeze=False)
    for row, index in zip(axes, rows, strict=True):
        example = examples[index]
        prediction = predicted[index, 0]
        iou, _ = per_item_scores(prediction[None], torch.from_numpy(example.mask)[None])
        shown = "".join(str(digit) for digit in example.classes)
        verdict = f"IoU {iou.item():.2f}" if example.present else f"{int(prediction.sum())} px"
        panels = [
            (example.overlay, f"digits {shown}"),
            (example.query, f"query: {example.target}"),
            (example.mask, "present" if example.present else "absent"),
            (prediction.numpy(), verdict),
        ]
        for axis, (image, label) in zip(row, panels, strict=True):
            axis.imshow(image, cmap="gray", vmin=0, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_xlabel(label, fontsize=8)
    for axis, title in zip(
        axes[0], ("overlay", "query", "ground truth", "prediction"), strict=True
    ):
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
