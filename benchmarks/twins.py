"""Can the query pick one of two of a kind? Two guitars, two bongos, two bass lines.

The hard case of issue 26 where only the query can decide (requinto beside segunda, bongo
beside conga): each item mixes the target's loop with a *twin*, a loop of the same
instrument from another song (another part, usually another timbre), as
``train --twin-rate`` draws them. It is scored with a query from the target's own song
and with one from the twin's song; a model that ignores its query scores both alike, one
that follows it loses with the twin's query (``decision``: own minus twin's, dB). The
first columns are the same item without the twin, queried with the model's default
reference and with the own-song query (``reference gain``: what a reference from the
user's own song adds over the default one). Clip level (4-beat loops of a library, no
beat tracking), present targets only.

    python benchmarks/twins.py --library data/test-wide --split test --checkpoints checkpoints
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import default_collate

from bachata_sep.data.loops import load_library
from bachata_sep.data.triplets import TripletDataset
from bachata_sep.model import ModelSeparator
from bachata_sep.queries import universal_clip_heatmaps
from bachata_sep.train.train import validate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--checkpoints", type=Path, action="append", required=True)
    parser.add_argument("--items", type=int, default=96, help="drawn per instrument")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    separators = {str(folder): ModelSeparator.from_folder(folder) for folder in args.checkpoints}
    first = next(iter(separators.values()))
    library = load_library(args.library, first.spec, cache_dir=args.library / ".cache")
    report: dict = {}
    print("SI-SDRi (dB) of the target, present targets. Without the twin: default reference,")
    print("own-song query, their difference; with the twin: own-song query, the twin's song's")
    print("query, their difference (the query's decision)")
    print(
        f"{'checkpoints':<28} {'instrument':<8} {'items':>5} {'default':>8} {'own q':>8} "
        f"{'ref gain':>8} | {'twin: own q':>11} {'twin q':>8} {'decision':>8}"
    )
    for instrument in first.instruments:
        batches = twin_batches(library, args.split, instrument, args.items, args.seed)
        if batches is None:
            continue
        for name, separator in separators.items():
            if instrument not in separator.models:
                continue
            model = separator.models[instrument]
            alone = batches["alone"]
            default = separator.references[instrument][None]
            batches["default"] = {
                **alone,
                "query_heatmap": default.expand(len(alone["mixture"]), *default.shape[1:]),
            }
            scores = {
                key: validate(model, batch, first.spec)["val_si_sdri_db"]
                for key, batch in batches.items()
            }
            scores["reference_gain"] = scores["alone"] - scores["default"]
            scores["decision"] = scores["own"] - scores["twin"]
            scores["items"] = len(batches["own"]["mixture"])
            report.setdefault(name, {})[instrument] = scores
            print(
                f"{name:<28} {instrument:<8} {scores['items']:>5} {scores['default']:8.2f} "
                f"{scores['alone']:8.2f} {scores['reference_gain']:8.2f} | "
                f"{scores['own']:11.2f} {scores['twin']:8.2f} {scores['decision']:8.2f}"
            )
    print(json.dumps(report, indent=1))


def twin_batches(
    library, split: str, instrument: str, items: int, seed: int
) -> dict[str, dict[str, torch.Tensor]] | None:
    """Items with a twin and an own-song query, the same with the twin's song's query, and
    the same mixtures without the twin (own-song query): one batch each."""
    kwargs = {"absent_rate": 0.0, "song_query_rate": 1.0, "size": items, "seed": seed}
    twinned = TripletDataset(library, split, (instrument,), twin_rate=1.0, **kwargs)
    alone = TripletDataset(library, split, (instrument,), **kwargs)
    rows: dict[str, list] = {"own": [], "twin": [], "alone": []}
    for index in range(items):
        draw = twinned.draw(index)
        twin_song = library.meta[draw.twin]["song"] if draw.twin >= 0 else None
        their = [i for i in twinned.song_loops.get((instrument, twin_song), ()) if i != draw.twin]
        if not their:
            continue
        item = twinned[index]
        rng = np.random.default_rng([seed, index, 1])
        clip = np.asarray(library.clips[int(rng.choice(their))], dtype=np.float32)
        swapped = universal_clip_heatmaps(clip, twinned.spec)
        rows["own"].append(item)
        rows["twin"].append({**item, "query_heatmap": swapped})
        rows["alone"].append({**alone[index], "query_heatmap": item["query_heatmap"]})
    if not rows["own"]:
        return None
    return {key: default_collate(values) for key, values in rows.items()}


if __name__ == "__main__":
    main()
