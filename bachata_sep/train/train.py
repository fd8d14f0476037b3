"""Train an instrument model on (mixture, ground truth, query) triplets made on the fly.

    bachata-sep train --instrument bongo --library data/loops -o checkpoints/bongo
    bachata-sep train --instrument bongo,guira,bass,guitar --library data/loops -o runs/shared

Several instruments make one shared model, told which one to separate by the query alone
(a model per instrument learns its instrument by heart and ignores the query).

Step ``s`` uses triplets ``s*B .. (s+1)*B - 1`` of one seeded stream, so a resumed run sees
the batches an uninterrupted one would have; under ``torchrun`` each process takes its
own slice of every batch. The loss (``--loss``) is the negative SDR of the waveform
estimate (``sdr``, default), or SI-SDR (``si-sdr``): blind to level while absent targets
reward silence, it let the masks sink to 0.3 % (stems 44-54 dB too quiet), so it only
starts a run from scratch that an SDR fine-tune then finishes (docs/design.md, *Stem
level*). ``--init FOLDER`` starts from trained weights of the same architecture with a
fresh optimizer and schedule (fine tuning). Validation reports the SI-SDR improvement and
the SDR of the waveform estimate (mask on the complex STFT, then iSTFT).
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, default_collate
from tqdm.auto import tqdm

from ..audio import write_audio
from ..data.loops import load_library
from ..data.triplets import TripletDataset
from ..errors import BadInputError
from ..folders import instrument_names, load_weights, reference_clip
from ..model import InstrumentModel
from ..spec import ClipSpec
from ..transforms import istft, stft
from ..unet import FiLM, level_widths
from .cards import update_metrics
from .metrics import sdr, si_sdr
from .training import (
    LOG_FILE,
    append_log,
    cosine_learning_rate,
    finish_distributed,
    init_distributed,
    load_state,
    pick_device,
    save_state,
)

LOG_COLUMNS = (
    "step",
    "loss",
    "val_si_sdri_db",
    "val_si_sdr_db",
    "val_sdr_db",
    "val_absent_residual_db",
    "elapsed_s",
)
REFERENCE_BARS = 4
LOSSES = ("sdr", "si-sdr")
KEEPS = ("best", "last")
"""Which weights ``model.safetensors`` holds: the best-validated step's, or the last one's."""
# An absent target's estimate should be silence; below this level (relative to the
# mixture) it counts as silent, so the loss does not chase ever quieter leftovers.
ABSENT_FLOOR = 1e-3


def _option(default: Any = MISSING, help: str = "", **argparse_settings: Any) -> Any:
    """A field that is also a ``bachata-sep train`` option: ``help`` and any other argparse
    settings (``metavar``, ``choices``, ``flags``) live here, next to the default, so the
    command line is built from this class and the two cannot drift apart."""
    return field(default=default, metadata={"help": help, **argparse_settings})


@dataclass
class TrainConfig:
    """Everything a training run depends on; each field is a ``bachata-sep train`` option
    (``--field-name``; a ``bool`` is a switch, a field without a default is required)."""

    instrument: str = _option(
        help="a name, or several separated by commas (e.g. bongo,guira,bass,guitar) for one "
        "shared model that separates whichever instrument its query clip shows"
    )
    library: Path = _option(help="the loop library to train on", metavar="LIB")
    out: Path = _option(help="the model folder to write", metavar="DIR", flags=("-o", "--out"))
    validation_library: Path | None = _option(
        None, "default: the 'valid' split of --library", metavar="LIB"
    )
    steps: int = _option(2000, "optimizer steps")
    batch_size: int = _option(16, "triplets a step (split across torchrun processes)")
    learning_rate: float = _option(2e-3, "peak of the cosine schedule")
    seed: int = _option(0, "seeds the weights and the triplet stream")
    device: str = _option("auto", "auto (CUDA when present), cpu, cuda")
    resume: bool = _option(False, "continue from DIR's last state")
    init: Path | None = _option(
        None,
        "start from the trained weights in FOLDER (same architecture, any instrument; or "
        "the same plus --frequency-mixing / --time-mixing, which start at zero) with a "
        "fresh optimizer and schedule: fine tuning",
        metavar="FOLDER",
    )
    fresh_query_encoder: bool = _option(
        False,
        "with --init: a new query encoder, which the FiLM layers ignore at first (the masks "
        "stay FOLDER's): a per-instrument model's encoder collapses to a constant, and a "
        "dead encoder never learns again",
    )
    validation_every: int = _option(200, "steps between validations (and saves)")
    validation_size: int = _option(96, "validation triplets")
    absent_rate: float = _option(0.1, "share of items whose target is left out")
    base_channels: int = _option(16, "the U-Net's first level width")
    depth: int = _option(4, "the U-Net's levels")
    frequency_pool: int = _option(4, "average-pool factor along frequency above the low bins")
    full_resolution_bins: int = _option(64, "the lowest bins, left unpooled")
    frequency_mixing: bool = _option(
        False,
        "a fully connected layer across frequency after every U-Net block (TDF), so the net "
        "sees an instrument's partials over the whole spectrum at once; with --init from a "
        "model without it, it starts at zero and keeps that model's masks",
    )
    time_mixing: bool = _option(
        False,
        "with --frequency-mixing, a fully connected layer across time too, so the net sees "
        "a part's pattern over the whole clip at once; it starts at zero as well",
    )
    loss: str = _option(
        "sdr",
        "sdr: waveform SDR; si-sdr: level-blind, a first stage from scratch for masks that "
        "SDR would silence, then --init with sdr",
        choices=LOSSES,
    )
    keep: str = _option(
        "best",
        "the weights written to DIR/model.safetensors: the best-validated step's, or the "
        "last step's (the end of the schedule, for a stage to fine-tune further from)",
        choices=KEEPS,
    )
    eq_db: float = _option(
        0.0,
        "timbre augmentation: a random EQ of up to +-DB at 8 bands on every training loop "
        "(0 = off)",
    )
    shift_ms: float = _option(
        0.0,
        "cut augmentation: roll every training mixture and its target by up to +-MS ms, so "
        "that bars cut off the downbeat by the beat tracker still separate (0 = off)",
    )
    song_query_rate: float = _option(
        0.0,
        "share of training items whose query is another loop of the target's own song (its "
        "timbre) rather than of another song",
    )
    codec_rate: float = _option(
        0.0,
        "share of training mixtures sent through an MP3 codec (VBR quality 2-7, about "
        "100-190 kbps), as songs reach users; targets stay clean",
    )
    workers: int = _option(1, "data loader processes building batches while the model trains")

    def command(self) -> str:
        """The ``bachata-sep train`` command line that reproduces this configuration."""
        words = ["bachata-sep train"]
        for entry in fields(self):
            value = getattr(self, entry.name)
            if entry.name in ("resume", "device") or value is None or value is False:
                continue
            flag = entry.metadata.get("flags", (f"--{entry.name.replace('_', '-')}",))[0]
            words.append(flag if value is True else f"{flag} {value}")
        return " ".join(words)

    @property
    def instruments(self) -> tuple[str, ...]:
        return instrument_names(self.instrument)

    def model_config(self) -> dict:
        return {
            "instrument": self.instrument,
            "spec": ClipSpec().to_dict(),
            "frequency_pool": self.frequency_pool,
            "full_resolution_bins": self.full_resolution_bins,
            "unet": {
                "base_channels": self.base_channels,
                "depth": self.depth,
                "frequency_mixing": self.frequency_mixing,
                "time_mixing": self.time_mixing,
            },
        }


def waveform_loss(
    mask: torch.Tensor,
    mixture: torch.Tensor,
    target: torch.Tensor,
    present: torch.Tensor,
    spec: ClipSpec,
    scale_invariant: bool = False,
) -> torch.Tensor:
    """Negative SDR (dB / 10) of the waveform estimate on present targets; on absent ones
    its level relative to the mixture (dB / 10, floored), since SDR needs a target. SDR,
    not SI-SDR: with a level-blind term for present targets and silence rewarded for
    absent ones, the cheapest way down is to shrink every mask. But SDR scores silence at
    0 dB, above any poor estimate, so from scratch a hard target's mask can die (sigmoid
    saturated at 0) before it learns anything; ``scale_invariant`` (SI-SDR, which sees only
    the shape, so going quiet gains nothing) is for that first stage, the level then fixed
    by an SDR fine-tune."""
    estimate = istft(stft(mixture, spec.n_fft, spec.hop_length) * mask, **_istft_args(spec))
    present = present > 0
    losses = torch.zeros(len(mixture), device=mixture.device)
    if present.any():
        score = si_sdr if scale_invariant else sdr
        losses[present] = -score(target[present], estimate[present]).float() / 10
    if (~present).any():
        leftover = estimate[~present].square().mean(-1) / (
            mixture[~present].square().mean(-1) + 1e-10
        )
        losses[~present] = torch.log10(leftover + ABSENT_FLOOR)
    return losses.mean()


def _istft_args(spec: ClipSpec) -> dict:
    return {"n_fft": spec.n_fft, "hop_length": spec.hop_length, "length": spec.length}


def batch_loss(
    name: str, mask: torch.Tensor, batch: dict[str, torch.Tensor], spec: ClipSpec
) -> torch.Tensor:
    """The training loss ``name`` (one of :data:`LOSSES`) of a batch already on the device."""
    return waveform_loss(
        mask, batch["mixture"], batch["target"], batch["present"], spec, name == "si-sdr"
    )


def all_items(dataset: TripletDataset, device: torch.device | str = "cpu") -> dict:
    """Every item of a (small) dataset as one batch on ``device``: validation reuses it."""
    batch = default_collate([dataset[i] for i in range(len(dataset))])
    return {key: value.to(device) for key, value in batch.items()}


@torch.no_grad()
def validate(model: InstrumentModel, items: dict[str, torch.Tensor], spec: ClipSpec) -> dict:
    """SI-SDR(i) and SDR of waveform estimates on present targets (SDR also checks their
    level); leftover level on absent ones."""
    model.eval()
    masks = torch.cat(
        [
            model(items["mixture_heatmap"][i : i + 16, 0], items["query_heatmap"][i : i + 16])
            for i in range(0, len(items["mixture"]), 16)
        ]
    )
    spectrum = stft(items["mixture"], spec.n_fft, spec.hop_length)
    estimate = istft(spectrum * masks, **_istft_args(spec))
    present = items["present"] > 0
    scores = {"val_si_sdr_db": math.nan, "val_si_sdri_db": math.nan, "val_sdr_db": math.nan}
    if present.any():
        target, mixture = items["target"][present], items["mixture"][present]
        achieved = si_sdr(target, estimate[present])
        scores["val_si_sdr_db"] = float(achieved.mean())
        scores["val_si_sdri_db"] = float((achieved - si_sdr(target, mixture)).mean())
        scores["val_sdr_db"] = float(sdr(target, estimate[present]).mean())
    absent = ~present
    scores["val_absent_residual_db"] = (
        float(
            10
            * torch.log10(
                estimate[absent].square().mean() / items["mixture"][absent].square().mean() + 1e-10
            )
        )
        if absent.any()
        else math.nan
    )
    return scores


def train(config: TrainConfig) -> dict[str, float]:
    """Run (or resume) training; returns the validation scores of the weights it keeps
    (``keep``: the best-validated step's or the last step's) on the main process; other
    ``torchrun`` processes return an empty dict."""
    if not config.instruments:
        raise BadInputError("name the instrument to train (or several, separated by commas)")
    if config.loss not in LOSSES:
        raise BadInputError(f"unknown loss {config.loss!r}: use {' or '.join(LOSSES)}")
    if config.keep not in KEEPS:
        raise BadInputError(f"--keep must be {' or '.join(KEEPS)}, not {config.keep!r}")
    if config.resume and config.init is not None:
        raise BadInputError("--init starts a new run from trained weights, --resume continues one")
    if config.fresh_query_encoder and config.init is None:
        raise BadInputError("--fresh-query-encoder renews a trained model's encoder: give --init")
    try:
        level_widths(config.base_channels, config.depth)
    except ValueError as error:
        raise BadInputError(str(error)) from None
    if config.time_mixing and not config.frequency_mixing:
        raise BadInputError(
            "--time-mixing adds to the frequency-mixing layers: add --frequency-mixing"
        )
    if config.eq_db < 0:
        raise BadInputError(f"EQ range must be 0 (off) or positive, not {config.eq_db} dB")
    if config.shift_ms < 0:
        raise BadInputError(f"shift range must be 0 (off) or positive, not {config.shift_ms} ms")
    for name in ("song_query_rate", "codec_rate"):
        if not 0 <= getattr(config, name) <= 1:
            label = name.replace("_", " ")
            raise BadInputError(f"{label} must be between 0 and 1, not {getattr(config, name)}")
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    distributed = init_distributed(device)
    spec = ClipSpec()
    library = load_library(config.library, spec)
    validation_library = (
        library
        if config.validation_library is None
        else load_library(config.validation_library, spec)
    )
    stream = _dataset(
        library, "train", config, config.steps * config.batch_size, config.seed, augment=True
    )
    validation_set = _dataset(
        validation_library, "valid", config, config.validation_size, config.seed + 1, augment=False
    )
    validation_items = all_items(validation_set, device)

    model = InstrumentModel(**config.model_config()).to(device)
    if config.init is not None:
        _load_initial_weights(model, config.init)
        if config.fresh_query_encoder:
            refresh_query_encoder(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    config.out.mkdir(parents=True, exist_ok=True)
    start, best, elapsed = 0, {"val_si_sdri_db": -math.inf}, 0.0
    if config.resume:
        start, best, elapsed = load_state(config.out, model, optimizer)
        if start >= config.steps:
            raise BadInputError(
                f"nothing to train: {config.out} has done {start} steps of --steps "
                f"{config.steps}; give a larger --steps to go on"
            )
    elif distributed.is_main and (config.out / LOG_FILE).exists():
        (config.out / LOG_FILE).unlink()
    kept = best  # the scores of the weights in model.safetensors, until this run saves some
    trained = DistributedDataParallel(model) if distributed.world_size > 1 else model
    began = time.monotonic() - elapsed
    share = config.batch_size // distributed.world_size
    progress = tqdm(
        range(start, config.steps),
        initial=start,
        total=config.steps,
        unit="step",
        disable=not distributed.is_main,
    )
    running = math.nan
    batches = iter(_loader(stream, config, distributed, start, share))
    for step in progress:
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = cosine_learning_rate(config.learning_rate, step, config.steps)
        batch = {key: value.to(device) for key, value in next(batches).items()}
        # Heatmaps are (B, 1, F, T): one mixture channel, and one query clip per item.
        mask = trained(batch["mixture_heatmap"][:, 0], batch["query_heatmap"])
        loss = batch_loss(config.loss, mask, batch, spec)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        running = loss.item() if math.isnan(running) else 0.95 * running + 0.05 * loss.item()
        progress.set_postfix(loss=f"{running:.3f}", best=f"{best['val_si_sdri_db']:.2f} dB")
        last = step + 1 == config.steps
        if distributed.is_main and ((step + 1) % config.validation_every == 0 or last):
            scores = validate(model, validation_items, spec)
            row = {
                "step": step + 1,
                "loss": running,
                **scores,
                "elapsed_s": time.monotonic() - began,
            }
            append_log(config.out, row, LOG_COLUMNS)
            figures = {key: float(value) for key, value in row.items()}
            improved = figures["val_si_sdri_db"] > best["val_si_sdri_db"]
            if improved:
                best = figures
            if improved if config.keep == "best" else last:
                kept = figures
                _save_weights(config, model, library, spec, kept)
            save_state(config.out, model, optimizer, step + 1, best, row["elapsed_s"])
    finish_distributed(distributed)
    return kept if distributed.is_main else {}


def _save_weights(
    config: TrainConfig, model: InstrumentModel, library, spec: ClipSpec, kept: dict[str, float]
) -> None:
    """The model folder a user loads: weights, default queries and the card's training facts."""
    model.save_pretrained(config.out)
    for instrument in config.instruments:
        save_reference(config.out, library, instrument, spec, len(config.instruments) > 1)
    update_metrics(config.out, training=_training_facts(config, model, library, kept))


