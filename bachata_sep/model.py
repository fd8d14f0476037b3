"""Audio instrument models: a query-conditioned U-Net per instrument, and the separator
that runs them inside the song pipeline.

Each model sees the mixture heatmap pooled along frequency above a split bin (a coarser
grid is most of the speed on a CPU; the mask is interpolated back onto the full-resolution
STFT anyway) and the heatmaps of a query clip, and returns a mask at the heatmap's size.
The bins below the split keep full resolution because harmonics are resolved there: a
4x-pooled oracle mask loses 2.9 dB SI-SDRi on bass and 3.4 dB on guitar, one that keeps
the lowest 64 bins (up to 1.4 kHz) whole loses 0.2 and 0.7 dB.
A checkpoint folder per instrument holds ``config.json`` + ``model.safetensors`` and the
default query, ``reference.flac``: four bars of the instrument at the universal tempo.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import Tensor, nn

from .audio import read_audio, to_mono
from .errors import BadInputError
from .folders import instrument_names, load_weights, model_folders, reference_clip
from .queries import universal_clip_heatmaps
from .separators import BaselineSeparator, ClipBatch
from .spec import ClipSpec
from .unet import ConditionedUNet


def without_removed_options(unet: dict) -> dict:
    """A U-Net config without ``residual`` and ``conditioning``, which saved configs name:
    only plain blocks and FiLM are built (the alternatives were measured and removed)."""
    if unet.get("residual", False) or unet.get("conditioning", "film") != "film":
        raise BadInputError(
            "this model uses residual blocks or concatenation conditioning, which bachata-sep "
            "does not build: retrain it"
        )
    return {key: value for key, value in unet.items() if key not in ("residual", "conditioning")}


class InstrumentModel(nn.Module, PyTorchModelHubMixin):
    """Mask estimator for one instrument: heatmap ``(B, 1, F, T)`` + query → mask ``(B, F, T)``.

    Args:
        instrument: the name it separates (any name: users train their own), or several
            separated by commas: a shared model that the query tells which one to mask.
        spec: the clip format it was trained on, as ``ClipSpec.to_dict()``.
        frequency_pool: average-pool factor along frequency before the U-Net.
        full_resolution_bins: the lowest bins, left unpooled (0: pool every bin).
        unet: keyword arguments of :class:`ConditionedUNet`.
    """

    def __init__(
        self,
        instrument: str = "bongo",
        spec: dict | None = None,
        frequency_pool: int = 2,
        unet: dict | None = None,
        full_resolution_bins: int = 0,
    ) -> None:
        super().__init__()
        self.instrument = instrument
        self.spec = ClipSpec(**(spec or {}))
        self.frequency_pool = frequency_pool
        self.full_resolution_bins = full_resolution_bins
        self.unet = ConditionedUNet(
            **without_removed_options(unet or {}), height=self.pooled_bins, width=self.spec.n_frames
        )

    @property
    def instruments(self) -> tuple[str, ...]:
        return instrument_names(self.instrument)

    @property
    def pooled_bins(self) -> int:
        """The U-Net's input height: the unpooled low bins plus the pooled rest."""
        high = self.spec.n_bins - self.full_resolution_bins
        return self.full_resolution_bins + -(-high // max(self.frequency_pool, 1))

    def pool(self, heatmaps: Tensor) -> Tensor:
        """The U-Net's input grid: low bins as they are, the rest average-pooled."""
        low = heatmaps[..., : self.full_resolution_bins, :]
        high = heatmaps[..., self.full_resolution_bins :, :]
        if self.frequency_pool > 1:
            high = F.avg_pool2d(high, (self.frequency_pool, 1), ceil_mode=True)
        return torch.cat([low, high], dim=-2)

    def unpool(self, pooled: Tensor, size: tuple[int, int]) -> Tensor:
        """Back to ``size`` = (bins, frames): low bins as they are, the rest interpolated."""
        low = pooled[..., : self.full_resolution_bins, :]
        high = F.interpolate(
            pooled[..., self.full_resolution_bins :, :],
            size=(size[0] - self.full_resolution_bins, size[1]),
            mode="bilinear",
        )
        return torch.cat([low, high], dim=-2)

    def _check_heatmaps(self, heatmaps: Tensor) -> None:
        """A mislaid axis would still run through the U-Net and quietly mean nothing."""
        expected = (self.spec.n_bins, self.spec.n_frames)
        if tuple(heatmaps.shape[-2:]) != expected:
            raise ValueError(
                f"heatmaps must end in (bins, frames) = {expected}, not {heatmaps.shape}"
            )

    def encode_query(self, query: Tensor) -> Tensor:
        """One embedding ``(E,)`` from query heatmaps ``(Q, F, T)``: their mean embedding."""
        self._check_heatmaps(query)
        return self.unet.encode_query(self.pool(query[:, None])).mean(dim=0)

    def logits(self, mixture: Tensor, query_embedding: Tensor) -> Tensor:
        """Pre-sigmoid mask ``(B, F, T)`` from mixture heatmaps ``(B, F, T)``."""
        pooled = self.unet.logits(self.pool(mixture[:, None]), query_embedding=query_embedding)
        return self.unpool(pooled, mixture.shape[-2:])[:, 0]

    def forward(self, mixture: Tensor, query: Tensor) -> Tensor:
        """Masks ``(B, F, T)`` for a batch of mixtures and one query stack ``(Q, F, T)``,
        or per-item queries ``(B, Q, F, T)`` (training)."""
        self._check_heatmaps(mixture)
        if query.dim() == 4:
            self._check_heatmaps(query)
            embedding = self.unet.encode_query(self.pool(query.flatten(0, 1)[:, None]))
            embedding = embedding.view(*query.shape[:2], -1).mean(dim=1)
        else:
            embedding = self.encode_query(query)
        return torch.sigmoid(self.logits(mixture, embedding))


# Instruments whose mask never falls below the DSP baseline's. On real recordings outside
# the project the baseline's güira (percussive energy above 4 kHz) scored 20.5 and 28.6 dB
# SI-SDRi where every model scored 6.8-9.7: no rendered güira sounds like a real metal
# one. On the renders the floor costs the güira 1.4-4 dB and stays above the baseline
# (docs/held-out-sources.md).
BASELINE_FLOOR = ("guira",)


class ModelSeparator:
    """The pipeline's separator backed by an :class:`InstrumentModel` per instrument (a
    shared model serves each of its instruments, with that instrument's query)."""

    def __init__(
        self,
        models: Mapping[str, InstrumentModel],
        references: Mapping[str, Tensor],
        folders: Mapping[str, Path] | None = None,
        baseline_floor: tuple[str, ...] = BASELINE_FLOOR,
    ) -> None:
        specs = {model.spec for model in models.values()}
        if len(specs) != 1:
            raise BadInputError("the instrument models were trained on different clip formats")
        self.spec = specs.pop()
        # Channels-last (NHWC) is the layout oneDNN's CPU convolutions prefer: the four
        # models take ~35 % less time on a 2-core CPU (benchmarks/bench_pipeline.py).
        self.models = {
            name: model.to(memory_format=torch.channels_last) for name, model in models.items()
        }
        self.references = dict(references)
        self.folders = dict(folders or {})
        """Where each instrument's model was loaded from (its card is written there)."""
        self.baseline_floor = tuple(name for name in baseline_floor if name in self.models)
        self.baseline = BaselineSeparator(self.spec)
        self._embeddings: dict[str, tuple[Tensor, Tensor]] = {}

    @classmethod
    def from_folder(cls, folder: str | Path, device: str = "cpu") -> ModelSeparator:
        """Load every ``folder/<name>/`` that has weights and reference clips."""
        models, references, folders = {}, {}, {}
        for model_folder in model_folders(Path(folder)):
            model = load_weights(InstrumentModel, model_folder, device)
            shared = len(model.instruments) > 1
            for instrument in model.instruments:
                if instrument in models:
                    raise BadInputError(
                        f"{folders[instrument]} and {model_folder} both separate {instrument!r}"
                    )
                reference = model_folder / reference_clip(instrument, shared)
                if not reference.exists():
                    raise BadInputError(f"{reference} is missing: the default query")
                samples, sample_rate, _ = read_audio(reference)
                if sample_rate != model.spec.sample_rate:
                    raise BadInputError(f"{reference} must be at {model.spec.sample_rate} Hz")
                models[instrument] = model
                references[instrument] = universal_clip_heatmaps(to_mono(samples), model.spec)
                folders[instrument] = model_folder
        if not models:
            raise BadInputError(f"no instrument models in {folder}")
        return cls(models, references, folders)

    @property
    def instruments(self) -> tuple[str, ...]:
        return tuple(self.models)

    def supports(self, instrument: str) -> bool:
        return instrument in self.models

    @torch.inference_mode()
    def masks(self, batch: ClipBatch, queries: Mapping[str, Tensor | None]) -> dict[str, Tensor]:
        """Every model's mask (default queries for instruments not asked for); where together
        they claim more than the whole mixture in a bin, they are scaled to sum to 1.

        Each model is trained alone, so two of them may claim the same energy; sharing it
        out gains 0.37 dB SI-SDRi on the guitar and 0.38 on the güira on the validation
        songs (bongo +0.04, bass -0.03), and a stem does not depend on which others were
        asked for. An instrument of ``baseline_floor`` then takes the larger of its mask
        and the DSP baseline's."""
        masks = {
            name: torch.sigmoid(
                model.logits(batch.heatmaps, self._embedding(name, queries.get(name)))
            )
            for name, model in self.models.items()
        }
        total = sum(masks.values()).clamp(min=1)
        shared = {name: masks[name] / total for name in queries}
        floored = [name for name in self.baseline_floor if name in queries]
        if floored:
            floors = self.baseline.masks(batch, dict.fromkeys(floored))
            for name in floored:
                shared[name] = torch.maximum(shared[name], floors[name].to(shared[name].dtype))
        return shared

    def _embedding(self, name: str, query: Tensor | None) -> Tensor:
        """Encode each query once per song: the pipeline passes the same tensor per batch."""
        query = self.references[name] if query is None else query
        cached = self._embeddings.get(name)
        if cached is None or cached[0] is not query:
            cached = (query, self.models[name].encode_query(query))
            self._embeddings[name] = cached
        return cached[1]
