"""Choose between training runs of one instrument on a larger validation set.

Training validates on a few dozen triplets to stay cheap, so two runs' best figures can
differ by noise alone (±0.3 dB at 48 items). This re-scores each run's best weights on
many more triplets of the *validation* split (validation timbres and seeds; the held-out
test songs stay untouched for the final report) with the same function training uses.
SDR, unlike SI-SDR, also drops when the estimate's level is wrong. ``--song-query-rate 1``
queries every triplet with another bar of the target's own song: set beside the default 0
(queries from other songs), it measures what a reference from the user's recording adds.

    python benchmarks/compare_runs.py --instrument guitar --library data/loops-valid \
        --size 480 checkpoints/guitar runs/guitar-200
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from bachata_sep.data.loops import load_library
from bachata_sep.data.triplets import TripletDataset
from bachata_sep.folders import load_weights
from bachata_sep.model import InstrumentModel
from bachata_sep.spec import ClipSpec
from bachata_sep.train.train import all_items, validate

# Not training's validation seed (seed + 1 of a run), so these triplets are new to every run.
SEED = 12345


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="folders with model.safetensors")
    parser.add_argument("--instrument", required=True)
    parser.add_argument("--library", type=Path, required=True, help="validation loop library")
    parser.add_argument("--size", type=int, default=480, help="triplets (default: 480)")
    parser.add_argument(
        "--song-query-rate",
        type=float,
        default=0.0,
        help="share of queries from the target's own song (default: 0, other songs)",
    )
    args = parser.parse_args()

    torch.set_grad_enabled(False)
    spec = ClipSpec()
    library = load_library(args.library, spec)
    dataset = TripletDataset(
        library,
        "valid",
        (args.instrument,),
        args.size,
        SEED,
        song_query_rate=args.song_query_rate,
    )
    items = all_items(dataset)
    print(
        f"{args.instrument}: {args.size} validation triplets of {args.library}, "
        f"{args.song_query_rate:.0%} queried from the target's own song"
    )
    print(
        f"{'run':<32} {'SI-SDRi dB':>10} {'SI-SDR dB':>10} {'SDR dB':>8} {'absent leftover dB':>19}"
    )
    for run in args.runs:
        scores = validate(load_weights(InstrumentModel, run), items, spec)
        print(
            f"{str(run):<32} {scores['val_si_sdri_db']:>10.2f} {scores['val_si_sdr_db']:>10.2f}"
            f" {scores['val_sdr_db']:>8.2f} {scores['val_absent_residual_db']:>19.2f}"
        )


if __name__ == "__main__":
    main()
