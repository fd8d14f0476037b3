"""Synthetic songs: exact stems, exact annotations, reproducible audio, idiomatic sections."""

from __future__ import annotations

import json

import librosa
import numpy as np
import pytest

from bachata_sep.audio import read_audio
from bachata_sep.data.patterns import TEMPO_RANGE
from bachata_sep.data.song import STEMS, render_song, save_song
from bachata_sep.data.timbres import Timbre
from bachata_sep.errors import BadInputError

SEED = 11


@pytest.fixture(scope="module")
def song():
    return render_song(SEED, "procedural", duration=14.0)


def window(stems, name, start, end, rate):
    return stems[name][:, int(start * rate) : int(end * rate)]


def test_stems_sum_to_the_mixture(song):
    assert set(song.stems) == set(STEMS)
    total = np.sum(np.stack(list(song.stems.values())), axis=0)
    assert song.mixture.dtype == np.float32 and song.mixture.shape == (2, 14 * 44100)
    np.testing.assert_allclose(total, song.mixture, atol=1e-6)
    assert 0.05 < np.abs(song.mixture).max() <= 1.0
    for name in STEMS:
        assert np.sqrt(np.mean(song.stems[name] ** 2)) > 1e-3, f"{name} is silent"


def test_same_seed_same_audio_and_another_seed_another_song(song):
    again = render_song(SEED, "procedural", duration=14.0)
    np.testing.assert_array_equal(again.mixture, song.mixture)
    assert again.annotations == song.annotations
    other = render_song(SEED + 1, "procedural", duration=14.0)
    assert other.annotations["beats"] != song.annotations["beats"]


def test_annotations_are_consistent(song):
    notes = song.annotations
    assert TEMPO_RANGE[0] <= notes["tempo_bpm"] <= TEMPO_RANGE[1]
    beats, downbeats = np.array(notes["beats"]), np.array(notes["downbeats"])
    np.testing.assert_allclose(np.diff(beats), 60 / notes["tempo_bpm"], atol=1e-5)
    assert set(downbeats) <= set(beats) and beats[-1] < notes["duration"]
    assert beats[notes["pickup_beats"]] == downbeats[0]
    names = [section["name"] for section in notes["sections"]]
    assert names[0] == "intro" and "verse" in names
    assert notes["sections"][0]["start"] == downbeats[0]
    assert set(notes["timbres"]) >= {"bongo", "guira", "bass", "guitar", "voice"}
    assert notes["seed"] == SEED and notes["key"].split()[1] in ("major", "minor")


def test_intro_is_guitar_alone(song):
    intro = song.annotations["sections"][0]
    end = intro["end"] - 0.05  # the next bar's first notes may come a little early
    for name in ("bongo", "guira", "bass", "other"):
        assert np.abs(window(song.stems, name, 0, end, 44100)).max() < 1e-3, name
    assert np.sqrt(np.mean(window(song.stems, "guitar", intro["start"], end, 44100) ** 2)) > 1e-3


def onsets(stem: np.ndarray, rate: int) -> np.ndarray:
    return librosa.onset.onset_detect(
        y=stem.mean(axis=0), sr=rate, units="time", hop_length=128, backtrack=False
    )


def test_annotated_beats_match_the_rendered_bongo_onsets(song):
    notes = song.annotations
    groove = notes["sections"][1]["start"], notes["sections"][-1]["start"]
    found = onsets(song.stems["bongo"], 44100)
    beats = [b for b in notes["beats"] if groove[0] <= b < groove[1]]
    assert len(beats) >= 8
    misses = [b for b in beats if np.min(np.abs(found - b)) > 0.035]
    assert not misses, f"no bongo onset near beats {misses}"
    # ... and every bongo onset sits on the sixteenth-note grid of the annotations.
    sixteenth = 15 / notes["tempo_bpm"]
    grid = notes["downbeats"][0] + sixteenth * np.arange(-16, 400)
    inside = found[(found > groove[0] + 0.1) & (found < groove[1] - 0.1)]
    assert np.max([np.min(np.abs(grid - t)) for t in inside]) < 0.035


