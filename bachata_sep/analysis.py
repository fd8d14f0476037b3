"""The beat tracker's spectral analysis: librosa's definitions restated on numpy.

Separating a song has to start fast, and importing librosa's DSP (numba's compiled
helpers and scipy.signal) takes about 1.4 s of the 9 s a 3-minute song may take on a
2-core CPU. The beat tracker needs only these few functions, so they follow librosa 0.11
here, with its defaults; ``tests/test_analysis.py`` checks each against librosa itself,
which remains the reference and the library for everything else (data, evaluation).
"""

from __future__ import annotations

import numpy as np
import soxr

# librosa's Slaney mel scale: linear below 1 kHz, logarithmic above.
_MEL_LINEAR_HZ = 200.0 / 3
_MEL_LOG_START_HZ = 1000.0
_MEL_LOG_START = _MEL_LOG_START_HZ / _MEL_LINEAR_HZ
_MEL_LOG_STEP = np.log(6.4) / 27.0
# librosa's chroma filters: Gaussian octave weighting centred on C5, two octaves wide.
_CHROMA_CENTRE_OCTAVE = 5.0
_CHROMA_OCTAVE_WIDTH = 2.0
_PITCH_CLASSES = 12
# librosa.onset.onset_strength's frame lag and the centring pad of its default STFT
# (n_fft 2048 over hop 512), which it applies even to a given spectrogram.
_ONSET_LAG = 1
_ONSET_CENTRING_FRAMES = 2048 // (2 * 512)
_POWER_FLOOR = 1e-10
_TOP_DB = 80.0


