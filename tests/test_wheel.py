"""The package as a user gets it: a wheel built from this repository and installed
elsewhere separates with the shipped weights, offline; and no weights anywhere is one
clear error, never a silent identity separator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import synthetic_song

import bachata_sep
from bachata_sep import pretrained
from bachata_sep.cli import main
from bachata_sep.errors import MissingWeightsError
from bachata_sep.folders import model_folders
from bachata_sep.pretrained import REPO_ID_VARIABLE, default_separator
from bachata_sep.spec import INSTRUMENTS

REPOSITORY = Path(__file__).resolve().parent.parent
SHIPPED = ("config.json", "model.safetensors", "README.md", "metrics.json")
MAX_WHEEL_MB = 20


def _run(command: list, **options) -> str:
    """Run ``command``, failing the test with its stderr (not only its status)."""
    result = subprocess.run(command, capture_output=True, text=True, **options)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _shipped_files(checkpoints: Path) -> set[str]:
    """What the wheel must carry: every default instrument model, and only what loads it."""
    files = set()
    for folder in [*model_folders(checkpoints), checkpoints / "digits"]:
        for path in folder.iterdir():
            if path.name in SHIPPED or path.match("reference*.flac"):
                files.add(f"bachata_sep/checkpoints/{folder.name}/{path.name}")
    return files


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """No Hub repository and an empty checkpoints folder, with the default reloaded."""
    monkeypatch.delenv(REPO_ID_VARIABLE, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(pretrained, "CHECKPOINTS", tmp_path / "empty")
    default_separator.cache_clear()
    yield tmp_path
    default_separator.cache_clear()


def test_no_weights_anywhere_is_one_clear_error(no_weights, capsys):
    mixture, _ = synthetic_song(22050, 1, bars=4)
    with pytest.raises(MissingWeightsError) as error:
        bachata_sep.separate(mixture[0], sr=22050, progress=False)
    message = str(error.value)
    assert "\n" not in message and message.count(". ") == 0
    assert REPO_ID_VARIABLE in message and "--checkpoints" in message

    song = no_weights / "song.wav"
    sf.write(song, mixture.T, 22050)
    songs = [str(song), str(song.with_name("copy.wav"))]
    sf.write(songs[1], mixture.T, 22050)
    assert main(["separate", *songs, "-o", str(no_weights / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"bachata-sep: error: {message}"]  # once, not once per song
    assert not (no_weights / "out").exists()


def test_an_unreachable_hub_repository_is_named_in_the_error(no_weights, monkeypatch):
    monkeypatch.setenv(REPO_ID_VARIABLE, "nobody/no-such-bachata-sep")
    with pytest.warns(UserWarning, match="Hub"), pytest.raises(MissingWeightsError) as error:
        default_separator()
    assert "nobody/no-such-bachata-sep" in str(error.value)


@pytest.mark.slow
def test_an_installed_wheel_separates_with_the_shipped_weights_offline(tmp_path):
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {REPO_ID_VARIABLE, "PYTHONPATH", "PYTHONHOME"}
    }
    environment.update(HF_HUB_OFFLINE="1", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = [sys.executable, "-m", "pip", "--quiet"]
    dist, site, outside = tmp_path / "dist", tmp_path / "site", tmp_path / "elsewhere"
    outside.mkdir()
    _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", dist, REPOSITORY],
        cwd=outside,
        env=environment,
    )
    (wheel,) = dist.glob("bachata_sep-*.whl")
    assert wheel.stat().st_size < MAX_WHEEL_MB * 2**20
    with zipfile.ZipFile(wheel) as archive:
        packaged = {name for name in archive.namelist() if "/checkpoints/" in name}
    assert packaged == _shipped_files(REPOSITORY / "checkpoints")
    assert {name.split("/")[2] for name in packaged} == {*INSTRUMENTS, "digits"}

    _run([*pip, "install", "--no-deps", "--target", site, wheel], env=environment)
    environment["PYTHONPATH"] = str(site)  # before the editable install of this checkout
    probe = (
        "import json, bachata_sep; from bachata_sep.pretrained import default_separator; "
        "loaded = default_separator(); print(json.dumps({'package': bachata_sep.__file__, "
        "'source': loaded.source, 'kind': type(loaded.separator).__name__, "
        "'instruments': list(loaded.separator.instruments)}))"
    )
    loaded = json.loads(_run([sys.executable, "-c", probe], cwd=outside, env=environment))
    assert Path(loaded["package"]).is_relative_to(site)
    assert loaded["kind"] == "ModelSeparator" and set(loaded["instruments"]) == set(INSTRUMENTS)
    assert str(site / "bachata_sep" / "checkpoints") in loaded["source"]

    mixture, _ = synthetic_song(44100, 2, bars=4)
    sf.write(outside / "song.wav", mixture.T, 44100, subtype="PCM_16")
    _run(
        [site / "bin" / "bachata-sep", "separate", "song.wav", "-o", "stems"],
        cwd=outside,
        env=environment,
    )
    written = sorted((outside / "stems" / "song").glob("*.wav"))
    assert [path.stem for path in written] == sorted(INSTRUMENTS)
    song, _ = sf.read(outside / "song.wav", always_2d=True)
    for path in written:
        stem, _ = sf.read(path, always_2d=True)
        assert stem.shape == song.shape
        # the identity separator would hand back the song itself for every instrument
        assert np.linalg.norm(stem - song) > 0.1 * np.linalg.norm(song), path.stem

    # the digits proof of concept evaluates its installed model from anywhere
    digits = json.loads(
        _run(
            [site / "bin" / "bachata-sep", "digits", "evaluate", "--json", "--overlays", "40"],
            cwd=outside,
            env=environment,
        )
    )
    assert digits["query_steering"] > 0.5 and digits["overlay"] == "mean"
