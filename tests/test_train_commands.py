import shlex
from dataclasses import fields
from pathlib import Path

from bachata_sep.cli import build_parser
from bachata_sep.train.train import TrainConfig


def _parsed(words: list[str]) -> TrainConfig:
    args = build_parser("train").parse_args(words)
    return TrainConfig(**{k: v for k, v in vars(args).items() if k not in ("run", "command")})


def test_train_options_default_to_the_config_fields():
    parsed = _parsed(["train", "--instrument", "bass", "--library", "lib", "-o", "out"])
    assert parsed == TrainConfig(instrument="bass", library=Path("lib"), out=Path("out"))


def test_a_recorded_train_command_parses_back_to_its_config():
    config = TrainConfig(
        instrument="bongo,guira",
        library=Path("data/loops"),
        out=Path("runs/x"),
        validation_library=Path("data/valid"),
        init=Path("checkpoints/bass"),
        steps=7,
        learning_rate=1e-3,
        frequency_mixing=True,
        time_mixing=True,
        loss="si-sdr",
        keep="last",
        eq_db=6.0,
        codec_rate=0.5,
    )
    words = shlex.split(config.command())
    assert words[:2] == ["bachata-sep", "train"]
    assert _parsed(words[1:]) == config


def test_every_config_field_says_what_it_is_for():
    assert all(entry.metadata.get("help") for entry in fields(TrainConfig))
