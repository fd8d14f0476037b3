"""The layout of a model folder, which training writes and loading reads: ``config.json``
and ``model.safetensors``, plus the default query clips (``reference.flac``, or one
``reference-<instrument>.flac`` per instrument of a shared model), and for a model that
learned look-alikes beside its instrument their queries (``lookalike-<name>.flac``).

Core, below both the model and the choice of weights (``pretrained``), so that imports
flow one way: pretrained → model → folders.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import TypeVar

ModelT = TypeVar("ModelT")

REFERENCE_CLIP = "reference.flac"


def instrument_names(instrument: str) -> tuple[str, ...]:
    """The instruments of a model: one name, or a comma-separated list for a shared model."""
    return tuple(name.strip() for name in instrument.split(",") if name.strip())


def reference_clip(instrument: str, shared: bool) -> str:
    """File name of an instrument's default query in its model folder: ``reference.flac``
    for a model of one instrument, ``reference-<instrument>.flac`` in a shared one."""
    return f"reference-{instrument}.flac" if shared else REFERENCE_CLIP


def reference_clips(model_folder: Path) -> list[Path]:
    """The default reference clips in a model folder (one, or one per instrument)."""
    return sorted(model_folder.glob("reference*.flac"))


def lookalike_clips(model_folder: Path) -> list[Path]:
    """Queries of the look-alikes a model learned beside its instrument
    (``lookalike-<name>.flac``): separation never loads them; given as a reference, such a
    clip asks the model for that look-alike instead."""
    return sorted(model_folder.glob("lookalike-*.flac"))


def model_folders(folder: Path) -> list[Path]:
    """The instrument model folders in ``folder``: weights and default reference clips
    (the digits model has none, so it is never mistaken for one)."""
    return [
        weights.parent
        for weights in sorted(folder.glob("*/model.safetensors"))
        if reference_clips(weights.parent)
    ]


def load_weights(model_class: type[ModelT], folder: Path, device: str = "cpu") -> ModelT:
    """``from_pretrained`` of a local folder, strictly (a missing key is an error) and
    quietly: huggingface_hub prints "Loading weights from local directory" to stdout,
    which would corrupt the JSON our commands write there."""
    with contextlib.redirect_stdout(io.StringIO()):
        model = model_class.from_pretrained(folder, strict=True, map_location=device)
    return model.to(device).eval()
