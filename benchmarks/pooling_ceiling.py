"""What a model's frequency pooling costs before any learning: the oracle ceiling.

The instrument models see the heatmap average-pooled along frequency and their mask is
interpolated back, so even a perfect model is bounded by the oracle ideal ratio mask
pushed through the same pooling. This scores that bound on the held-out songs' aligned
clips (the same clips and SI-SDRi as ``bachata-sep evaluate``) for several layouts, to
choose ``--frequency-pool`` and ``--full-resolution-bins`` by measurement.

    python benchmarks/pooling_ceiling.py [--songs 6] [--duration 30]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Mapping

import numpy as np
import torch

from bachata_sep.data.song import render_song
from bachata_sep.model import InstrumentModel
from bachata_sep.separators import ClipBatch, OracleSeparator
from bachata_sep.spec import INSTRUMENTS
from bachata_sep.train.evaluate import held_out_songs, score_clips

LAYOUTS = {
    "pool 2": (2, 0),
    "pool 4": (4, 0),
    "64 bins + pool 4": (4, 64),
    "128 bins + pool 4": (4, 128),
}
"""Name -> (frequency_pool, full_resolution_bins)."""


class PooledOracle:
    """The oracle's masks after the model's pooling and unpooling (no network in between)."""

    def __init__(self, oracle: OracleSeparator, pool: int, full_resolution_bins: int) -> None:
        self.oracle = oracle
        self.spec = oracle.spec
        self.layout = InstrumentModel(
            spec=oracle.spec.to_dict(),
            frequency_pool=pool,
            full_resolution_bins=full_resolution_bins,
        )

    def supports(self, instrument: str) -> bool:
        return self.oracle.supports(instrument)

    def masks(
        self, batch: ClipBatch, queries: Mapping[str, torch.Tensor | None]
    ) -> dict[str, torch.Tensor]:
        masks = self.oracle.masks(batch, queries)
        return {
            name: self.layout.unpool(self.layout.pool(mask[:, None]), mask.shape[-2:])[:, 0]
            for name, mask in masks.items()
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=6)
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args()

    scores: dict = defaultdict(lambda: defaultdict(list))
    for held_out in held_out_songs(args.songs):
        song = render_song(held_out.seed, held_out.source, args.duration)
        oracle = OracleSeparator(song.stems, song.mixture)
        separators = {"mixture": None, "oracle": oracle} | {
            name: PooledOracle(oracle, *layout) for name, layout in LAYOUTS.items()
        }
        for instrument, methods in score_clips(song, separators, INSTRUMENTS).items():
            for method, values in methods.items():
                scores[instrument][method].extend(values)

    print("oracle SI-SDRi (dB) on aligned held-out clips, by mask layout")
    print(f"{'instrument':<10} {'full':>6} " + " ".join(f"{name:>16}" for name in LAYOUTS))
    for instrument, methods in scores.items():
        mixture = np.mean(methods["mixture"])
        cells = [np.mean(methods[name]) - mixture for name in ("oracle", *LAYOUTS)]
        print(f"{instrument:<10} {cells[0]:6.2f} " + " ".join(f"{c:16.2f}" for c in cells[1:]))


if __name__ == "__main__":
    main()
