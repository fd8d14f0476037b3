"""Carry a trained model onto another frequency grid (``train --init`` with other
``--frequency-pool`` / ``--full-resolution-bins``).

Why: the guitar's mask is bounded by its grid (pooling the bins above 1.4 kHz costs its
oracle 0.9 dB on the validation songs), and retraining from scratch takes hours on two CPU
cores. The U-Net's convolutions and time mixing do not depend on the number of frequency
rows, so they carry over as they are. Only the frequency-mixing layers are sized for the
rows: each new row takes over the weights of the old row at the same frequency, and the
weights that read a row are divided among the new rows that share it, so an input that
is constant over those rows gives each of them the old row's output. Extra hidden units
of a wider mixing branch start reading at random and writing zero, as a new mixing
layer does.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .model import InstrumentModel
from .unet import GlobalMixing, level_sizes, mixer_levels


def row_frequencies(model: InstrumentModel, rows: Tensor) -> Tensor:
    """STFT bin (fractional) at U-Net input row coordinate ``rows`` (rows beyond the last
    pooled row, the padding, continue past the last bin at the pooled spacing)."""
    full, pool = model.full_resolution_bins, max(model.frequency_pool, 1)
    return torch.where(rows < full, rows, full + (rows - full) * pool)


def frequency_rows(model: InstrumentModel, bins: Tensor) -> Tensor:
    """Inverse of :func:`row_frequencies`: the row coordinate of a fractional bin."""
    full, pool = model.full_resolution_bins, max(model.frequency_pool, 1)
    return torch.where(bins < full, bins, full + (bins - full) / pool)


def matching_rows(trained: InstrumentModel, model: InstrumentModel, level: int) -> Tensor:
    """For each of ``model``'s rows at U-Net ``level``, the row of ``trained`` at the same
    level that covers the frequency at its middle."""
    scale = 2**level
    new_height = level_sizes(model.pooled_bins, model.unet.depth)[level]
    old_height = level_sizes(trained.pooled_bins, trained.unet.depth)[level]
    middles = (torch.arange(new_height, dtype=torch.float64) + 0.5) * scale
    old_rows = frequency_rows(trained, row_frequencies(model, middles)) / scale
    return old_rows.floor().long().clamp(0, old_height - 1)


def regrid_mixing(trained: GlobalMixing, new: GlobalMixing, rows: Tensor) -> None:
    """Overwrite ``new``'s frequency-mixing weights with ``trained``'s, new row ``j``
    standing for old row ``rows[j]`` (its time mixing, sized by frames, is left alone)."""
    with torch.no_grad():
        old_down, old_up = trained.down.weight, trained.up.weight
        hidden = min(old_down.shape[0], new.down.weight.shape[0])
        shares = torch.bincount(rows, minlength=old_down.shape[1]).clamp(min=1)
        new.down.weight[:hidden] = (old_down[:, rows] / shares[rows])[:hidden]
        new.up.weight.zero_()
        new.up.weight[:, :hidden] = old_up[rows, :hidden]


def regrid_into(trained: InstrumentModel, model: InstrumentModel) -> None:
    """Overwrite ``model``'s weights with ``trained``'s on ``model``'s frequency grid;
    ValueError when they differ in anything but the grid (clip format, widths, layers)."""
    if trained.spec != model.spec:
        raise ValueError("the two models were trained on different clip formats")
    trained_weights, new_weights = trained.state_dict(), model.state_dict()
    if trained_weights.keys() != new_weights.keys():
        raise ValueError("the two models differ in more than their frequency grid")
    # The frequency-mixing layers (not time mixing's ``time_down`` / ``time_up``).
    mixing = {name for name in trained_weights if name.endswith((".down.weight", ".up.weight"))}
    for name, weight in trained_weights.items():
        if name not in mixing and weight.shape != new_weights[name].shape:
            raise ValueError(f"the two models differ in more than their frequency grid: {name}")
    model.load_state_dict(
        {name: weight for name, weight in trained_weights.items() if name not in mixing},
        strict=False,
    )
    if model.unet.mixers is None:
        return
    levels = mixer_levels(model.unet.depth)
    for old, new, level in zip(trained.unet.mixers, model.unet.mixers, levels, strict=True):
        regrid_mixing(old, new, matching_rows(trained, model, level))
