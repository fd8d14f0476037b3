"""Does a model listen to its query? Score it with the right query and with wrong ones.

Each instrument model is conditioned on a query clip. If its SI-SDRi barely moves when
the query is another instrument's reference or silence, the model has learnt its
instrument by heart and the query is decoration; a large drop means it really looks for
what the query shows. The last column gives the model what a user with a clean clip of
their own song's instrument would give it: the instrument's true stem from the *other*
half of the same song (so no scored bar is in its query). Scored on the held-out songs'
aligned clips, as ``bachata-sep evaluate`` does, each half of a song on its own.

A second table gives every instrument every other instrument's default query: row *t*,
column *q* is the SI-SDRi against the true *t* stem of what comes out for *t* when the
query shows *q*. A model that follows its query scores well only on the diagonal, and
``--checkpoints checkpoints/shared`` (one model for all four) is the one to try it on.

    python benchmarks/query_use.py [--checkpoints checkpoints] [--songs 6] [--duration 30]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch

from bachata_sep.audio import to_mono
from bachata_sep.clips import excerpt
from bachata_sep.data.song import Song, render_song
from bachata_sep.model import ModelSeparator
from bachata_sep.queries import loudest_clip_heatmaps
from bachata_sep.separators import ClipBatch
from bachata_sep.spec import ClipSpec
from bachata_sep.train.evaluate import held_out_songs, score_clips, true_bars


class ReplacedQuery:
    """The separator with every instrument's query replaced by ``query_for(instrument)``."""

    def __init__(self, separator: ModelSeparator, query_for: Callable[[str], torch.Tensor]):
        self.separator = separator
        self.spec = separator.spec
        self.query_for = query_for

    def supports(self, instrument: str) -> bool:
        return self.separator.supports(instrument)

    def masks(
        self, batch: ClipBatch, queries: Mapping[str, torch.Tensor | None]
    ) -> dict[str, torch.Tensor]:
        replaced = {name: self.query_for(name) for name in queries}
        return {name: self.separator.masks(batch, {name: replaced[name]})[name] for name in queries}


def halves(song: Song) -> tuple[Song, Song]:
    """The song cut in two on the downbeat nearest its middle, each with its own bars."""
    downbeats = np.array(song.annotations["downbeats"])
    middle = float(downbeats[np.abs(downbeats - downbeats[-1] / 2).argmin()])
    cut = round(middle * song.sample_rate)
    parts = []
    for piece, keep, shift in (
        (slice(0, cut), downbeats <= middle, 0.0),
        (slice(cut, None), downbeats >= middle, middle),
    ):
        annotations = {**song.annotations, "downbeats": (downbeats[keep] - shift).tolist()}
        stems = {name: stem[:, piece] for name, stem in song.stems.items()}
        parts.append(Song(song.sample_rate, song.mixture[:, piece], stems, annotations))
    return parts[0], parts[1]


def stem_query(song: Song, instrument: str, spec: ClipSpec) -> torch.Tensor:
    """Heatmaps of the loudest true bars of the song's own stem: a clean reference."""
    mono = to_mono(song.stems[instrument])
    bars = [excerpt(mono, bar.start, bar.end) for bar in true_bars(song)]
    return loudest_clip_heatmaps(bars, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    parser.add_argument("--songs", type=int, default=6)
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args()

    separator = ModelSeparator.from_folder(args.checkpoints)
    names = separator.instruments
    references = separator.references
    separators = {
        "mixture": None,
        "silence": ReplacedQuery(separator, lambda name: torch.zeros_like(references[name])),
    }
    # Every instrument with each instrument's default query; its own is the plain separator.
    swapped = {
        f"query: {query}": ReplacedQuery(separator, lambda name, query=query: references[query])
        for query in names
    }
    scores: dict = defaultdict(lambda: defaultdict(list))
    for held_out in held_out_songs(args.songs):
        first, second = halves(render_song(held_out.seed, held_out.source, args.duration))
        for scored, other in ((first, second), (second, first)):
            own = {name: stem_query(other, name, separator.spec) for name in names}
            with_own = {
                **separators,
                **swapped,
                "own song's stem": ReplacedQuery(separator, own.__getitem__),
            }
            for instrument, methods in score_clips(scored, with_own, names).items():
                for method, values in methods.items():
                    scores[instrument][method].extend(values)
    # The first table's own and wrong queries are cells of the second: the diagonal, and
    # the next instrument's query.
    for index, name in enumerate(names):
        scores[name]["own query"] = scores[name][f"query: {name}"]
        scores[name]["other instrument"] = scores[name][f"query: {names[(index + 1) % len(names)]}"]

    columns = ["own query", "other instrument", "silence", "own song's stem"]
    print("SI-SDRi (dB) on aligned held-out clips, by the query the model is given")
    _print_table(scores, columns)
    print("\nSI-SDRi (dB) against each row's stem, with the default query of each column")
    _print_table(scores, [f"query: {name}" for name in names])


def _print_table(scores: Mapping, columns: list[str]) -> None:
    print(f"{'instrument':<10} " + " ".join(f"{name:>16}" for name in columns))
    for instrument, methods in scores.items():
        mixture = np.mean(methods["mixture"])
        cells = [np.mean(methods[name]) - mixture for name in columns]
        print(f"{instrument:<10} " + " ".join(f"{cell:16.2f}" for cell in cells))


if __name__ == "__main__":
    main()
