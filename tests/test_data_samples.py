"""The sample timbre source on the real one-shots of shared/samples: pitch, onsets, stroke
lengths, determinism, the timbres it offers, and folders with bad or unlisted files."""

from __future__ import annotations

import csv
import shutil
import warnings
from pathlib import Path

import librosa
import numpy as np
import pytest
import soxr

from bachata_sep.data.patterns import HI_BONGO, LONG_GUIRO, LOW_BONGO, SHORT_GUIRO, Note
from bachata_sep.data.samples import (
    CSV_NAME,
    describe,
    load_bank,
    render_part,
    sample_timbres,
)
from bachata_sep.data.timbres import Timbre
from bachata_sep.errors import BadInputError

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
RATE = 44_100
GUITAR_FILE = "martin-steel-guitar/MartinGM2_055__G3_1.flac"
BONGO_FILE = "vcsl-percussion/BongoH_Hit1_v3_rr1_Mid.flac"
COWBELL_FILE = "vcsl-percussion/Cowbell1_Hit_v3_rr1_Mid.flac"


@pytest.fixture(scope="module")
def bank():
    assert (SAMPLES / CSV_NAME).is_file(), (
        f"the real samples are missing: expected {SAMPLES / CSV_NAME} "
        "(shared/ beside the project's clone)"
    )
    return load_bank(SAMPLES)


def render(bank, part: str, set_name: str, notes: list[Note], seconds: float, seed: int = 0):
    timbre = Timbre(part, "samples", set_name)
    rng = np.random.default_rng(seed)
    return render_part(part, notes, timbre, bank, RATE, int(seconds * RATE), rng)


