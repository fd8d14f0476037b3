"""What every training loop here shares: device choice, learning-rate schedule, CSV logs,
resumable state in safetensors (never pickle), and PyTorch's own distributed engine.

Run any trainer under ``torchrun --nproc_per_node N`` unchanged: each process trains on
its own slice of every batch and DistributedDataParallel averages the gradients.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import BadInputError

STATE_FILE = "training_state.safetensors"
LOG_FILE = "training_log.csv"


def pick_device(name: str) -> torch.device:
    """``auto`` means CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise BadInputError(f"unknown device {name!r}: use auto, cpu or cuda") from error


def cosine_learning_rate(peak: float, step: int, steps: int) -> float:
    """Linear warm-up over 5 % of the steps, then cosine decay to zero."""
    warmup = max(1, steps // 20)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class Distributed:
    """This process's place in a ``torchrun`` job (rank 0 of 1 when run alone)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Distributed:
    """Join the process group torchrun set up (gloo on CPU, NCCL on CUDA), if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), world_size)


def finish_distributed(distributed: Distributed) -> None:
    """Leave the process group cleanly so torchrun sees every process exit."""
    if distributed.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def append_log(out: Path, row: Mapping[str, float], columns: tuple[str, ...]) -> None:
    """One CSV row per validation, header on first write: plots and resumes read it."""
    path = out / LOG_FILE
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        if new:
            writer.writeheader()
        writer.writerow({key: round(float(value), 5) for key, value in row.items()})


def save_state(
    out: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    best: Mapping[str, float],
    elapsed: float,
    file: str = STATE_FILE,
) -> None:
    """Last weights and optimizer moments as safetensors, counters as its JSON metadata."""
    tensors = {f"model.{key}": value for key, value in model.state_dict().items()}
    for index, state in optimizer.state_dict()["state"].items():
        tensors.update({f"optimizer.{index}.{key}": value for key, value in state.items()})
    tensors = {key: value.detach().cpu().contiguous() for key, value in tensors.items()}
    metadata = {"step": str(step), "best": json.dumps(dict(best)), "elapsed_s": str(elapsed)}
    temporary = out / f".{file}.partial"
    save_file(tensors, temporary, metadata)
    os.replace(temporary, out / file)


def load_state(
    out: Path, model: nn.Module, optimizer: torch.optim.Optimizer, file: str = STATE_FILE
) -> tuple[int, dict[str, float], float]:
    """Restore what :func:`save_state` wrote; returns (step, best metrics, elapsed seconds)."""
    path = out / file
    if not path.is_file():
        raise BadInputError(f"cannot resume: {path} does not exist (train without --resume)")
    with safe_open(path, "pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(path)
    weights = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        raise BadInputError(f"cannot resume from {path}: it holds another model shape") from error
    state = optimizer.state_dict()
    state["state"] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state["state"].setdefault(int(index), {})[name] = value
    optimizer.load_state_dict(state)
    return int(metadata["step"]), json.loads(metadata["best"]), float(metadata["elapsed_s"])
