import json

from bachata_sep.train.cards import METRICS_FILE, render_card, update_metrics


def _section(model_gain: float, floor: float) -> dict:
    summary = {
        "si_sdr": {"mixture": -4.0},
        "si_sdri": {"baseline": 0.5, "model": model_gain, "oracle": 11.5},
    }
    return {
        "command": "bachata-sep evaluate --songs 6 --duration 30",
        "songs": 6,
        "aligned_clips": summary,
        "full_song": {
            **summary,
            "sdr": {k: 1.0 for k in ("mixture", "baseline", "model", "oracle")},
        },
        "min_si_sdri_db": floor,
    }


def test_card_is_rendered_from_the_measured_figures(tmp_path):
    training = {"instrument": "bass", "command": "bachata-sep train --instrument bass"}
    update_metrics(tmp_path, training=training)
    metrics = update_metrics(tmp_path, evaluation=_section(7.25, 6.5))
    assert json.loads((tmp_path / METRICS_FILE).read_text()) == metrics
    card = (tmp_path / "README.md").read_text()
    assert "# bachata-sep: bass" in card and "`reference.flac` is the default query" in card
    assert "| aligned clips | -4.00 | 0.50 | 7.25 | 11.50 |" in card
    assert "`min_si_sdri_db: 6.5`" in card and "bachata-sep train --instrument bass" in card


def test_a_shared_models_card_lists_each_instrument():
    card = render_card(
        {
            "training": {"instrument": "bass,guitar", "command": "bachata-sep train"},
            "evaluation": {"bass": _section(9.0, 8.0), "guitar": _section(5.0, 4.0)},
        }
    )
    assert "# bachata-sep: bass + guitar" in card
    assert "`reference-bass.flac`, `reference-guitar.flac`" in card
    bass, guitar = card.split("### bass")[1].split("### guitar")
    assert "| 9.00 |" in bass and "`min_si_sdri_db: 8.0`" in bass
    assert "| 5.00 |" in guitar and "`min_si_sdri_db: 4.0`" in guitar


def test_a_folder_serving_one_instrument_of_a_shared_model_says_so():
    training = {
        "instrument": "bongo",
        "weights": "the same file as checkpoints/shared/four-instruments/model.safetensors",
        "why": "chosen on real recordings",
    }
    card = render_card({"training": training})
    assert "- weights: the same file as checkpoints/shared/four-instruments" in card
    assert "- why: chosen on real recordings" in card
    assert "- why" not in render_card({"training": {"instrument": "bass"}})


def test_a_fine_tunes_card_says_where_it_started_from():
    training = {
        "instrument": "guira",
        "command": "bachata-sep train --instrument guira --init checkpoints/guira",
        "init": "checkpoints/guira trained on plain renders",
    }
    lines = render_card({"training": training}).splitlines()
    command = lines.index(
        "- command: `bachata-sep train --instrument guira --init checkpoints/guira`"
    )
    assert lines[command + 1] == "- started from: checkpoints/guira trained on plain renders"
    assert "- started from" not in render_card({"training": {"instrument": "bass"}})


def test_a_card_says_when_the_pipeline_floors_its_mask_with_the_baseline():
    floored = render_card({"training": {"instrument": "guira"}})
    assert "the guira mask never falls below the DSP baseline's" in floored
    shared = render_card({"training": {"instrument": "bongo,guira"}})
    assert "the guira mask never falls below" in shared
    assert "never falls below" not in render_card({"training": {"instrument": "bass"}})
