"""Remixing stems and the rest with gains, in memory and from the app's track files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from bachata_sep.audio import write_audio
from bachata_sep.errors import BadInputError
from bachata_sep.remix import REST, remix, remix_files, rest_of, solo_and_mute


@pytest.fixture
def tracks() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {name: (0.2 * rng.standard_normal((2, 4410))).astype(np.float32) for name in "abc"}


def test_rest_and_unit_gains_give_the_mixture_back(tracks):
    mixture = sum(tracks.values()) + np.float32(0.01)
    stems = {name: tracks[name] for name in ("a", "b")}
    rest = rest_of(mixture, stems)
    np.testing.assert_allclose(rest, tracks["c"] + np.float32(0.01), atol=1e-6)
    np.testing.assert_allclose(remix({**stems, REST: rest}, {}), mixture, atol=1e-6)


def test_gains_weigh_each_track(tracks):
    mix = remix(tracks, {"a": 2.0, "b": 0.0, "c": 0.5})
    np.testing.assert_allclose(mix, 2 * tracks["a"] + 0.5 * tracks["c"], atol=1e-6)


def test_solo_silences_the_others_and_mute_wins():
    gains = {"bongo": 1.5, "guira": 0.5, "bass": 1.0, REST: 1.0}
    assert solo_and_mute(gains, soloed=["bongo", "guira"]) == {
        "bongo": 1.5,
        "guira": 0.5,
        "bass": 0.0,
        REST: 0.0,
    }
    assert solo_and_mute(gains, soloed=["bongo"], muted=["bongo"])["bongo"] == 0.0
    assert solo_and_mute(gains, muted=[REST]) == {**gains, REST: 0.0}
    with pytest.raises(BadInputError, match="no 'maracas' track"):
        solo_and_mute(gains, soloed=["maracas"])


@pytest.mark.parametrize(
    ("gains", "message"),
    [
        ({"a": 2.5}, "gains go from 0 to 2"),
        ({"a": -0.1}, "gains go from 0 to 2"),
        ({"a": float("nan")}, "must be a number"),
        ({"a": "1"}, "must be a number"),
        ({"zzz": 1.0}, "no 'zzz' track"),
    ],
)
def test_bad_gains_are_one_clear_sentence(tracks, gains, message):
    with pytest.raises(BadInputError, match=message):
        remix(tracks, gains)


def test_tracks_of_other_shapes_are_refused(tracks):
    with pytest.raises(BadInputError, match="one shape"):
        remix({**tracks, "short": tracks["a"][:, :10]}, {})
    with pytest.raises(BadInputError, match="must match the mixture"):
        rest_of(tracks["a"], {"b": tracks["b"][:1]})


def _write(folder, tracks, subtype, sample_rate=22050):
    paths = {name: folder / f"{name}.wav" for name in tracks}
    for name, path in paths.items():
        write_audio(path, tracks[name], sample_rate, subtype)
    return paths


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_one_track_at_gain_one_is_that_track_bit_for_bit(tracks, tmp_path, subtype):
    paths = _write(tmp_path, tracks, subtype)
    remix_files(paths, {"a": 0.0, "b": 1.0, "c": 0.0}, tmp_path / "remix.wav")
    info = sf.info(str(tmp_path / "remix.wav"))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (
        22050,
        2,
        4410,
        subtype,
    )
    remixed, _ = sf.read(tmp_path / "remix.wav", dtype="float64")
    original, _ = sf.read(paths["b"], dtype="float64")
    np.testing.assert_array_equal(remixed, original)


def test_a_remix_past_full_scale_is_scaled_not_clipped(tmp_path):
    loud = {"a": np.full((1, 1000), 0.8, np.float32), "b": np.full((1, 1000), 0.6, np.float32)}
    loud["a"][0, ::2] *= -1
    paths = _write(tmp_path, loud, "PCM_16")
    remix_files(paths, {"a": 2.0, "b": 0.0}, tmp_path / "remix.wav")
    remixed, _ = sf.read(tmp_path / "remix.wav")
    assert np.abs(remixed).max() == pytest.approx(1.0, abs=1e-4)
    assert remixed[0] == pytest.approx(-remixed[1], abs=1e-4)  # the shape is kept


def test_all_gains_zero_is_silence_of_the_song_length(tracks, tmp_path):
    paths = _write(tmp_path, tracks, "PCM_16")
    remix_files(paths, dict.fromkeys(tracks, 0.0), tmp_path / "remix.wav")
    remixed, rate = sf.read(tmp_path / "remix.wav", always_2d=True)
    assert rate == 22050 and remixed.shape == (4410, 2) and not remixed.any()


def test_track_files_that_differ_are_refused(tracks, tmp_path):
    paths = _write(tmp_path, tracks, "PCM_16")
    write_audio(paths["c"], tracks["c"], 44100, "PCM_16")
    with pytest.raises(BadInputError, match="differ in rate"):
        remix_files(paths, {}, tmp_path / "remix.wav")
    assert not (tmp_path / "remix.wav").exists()
