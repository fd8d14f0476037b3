"""The committed instrument models: safetensors only, small, offline-loadable, and each
still reaching the SI-SDRi floor its model card records on a held-out song."""

import json

import pytest

from bachata_sep.cards import METRICS_FILE
from bachata_sep.evaluate import quick_check
from bachata_sep.model import REFERENCE_CLIP, ModelSeparator
from bachata_sep.pretrained import CHECKPOINTS, load_separator

FOLDERS = sorted(p.parent for p in CHECKPOINTS.glob(f"*/{REFERENCE_CLIP}"))
pytestmark = pytest.mark.skipif(not FOLDERS, reason="no instrument models committed yet")


def test_checkpoints_are_small_safetensors_with_cards():
    for folder in FOLDERS:
        names = {path.name for path in folder.iterdir()}
        assert {"config.json", "model.safetensors", "README.md", METRICS_FILE} <= names
        assert not names & {"pytorch_model.bin", "model.pt", "model.pth"}
        assert all(path.stat().st_size <= 25 * 2**20 for path in folder.iterdir())
        card = (folder / "README.md").read_text()
        assert "bachata-sep train" in card and "min_si_sdri_db" in card


def test_default_separator_loads_them_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = load_separator()
    assert isinstance(loaded.separator, ModelSeparator)
    assert set(loaded.separator.instruments) == {folder.name for folder in FOLDERS}


def test_each_model_reaches_the_floor_in_its_card():
    separator = ModelSeparator.from_folder(CHECKPOINTS)
    measured = quick_check(separator, separator.instruments)
    for folder in FOLDERS:
        floor = json.loads((folder / METRICS_FILE).read_text())["evaluation"]["min_si_sdri_db"]
        assert measured[folder.name] >= floor, (folder.name, measured[folder.name], floor)
