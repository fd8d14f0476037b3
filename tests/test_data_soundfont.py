"""SoundFont rendering and the timbre split (MuseScore General is evaluation-only)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bachata_sep.data.patterns import Note
from bachata_sep.data.song import STEMS, render_song
from bachata_sep.data.soundfont import note_events, render_part
from bachata_sep.data.timbres import (
    SOUNDFONTS,
    TEST_TIMBRES,
    TRAIN_TIMBRES,
    VALID_TIMBRES,
    VALID_VARIATIONS,
    VARIATION_TIMBRES,
    Timbre,
    bank_and_program,
    choose_timbres,
    split_of_seed,
)
from bachata_sep.errors import BadInputError


@pytest.mark.parametrize("source", list(SOUNDFONTS))
def test_soundfont_song_has_exact_stems(source):
    song = render_song(2_000_123, source, duration=7.0)
    total = np.sum(np.stack(list(song.stems.values())), axis=0)
    np.testing.assert_allclose(total, song.mixture, atol=1e-6)
    for name in STEMS:
        assert np.sqrt(np.mean(song.stems[name] ** 2)) > 1e-3, f"{name} is silent"
    assert all(name.startswith(f"{source}/") for name in song.annotations["timbres"].values())
    assert song.annotations["soundfont"] == source


def test_missing_or_unknown_soundfont_is_one_sentence(tmp_path):
    with pytest.raises(BadInputError, match="not found"):
        render_song(1, str(tmp_path / "missing.sf2"), duration=6.0)
    with pytest.raises(BadInputError, match="unknown timbre source"):
        render_song(1, "casio", duration=6.0)


def test_a_repeated_note_is_not_cut_by_the_previous_note_off():
    notes = [Note(0.0, 1.0, 60, 0.8), Note(0.5, 1.0, 60, 0.8)]
    events = note_events(notes, 1000)
    assert events == [(0, 1, 60, 102), (499, 0, 60, 0), (500, 1, 60, 102), (1500, 0, 60, 0)]


def test_split_is_explicit_and_disjoint():
    assert TRAIN_TIMBRES and VALID_TIMBRES and TEST_TIMBRES
    assert not TRAIN_TIMBRES & TEST_TIMBRES and not TRAIN_TIMBRES & VALID_TIMBRES
    assert not any(name.startswith("musescore/") for name in TRAIN_TIMBRES | VALID_TIMBRES)
    assert any(name.startswith("musescore/") for name in TEST_TIMBRES)
    assert {name.split("/")[0] for name in TRAIN_TIMBRES} == {"procedural", "fluidr3", "timgm6mb"}


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_chosen_timbres_stay_in_their_split(split):
    allowed = {"train": TRAIN_TIMBRES, "valid": VALID_TIMBRES, "test": TEST_TIMBRES}[split]
    for seed in range(200):
        chosen = choose_timbres(np.random.default_rng(seed), "mixed", split)
        assert {timbre.name for timbre in chosen.values()} <= allowed


def test_seed_ranges():
    assert split_of_seed(0) == "train" and split_of_seed(1_000_000) == "valid"
    assert split_of_seed(2_500_000) == "test" and split_of_seed(9_000_001) is None


def test_variation_programs_are_drawn_only_when_asked_and_two_are_held_out():
    variations = {timbre.name for timbre in VARIATION_TIMBRES}
    assert VALID_VARIATIONS <= VALID_TIMBRES and not VALID_VARIATIONS & TRAIN_TIMBRES
    assert variations - VALID_VARIATIONS <= TRAIN_TIMBRES
    plain, extra = set(), set()
    for seed in range(300):
        plain |= {
            t.name for t in choose_timbres(np.random.default_rng(seed), "mixed", "train").values()
        }
        chosen = choose_timbres(np.random.default_rng(seed), "mixed", "train", extra_programs=True)
        extra |= {t.name for t in chosen.values()}
    assert not plain & variations, "libraries rendered without the option must not change"
    assert extra & variations == variations - VALID_VARIATIONS
    test_draws = {
        t.name
        for seed in range(100)
        for t in choose_timbres(np.random.default_rng(seed), "mixed", "test", True).values()
    }
    assert not test_draws & variations


def test_a_variation_program_is_its_own_sound():
    assert bank_and_program("25") == (0, 25) and bank_and_program("8:25") == (8, 25)
    notes = [Note(0.1 * i, 0.4, 52 + i, 0.8) for i in range(8)]
    gm = render_part(notes, Timbre("guitar", "fluidr3", "25"), 22050, 44100)
    twelve_string = render_part(notes, Timbre("guitar", "fluidr3", "8:25"), 22050, 44100)
    assert np.sqrt(np.mean(twelve_string**2)) > 1e-3
    spectra = [np.abs(np.fft.rfft(x))[:8000] for x in (gm, twelve_string)]
    assert np.corrcoef(*spectra)[0, 1] < 0.9
    with pytest.raises(BadInputError, match="has no program 8:99"):
        render_part(notes, Timbre("guitar", "fluidr3", "8:99"), 22050, 44100)


def test_musescore_is_held_out_only_from_models_that_never_heard_fluidr3():
    from bachata_sep.data.timbres import is_held_out

    assert is_held_out("musescore", ["procedural", "timgm6mb"])
    assert not is_held_out("musescore", ["fluidr3"])
    assert is_held_out("emily-guitar", ["fluidr3", "martin-steel-guitar"])
    # The reason: one song's bongo from either SoundFont is nearly the same recording.
    fluid, muse = render_song(2_000_700, "fluidr3", 7.0), render_song(2_000_700, "musescore", 7.0)
    assert np.corrcoef(fluid.stems["bongo"][0], muse.stems["bongo"][0])[0, 1] > 0.95


def test_with_samples_a_mixed_draw_weighs_every_family_alike():
    from bachata_sep.data.samples import load_bank, sample_timbres

    bank = load_bank(str(Path(__file__).resolve().parents[2] / "shared" / "samples"))
    samples = sample_timbres(bank)
    families = Counter(
        choose_timbres(np.random.default_rng(seed), "mixed", "train", True, samples)[
            "guitar"
        ].family
        for seed in range(600)
    )
    # procedural, fluidr3, timgm6mb and the two guitar sets: about 120 draws each.
    assert set(families) == {
        "procedural",
        "fluidr3",
        "timgm6mb",
        "emily-guitar",
        "martin-steel-guitar",
    }
    assert min(families.values()) > 80
    plain = [choose_timbres(np.random.default_rng(s), "mixed", "train") for s in range(5)]
    assert plain == [
        choose_timbres(np.random.default_rng(s), "mixed", "train", False, ()) for s in range(5)
    ]
