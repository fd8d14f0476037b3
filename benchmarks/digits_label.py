"""What does asking by example cost? The digits network given the class label instead.

Trains the committed digits configuration with the query encoder replaced by a learnt
embedding of the wanted class (its label), on the same triplet stream, loss and schedule
as ``bachata-sep digits train``, and scores it on the same held-out test overlays as
``bachata-sep digits evaluate``. The gap between the two IoUs is what reading the class
from another handwritten image costs; a small gap says the query encoder is not the
limit. A benchmark only: the product asks by example.

    OMP_NUM_THREADS=1 python benchmarks/digits_label.py --steps 600 [--overlay mean]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import default_collate

from bachata_sep.digits.data import OVERLAYS, OverlayTriplets, SteeringQueries, load_splits
from bachata_sep.digits.evaluate import EVALUATION_SEED
from bachata_sep.digits.metrics import MASK_THRESHOLD, steering_hits, summarize
from bachata_sep.digits.train import DIGITS_MODEL, mask_loss
from bachata_sep.train.training import cosine_learning_rate
from bachata_sep.unet import ConditionedUNet


class LabelConditioned(nn.Module):
    """The U-Net conditioned on a learnt embedding of the class label, not on an image."""

    def __init__(self, unet: ConditionedUNet, classes: int = 10) -> None:
        super().__init__()
        self.unet = unet
        self.classes = nn.Embedding(classes, DIGITS_MODEL["embedding_dim"])

    def forward(self, overlay: Tensor, label: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.unet.outputs(overlay, query_embedding=self.classes(label))


@torch.no_grad()
def label_steering(model: LabelConditioned, overlays: int, overlay: str, batch: int = 100) -> float:
    """``digits evaluate``'s query steering, each digit asked for by its label."""
    steering = SteeringQueries(load_splits().test, overlays, EVALUATION_SEED, overlay)
    hits = []
    for start in range(0, overlays, batch):
        drawn = [steering[i][0] for i in range(start, min(start + batch, overlays))]
        images = torch.from_numpy(np.stack([item.image for item in drawn]))
        labels = torch.tensor([item.classes for item in drawn])
        count, digits = labels.shape
        mixture = images[:, None, None].expand(-1, digits, -1, -1, -1).flatten(0, 1)
        answers = model.unet(mixture, query_embedding=model.classes(labels.flatten()))
        masks = torch.from_numpy(np.stack([item.masks for item in drawn]))
        predicted = answers.view(count, digits, *answers.shape[-2:]) >= MASK_THRESHOLD
        hits.append(steering_hits(predicted, masks))
    return torch.cat(hits).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overlay", choices=OVERLAYS, default="mean")
    parser.add_argument("--overlays", type=int, default=2000, help="test overlays")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    splits = load_splits()
    stream = OverlayTriplets(
        splits.train, args.steps * args.batch_size, args.seed, overlay=args.overlay
    )
    model = LabelConditioned(ConditionedUNet(**DIGITS_MODEL))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=1e-4)
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_learning_rate(args.learning_rate, step, args.steps)
        first = step * args.batch_size
        overlay, _, mask, present, label = default_collate(
            [stream[i] for i in range(first, first + args.batch_size)]
        )[:5]
        loss = mask_loss(*model(overlay, label), mask, present)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    test = OverlayTriplets(splits.test, args.overlays, EVALUATION_SEED, overlay=args.overlay)
    model.eval()
    with torch.no_grad():
        overlay, _, mask, present, label = default_collate([test[i] for i in range(len(test))])[:5]
        embedding = model.classes(label)
        gated = model.unet(overlay, query_embedding=embedding)
        ungated = torch.sigmoid(model.unet.logits(overlay, query_embedding=embedding))
    scores = summarize(gated, mask, present)
    scores["mask_only_iou"] = summarize(ungated, mask, present)["mean_iou"]
    scores["query_steering"] = label_steering(model, args.overlays, args.overlay)
    print(json.dumps({"conditioning": "class label", **vars(args), **scores}))


if __name__ == "__main__":
    main()