def frame_db(audio: np.ndarray, frame_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's start time and energy in dB (frames of about ``frame_seconds``)."""
    frame = int(frame_seconds * RATE)
    frames = len(audio) // frame
    power = np.mean(np.square(audio[: frames * frame].reshape(frames, frame)), axis=1)
    return np.arange(frames) * frame / RATE, 10 * np.log10(power + 1e-20)


def median_pitch(audio: np.ndarray, near: int) -> float:
    """pYIN's median MIDI pitch over voiced frames, searched within 6 semitones of ``near``."""
    clip = soxr.resample(audio, RATE, 22_050)
    f0, voiced, _ = librosa.pyin(
        clip,
        fmin=librosa.midi_to_hz(near - 6),
        fmax=librosa.midi_to_hz(near + 6),
        sr=22_050,
        frame_length=2048,
        hop_length=512,
        resolution=0.05,
    )
    assert voiced.any(), "no voiced frame"
    return float(librosa.hz_to_midi(np.median(f0[voiced])))


# Each set's best-tuned sample pitch and notes on it and 1-2 semitones off it (the nearest
# sample stays that one: the sets sample every 3 semitones, killer-bass every 6).
PITCH_CASES = [
    ("guitar", "martin-steel-guitar", (55, 56, 54)),
    ("guitar", "emily-guitar", (57, 58, 56)),
    ("bass", "growly-bass", (36, 37, 35)),
    ("bass", "killer-bass", (30, 32, 29)),
]


@pytest.mark.parametrize(("part", "set_name", "pitches"), PITCH_CASES)
def test_notes_sound_at_their_pitch(bank, part, set_name, pitches):
    for seed, pitch in enumerate(pitches):
        audio = render(bank, part, set_name, [Note(0.05, 1.0, pitch, 0.8)], 1.2, seed)
        measured = median_pitch(audio[int(0.15 * RATE) : int(0.95 * RATE)], pitch)
        assert abs(measured - pitch) * 100 < 20, f"{set_name} note {pitch} sounds at {measured:.2f}"


@pytest.mark.parametrize(
    ("part", "set_name", "pitches"),
    [("bongo", "vcsl-percussion", (HI_BONGO, LOW_BONGO)), ("guitar", "emily-guitar", (52, 64))],
)
def test_onsets_land_on_note_starts(bank, part, set_name, pitches):
    starts = [0.3 + 0.6 * number for number in range(12)]
    notes = [
        Note(start, 0.4, pitches[number % 2], 0.4 + 0.05 * number)
        for number, start in enumerate(starts)
    ]
    audio = render(bank, part, set_name, notes, starts[-1] + 0.6)
    times, energy = frame_db(audio, 0.001)
    for start in starts:
        inside = (times >= start - 0.1) & (times < start + 0.3)
        window, window_times = energy[inside], times[inside]
        onset = window_times[np.argmax(window > window.max() - 20)]
        assert abs(onset - start) <= 0.005, f"{part} note at {start} s starts at {onset:.3f} s"


@pytest.mark.parametrize("set_name", ["dim-cabasa", "vcsl-percussion"])
def test_scrapes_last_as_long_as_their_strokes(bank, set_name):
    # 0.1 s and 0.6 s strokes as the pattern has them; 1.5 s needs stretching.
    for seed, duration in enumerate((0.1, 0.6, 1.5)):
        for pitch in (SHORT_GUIRO, LONG_GUIRO):
            start = 0.2
            notes = [Note(start, duration, pitch, 0.8)]
            audio = render(bank, "guira", set_name, notes, start + duration + 0.5, seed)
            times, energy = frame_db(audio, 0.005)
            end = start + duration
            after = energy[times >= end + 0.02].max() - energy.max()
            last = energy[(times >= end - 0.04) & (times < end)].max() - energy.max()
            assert after < -30, f"a {duration} s stroke still sounds 20 ms after its end"
            assert last > -30, f"a {duration} s stroke has faded before its end"


def test_same_seed_same_audio(bank):
    notes = [Note(0.1 + 0.2 * i, 0.15, (SHORT_GUIRO, LONG_GUIRO)[i % 2], 0.7) for i in range(10)]
    first = render(bank, "guira", "dim-cabasa", notes, 2.5, seed=5)
    again = render(bank, "guira", "dim-cabasa", notes, 2.5, seed=5)
    other = render(bank, "guira", "dim-cabasa", notes, 2.5, seed=6)
    assert first.dtype == np.float32 and first.shape == (int(2.5 * RATE),)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    chords = [Note(0.1 + 0.25 * i, 0.3, 50 + 3 * i, 0.5 + 0.05 * i) for i in range(8)]
    guitar = [render(bank, "guitar", "emily-guitar", chords, 2.5, seed) for seed in (1, 1, 2)]
    assert np.array_equal(guitar[0], guitar[1])
    assert not np.array_equal(guitar[0], guitar[2])


def test_timbres_and_their_credits(bank):
    names = {timbre.name for timbre in sample_timbres(bank)}
    assert names == {
        "samples/bongo/vcsl-percussion",
        "samples/guira/dim-cabasa",
        "samples/guira/vcsl-percussion",
        "samples/bass/growly-bass",
        "samples/bass/killer-bass",
        "samples/guitar/emily-guitar",
        "samples/guitar/martin-steel-guitar",
        "samples/percussion/vcsl-percussion",
    }
    cabasa = describe(Timbre("guira", "samples", "dim-cabasa"), bank)
    assert cabasa["set"] == "dim-cabasa" and cabasa["families"] == ["cabasa"]
    assert cabasa["files"] == 125
    assert cabasa["licences"] == ["CC-BY-4.0"]
    assert any("kinwie" in source for source in cabasa["sources"])
    assert bank.sets("voice") == [] and bank.skipped == ()


def copy(name: str, folder: Path, as_name: str | None = None) -> str:
    """Copy a real sample into ``folder``; return its path relative to ``folder``."""
    target = folder / (as_name or name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLES / name, target)
    return target.relative_to(folder).as_posix()


def test_bad_rows_are_skipped_in_one_warning(tmp_path):
    with open(SAMPLES / CSV_NAME, newline="", encoding="utf-8") as table:
        real = {row["file"]: row for row in csv.DictReader(table)}
    fieldnames = list(next(iter(real.values())))
    garbage = tmp_path / "vcsl-percussion" / "Broken_Hit.flac"
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(b"this is not a FLAC file" * 100)
    rows = [real[copy(BONGO_FILE, tmp_path)], real[copy(GUITAR_FILE, tmp_path)]]
    rows.append({**rows[0], "file": "vcsl-percussion/Missing_Hit.flac"})
    rows.append({**rows[0], "file": "vcsl-percussion/Broken_Hit.flac"})
    with open(tmp_path / CSV_NAME, "w", newline="", encoding="utf-8") as table:
        writer = csv.DictWriter(table, fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bank = load_bank(tmp_path)
    assert len(caught) == 1, [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert "Missing_Hit.flac" in message and "Broken_Hit.flac" in message
    assert [entry.file for entry in bank.entries] == sorted([BONGO_FILE, GUITAR_FILE])
    assert len(bank.skipped) == 2


def test_unlisted_samples_are_inferred_from_their_names(tmp_path):
    copy(GUITAR_FILE, tmp_path, "my-guitar/note.flac")
    copy(BONGO_FILE, tmp_path, "my-bongo/high-hit.flac")
    copy(COWBELL_FILE, tmp_path, "things/unknown.flac")
    with pytest.warns(UserWarning, match=f"no {CSV_NAME}") as caught:
        bank = load_bank(tmp_path)
    assert len(caught) == 1 and "things/unknown.flac" in str(caught[0].message)
    guitar, bongo = (bank.entries_for(part, f"my-{part}") for part in ("guitar", "bongo"))
    assert [(e.file, e.family, e.pitch) for e in guitar] == [("my-guitar/note.flac", "guitar", 55)]
    assert [(e.file, e.family, e.pitch) for e in bongo] == [
        ("my-bongo/high-hit.flac", "bongo", None)
    ]
    assert {t.name for t in sample_timbres(bank)} == {
        "samples/guitar/my-guitar",
        "samples/bongo/my-bongo",
    }


def test_folders_without_usable_samples_are_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.warns(UserWarning), pytest.raises(BadInputError, match="no usable samples"):
        load_bank(empty)
    junk = tmp_path / "junk"
    (junk / "bongos").mkdir(parents=True)
    (junk / "bongos" / "hit.flac").write_bytes(b"\x00garbage" * 64)
    with pytest.warns(UserWarning, match="hit.flac"), pytest.raises(BadInputError, match="junk"):
        load_bank(junk)
    with pytest.raises(BadInputError, match="not a folder"):
        load_bank(tmp_path / "nowhere")


def test_a_song_from_samples_has_exact_stems_and_names_its_sets():
    from bachata_sep.data.song import render_song

    song = render_song(2_000_900, "samples", duration=8.0, samples=SAMPLES)
    total = np.sum(np.stack(list(song.stems.values())), axis=0)
    np.testing.assert_allclose(total, song.mixture, atol=1e-6)
    for part in ("bongo", "guira", "bass", "guitar"):
        assert np.sqrt(np.mean(song.stems[part] ** 2)) > 1e-3, f"{part} is silent"
        assert song.annotations["samples"][part]["set"] in song.annotations["timbres"][part]
    again = render_song(2_000_900, "samples", duration=8.0, samples=SAMPLES)
    np.testing.assert_array_equal(again.mixture, song.mixture)
