"""Adversarial refinement, the research's GAN idea, as an optional extra training loss.

A patch discriminator learns to tell a true stem from the separator's masked estimate,
each drawn as a heatmap on its mixture's scale and shown next to the mixture's heatmap.
The separator is then also trained to fool it (least-squares GAN, weighted against the
main loss). Like every other choice it is kept only if validation SI-SDRi says so: the
docs/design.md's "GAN refinement" gives the measurement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from .transforms import heatmap

ADVERSARY_FILE = "adversary_state.safetensors"
# Usual GAN discriminator settings (Adam, beta1 = 0.5), held constant, not scheduled.
ADVERSARY_LEARNING_RATE = 2e-4
ADVERSARY_BETAS = (0.5, 0.9)


class Judged(NamedTuple):
    """Pooled heatmaps ``(B, 1, F', T')`` of the mixture, the estimate and the true stem."""

    mixture: Tensor
    estimate: Tensor
    target: Tensor


class PatchDiscriminator(nn.Module):
    """Strided convolutions to a map of real/fake scores, one per time-frequency patch:
    local texture (smeared onsets, leaked harmonics) is what a mask gets wrong."""

    def __init__(self, channels: int = 16, layers: int = 3) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        previous = 2  # the mixture's heatmap and the stem's
        for level in range(layers):
            width = channels * 2**level
            blocks += [nn.Conv2d(previous, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            previous = width
        blocks.append(nn.Conv2d(previous, 1, 3, padding=1))
        self.layers = nn.Sequential(*blocks)

    def forward(self, mixture: Tensor, stem: Tensor) -> Tensor:
        """Scores ``(B, 1, h, w)`` for heatmaps ``(B, 1, F, T)`` of a mixture and a stem."""
        return self.layers(torch.cat([mixture, stem], dim=1))


class Adversary:
    """The discriminator, its optimizer, and the weight of its verdict in the separator's
    loss. ``pool`` maps heatmaps to the separator's own grid (fewer bins to judge)."""

    def __init__(
        self,
        weight: float,
        pool: Callable[[Tensor], Tensor],
        device: torch.device,
        distributed: bool = False,
    ) -> None:
        self.weight = weight
        self.pool = pool
        self.discriminator = PatchDiscriminator().to(device)
        self.optimizer = torch.optim.Adam(
            self.discriminator.parameters(), lr=ADVERSARY_LEARNING_RATE, betas=ADVERSARY_BETAS
        )
        self._judge = (
            DistributedDataParallel(self.discriminator) if distributed else self.discriminator
        )

    def heatmaps(self, mask: Tensor, batch: dict[str, Tensor]) -> Judged:
        """What the discriminator judges, computed once per step for both of its uses."""
        mixture = batch["mixture_magnitude"]
        # The estimate and the true stem on the mixture's scale, in one call.
        stems = heatmap(torch.stack([mask * mixture, batch["target_magnitude"]]), mixture)
        estimate, target = (self.pool(stem[:, None]) for stem in stems)
        return Judged(self.pool(batch["mixture_heatmap"]), estimate, target)

    def generator_loss(self, judged: Judged) -> Tensor:
        """Weighted least-squares loss of the estimate being judged fake; the gradient
        reaches the separator only (the discriminator's weights are held still)."""
        self.discriminator.requires_grad_(False)
        scores = self.discriminator(judged.mixture, judged.estimate)
        self.discriminator.requires_grad_(True)
        return self.weight * (scores - 1).square().mean()

    def step(self, judged: Judged) -> float:
        """One discriminator update: true stems towards 1, estimates towards 0."""
        # Detached: the stack in heatmaps() ties even the true stem to the separator's graph.
        stems = torch.cat([judged.target, judged.estimate]).detach()
        # True and estimated stems in one batched pass (one gradient sync under torchrun).
        real, fake = self._judge(judged.mixture.repeat(2, 1, 1, 1), stems).chunk(2)
        loss = 0.5 * ((real - 1).square().mean() + fake.square().mean())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()
