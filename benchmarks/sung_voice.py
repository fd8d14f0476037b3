"""How much a sung lead voice costs the models: the same test songs with the voice drawn
as before (procedural vowels or a SoundFont choir), sung by an espeak-ng singer, and sung
by a Festival voice; no model trains on either (``data.singer``: consonants,
moving formants, slides).

Each song is rendered three times from one seed (test split, randomised, real samples in the
draw); only the voice's timbre differs, so the targets' notes and timbres are the same.
Full pipeline, per instrument: SI-SDRi, SDR and median level error of the DSP baseline,
the models and the oracle ratio mask (``train.source_evaluation.score_song``).

    python benchmarks/sung_voice.py --checkpoints checkpoints [OTHER ...] \
        --samples ../shared/samples --songs 8 --duration 30 [--json FILE]

Several checkpoint folders are scored on the very same renders.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

from tqdm.auto import tqdm

from bachata_sep.data.singer import ESPEAK, ESPEAK_SINGERS, FESTIVAL, FESTIVAL_SINGERS, PART
from bachata_sep.data.song import render_song
from bachata_sep.data.timbres import Timbre
from bachata_sep.model import ModelSeparator
from bachata_sep.train.source_evaluation import FIRST_SEED, score_song, summarise_family

CONDITIONS = ("drawn voice", "espeak", "festival")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", nargs="+", default=["checkpoints"])
    parser.add_argument("--samples", default="../shared/samples")
    parser.add_argument("--songs", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--json", metavar="FILE", help="also save the report here")
    args = parser.parse_args()
    separators = {folder: ModelSeparator.from_folder(folder) for folder in args.checkpoints}
    scores = {
        (folder, condition): defaultdict(lambda: defaultdict(list))
        for folder in separators
        for condition in CONDITIONS
    }
    for index in tqdm(range(args.songs), desc="songs"):
        singers = (
            {},
            {PART: Timbre(PART, ESPEAK, ESPEAK_SINGERS[index % len(ESPEAK_SINGERS)])},
            {PART: Timbre(PART, FESTIVAL, FESTIVAL_SINGERS[index % len(FESTIVAL_SINGERS)])},
        )
        for condition, timbres in zip(CONDITIONS, singers, strict=True):
            song = render_song(
                FIRST_SEED + index,
                "mixed",
                args.duration,
                timbres=timbres,
                samples=args.samples,
                randomise=True,
            )
            for folder, separator in separators.items():
                for name, values in score_song(song, separator, separator.instruments).items():
                    for key, value in values.items():
                        scores[folder, condition][name][key].extend(value)
    report = {
        folder: {
            condition: {
                name: summarise_family(scores[folder, condition][name])
                for name in separator.instruments
            }
            for condition in CONDITIONS
        }
        for folder, separator in separators.items()
    }
    print(
        f"{'checkpoints':<24} {'instrument':<8} {'voice':<12} {'SI-SDRi b/m/o':>20} "
        f"{'SDR m':>6} {'level m':>8}"
    )
    for folder, separator in separators.items():
        for name in separator.instruments:
            for condition in CONDITIONS:
                row = report[folder][condition][name]
                si = row["si_sdri"]
                print(
                    f"{folder:<24} {name:<8} {condition:<12} "
                    f"{si['baseline']:6.2f} {si['model']:6.2f} {si['oracle']:6.2f} "
                    f"{row['sdr']['model']:6.2f} {row['level_error_db']['model']:8.2f}"
                )
    if args.json:
        with open(args.json, "w") as file:
            json.dump(report, file, indent=1)


if __name__ == "__main__":
    main()
