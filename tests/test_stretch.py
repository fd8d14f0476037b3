import numpy as np
import pytest

from bachata_sep.stretch import stretch, stretch_ratio


def _si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    scale = np.dot(estimate, reference) / np.dot(reference, reference)
    target = scale * reference
    return float(10 * np.log10(np.sum(target**2) / np.sum((estimate - target) ** 2)))


@pytest.mark.parametrize("target_length", [40708, 52000, 45001])
def test_lengthening_round_trip_is_exact(target_length):
    rng = np.random.default_rng(0)
    clip = rng.standard_normal(40000).astype(np.float32)
    stretched = stretch(clip, target_length)
    assert stretched.shape == (target_length,)
    assert _si_sdr(clip, stretch(stretched, len(clip))) > 60


def test_shortening_keeps_the_band_it_can_hold():
    time = np.arange(44100) / 44100
    clip = np.sin(2 * np.pi * 440 * time).astype(np.float32)
    round_trip = stretch(stretch(clip, 30000), len(clip))
    assert _si_sdr(clip, round_trip) > 40


def test_stretch_changes_duration_and_pitch_together():
    rate = 22050
    time = np.arange(rate) / rate
    clip = np.sin(2 * np.pi * 1000 * time)
    stretched = stretch(clip, 2 * rate)
    spectrum = np.abs(np.fft.rfft(stretched))
    peak_hz = np.argmax(spectrum) * rate / len(stretched)
    assert abs(peak_hz - 500) < 2
    assert stretch_ratio(rate, rate, 2 * rate, rate) == pytest.approx(2.0)


def test_multichannel_and_bad_length():
    stereo = np.ones((2, 100), dtype=np.float32)
    assert stretch(stereo, 150).shape == (2, 150)
    with pytest.raises(ValueError):
        stretch(stereo, 0)


@pytest.mark.parametrize(
    ("source_length", "target_length"),
    [(40000, 52000), (40001, 52000), (52000, 40000), (52001, 40001), (1000, 1001), (999, 998)],
)
def test_stretch_is_scipys_fft_resample(source_length, target_length):
    """The numpy restatement keeps scipy.signal.resample's result (even Nyquist bins too)."""
    from scipy.signal import resample

    clips = np.random.default_rng(source_length).standard_normal((2, source_length))
    clips = clips.astype(np.float32)
    expected = resample(clips, target_length, axis=-1).astype(np.float32)
    np.testing.assert_allclose(stretch(clips, target_length), expected, atol=1e-5)
