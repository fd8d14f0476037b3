"""Is a model's gap to the oracle one of unseen timbres? One set of songs, one timbre at a time.

Renders the same training-seed songs (their arrangements are the seeds'; the model has
not heard these renderings) with the instrument played by each timbre in turn, and
scores the model and the oracle ideal ratio mask on the aligned clips, as ``bachata-sep
evaluate`` does. If the model's share of the oracle's SI-SDRi is much lower on the
held-out (validation) timbres than on the training ones, more or wider timbres are the
lever; if it is about as low on training timbres too, the model itself is. Test timbres
(``--test``: the held-out test preset and the MuseScore General SoundFont) are for
reporting only, never for choices.

    python benchmarks/timbre_share.py --instrument guitar [--checkpoints checkpoints] \
        [--songs 6] [--duration 30] [--test]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from bachata_sep.data.song import render_song
from bachata_sep.data.timbres import ALL_TIMBRES, split_of
from bachata_sep.pretrained import load_separator
from bachata_sep.separators import OracleSeparator
from bachata_sep.spec import INSTRUMENTS
from bachata_sep.train.evaluate import score_clips

FIRST_SEED = 5000  # training seeds that no loop library of docs/training.md renders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instrument", required=True, choices=INSTRUMENTS)
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    parser.add_argument("--songs", type=int, default=6)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--test", action="store_true", help="also the test timbres")
    args = parser.parse_args()

    separator = load_separator(checkpoints=args.checkpoints).separator
    splits = ("train", "valid", "test") if args.test else ("train", "valid")
    timbres = [t for t in ALL_TIMBRES if t.part == args.instrument and split_of(t) in splits]
    print(f"{args.instrument}: {args.songs} songs (seeds {FIRST_SEED}+) per timbre, aligned clips")
    print(f"{'timbre':<36} {'split':<6} {'model dB':>8} {'oracle dB':>9} {'share':>6}")
    for timbre in timbres:
        model, oracle = [], []
        for seed in range(FIRST_SEED, FIRST_SEED + args.songs):
            song = render_song(seed, "procedural", args.duration, timbres={timbre.part: timbre})
            separators = {
                "mixture": None,
                "model": separator,
                "oracle": OracleSeparator(song.stems, song.mixture, separator.spec),
            }
            scores = score_clips(song, separators, INSTRUMENTS)[args.instrument]
            mixture = np.array(scores["mixture"])
            model.extend(np.array(scores["model"]) - mixture)
            oracle.extend(np.array(scores["oracle"]) - mixture)
        print(
            f"{timbre.name:<36} {split_of(timbre):<6} {np.mean(model):>8.2f}"
            f" {np.mean(oracle):>9.2f} {np.mean(model) / np.mean(oracle):>6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