def resample(signal: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """``librosa.resample(res_type="soxr_hq")``: soxr at high quality, the length fixed to
    ceil(n * target / orig)."""
    if orig_rate == target_rate:
        return signal
    length = int(np.ceil(len(signal) * target_rate / orig_rate))
    resampled = soxr.resample(signal, orig_rate, target_rate, quality="HQ")
    return _fix_length(resampled, length).astype(signal.dtype, copy=False)


def _fix_length(signal: np.ndarray, length: int) -> np.ndarray:
    return signal[:length] if len(signal) >= length else np.pad(signal, (0, length - len(signal)))


def power_spectrogram(signal: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """``abs(librosa.stft(signal, center=False)) ** 2``: periodic Hann frames, computed in
    float64 and stored as complex64 as librosa does for float32 input."""
    if len(signal) < n_fft:
        raise ValueError(f"the signal ({len(signal)} samples) is shorter than one frame ({n_fft})")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.lib.stride_tricks.sliding_window_view(signal, n_fft)[::hop_length]
    spectrum = np.fft.rfft(frames * window, axis=-1).astype(np.complex64).T
    return np.abs(spectrum) ** 2


def fft_frequencies(sample_rate: float, n_fft: int) -> np.ndarray:
    return np.fft.rfftfreq(n_fft, 1 / sample_rate)


def hz_to_mel(frequencies: np.ndarray) -> np.ndarray:
    frequencies = np.asarray(frequencies, dtype=float)
    logarithmic = frequencies >= _MEL_LOG_START_HZ
    return np.where(
        logarithmic,
        _MEL_LOG_START
        + np.log(np.maximum(frequencies, _MEL_LOG_START_HZ) / _MEL_LOG_START_HZ) / _MEL_LOG_STEP,
        frequencies / _MEL_LINEAR_HZ,
    )


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=float)
    logarithmic = mels >= _MEL_LOG_START
    return np.where(
        logarithmic,
        _MEL_LOG_START_HZ * np.exp(_MEL_LOG_STEP * (mels - _MEL_LOG_START)),
        mels * _MEL_LINEAR_HZ,
    )


def mel_frequencies(n_mels: int, fmax: float, fmin: float = 0.0) -> np.ndarray:
    """Band centres evenly spaced on the Slaney mel scale (``librosa.mel_frequencies``)."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels))


def mel_filters(sample_rate: float, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney-normalised triangular mel filters (``librosa.filters.mel``), (n_mels, bins)."""
    edges = mel_frequencies(n_mels + 2, fmax=sample_rate / 2)
    ramps = np.subtract.outer(edges, fft_frequencies(sample_rate, n_fft))
    widths = np.diff(edges)
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def chroma_filters(sample_rate: float, n_fft: int) -> np.ndarray:
    """Pitch-class filters starting on C, tuned to A440 (``librosa.filters.chroma``):
    Gaussian bumps around each class, weighted towards the middle octaves,
    (12, bins)."""
    frequencies = np.linspace(0, sample_rate, n_fft, endpoint=False)[1:]
    bins = _PITCH_CLASSES * np.log2(frequencies / (440.0 / 16))
    # The 0 Hz bin is put 1.5 octaves below bin 1, so that it is broad and off-centre.
    bins = np.concatenate(([bins[0] - 1.5 * _PITCH_CLASSES], bins))
    bin_widths = np.concatenate((np.maximum(np.diff(bins), 1.0), [1]))
    half = np.round(_PITCH_CLASSES / 2)
    distance = np.subtract.outer(bins, np.arange(_PITCH_CLASSES, dtype=float)).T
    distance = np.remainder(distance + half + 10 * _PITCH_CLASSES, _PITCH_CLASSES) - half
    weights = _normalize(np.exp(-0.5 * (2 * distance / bin_widths) ** 2), order=2)
    octaves = bins / _PITCH_CLASSES
    weights *= np.exp(-0.5 * ((octaves - _CHROMA_CENTRE_OCTAVE) / _CHROMA_OCTAVE_WIDTH) ** 2)
    weights = np.roll(weights, -3, axis=0)
    return np.ascontiguousarray(weights[:, : 1 + n_fft // 2], dtype=np.float32)


def normalize_columns(matrix: np.ndarray) -> np.ndarray:
    """Each column divided by its peak magnitude (``librosa.util.normalize``); columns of
    zeros stay zero."""
    return _normalize(matrix, order=np.inf)


def _normalize(matrix: np.ndarray, order: float) -> np.ndarray:
    magnitude = np.abs(matrix).astype(float)
    if order == np.inf:
        length = magnitude.max(axis=0, keepdims=True)
    else:
        length = (magnitude**order).sum(axis=0, keepdims=True) ** (1.0 / order)
    length[length < np.finfo(matrix.dtype).tiny] = 1.0
    return (matrix / length).astype(matrix.dtype, copy=False)


def power_to_db(power: np.ndarray) -> np.ndarray:
    """Decibels re 1, floored at 1e-10 and at 80 dB under the peak (``librosa.power_to_db``)."""
    decibels = 10.0 * np.log10(np.maximum(_POWER_FLOOR, power))
    return np.maximum(decibels, decibels.max() - _TOP_DB)


def db_to_power(decibels: np.ndarray) -> np.ndarray:
    return np.power(10.0, decibels * 0.1)


def onset_strength(log_spectrogram: np.ndarray) -> np.ndarray:
    """Mean positive rise over bands from one frame to the next, delayed as
    ``librosa.onset.onset_strength(S=...)`` delays it, one value per frame."""
    rise = np.maximum(0.0, log_spectrogram[:, _ONSET_LAG:] - log_spectrogram[:, :-_ONSET_LAG])
    envelope = np.pad(rise.mean(axis=0), (_ONSET_LAG + _ONSET_CENTRING_FRAMES, 0))
    return envelope[: log_spectrogram.shape[1]]


def autocorrelate(signal: np.ndarray, max_size: int) -> np.ndarray:
    """The first ``max_size`` lags of the signal's autocorrelation (``librosa.autocorrelate``),
    by FFT with enough padding that it does not wrap around."""
    n_pad = 1 << (2 * len(signal) - 2).bit_length()
    spectrum = np.fft.rfft(signal, n=n_pad)
    return np.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=n_pad)[: min(max_size, len(signal))]
