"""The beat tracker's analysis functions against librosa, whose definitions they restate."""

import subprocess
import sys

import librosa
import numpy as np
import pytest

from bachata_sep import analysis

RATE = 22050


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    rng = np.random.default_rng(0)
    times = np.arange(3 * RATE) / RATE
    tones = np.sin(2 * np.pi * 196 * times) + 0.5 * np.sin(2 * np.pi * 1318 * times)
    return (tones * np.exp(-3 * (times % 0.5)) + 0.05 * rng.standard_normal(len(times))).astype(
        np.float32
    )


@pytest.mark.parametrize("orig_rate", [44100, 48000, 16000, 22050])
def test_resample_is_librosas_soxr_hq(signal, orig_rate):
    ours = analysis.resample(signal, orig_rate, RATE)
    theirs = librosa.resample(signal, orig_sr=orig_rate, target_sr=RATE, res_type="soxr_hq")
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_power_spectrogram_is_librosas_uncentred_stft(signal):
    ours = analysis.power_spectrogram(signal, 2048, 256)
    theirs = np.abs(librosa.stft(signal, n_fft=2048, hop_length=256, center=False)) ** 2
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6 * theirs.max())


def test_power_spectrogram_refuses_a_signal_shorter_than_a_frame():
    with pytest.raises(ValueError, match="shorter than one frame"):
        analysis.power_spectrogram(np.zeros(100, np.float32), 2048, 256)


@pytest.mark.parametrize(("n_fft", "n_mels"), [(2048, 64), (1024, 128), (4096, 40)])
def test_mel_filters_are_librosas(n_fft, n_mels):
    theirs = librosa.filters.mel(sr=RATE, n_fft=n_fft, n_mels=n_mels)
    np.testing.assert_allclose(analysis.mel_filters(RATE, n_fft, n_mels), theirs, rtol=1e-6)


def test_mel_frequencies_are_librosas():
    np.testing.assert_allclose(
        analysis.mel_frequencies(64, fmax=RATE / 2),
        librosa.mel_frequencies(n_mels=64, fmax=RATE / 2),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        analysis.fft_frequencies(RATE, 2048), librosa.fft_frequencies(sr=RATE, n_fft=2048)
    )


@pytest.mark.parametrize("n_fft", [2048, 1024])
def test_chroma_filters_are_librosas(n_fft):
    theirs = librosa.filters.chroma(sr=RATE, n_fft=n_fft, tuning=0.0)
    np.testing.assert_allclose(analysis.chroma_filters(RATE, n_fft), theirs, rtol=1e-6, atol=1e-9)


def test_normalize_columns_is_librosas_and_keeps_silent_columns():
    matrix = np.random.default_rng(1).standard_normal((12, 9)).astype(np.float32)
    matrix[:, 3] = 0
    ours = analysis.normalize_columns(matrix)
    np.testing.assert_allclose(ours, librosa.util.normalize(matrix, norm=np.inf, axis=0))
    assert ours.dtype == np.float32 and not ours[:, 3].any()


def test_decibels_are_librosas():
    power = np.abs(np.random.default_rng(2).standard_normal((8, 50))) ** 4
    power[0, :5] = 0
    np.testing.assert_allclose(analysis.power_to_db(power), librosa.power_to_db(power))
    decibels = librosa.power_to_db(power)
    np.testing.assert_allclose(analysis.db_to_power(decibels), librosa.db_to_power(decibels))


def test_onset_strength_is_librosas(signal):
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(y=signal, sr=RATE, n_mels=64))
    ours = analysis.onset_strength(mel_db)
    theirs = librosa.onset.onset_strength(S=mel_db, sr=RATE)
    assert ours.shape == theirs.shape and ours.any()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize("max_size", [1, 200, 10_000])
def test_autocorrelate_is_librosas(max_size):
    envelope = np.random.default_rng(3).random(1234)
    theirs = librosa.autocorrelate(envelope, max_size=max_size)
    ours = analysis.autocorrelate(envelope, max_size)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9 * theirs[0])


def test_separating_imports_neither_librosa_nor_scipy_signal():
    """The point of this module: the beat tracker starts without the cost of librosa's DSP
    (``import librosa`` alone is lazy and cheap)."""
    code = (
        "import sys, numpy as np, bachata_sep\n"
        "from bachata_sep.beat_tracking import LocalTempoTracker\n"
        "LocalTempoTracker()(np.random.default_rng(0).standard_normal(22050 * 4), 22050)\n"
        "heavy = sorted(m for m in ('librosa.core', 'scipy.signal', 'numba') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