def _load_initial_weights(model: InstrumentModel, folder: Path) -> None:
    """Start from a trained model's weights (``--init``; it may be another instrument's):
    the same architecture and clip format are required, or the same but for added mixing
    layers, which start at zero and so keep its masks (how the guitar gained them)."""
    if not (folder / "model.safetensors").is_file():
        raise BadInputError(f"cannot start from {folder}: it has no model.safetensors")
    trained = load_weights(InstrumentModel, folder)
    layout = ("spec", "frequency_pool", "full_resolution_bins")
    weights = _shapes(trained.state_dict())
    wanted = _shapes(model.state_dict())
    if all(getattr(trained, name) == getattr(model, name) for name in layout):
        if weights == wanted:
            model.load_state_dict(trained.state_dict())
            return
        if _adds_only_mixing(weights, wanted):
            model.load_state_dict(trained.state_dict(), strict=False)
            return
    saved = json.loads((folder / "config.json").read_text())
    names = ("frequency_pool", "full_resolution_bins", "unet")  # older configs lack some
    settings = {key: saved[key] for key in names if key in saved}
    raise BadInputError(
        f"cannot start from {folder}: it is another architecture, train with its {settings}"
    )


@torch.no_grad()
def refresh_query_encoder(model: InstrumentModel) -> None:
    """Give ``model`` a newly initialised query encoder without changing its masks.

    Each FiLM layer's answer to the old encoder's embedding (of silence: a collapsed
    encoder gives every query that answer) moves into its bias and its weights start at
    zero, so the masks are the trained model's whatever the new encoder says until
    training teaches the FiLM layers to listen to it.
    """
    silence = torch.zeros(
        1, model.spec.n_bins, model.spec.n_frames, device=model.unet.head.weight.device
    )
    embedding = model.encode_query(silence)
    for module in model.unet.modules():
        if isinstance(module, FiLM):
            module.project.bias += module.project.weight @ embedding
            module.project.weight.zero_()
    for layer in model.unet.query_encoder.modules():
        if layer is not model.unet.query_encoder and hasattr(layer, "reset_parameters"):
            layer.reset_parameters()


