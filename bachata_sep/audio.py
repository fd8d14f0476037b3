"""Audio I/O: every conversion between files, user arrays and the pipeline's layout lives here.

The pipeline works on float32 arrays shaped ``(channels, samples)`` at the input's own
sample rate, so that stems come out with the input's rate, channels and length.
"""

from __future__ import annotations

import numbers
import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import BadInputError

MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 96_000
SILENCE_DBFS = -90.0
# Bit depths we write back as they came; anything else (8-bit, compressed) becomes 16-bit PCM.
KEPT_SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")

# Samples per channel written at a time: clipping a long stem never copies it whole.
WRITE_BLOCK = 1 << 20
# libsndfile's code for a failed system call (SFE_SYSTEM): a full disk, a file size limit.
_SYSTEM_ERROR = 2

# mkstemp creates files only the owner can read; written audio gets the usual umask instead.
_UMASK = os.umask(0)
os.umask(_UMASK)

AudioSource = str | os.PathLike | np.ndarray
# Audio files a folder of loops or samples is scanned for.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
# What libsndfile says when it opens a file it cannot parse ("... (possibly a pipe?)")
# misleads: the file was checked to be a regular one, so name the likely cause instead.
UNKNOWN_FORMAT = "damaged, or not WAV, FLAC, OGG, MP3 or AIFF"


