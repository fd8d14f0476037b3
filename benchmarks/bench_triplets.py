"""Benchmark the triplet sampler: can it feed training on 2 CPU cores? (not a timed test)

Renders a small training library (or uses ``--library``; ``--samples DIR --randomise``
render it as the wide training data does), normalises it into the cache, then times items
per second from a DataLoader with 0, 1 and 2 workers, plain and with every augmentation
on (EQ, cut shift, song queries, MP3 codec on half the mixtures).

    python benchmarks/bench_triplets.py [--library LIB] [--songs 8] [--items 512]
        [--samples ../shared/samples --randomise]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from bachata_sep.data.loops import load_library, render_library
from bachata_sep.data.triplets import TripletDataset


def items_per_second(dataset: TripletDataset, items: int, workers: int, batch: int) -> float:
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, num_workers=workers)
    batches = iter(loader)
    next(batches)  # start the workers before timing
    started = time.perf_counter()
    count = 0
    for batch_items in batches:
        count += len(batch_items["mixture"])
        if count >= items:
            break
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, help="an existing loop library")
    parser.add_argument("--songs", type=int, default=8, help="songs to render without one")
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--samples", type=Path, help="real samples to render with")
    parser.add_argument("--randomise", action="store_true", help="domain randomisation")
    args = parser.parse_args()
    # Item building is small tensors: one thread each (as in DataLoader workers); two
    # threads per process oversubscribe 2 cores and run ~5x slower.
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.library
        if root is None:
            root = Path(scratch) / "lib"
            started = time.perf_counter()
            render_library(
                root,
                args.songs,
                timbres="train",
                duration=60.0,
                samples=args.samples,
                randomise=args.randomise,
            )
            seconds = time.perf_counter() - started
            print(f"rendered {args.songs} songs into loops: {seconds / args.songs:.1f} s/song")
        started = time.perf_counter()
        library = load_library(root, cache_dir=Path(scratch) / "cache")
        print(f"normalised {len(library.meta)} loops in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        library = load_library(root, cache_dir=Path(scratch) / "cache")
        print(f"reloaded from the cache in {time.perf_counter() - started:.2f} s")
        size = args.items * 4
        datasets = {
            "plain": TripletDataset(library, "train", size=size),
            "augmented": TripletDataset(
                library,
                "train",
                size=size,
                eq_db=6.0,
                shift_ms=20.0,
                song_query_rate=0.25,
                codec_rate=0.5,
            ),
        }
        for name, dataset in datasets.items():
            for workers in (0, 1, 2):
                rate = items_per_second(dataset, args.items, workers, args.batch)
                print(f"{name}, {workers} worker(s), batch {args.batch}: {rate:.0f} items/s")


if __name__ == "__main__":
    main()
