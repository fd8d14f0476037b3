import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import si_sdr
from safetensors.torch import load_file, save_file

from bachata_sep.errors import BadInputError
from bachata_sep.folders import REFERENCE_CLIP, reference_clip
from bachata_sep.model import InstrumentModel, ModelSeparator
from bachata_sep.spec import ClipSpec
from bachata_sep.train.cards import METRICS_FILE
from bachata_sep.train.train import TrainConfig, train, waveform_loss
from bachata_sep.train.training import LOG_FILE, STATE_FILE
from bachata_sep.transforms import stft

TINY = {"base_channels": 8, "depth": 2, "frequency_pool": 8, "batch_size": 4}
# Long enough for the loss to drop: three validations over 30 steps.
LEARNS = {"steps": 30, "validation_every": 10, "validation_size": 8, "learning_rate": 5e-3}


def _log(folder) -> list[dict]:
    lines = (folder / LOG_FILE).read_text().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, map(float, line.split(",")), strict=True)) for line in lines[1:]]


def test_tiny_model_learns_and_resumes(small_loop_library, tmp_path):
    config = TrainConfig(
        instrument="bass", library=small_loop_library, out=tmp_path, **LEARNS, **TINY
    )
    first = train(config)
    rows = _log(tmp_path)
    assert [row["step"] for row in rows] == [10, 20, 30]
    assert rows[-1]["loss"] < rows[0]["loss"]
    best_logged = max(row["val_si_sdri_db"] for row in rows)
    assert first["val_si_sdri_db"] == pytest.approx(best_logged, abs=1e-4)
    for name in ("config.json", "model.safetensors", REFERENCE_CLIP, STATE_FILE):
        assert (tmp_path / name).exists()
    model = InstrumentModel.from_pretrained(tmp_path, strict=True)
    assert model.instrument == "bass" and model.frequency_pool == 8
    facts = json.loads((tmp_path / METRICS_FILE).read_text())["training"]
    assert facts["val_si_sdri_db"] == pytest.approx(first["val_si_sdri_db"], abs=0.01)
    assert facts["command"].startswith("bachata-sep train --instrument bass --library ")
    card = (tmp_path / "README.md").read_text()
    assert facts["command"] in card and "bachata-sep: bass" in card

    config.steps, config.resume = 40, True
    train(config)
    assert [row["step"] for row in _log(tmp_path)] == [10, 20, 30, 40]
    # A finished run resumed has nothing to train: said, and nothing is rewritten.
    weights = (tmp_path / "model.safetensors").read_bytes()
    with pytest.raises(BadInputError, match="nothing to train: .* 40 steps of --steps 40"):
        train(config)
    assert (tmp_path / "model.safetensors").read_bytes() == weights


def test_keep_last_saves_the_last_steps_weights(small_loop_library, tmp_path):
    config = TrainConfig(
        instrument="bass", library=small_loop_library, out=tmp_path, **LEARNS, **TINY
    )
    train(config)
    # Ten more steps that cannot learn validate no better than before: only --keep last
    # writes their weights, and the card's figures then describe them.
    config.steps, config.resume, config.learning_rate, config.keep = 40, True, 0.0, "last"
    kept = train(config)
    facts = json.loads((tmp_path / METRICS_FILE).read_text())["training"]
    assert kept["step"] == facts["step"] == 40
    assert "--keep last" in facts["command"]
    weights, state = load_file(tmp_path / "model.safetensors"), load_file(tmp_path / STATE_FILE)
    assert all(torch.equal(weights[name], state[f"model.{name}"]) for name in weights)


def _quick(instrument: str, library, out, validation_size: int = 4) -> TrainConfig:
    """Four steps and one validation: enough to write a complete model folder."""
    return TrainConfig(
        instrument=instrument,
        library=library,
        out=out,
        steps=4,
        validation_every=4,
        validation_size=validation_size,
        **TINY,
    )


