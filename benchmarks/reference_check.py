"""Choose (on the training families) and test (on held-out ones) the reference check.

A reference that misleads the model must not ruin its stem: ``separate`` compares the
stem a reference gives with the default reference's over the whole song and sets it aside
when the level drops or the two stems share too little (``bachata_sep.refine``). This
script runs every query from the song itself (its own stem, a two-bar span of the
mixture, ``refine``) *unchecked*, and records per song the true SI-SDR change over the
default reference beside the two figures the check sees. It then prints, for the check's
thresholds, the mean and worst change with and without the check, separately for the
families the model trained on (where thresholds may be chosen) and the held-out ones.

    python benchmarks/reference_check.py --checkpoints checkpoints --samples ../shared/samples \
        --songs 3 --duration 30 --json runs/reference-check.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from unittest import mock

import numpy as np

from bachata_sep import api, refine
from bachata_sep.data.timbres import is_held_out
from bachata_sep.model import ModelSeparator
from bachata_sep.train.evaluate import true_bars
from bachata_sep.train.metrics import si_sdr
from bachata_sep.train.source_evaluation import (
    REFERENCE_METHODS,
    families,
    render_family_song,
    song_references,
    training_sources,
)


def measure(args: argparse.Namespace) -> list[dict]:
    separator = ModelSeparator.from_folder(args.checkpoints)
    sources = training_sources(separator.folders)
    rows = []
    seen: dict[str, refine.Agreement] = {}

    def unchecked(mono_excerpt, segments, sample_rate, queries, separator, batch_size):
        given = {name: query for name, query in queries.items() if query is not None}
        seen.clear()
        seen.update(
            refine.agreements(mono_excerpt, segments, sample_rate, given, separator, batch_size)
        )
        return dict(queries)

    for family, playable in families(args.samples).items():
        if args.family and family not in args.family:
            continue
        instruments = tuple(name for name in playable if separator.supports(name))
        for index in range(args.songs):
            song = render_family_song(family, index, args.duration, args.samples, True, instruments)
            bars = true_bars(song)
            kwargs = dict(
                sr=song.sample_rate, instruments=instruments, separator=separator, progress=False
            )
            default = api.separate(song.mixture, **kwargs)
            for method in REFERENCE_METHODS:
                with mock.patch.object(api, "checked_queries", unchecked):
                    stems = api.separate(
                        song.mixture,
                        references=song_references(song, method, instruments, bars),
                        refine=method == "refine",
                        **kwargs,
                    )
                for name in instruments:
                    truth = song.stems[name]
                    rows.append(
                        {
                            "family": family,
                            "song": index,
                            "instrument": name,
                            "method": method,
                            "held_out": is_held_out(family, sources[name] or []),
                            "change_db": float(
                                si_sdr(truth, stems[name]).mean()
                                - si_sdr(truth, default[name]).mean()
                            ),
                            "level_change_db": seen[name].level_change_db,
                            "similarity": seen[name].similarity,
                        }
                    )
            print(family, index, flush=True)
    return rows


def summary(rows: list[dict], max_drop_db: float, min_similarity: float) -> str:
    lines = [f"check: level drop <= {max_drop_db} dB, similarity >= {min_similarity}"]
    for held_out in (False, True):
        for method in REFERENCE_METHODS:
            chosen = [r for r in rows if r["held_out"] == held_out and r["method"] == method]
            if not chosen:
                continue
            change = np.array([r["change_db"] for r in chosen])
            kept = np.array(
                [
                    r["level_change_db"] >= -max_drop_db and r["similarity"] >= min_similarity
                    for r in chosen
                ]
            )
            checked = np.where(kept, change, 0.0)
            lines.append(
                f"{'held out' if held_out else 'trained '}  {method:<15} n={len(chosen):3d}  "
                f"unchecked mean {change.mean():+6.2f} worst {change.min():+7.2f}  |  "
                f"checked mean {checked.mean():+6.2f} worst {checked.min():+7.2f}  "
                f"kept {kept.mean():.0%}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    parser.add_argument("--samples", type=Path)
    parser.add_argument("--songs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--family", action="append", help="only this family (repeatable)")
    parser.add_argument("--json", type=Path, help="save the rows; reread with --rows")
    parser.add_argument("--rows", type=Path, help="summarise saved rows instead of measuring")
    args = parser.parse_args()
    rows = json.loads(args.rows.read_text()) if args.rows else measure(args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    for drop, similarity in (
        (float("inf"), -1.0),
        (refine.MAX_LEVEL_DROP_DB, refine.MIN_AGREEMENT),
        (3.0, 0.5),
        (3.0, 0.9),
        (3.0, 0.95),
        (3.0, 0.97),
        (6.0, 0.5),
        (6.0, 0.7),
        (10.0, 0.3),
    ):
        print(summary(rows, drop, similarity))


if __name__ == "__main__":
    main()