def audio_info(path: str | os.PathLike) -> sf._SoundFileInfo:
    """A file's header (rate, channels, frames, subtype) without decoding its samples, so
    a one-hour upload can be refused by its length at the cost of a few bytes read."""
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"no such file: {path}")
    if path.is_dir():
        raise BadInputError(f"{path} is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise BadInputError(f"{path} is empty (0 bytes)")
    try:
        return sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise BadInputError(f"cannot read {path} as audio ({_read_cause(error)})") from None


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int, str]:
    """Read a file as float32 ``(channels, samples)``; return it with its rate and subtype."""
    info = audio_info(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise BadInputError(f"cannot read {path} as audio ({_read_cause(error)})") from None
    samples = data.T  # a view: no second copy of a long song
    check_audio(samples, rate, name=str(path))
    return samples, int(rate), info.subtype


def as_audio(source: AudioSource, sample_rate: int | None = None) -> tuple[np.ndarray, int, bool]:
    """Accept a path or an array; return float32 ``(channels, samples)``, its rate, and
    whether the caller gave a 1-D array (so results can be handed back 1-D)."""
    if isinstance(source, np.ndarray):
        if sample_rate is None:
            raise BadInputError("an audio array needs its sample rate: pass sr=...")
        sample_rate = _whole_rate(sample_rate)
        was_1d = source.ndim == 1
        samples = source[None, :] if was_1d else source
        if samples.ndim != 2:
            raise BadInputError(
                f"audio array must be 1-D or (channels, samples), not {source.shape}"
            )
        if samples.size == 0:
            raise BadInputError(f"audio array of shape {source.shape} has no audio samples")
        if samples.shape[0] > samples.shape[1]:
            raise BadInputError(
                f"audio array of shape {source.shape} looks like (samples, channels); "
                "pass (channels, samples), e.g. array.T"
            )
        samples = as_float32(samples)
        check_audio(samples, sample_rate, name="audio array")
        return samples, sample_rate, was_1d
    if not isinstance(source, str | os.PathLike):
        raise BadInputError(
            f"audio must be a file path or a numpy array, not {type(source).__name__}"
        )
    samples, rate, _ = read_audio(source)
    if sample_rate is not None and sample_rate != rate:
        raise BadInputError(
            f"sr={sample_rate} was given with a file whose rate is {rate} Hz; sr is for "
            "arrays only (a file's own rate is used), so drop it"
        )
    return samples, rate, False


def as_float32(samples: np.ndarray) -> np.ndarray:
    """Float samples as they are; integer PCM scaled by its type's range into [-1, 1), the
    way a WAV file of that depth is read (an int16 array is not 32768 times too loud)."""
    if np.issubdtype(samples.dtype, np.floating):
        return np.asarray(samples, dtype=np.float32)
    if np.issubdtype(samples.dtype, np.signedinteger):
        return (samples / -float(np.iinfo(samples.dtype).min)).astype(np.float32)
    if np.issubdtype(samples.dtype, np.unsignedinteger):
        middle = float(np.iinfo(samples.dtype).max // 2 + 1)
        return ((samples - middle) / middle).astype(np.float32)
    raise BadInputError(
        f"audio array has dtype {samples.dtype}; pass float samples in [-1, 1] or integer PCM"
    )


def _whole_rate(sample_rate: object) -> int:
    """The sample rate as an int, refusing text, booleans and fractions in one sentence."""
    whole = isinstance(sample_rate, numbers.Integral) or (
        isinstance(sample_rate, float) and sample_rate.is_integer()
    )
    if isinstance(sample_rate, bool) or not whole:
        raise BadInputError(
            f"sr must be a whole number of samples per second, e.g. 44100, not {sample_rate!r}"
        )
    return int(sample_rate)


def check_audio(samples: np.ndarray, sample_rate: int, name: str = "audio") -> None:
    """Reject what the pipeline cannot process, with a sentence that says why."""
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise BadInputError(
            f"{name} has a sample rate of {sample_rate} Hz; "
            f"supported rates are {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
        )
    if samples.shape[-1] == 0:
        raise BadInputError(f"{name} has no audio samples")
    if not np.isfinite(samples).all():
        raise BadInputError(f"{name} contains NaN or infinite samples")


def is_silent(samples: np.ndarray) -> bool:
    """True when the peak is below -90 dBFS: nothing there to separate or track."""
    return float(np.max(np.abs(samples))) < 10 ** (SILENCE_DBFS / 20)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels of ``(channels, samples)`` audio."""
    return samples.mean(axis=0)


def output_subtype(input_subtype: str | None) -> str:
    """Keep the input's bit depth where WAV can hold it; 16-bit PCM otherwise."""
    return input_subtype if input_subtype in KEPT_SUBTYPES else "PCM_16"


class AudioWriter:
    """A WAV (or FLAC) file written block by block from ``(channels, samples)`` audio, so a
    stem can be saved while it is still being separated. Float blocks for a PCM file are
    clipped to [-1, 1] first (libsndfile does not clip unless asked); integer blocks are
    written as they are, already in range and without a conversion."""

    def __init__(
        self,
        path: str | os.PathLike,
        sample_rate: int,
        channels: int,
        subtype: str = "FLOAT",
        file_format: str = "WAV",
    ) -> None:
        self.clip = subtype.startswith("PCM")
        self.path = Path(path)
        try:
            self.file = sf.SoundFile(
                path, "w", sample_rate, channels, subtype=subtype, format=file_format
            )
        except sf.LibsndfileError as error:
            raise _system_error(error, self.path) from None

    def write(self, block: np.ndarray) -> None:
        try:
            clip = self.clip and np.issubdtype(block.dtype, np.floating)
            self.file.write(np.clip(block, -1.0, 1.0).T if clip else block.T)
        except sf.LibsndfileError as error:
            raise _system_error(error, self.path) from None

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def write_audio(
    path: str | os.PathLike, samples: np.ndarray, sample_rate: int, subtype: str = "FLOAT"
) -> None:
    """Write ``(channels, samples)`` audio atomically: a reader never sees half a file.
    FLAC when the name ends in ``.flac`` (16/24-bit PCM only), WAV otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = np.atleast_2d(samples)
    file_format = "FLAC" if path.suffix.lower() == ".flac" else "WAV"
    descriptor, temporary = tempfile.mkstemp(
        suffix=path.suffix, dir=path.parent, prefix=".partial-"
    )
    os.close(descriptor)
    try:
        with AudioWriter(temporary, sample_rate, samples.shape[0], subtype, file_format) as output:
            for start in range(0, samples.shape[1], WRITE_BLOCK):
                output.write(samples[:, start : start + WRITE_BLOCK])
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _system_error(error: sf.LibsndfileError, path: Path) -> Exception:
    """libsndfile reports every failed write as "System error"; the C ``errno`` that cffi
    keeps from the call says which (no space left on device, file too large), so a failed
    write becomes the ``OSError`` it is, naming its path. Other errors stay as they are."""
    number = sf._ffi.errno
    if error.code == _SYSTEM_ERROR and number:
        return OSError(number, os.strerror(number), str(path))
    return error


def _read_cause(error: BaseException) -> str:
    """libsndfile's reason in one line, or :data:`UNKNOWN_FORMAT` where it has none to give."""
    text = str(error).strip().splitlines()
    line = text[0] if text else ""
    if not line or line.startswith("Error opening"):
        return UNKNOWN_FORMAT
    return line