def test_trained_folder_plugs_into_the_pipeline(small_loop_library, tmp_path):
    train(_quick("bass", small_loop_library, tmp_path / "checkpoints" / "bass"))
    separator = ModelSeparator.from_folder(tmp_path / "checkpoints")
    from conftest import synthetic_song

    import bachata_sep

    mixture, _ = synthetic_song(22050, 1, bars=4)
    stems = bachata_sep.separate(
        mixture, sr=22050, instruments=("bass",), separator=separator, progress=False
    )
    assert stems["bass"].shape == mixture.shape
    assert si_sdr(mixture, stems["bass"]) < 40  # a real mask, not the identity


def test_several_instruments_train_one_shared_model(small_loop_library, tmp_path):
    """Triplets of every named instrument; one default query per instrument."""
    out = tmp_path / "checkpoints" / "shared"
    train(_quick("bass,guitar", small_loop_library, out, validation_size=8))
    model = InstrumentModel.from_pretrained(out, strict=True)
    assert model.instruments == ("bass", "guitar")
    assert not (out / REFERENCE_CLIP).exists()
    for name in ("bass", "guitar"):
        assert (out / reference_clip(name, shared=True)).exists()
    separator = ModelSeparator.from_folder(tmp_path / "checkpoints")
    assert separator.instruments == ("bass", "guitar")
    facts = json.loads((out / METRICS_FILE).read_text())["training"]
    assert "of bass and guitar" in facts["data"]
    assert facts["command"].startswith("bachata-sep train --instrument bass,guitar ")


def test_unknown_instrument_is_a_clear_error(small_loop_library, tmp_path):
    with pytest.raises(BadInputError, match="maracas"):
        train(
            TrainConfig(
                instrument="maracas", library=small_loop_library, out=tmp_path, steps=2, **TINY
            )
        )
    with pytest.raises(BadInputError, match="name the instrument"):
        train(TrainConfig(instrument=" , ", library=small_loop_library, out=tmp_path / "none"))
    assert not (tmp_path / "none").exists()


def test_waveform_loss_ranks_masks_by_sdr_level_included():
    spec = ClipSpec()
    generator = torch.Generator().manual_seed(0)
    time = torch.arange(spec.length) / spec.sample_rate
    target = 0.5 * torch.sin(2 * torch.pi * 220 * time).repeat(2, 1)
    mixture = target + 0.3 * torch.randn(2, spec.length, generator=generator)
    present = torch.tensor([1.0, 0.0])
    target[1] = 0
    ideal = (
        stft(target, spec.n_fft, spec.hop_length).abs()
        / (stft(mixture, spec.n_fft, spec.hop_length).abs() + 1e-8)
    ).clamp(max=1)
    ones = torch.ones_like(ideal)

    def loss(mask, item, scale_invariant=False):
        rows = slice(item, item + 1)
        return float(
            waveform_loss(
                mask[rows], mixture[rows], target[rows], present[rows], spec, scale_invariant
            )
        )

    # Present target: -SDR/10, so the ideal mask scores far below the mixture itself...
    assert loss(ideal, 0) < loss(ones, 0) - 1.0
    residual = (mixture[0] - target[0]).double()
    mixture_sdr = 10 * torch.log10(target[0].double().square().sum() / residual.square().sum())
    assert loss(ones, 0) == pytest.approx(-float(mixture_sdr) / 10, abs=0.01)
    # ...and the same mask at a hundredth of the level is no good, though its SI-SDR is the
    # same: a level-blind loss let the masks of trained models sink 50 dB.
    assert loss(ideal / 100, 0) > loss(ones, 0)
    # Absent target: the leftover's level, floored at -30 dB.
    assert loss(ones, 1) == pytest.approx(0.0, abs=0.01)
    assert loss(torch.zeros_like(ideal), 1) == pytest.approx(-3.0, abs=0.01)
    # SDR scores silence at 0 dB, better than a poor estimate (a mask can die of that)...
    poor = 1 - ideal  # mostly the noise
    assert loss(torch.zeros_like(ideal), 0) == pytest.approx(0.0, abs=0.01)
    assert loss(poor, 0) > loss(torch.zeros_like(ideal), 0)
    # ...where SI-SDR only sees the shape: going quiet gains nothing, a better shape does.
    assert loss(ideal / 100, 0, True) == pytest.approx(loss(ideal, 0, True), abs=0.01)
    assert loss(poor / 100, 0, True) == pytest.approx(loss(poor, 0, True), abs=0.01)
    assert loss(ideal, 0, True) < loss(poor, 0, True) - 1.0


