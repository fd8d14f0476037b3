"""Function-preserving widening of a trained U-Net (Net2WiderNet, Chen et al. 2016).

A wider model trained from scratch on two CPU cores needs many hours to catch up with the
narrow one it should beat; started as an exact copy of it, every step is spent on what
the extra width can add. Every channel of the narrow net becomes ``factor`` adjacent
copies (new channel ``j`` is old channel ``j // factor``), and every weight that reads
those channels is divided by ``factor``, so the sum over the copies is the old input.
The same index map serves every widened axis: convolution channels, the decoder's
concatenated skips, FiLM's stacked scale and shift, and the query encoder's stacked mean
and max. GroupNorm keeps its statistics because a group of the wide net holds the copies
of exactly one group of the narrow one. Identical copies get identical gradients and
would stay copies, so a little noise (relative to each weight's spread) tells them apart.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _fan_in_axis(module: nn.Module) -> int | None:
    """The weight axis that reads the previous layer's channels."""
    if isinstance(module, nn.ConvTranspose2d):
        return 0
    if isinstance(module, nn.Conv2d | nn.Linear):
        return 1
    return None


def _widened(narrow: Tensor, shape: torch.Size, fan_in_axis: int | None, factor: int) -> Tensor:
    """``narrow`` repeated along every axis that is ``factor`` times longer in ``shape``."""
    result = narrow
    for axis, (old, new) in enumerate(zip(narrow.shape, shape, strict=True)):
        if new == old:
            continue
        if new != factor * old:
            raise ValueError(f"cannot widen a {tuple(narrow.shape)} weight to {tuple(shape)}")
        result = result.repeat_interleave(factor, dim=axis)
        if axis == fan_in_axis:
            result = result / factor
    return result


def widen_into(
    narrow: nn.Module,
    wide: nn.Module,
    factor: int,
    noise: float = 0.01,
    generator: torch.Generator | None = None,
) -> None:
    """Overwrite ``wide``'s weights with ``narrow``'s, widened by ``factor``.

    Both are the same architecture but for channel widths (a FiLM ``ConditionedUNet``, or
    a model wrapping one, with ``base_channels`` ``factor`` times larger in ``wide``).
    ``noise`` is the standard deviation of the symmetry-breaking noise added to widened
    weights, relative to their own standard deviation (0: an exact copy).
    """
    narrow_modules = dict(narrow.named_modules())
    if narrow_modules.keys() != dict(wide.named_modules()).keys():
        raise ValueError("the two models differ in more than their widths")
    with torch.no_grad():
        for name, module in wide.named_modules():
            source = narrow_modules[name]
            if type(source) is not type(module):
                raise ValueError(f"the narrow model has no {type(module).__name__} {name!r}")
            for weight_name, weight in module.named_parameters(recurse=False):
                old = getattr(source, weight_name)
                axis = _fan_in_axis(module) if weight_name == "weight" else None
                new = _widened(old, weight.shape, axis, factor)
                if noise > 0 and new.shape != old.shape and new.numel() > 1:
                    spread = new.std()
                    if spread == 0:
                        spread = new.abs().mean()
                    new = new + noise * spread * torch.randn(
                        new.shape, generator=generator, dtype=new.dtype
                    ).to(new.device)
                weight.copy_(new)