@pytest.mark.parametrize("shape", ["sine", "ramp"])
def test_a_drifting_song_is_the_same_song_with_warped_notes_and_beats(song, shape):
    drifting = render_song(SEED, "procedural", duration=14.0, tempo_drift=3, drift_shape=shape)
    notes = drifting.annotations
    assert notes["tempo_drift"] == {"shape": shape, "percent": 3}
    assert (
        notes["key"] == song.annotations["key"] and notes["timbres"] == song.annotations["timbres"]
    )
    # Beat intervals relative to the nominal beat: 3 % fast somewhere in both shapes (the
    # sine's first swell is fast), and 3 % slow at the ramp's start.
    intervals = np.diff(notes["beats"]) * notes["tempo_bpm"] / 60
    assert 1 / 1.031 < intervals.min() < 1 / 1.02
    assert intervals.max() < 1 / 0.969 and (shape == "sine" or intervals.max() > 1 / 0.98)
    found = onsets(drifting.stems["bongo"], 44100)
    groove = [b for b in notes["beats"] if notes["sections"][1]["start"] <= b < 12.0]
    assert max(np.min(np.abs(found - b)) for b in groove) < 0.035


def test_save_song_round_trip(song, tmp_path):
    out = save_song(song, tmp_path / "song")
    mixture, rate, _ = read_audio(out / "mixture.wav")
    assert rate == 44100
    stems = [read_audio(out / "stems" / f"{name}.wav")[0] for name in STEMS]
    np.testing.assert_allclose(np.sum(stems, axis=0), mixture, atol=1e-6)
    assert json.loads((out / "annotations.json").read_text()) == song.annotations
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".partial")]


def test_compact_formats_keep_the_stems_close(song, tmp_path):
    out = save_song(song, tmp_path / "song", audio_format="flac")
    mixture, _, _ = read_audio(out / "mixture.flac")
    stems = [read_audio(out / "stems" / f"{name}.flac")[0] for name in STEMS]
    np.testing.assert_allclose(np.sum(stems, axis=0), mixture, atol=5 / 2**15)


def test_too_short_a_song_is_refused():
    with pytest.raises(BadInputError, match="at least"):
        render_song(1, duration=1.0)


def test_timbre_spread_changes_only_the_procedural_timbres(song):
    wide = render_song(SEED, "procedural", duration=14.0, timbre_spread=0.3)
    assert wide.annotations["timbre_spread"] == 0.3
    assert song.annotations["timbre_spread"] == pytest.approx(0.08)
    # Same draws: the same song, notes and timbres, only the presets moved further.
    for key in ("beats", "downbeats", "sections", "timbres", "tempo_bpm"):
        assert wide.annotations[key] == song.annotations[key]
    assert not np.allclose(wide.stems["guitar"], song.stems["guitar"], atol=1e-3)
    np.testing.assert_allclose(np.sum(list(wide.stems.values()), axis=0), wide.mixture, atol=1e-6)


@pytest.mark.parametrize("spread", [-0.1, 0.6])
def test_a_timbre_spread_out_of_range_is_refused(spread):
    with pytest.raises(BadInputError, match="timbre spread must be between 0 and 0.5"):
        render_song(1, duration=6.0, timbre_spread=spread)


def test_a_part_can_be_rendered_in_another_timbre(song):
    fluid_guitar = Timbre("guitar", "fluidr3", "24")
    swapped = render_song(SEED, "procedural", duration=14.0, timbres={"guitar": fluid_guitar})
    assert swapped.annotations["timbres"]["guitar"] == "fluidr3/guitar/24"
    # Same draws: the same arrangement and the other parts' timbres, another guitar.
    for key in ("beats", "downbeats", "sections", "tempo_bpm"):
        assert swapped.annotations[key] == song.annotations[key]
    others = {p: t for p, t in song.annotations["timbres"].items() if p != "guitar"}
    assert {p: t for p, t in swapped.annotations["timbres"].items() if p != "guitar"} == others
    assert not np.allclose(swapped.stems["guitar"], song.stems["guitar"], atol=1e-3)