@pytest.fixture(scope="module")
def tiny_trained(small_loop_library, tmp_path_factory):
    """A folder with a tiny bass model trained for two steps, to start other runs from."""
    out = tmp_path_factory.mktemp("tiny-bass")
    train(TrainConfig(instrument="bass", library=small_loop_library, out=out, steps=2, **TINY))
    return out


def _unlearning_start(instrument: str, library, out, init, **changes) -> TrainConfig:
    """A run from ``init`` that cannot learn (learning rate 0): it saves what it started from."""
    return TrainConfig(
        instrument=instrument,
        library=library,
        out=out,
        steps=1,
        learning_rate=0.0,
        init=init,
        **(TINY | changes),
    )


def test_init_starts_from_trained_weights(small_loop_library, tiny_trained, tmp_path):
    # Another instrument may start from it; with no learning its weights stay as they were.
    tuned = _unlearning_start("guitar", small_loop_library, tmp_path / "tuned", tiny_trained)
    train(tuned)
    assert "--init" in tuned.command()
    before = load_file(tiny_trained / "model.safetensors")
    after = load_file(tuned.out / "model.safetensors")
    assert before.keys() == after.keys()
    assert all(torch.equal(before[key], after[key]) for key in before)


def test_init_adds_frequency_mixing_with_the_same_masks(small_loop_library, tiny_trained, tmp_path):
    mixing = _unlearning_start(
        "guitar", small_loop_library, tmp_path / "mixing", tiny_trained, frequency_mixing=True
    )
    train(mixing)
    assert "--frequency-mixing" in mixing.command()
    plain_model = InstrumentModel.from_pretrained(tiny_trained, strict=True).eval()
    mixing_model = InstrumentModel.from_pretrained(mixing.out, strict=True).eval()
    assert mixing_model.unet.mixers is not None and plain_model.unet.mixers is None
    spec = plain_model.spec
    mixture = torch.rand(2, spec.n_bins, spec.n_frames, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(mixing_model(mixture, mixture), plain_model(mixture, mixture))


def test_init_adds_time_mixing_to_frequency_mixing_with_the_same_masks(
    small_loop_library, tiny_trained, tmp_path
):
    frequency = _unlearning_start(
        "guitar", small_loop_library, tmp_path / "frequency", tiny_trained, frequency_mixing=True
    )
    train(frequency)
    weights = load_file(frequency.out / "model.safetensors")  # trained mixing, not zeros
    generator = torch.Generator().manual_seed(1)
    for name in [name for name in weights if name.startswith("unet.mixers.")]:
        weights[name] = 0.3 * torch.randn(weights[name].shape, generator=generator)
    save_file(weights, frequency.out / "model.safetensors")
    both = _unlearning_start(
        "guitar",
        small_loop_library,
        tmp_path / "both",
        frequency.out,
        frequency_mixing=True,
        time_mixing=True,
    )
    train(both)
    assert "--frequency-mixing --time-mixing" in both.command()
    frequency_model = InstrumentModel.from_pretrained(frequency.out, strict=True).eval()
    both_model = InstrumentModel.from_pretrained(both.out, strict=True).eval()
    assert both_model.unet.mixers[0].time_down is not None
    spec = frequency_model.spec
    mixture = torch.rand(2, spec.n_bins, spec.n_frames, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(both_model(mixture, mixture), frequency_model(mixture, mixture))


def test_fresh_query_encoder_keeps_the_masks_and_hears_the_query_again(
    small_loop_library, tiny_trained, tmp_path
):
    # A collapsed encoder, as the per-instrument models' became: every hidden unit dead,
    # so every query gets the same embedding and the query can never matter again.
    collapsed = tmp_path / "collapsed"
    shutil.copytree(tiny_trained, collapsed)
    weights = load_file(collapsed / "model.safetensors")
    weights["unet.query_encoder.project.0.weight"].zero_()
    weights["unet.query_encoder.project.0.bias"].fill_(-1.0)
    save_file(weights, collapsed / "model.safetensors")
    fresh = _unlearning_start(
        "bass", small_loop_library, tmp_path / "fresh", collapsed, fresh_query_encoder=True
    )
    train(fresh)
    assert "--fresh-query-encoder" in fresh.command()
    old = InstrumentModel.from_pretrained(collapsed, strict=True).eval()
    new = InstrumentModel.from_pretrained(fresh.out, strict=True).eval()
    spec = old.spec
    generator = torch.Generator().manual_seed(0)
    mixture, first, second = torch.rand(3, 2, spec.n_bins, spec.n_frames, generator=generator)
    with torch.no_grad():
        torch.testing.assert_close(old.encode_query(first), old.encode_query(second))
        assert not torch.allclose(new.encode_query(first), new.encode_query(second))
        torch.testing.assert_close(new(mixture, first), old(mixture, second))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fresh_query_encoder": True, "init": None}, "give --init"),
        ({"base_channels": 4}, "another architecture"),
        ({"base_channels": 16}, "another architecture"),
        ({"full_resolution_bins": 128}, "another architecture"),
        ({"base_channels": 12}, "base channels must be 1, 2, 4 or a multiple of 8"),
        ({"depth": 0}, "depth must be at least 1"),
        ({"frequency_pool": 2}, "another architecture"),
        ({"keep": "first"}, "--keep must be best or last, not 'first'"),
        ({"frequency_mixing": True, "depth": 3}, "another architecture"),
        ({"time_mixing": True}, "add --frequency-mixing"),
        ({"resume": True}, "--init starts a new run"),
        ({"init": Path("no-such-run")}, "no-such-run: it has no model.safetensors"),
    ],
)
def test_init_refuses_what_it_cannot_continue(
    small_loop_library, tiny_trained, tmp_path, changes, message
):
    config = TrainConfig(
        instrument="bass",
        library=small_loop_library,
        out=tmp_path / "tuned",
        steps=1,
        **({"init": tiny_trained} | TINY | changes),
    )
    with pytest.raises(BadInputError, match=message):
        train(config)
    assert not config.out.exists()  # refused before anything is written


