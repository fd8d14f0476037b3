"""Evaluation per timbre family: which families are held out, and level-aware figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bachata_sep.cli import main
from bachata_sep.separators import IdentitySeparator
from bachata_sep.train.source_evaluation import (
    evaluate_sources,
    families,
    level_error_db,
    render_family_song,
    training_sources,
)

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"


def test_families_are_the_synthetic_sources_and_each_sample_set():
    found = families(SAMPLES)
    assert set(found) >= {"procedural", "fluidr3", "timgm6mb", "musescore"}
    assert found["emily-guitar"] == ("guitar",) and found["killer-bass"] == ("bass",)
    assert set(found["vcsl-percussion"]) == {"bongo", "guira"}
    assert set(families(None)) == {"procedural", "fluidr3", "timgm6mb", "musescore"}


def test_a_sample_set_plays_its_instruments_and_the_test_timbres_the_rest():
    song = render_family_song(
        "growly-bass", 0, 8.0, SAMPLES, randomise=False, instruments=("bass",)
    )
    timbres = song.annotations["timbres"]
    assert timbres["bass"] == "samples/bass/growly-bass"
    assert song.annotations["split"] == "test"
    assert not any(name.startswith("samples/") for part, name in timbres.items() if part != "bass")
    assert song.annotations["samples"]["bass"]["licences"] == ["CC0-1.0"]


def test_level_error_sees_what_si_sdr_cannot():
    truth = np.random.default_rng(0).standard_normal((3, 1000))
    np.testing.assert_allclose(level_error_db(truth, truth * 10 ** (-51 / 20)), -51, atol=1e-9)
    np.testing.assert_allclose(level_error_db(truth, 2 * truth), 20 * np.log10(2), atol=1e-9)


def test_training_sources_come_from_the_cards(tmp_path):
    (tmp_path / "bass").mkdir()
    (tmp_path / "bass" / "metrics.json").write_text(
        json.dumps({"training": {"sources": ["fluidr3", "emily-guitar"]}})
    )
    (tmp_path / "guitar").mkdir()
    assert training_sources({"bass": tmp_path / "bass", "guitar": tmp_path / "guitar"}) == {
        "bass": ["fluidr3", "emily-guitar"],
        "guitar": None,
    }


def test_report_marks_held_out_families_and_scores_level():
    trained_on = {"bass": ["fluidr3", "procedural"], "guitar": None}
    report = evaluate_sources(
        IdentitySeparator(),
        ("bass", "guitar"),
        trained_on,
        SAMPLES,
        songs=1,
        duration=10.0,
        randomise=False,
        only=["fluidr3", "killer-bass", "vcsl-percussion"],
    )
    # The percussion samples play neither the bass nor the guitar: nothing to score there.
    assert set(report["families"]) == {"fluidr3", "killer-bass"}
    fluidr3, killer = report["families"]["fluidr3"], report["families"]["killer-bass"]
    assert set(fluidr3) == {"bass", "guitar"} and set(killer) == {"bass"}
    assert fluidr3["bass"]["held_out"] is False and killer["bass"]["held_out"] is True
    assert fluidr3["guitar"]["held_out"] is None
    for summary in (fluidr3["bass"], fluidr3["guitar"], killer["bass"]):
        # The identity returns the whole mixture: no gain, and far too loud a stem.
        assert summary["si_sdri"]["model"] == pytest.approx(0.0, abs=1e-6)
        assert summary["level_error_db"]["model"] > 3
        assert abs(summary["level_error_db"]["oracle"]) < 3
        assert summary["si_sdri"]["oracle"] > summary["si_sdri"]["model"] + 3
        assert summary["sdr"]["oracle"] > summary["sdr"]["model"]


def test_cli_by_source_json_and_an_unknown_family(capsys):
    args = ["evaluate", "--by-source", "--songs", "1", "--duration", "8", "--json"]
    assert main([*args, "--family", "musescore"]) == 0
    report = json.loads(capsys.readouterr().out)
    musescore = report["families"]["musescore"]
    assert set(musescore) == {"bongo", "guira", "bass", "guitar"}
    # MuseScore General is derived from FluidR3, which the shipped models trained on.
    assert all(summary["held_out"] is False for summary in musescore.values())
    assert main([*args, "--family", "emily-guitar"]) == 2
    error = capsys.readouterr().err
    assert "no family emily-guitar" in error and "--samples" in error


def test_write_cards_records_the_families_held_out_first(tmp_path, capsys):
    import shutil

    from bachata_sep.pretrained import CHECKPOINTS

    shutil.copytree(CHECKPOINTS / "bass", tmp_path / "bass")
    args = ["evaluate", "--by-source", "--checkpoints", str(tmp_path), "--samples", str(SAMPLES)]
    args += ["--songs", "1", "--duration", "8", "--family", "fluidr3", "--family", "growly-bass"]
    assert main([*args, "--plain", "--write-cards"]) == 0
    facts = json.loads((tmp_path / "bass" / "metrics.json").read_text())["sources_evaluation"]
    assert set(facts["families"]) == {"fluidr3", "growly-bass"} and facts["randomised"] is False
    assert "--plain" in facts["command"] and "--family growly-bass" in facts["command"]
    card = (tmp_path / "bass" / "README.md").read_text()
    rows = [line for line in card.splitlines() if line.startswith(("| fluidr3", "| growly"))]
    assert rows[0].startswith("| growly-bass | yes |") and rows[1].startswith("| fluidr3 | no |")
    assert card.index("per timbre family") < card.index("in-distribution")
    assert "growly-bass" in capsys.readouterr().out
