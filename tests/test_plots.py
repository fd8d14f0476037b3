import numpy as np
import pytest

from bachata_sep import plots
from bachata_sep.beat_tracking import BeatGrid
from bachata_sep.spec import ClipSpec


def _tone(seconds: float, sample_rate: int) -> np.ndarray:
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.3 * np.sin(2 * np.pi * 440 * time)).astype(np.float32)


@pytest.mark.parametrize("sample_rate", [22050, 44100])
def test_song_heatmap_is_on_the_model_grid_at_any_rate(sample_rate):
    spec = ClipSpec()
    values = plots.song_heatmap(np.stack([_tone(2.0, sample_rate)] * 2), sample_rate, spec)
    assert values.shape == (spec.n_bins, 2 * spec.sample_rate // spec.hop_length + 1)
    assert values.min() >= 0 and values.max() == pytest.approx(1.0)
    assert np.argmax(values[:, values.shape[1] // 2]) == round(440 * spec.n_fft / spec.sample_rate)


def _reddish(image: np.ndarray) -> int:
    red, green, blue = (image[..., channel].astype(int) for channel in range(3))
    return int(np.sum((red > 180) & (green < 90) & (blue < 90)))


def test_waveform_marks_downbeats_in_red():
    audio = _tone(4.0, 22050)
    grid = BeatGrid(beats=np.arange(0.0, 4.0, 0.5), downbeats=np.array([0.0, 2.0]))
    with_beats = plots.waveform_image(audio, 22050, grid, "song")
    without = plots.waveform_image(audio, 22050, None)
    assert with_beats.dtype == np.uint8 and with_beats.ndim == 3 and with_beats.shape[2] == 3
    assert _reddish(with_beats) > 100 and _reddish(without) == 0


def test_long_heatmaps_are_shrunk_without_losing_short_hits():
    values = np.zeros((513, 40_000), dtype=np.float32)
    values[:, 12_345] = 1.0  # one frame (15 ms) among ten minutes
    image = plots.heatmap_image(values, seconds=600.0, max_hz=11025.0, title="mixture")
    yellowish = (image[..., 0] > 230) & (image[..., 1] > 200) & (image[..., 2] > 120)
    assert yellowish.any()


def test_save_png_writes_a_png(tmp_path):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1))
    plots.draw_heatmap(figure.add_subplot(), np.random.default_rng(0).random((8, 8)), 1.0, 8000)
    path = tmp_path / "figures" / "heatmap.png"
    plots.save_png(figure, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