def _adds_only_mixing(trained: dict[str, tuple], new: dict[str, tuple]) -> bool:
    """Whether ``new`` is ``trained``'s architecture plus mixing layers (frequency mixing
    added, or time mixing added to it), which start at zero and so keep its masks."""
    added = new.keys() - trained.keys()
    kept = all(new.get(name) == shape for name, shape in trained.items())
    return kept and bool(added) and all(name.startswith("unet.mixers.") for name in added)


def _shapes(weights: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    """Each weight's name and shape: other U-Net settings give other names or shapes."""
    return {name: tuple(tensor.shape) for name, tensor in weights.items()}


def save_reference(out: Path, library, instrument: str, spec: ClipSpec, shared: bool) -> None:
    """The default query: the loudest few training clips of the instrument, back to back."""
    pool = library.select(instrument=instrument, split="train")
    clips = np.asarray(library.clips[pool])
    loudest = np.argsort(-np.square(clips).mean(axis=1))[:REFERENCE_BARS]
    write_audio(
        out / reference_clip(instrument, shared),
        np.concatenate(clips[np.sort(loudest)])[None],
        spec.sample_rate,
        "PCM_16",
    )


def _architecture(model_config: dict) -> dict:
    """The U-Net's settings and the model's own (pooling), flat, for the model card."""
    own = {k: v for k, v in model_config.items() if k not in ("instrument", "spec", "unet")}
    return model_config["unet"] | own


def _training_facts(
    config: TrainConfig, model: InstrumentModel, library, kept: dict[str, float]
) -> dict:
    """What the model card says about training: data, command, size, and the validation
    of the weights kept."""
    loops = sum(len(library.select(instrument=name, split="train")) for name in config.instruments)
    parameters = sum(p.numel() for p in model.parameters())
    names = " and ".join(config.instruments)
    return {
        "instrument": config.instrument,
        "data": f"{loops} training clips of {names} from {config.library} "
        f"(train split), triplets made on the fly; validation on the 'valid' split"
        + (f" of {config.validation_library}" if config.validation_library else ""),
        # Families heard in training (targets and distractors): the others are held out.
        "sources": library.families("train"),
        "command": config.command(),
        "parameters": parameters,
        "size_mb": round(parameters * 4 / 2**20, 2),
        "model": json.dumps(_architecture(config.model_config())),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""),
        "wall_s": round(kept["elapsed_s"]),
        "step": int(kept["step"]),
        "val_si_sdri_db": round(kept["val_si_sdri_db"], 2),
    }


