import librosa
import numpy as np
import pytest

from bachata_sep.data import singer
from bachata_sep.data.patterns import Note
from bachata_sep.data.song import render_song
from bachata_sep.data.timbres import SINGER_TIMBRES, choose_timbres, split_of
from bachata_sep.errors import BadInputError

RATE = 22_050


def test_phrases_break_at_a_breath():
    notes = [Note(0.0, 0.4, 60, 0.7), Note(0.5, 0.4, 62, 0.7), Note(2.0, 0.5, 64, 0.7)]
    assert [len(phrase) for phrase in singer.phrases(notes)] == [2, 1]


@pytest.mark.parametrize("source, voice", [("espeak", "m8"), ("festival", "lp_diphone")])
def test_the_voice_sings_the_melody_with_consonants(source, voice):
    notes = [Note(0.2, 0.9, 62, 0.7), Note(1.2, 0.9, 69, 0.7)]
    sung = singer.render_part(notes, source, voice, RATE, 3 * RATE, np.random.default_rng(0))
    assert sung.shape == (3 * RATE,) and sung.dtype == np.float32
    assert np.abs(sung[: int(0.15 * RATE)]).max() < 1e-3  # nothing before the first note
    f0, voiced, _ = librosa.pyin(sung, fmin=100, fmax=800, sr=RATE, frame_length=2048)
    times = librosa.times_like(f0, sr=RATE)
    for note in notes:
        inside = voiced & (times > note.start + 0.25) & (times < note.start + note.duration - 0.1)
        assert inside.sum() >= 5
        sung_pitch = np.median(librosa.hz_to_midi(f0[inside]))
        assert abs(sung_pitch - note.pitch) < 1.0
    # Consonants: some frames are noise, not the harmonic vowel (spectral flatness).
    flatness = librosa.feature.spectral_flatness(y=sung[: int(2.2 * RATE)])[0]
    loud = librosa.feature.rms(y=sung[: int(2.2 * RATE)])[0] > 0.01
    assert np.max(flatness[loud]) > 10 * np.median(flatness[loud])


def test_sung_voices_are_for_evaluation_only():
    assert {split_of(timbre) for timbre in SINGER_TIMBRES} == {"test"}
    for split in ("train", "valid", "test"):
        for seed in range(100):
            voice = choose_timbres(np.random.default_rng(seed), "mixed", split)["voice"]
            assert voice.source not in singer.SOURCES


def test_a_song_sung_by_a_singer_keeps_its_draws():
    drawn = render_song(7, "procedural", duration=8.0, split_other=True)
    sung = render_song(
        7, "procedural", duration=8.0, split_other=True, timbres={"voice": SINGER_TIMBRES[0]}
    )
    assert sung.annotations["timbres"]["voice"] == "espeak/voice/m8"
    assert sung.annotations["beats"] == drawn.annotations["beats"]
    assert np.abs(sung.stems["voice"]).max() > 0
    assert not np.allclose(sung.stems["voice"], drawn.stems["voice"])


def test_unknown_singer_and_missing_espeak_are_one_line(monkeypatch):
    with pytest.raises(BadInputError, match="no espeak singer 'nobody'"):
        singer.render_part([], "espeak", "nobody", RATE, RATE, np.random.default_rng(0))
    monkeypatch.setattr(singer.shutil, "which", lambda name: None)
    with pytest.raises(BadInputError, match="install the Debian package espeak-ng"):
        singer.render_part([], "espeak", "m8", RATE, RATE, np.random.default_rng(0))
    with pytest.raises(BadInputError, match="install the Debian package festival"):
        singer.render_part([], "festival", "pc_diphone", RATE, RATE, np.random.default_rng(0))
