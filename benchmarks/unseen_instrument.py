"""Separate an instrument no model trained on, from one example of it (issue 26's stretch).

The shared model (``checkpoints/shared/four-instruments``) was trained to mask whatever
its query shows, among bongo, güira, bass and guitar. Here its query is a few bars of an
instrument it never heard as a target: the keys, the voice or the extra percussion of
*another* song (``render_song(..., split_other=True)`` keeps them apart). The control is
the same model with its default bongo query (what it finds without the example), the
ceiling the oracle ratio mask. Full pipeline (beat tracking, clips, masks, full-resolution
stems); test-split songs.

    python benchmarks/unseen_instrument.py --songs 6 --duration 30 [--randomise]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from bachata_sep import api
from bachata_sep.audio import to_mono
from bachata_sep.beat_tracking import LocalTempoTracker
from bachata_sep.data.song import render_song
from bachata_sep.errors import BadInputError
from bachata_sep.model import ModelSeparator
from bachata_sep.queries import query_heatmaps
from bachata_sep.separators import OracleSeparator
from bachata_sep.spec import BEATS_PER_BAR
from bachata_sep.train.evaluate import FIRST_TEST_SEED
from bachata_sep.train.metrics import sdr, si_sdr
from bachata_sep.train.source_evaluation import level_error_db

SHARED_FOLDER = "checkpoints/shared"  # holds four-instruments/
PARTS = ("keys", "voice", "percussion")


def scores(estimate: np.ndarray, truth: np.ndarray, mixture: np.ndarray) -> dict[str, float]:
    reference, estimate, mixture = to_mono(truth), to_mono(estimate), to_mono(mixture)
    return {
        "si_sdri": float(si_sdr(reference, estimate) - si_sdr(reference, mixture)),
        "sdr": float(sdr(reference, estimate)),
        "level": float(level_error_db(reference, estimate)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=6)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--randomise", action="store_true")
    args = parser.parse_args()
    shared = ModelSeparator.from_folder(SHARED_FOLDER)
    model, bongo_query = shared.models["bongo"], shared.references["bongo"]
    songs = [
        render_song(
            FIRST_TEST_SEED + index,
            "mixed",
            args.duration,
            randomise=args.randomise,
            split_other=True,
        )
        for index in range(args.songs + 1)
    ]
    tracker = LocalTempoTracker()
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for index, song in enumerate(songs[:-1]):
        example_song = songs[index + 1]  # the example comes from another song
        grid = api.track(song.mixture, song.sample_rate)
        bar_seconds = float(np.median(np.diff(example_song.annotations["beats"]))) * BEATS_PER_BAR
        for part in PARTS:
            truth = song.stems[part]
            example = example_song.stems[part]
            if not np.abs(truth).max() or not np.abs(example).max():
                continue
            try:  # the example's own bars: a pad without a pulse is cut at its song's tempo
                query = query_heatmaps(example, song.sample_rate, model.spec, tracker, bar_seconds)
            except BadInputError:  # too quiet an example (a part that barely plays)
                continue
            separators = {
                "model, the example as query": ModelSeparator({part: model}, {part: query}),
                "model, its bongo query": ModelSeparator({part: model}, {part: bongo_query}),
                "oracle": OracleSeparator({part: truth}, song.mixture),
            }
            for method, separator in separators.items():
                stems = api.separate(
                    song.mixture,
                    song.sample_rate,
                    instruments=(part,),
                    separator=separator,
                    grid=grid,
                    progress=False,
                )
                row = scores(stems[part], truth, song.mixture)
                results.setdefault(part, {}).setdefault(method, []).append(row)
    summary = {
        part: {
            method: {key: round(float(np.mean([r[key] for r in rows])), 2) for key in rows[0]}
            | {"songs": len(rows)}
            for method, rows in methods.items()
        }
        for part, methods in results.items()
    }
    print(json.dumps({"randomised": args.randomise, "results": summary}, indent=2))


if __name__ == "__main__":
    main()