def test_unknown_loss_is_a_clear_error(small_loop_library, tmp_path):
    with pytest.raises(BadInputError, match="unknown loss 'l2'"):
        train(TrainConfig(instrument="bass", library=small_loop_library, out=tmp_path, loss="l2"))


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("eq_db", "EQ range must be 0 .off. or positive"),
        ("shift_ms", "shift range must be 0 .off. or positive"),
        ("song_query_rate", "song query rate must be between 0 and 1"),
    ],
)
def test_negative_weights_are_a_clear_error(small_loop_library, tmp_path, field, message):
    config = TrainConfig(instrument="bass", library=small_loop_library, out=tmp_path / "run")
    setattr(config, field, -0.1)
    with pytest.raises(BadInputError, match=message):
        train(config)
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_augmentations_change_the_training_stream(small_loop_library, tmp_path):
    runs = {}
    augmentations = {"plain": {}, "eq": {"eq_db": 6.0}, "shift": {"shift_ms": 20.0}}
    for name, augmentation in augmentations.items():
        config = TrainConfig(
            instrument="bass",
            library=small_loop_library,
            out=tmp_path / name,
            steps=4,
            validation_every=4,
            validation_size=4,
            **augmentation,
            **TINY,
        )
        train(config)
        runs[name] = _log(config.out)[-1]
    for name, flag in (("eq", "--eq-db 6.0"), ("shift", "--shift-ms 20.0")):
        command = json.loads((tmp_path / name / METRICS_FILE).read_text())["training"]["command"]
        assert flag in command
        assert runs[name]["loss"] != pytest.approx(runs["plain"]["loss"], abs=1e-6)


@pytest.mark.slow
def test_torchrun_two_processes_on_gloo(small_loop_library, tmp_path):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
        "-m",
        "bachata_sep.cli",
        "train",
        "--instrument",
        "bass",
        "--library",
        str(small_loop_library),
        "-o",
        str(tmp_path),
        "--steps",
        "4",
        "--validation-every",
        "4",
        "--validation-size",
        "4",
        "--base-channels",
        "8",
        "--depth",
        "2",
        "--frequency-pool",
        "8",
        "--batch-size",
        "4",
        "--device",
        "cpu",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["step"] == 4
    assert (tmp_path / "model.safetensors").exists()