def _loader(
    stream: TripletDataset, config: TrainConfig, distributed, start: int, share: int
) -> DataLoader:
    """Batches of this process's slice of steps ``start..steps``, built by worker processes
    (one torch thread each) while the model trains."""
    indices = [
        step * config.batch_size + distributed.rank * share + offset
        for step in range(start, config.steps)
        for offset in range(share)
    ]
    return DataLoader(
        stream,
        batch_size=share,
        sampler=indices,
        num_workers=config.workers,
        persistent_workers=False,
    )


def _dataset(
    library, split: str, config: TrainConfig, size: int, seed: int, augment: bool
) -> TripletDataset:
    """Triplets of the instruments; ``augment`` applies the config's EQ, shift and song
    queries (training only: validation stays the library's own timbres, cut on the
    downbeat, with queries from other songs)."""
    for instrument in config.instruments:
        if not len(library.select(instrument=instrument, split=split)):
            raise BadInputError(f"the {split} split of the library has no {instrument!r} loops")
    return TripletDataset(
        library,
        split,
        config.instruments,
        size,
        seed,
        absent_rate=config.absent_rate,
        eq_db=config.eq_db if augment else 0.0,
        shift_ms=config.shift_ms if augment else 0.0,
        song_query_rate=config.song_query_rate if augment else 0.0,
        codec_rate=config.codec_rate if augment else 0.0,
    )
