import os

import numpy as np
import pytest
import soundfile as sf

from bachata_sep.audio import as_audio, output_subtype, read_audio, write_audio
from bachata_sep.errors import BadInputError


def _tone(sample_rate: int, channels: int, seconds: float = 0.5) -> np.ndarray:
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    return np.stack([0.3 * np.sin(2 * np.pi * (220 + 110 * c) * time) for c in range(channels)], 1)


@pytest.mark.parametrize(
    ("extension", "subtype", "sample_rate", "channels"),
    [
        ("wav", "PCM_U8", 8000, 1),
        ("wav", "PCM_16", 44100, 2),
        ("wav", "PCM_24", 96000, 2),
        ("wav", "PCM_32", 48000, 6),
        ("wav", "FLOAT", 11025, 3),
        ("flac", "PCM_16", 22050, 2),
        ("ogg", "VORBIS", 44100, 2),
        ("mp3", "MPEG_LAYER_III", 44100, 2),
    ],
)
def test_reads_formats_rates_depths_and_channels(
    tmp_path, extension, subtype, sample_rate, channels
):
    data = _tone(sample_rate, channels)
    path = tmp_path / f"input.{extension}"
    sf.write(path, data, sample_rate, subtype=subtype)
    samples, rate, read_subtype = read_audio(path)
    assert rate == sample_rate
    assert samples.dtype == np.float32
    assert samples.shape == (channels, sf.info(path).frames)
    assert read_subtype == subtype
    if extension in ("wav", "flac"):
        assert samples.shape[1] == len(data)
        assert np.abs(samples - data.T).max() < 0.02


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: None, "no such file"),
        (lambda path: path.write_bytes(b""), "empty"),
        (lambda path: path.write_bytes(b"RIFF\x00\x01garbage" * 50), "cannot read"),
        (lambda path: path.write_text("just some text, not audio\n" * 20), "cannot read"),
        (lambda path: sf.write(path, np.zeros((0, 2)), 44100), "no audio samples"),
        (lambda path: sf.write(path, np.full(1000, np.nan), 44100, subtype="FLOAT"), "NaN"),
        (lambda path: sf.write(path, np.full(1000, np.inf), 44100, subtype="FLOAT"), "NaN"),
        (lambda path: sf.write(path, np.zeros(1000), 4000), "sample rate of 4000"),
        (lambda path: sf.write(path, np.zeros(1000), 192000), "sample rate of 192000"),
    ],
)
def test_bad_files_raise_one_sentence(tmp_path, make, message):
    path = tmp_path / "input.wav"
    make(path)
    with pytest.raises(BadInputError, match=message) as error:
        read_audio(path)
    assert "\n" not in str(error.value)


def test_folder_is_not_audio(tmp_path):
    with pytest.raises(BadInputError, match="folder"):
        read_audio(tmp_path)


def test_arrays_need_rate_and_channels_first():
    with pytest.raises(BadInputError, match="sample rate"):
        as_audio(np.zeros(1000, dtype=np.float32))
    with pytest.raises(BadInputError, match="transpose|array.T"):
        as_audio(np.zeros((1000, 2), dtype=np.float32), 44100)
    samples, rate, was_1d = as_audio(np.zeros(1000), 44100)
    assert samples.shape == (1, 1000) and samples.dtype == np.float32 and was_1d and rate == 44100


def test_write_is_atomic_and_keeps_bit_depth(tmp_path):
    data = _tone(44100, 2).T.astype(np.float32)
    target = tmp_path / "out" / "stem.wav"
    write_audio(target, data, 44100, "PCM_24")
    assert sf.info(target).subtype == "PCM_24"
    assert target.stat().st_mode & 0o044 == 0o044 & ~_umask()  # readable as the umask allows
    assert [p.name for p in target.parent.iterdir()] == ["stem.wav"]
    with pytest.raises(ValueError):
        write_audio(tmp_path / "out" / "broken.wav", data, 44100, "NOT_A_SUBTYPE")
    assert [p.name for p in target.parent.iterdir()] == ["stem.wav"]


def test_a_flac_name_gets_flac_data(tmp_path):
    """A reference clip called ``.flac`` must be FLAC inside, not WAV under another name."""
    data = (np.round(_tone(22050, 1).T * 2**15) / 2**15).astype(np.float32)  # 16-bit exact
    write_audio(tmp_path / "reference.flac", data, 22050, "PCM_16")
    write_audio(tmp_path / "stem.wav", data, 22050, "PCM_16")
    assert sf.info(tmp_path / "reference.flac").format == "FLAC"
    assert sf.info(tmp_path / "stem.wav").format == "WAV"
    flac, _ = sf.read(tmp_path / "reference.flac")
    wav, _ = sf.read(tmp_path / "stem.wav")
    np.testing.assert_array_equal(flac, wav)  # lossless: the same 16-bit samples
    np.testing.assert_array_equal(flac, data[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference.flac", "stem.wav"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_output_subtype_keeps_what_wav_can_hold():
    assert output_subtype("PCM_24") == "PCM_24"
    assert output_subtype("FLOAT") == "FLOAT"
    assert output_subtype("PCM_U8") == "PCM_16"
    assert output_subtype("MPEG_LAYER_III") == "PCM_16"