def test_a_timbre_for_no_part_is_refused():
    with pytest.raises(BadInputError, match="no part called drums"):
        render_song(1, duration=6.0, timbres={"drums": Timbre("guitar", "fluidr3", "24")})


@pytest.fixture(scope="module")
def randomised():
    return render_song(SEED, "procedural", duration=14.0, randomise=True)


def test_a_randomised_song_keeps_exact_stems_until_its_mixture_effects(randomised):
    notes = randomised.annotations["randomised"]
    assert set(notes["effects"]) == set(randomised.annotations["timbres"])
    total = np.sum(np.stack(list(randomised.stems.values())), axis=0)
    if notes["mixture_effects"]:
        assert not np.allclose(total, randomised.mixture, atol=1e-6)
        assert np.corrcoef(total[0], randomised.mixture[0])[0, 1] > 0.95
    else:
        np.testing.assert_allclose(total, randomised.mixture, atol=1e-6)
    again = render_song(SEED, "procedural", duration=14.0, randomise=True)
    np.testing.assert_array_equal(again.mixture, randomised.mixture)


def test_randomising_leaves_the_plain_song_of_a_seed_as_it_was(song):
    plain = render_song(SEED, "procedural", duration=14.0, randomise=False)
    np.testing.assert_array_equal(plain.mixture, song.mixture)
    assert "randomised" not in plain.annotations


def test_randomised_songs_span_the_wide_tempo_and_registers():
    tempos, lowest, highest, swings, codecs = [], 99, 0, [], 0
    for seed in range(30):
        rng_song = render_song  # the arrangement alone is enough: render short songs
        song = rng_song(seed, "procedural", duration=6.0, randomise=True)
        notes = song.annotations["randomised"]
        tempos.append(song.annotations["tempo_bpm"])
        swings.append(notes["swing"])
        codecs += any(e.startswith("mp3") for e in notes["mixture_effects"])
        shift = notes["register_shifts"]["bass"]
        lowest, highest = min(lowest, shift), max(highest, shift)
    assert min(tempos) < 110 and max(tempos) > 160 and all(100 <= t <= 170 for t in tempos)
    assert (lowest, highest) == (0, 12) and max(swings) > 0.05
    assert 5 <= codecs <= 25


def test_swing_delays_off_beat_eighths_and_sixteenths_by_half():
    from bachata_sep.data.patterns import Note
    from bachata_sep.data.song import fold_register, swing_delay

    assert swing_delay(2.0, 0.08) == 0.0
    assert swing_delay(2.5, 0.08) == pytest.approx(0.08)
    assert swing_delay(1.25, 0.08) == swing_delay(1.75, 0.08) == pytest.approx(0.04)
    folded = fold_register([Note(0, 1, 40, 1.0), Note(1, 1, 47, 1.0)], 12, 28, 55)
    assert [note.pitch for note in folded] == [52, 47]


def test_split_other_gives_each_interferer_its_stem_of_the_same_song(song):
    split = render_song(SEED, "procedural", duration=14.0, split_other=True)
    assert set(split.stems) == set(STEMS) - {"other"} | {"voice", "keys", "percussion"}
    np.testing.assert_allclose(split.mixture, song.mixture, atol=1e-6)
    interferers = split.stems["voice"] + split.stems["keys"] + split.stems["percussion"]
    np.testing.assert_allclose(interferers, song.stems["other"], atol=1e-6)
    assert split.annotations["stems"]["keys"] == ["keys"]
    playing = [name for name in ("voice", "keys", "percussion") if np.abs(split.stems[name]).max()]
    assert len(playing) >= 2, playing  # the parts are apart, not all in one stem
