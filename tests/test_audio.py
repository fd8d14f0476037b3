import errno
import os

import numpy as np
import pytest
import soundfile as sf

from bachata_sep.audio import (
    AudioWriter,
    as_audio,
    audio_info,
    output_subtype,
    read_audio,
    write_audio,
)
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


@pytest.mark.parametrize(
    ("source", "rate", "message"),
    [
        (np.zeros(0, dtype=np.float32), 44100, r"shape \(0,\) has no audio samples"),
        (np.zeros((2, 0), dtype=np.float32), 44100, "has no audio samples"),
        (np.float32(0.5), 44100, "file path or a numpy array, not float32"),
        (0.5, 44100, "file path or a numpy array, not float"),
        ([0.1, 0.2, 0.3], 44100, "file path or a numpy array, not list"),
        (np.zeros(1000), "44100", "sr must be a whole number .* not '44100'"),
        (np.zeros(1000), 44100.5, "sr must be a whole number"),
        (np.zeros(1000), True, "sr must be a whole number"),
        (np.array(["a"] * 1000), 44100, "dtype <U1"),
        (np.ones(1000, dtype=bool), 44100, "dtype bool"),
    ],
    ids=[
        "empty-1d",
        "empty-2d",
        "numpy-scalar",
        "scalar",
        "list",
        "rate-text",
        "rate-fraction",
        "rate-bool",
        "text-array",
        "bool-array",
    ],
)
def test_what_is_not_audio_is_refused_in_one_sentence(source, rate, message):
    """Not TypeError, nor a word about (samples, channels) for an empty array."""
    with pytest.raises(BadInputError, match=message) as error:
        as_audio(source, rate)
    assert "\n" not in str(error.value) and "(samples, channels)" not in str(error.value)


@pytest.mark.parametrize(
    ("dtype", "full_scale"), [(np.int16, 2**15), (np.int32, 2**31), (np.int8, 2**7)]
)
def test_integer_arrays_are_scaled_by_their_range(dtype, full_scale):
    """An int16 array is PCM, as the same samples read from a 16-bit WAV: 16384 is 0.5."""
    pcm = (np.array([0.5, -0.25, -1.0, 0.0]) * full_scale).astype(dtype)
    samples, rate, _ = as_audio(np.tile(pcm, 100), 22050)
    np.testing.assert_allclose(samples[0, :4], [0.5, -0.25, -1.0, 0.0])
    assert samples.dtype == np.float32 and rate == 22050


def test_unsigned_arrays_are_centred_as_8_bit_wav_is():
    samples, _, _ = as_audio(np.tile(np.array([128, 192, 0], dtype=np.uint8), 100), 22050)
    np.testing.assert_allclose(samples[0, :3], [0.0, 0.5, -1.0])


def test_a_rate_given_with_a_file_must_be_the_files_own(tmp_path):
    path = tmp_path / "song.wav"
    sf.write(path, _tone(22050, 1), 22050)
    assert as_audio(path, 22050)[1] == 22050
    with pytest.raises(BadInputError, match="sr=44100 was given with a file whose rate is 22050"):
        as_audio(path, 44100)


def test_random_bytes_named_mp3_get_a_plain_cause(tmp_path):
    """libsndfile says 'File does not exist or is not a regular file (possibly a pipe?)'."""
    path = tmp_path / "song.mp3"
    path.write_bytes(np.random.default_rng(0).bytes(20000))
    with pytest.raises(BadInputError, match="damaged, or not WAV, FLAC, OGG, MP3 or AIFF") as error:
        read_audio(path)
    assert "pipe" not in str(error.value)


def test_info_reads_the_length_from_the_header_alone(tmp_path):
    path = tmp_path / "long.flac"
    with sf.SoundFile(path, "w", 8000, 1, subtype="PCM_16") as file:
        for _ in range(60):
            file.write(np.zeros(8000 * 60, dtype=np.int16))
    assert audio_info(path).duration == 3600
    with pytest.raises(BadInputError, match="is a folder"):
        audio_info(tmp_path)


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


def test_a_full_device_is_an_os_error_that_names_the_cause():
    """/dev/full fails every write with ENOSPC, as a full disk does; libsndfile called it
    only 'System error'."""
    if not os.path.exists("/dev/full"):
        pytest.skip("this system has no /dev/full")
    with (
        pytest.raises(OSError, match="No space left on device") as error,
        AudioWriter("/dev/full", 8000, 1, "FLOAT") as writer,
    ):
        writer.write(np.zeros((1, 1 << 16), dtype=np.float32))
    assert error.value.errno == errno.ENOSPC and error.value.filename == "/dev/full"
