import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import percussion_track, si_sdr, synthetic_song

import bachata_sep
from bachata_sep.beat_tracking import BeatTrackingWarning, LocalTempoTracker
from bachata_sep.clips import bar_segments
from bachata_sep.errors import BadInputError
from bachata_sep.queries import loudest_clip_heatmaps, query_heatmaps
from bachata_sep.separators import IdentitySeparator, OracleSeparator
from bachata_sep.spec import ClipSpec


def test_identity_round_trip_reproduces_the_song():
    mixture, _ = synthetic_song()
    stems = bachata_sep.separate(mixture, sr=44100, separator=IdentitySeparator(), progress=False)
    assert set(stems) == set(bachata_sep.INSTRUMENTS)
    for stem in stems.values():
        assert stem.shape == mixture.shape and stem.dtype == np.float32
        assert si_sdr(mixture, stem) >= 40


@pytest.mark.parametrize(("sample_rate", "channels"), [(8000, 1), (11025, 3), (96000, 6)])
def test_output_keeps_rate_channels_and_exact_length(sample_rate, channels):
    mixture, _ = synthetic_song(sample_rate, channels, bars=4, bpm=141)
    mixture = mixture[:, : mixture.shape[1] - 7]
    stems = bachata_sep.separate(
        mixture,
        sr=sample_rate,
        instruments=("bass",),
        separator=IdentitySeparator(),
        progress=False,
    )
    assert stems["bass"].shape == mixture.shape
    assert si_sdr(mixture, stems["bass"]) >= 40


def test_one_dimensional_input_gives_one_dimensional_stems():
    mixture, _ = synthetic_song(22050, 1, bars=4)
    stems = bachata_sep.separate(
        mixture[0], sr=22050, instruments=("guitar",), separator=IdentitySeparator(), progress=False
    )
    assert stems["guitar"].shape == mixture[0].shape


def test_oracle_recovers_known_stems_through_the_pipeline():
    mixture, stems = synthetic_song()
    estimates = bachata_sep.separate(
        mixture,
        sr=44100,
        instruments=tuple(stems),
        separator=OracleSeparator(stems, mixture),
        progress=False,
    )
    for name, stem in stems.items():
        improvement = si_sdr(stem, estimates[name]) - si_sdr(stem, mixture)
        assert improvement >= 10, (name, improvement)


def test_blocks_cover_the_song_once_in_order_and_make_up_the_stems():
    mixture, stems = synthetic_song()
    request = {
        "sr": 44100,
        "instruments": tuple(stems),
        "separator": OracleSeparator(stems, mixture),
        "batch_size": 2,
        "progress": False,
    }
    whole = bachata_sep.separate(mixture, **request)
    position, count = 0, 0
    for start, block in bachata_sep.separate_blocks(mixture, **request):
        assert start == position and list(block) == list(stems)
        width = block["bass"].shape[-1]
        for name, audio in block.items():
            np.testing.assert_array_equal(audio, whole[name][:, start : start + width])
        position, count = position + width, count + 1
    assert position == mixture.shape[-1] and count > 1


def test_blocks_refuse_bad_input_before_the_first_block():
    with pytest.raises(BadInputError, match="silent"):
        bachata_sep.separate_blocks(np.zeros((2, 44100 * 10), dtype=np.float32), sr=44100)


class _CountingSeparator(IdentitySeparator):
    """The identity separator, counting the batches it is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def masks(self, batch, queries):
        self.calls += 1
        return super().masks(batch, queries)


def test_shifts_run_the_separator_that_many_times_per_batch():
    mixture, _ = synthetic_song(22050, 2, bars=4)
    counts = {}
    for shifts in (1, 3):
        separator = _CountingSeparator()
        stems = bachata_sep.separate(
            mixture, sr=22050, separator=separator, progress=False, shifts=shifts
        )
        counts[shifts] = separator.calls
        np.testing.assert_allclose(stems["bass"], mixture, atol=1e-4)
    assert counts[3] == 3 * counts[1] > 0


def test_bad_shifts_are_refused_before_the_first_block():
    mixture, _ = synthetic_song(22050, 2, bars=4)
    with pytest.raises(BadInputError, match="shifts must be a whole number"):
        bachata_sep.separate_blocks(mixture, sr=22050, separator=IdentitySeparator(), shifts=0)


def test_separate_reads_paths(tmp_path):
    mixture, _ = synthetic_song(22050, 2, bars=4)
    path = tmp_path / "song.flac"
    sf.write(path, mixture.T, 22050)
    stems = bachata_sep.separate(path, instruments=("bass",), progress=False)
    assert stems["bass"].shape == mixture.shape


def test_a_given_grid_is_used_instead_of_tracking_the_song_again():
    mixture, _ = synthetic_song(22050, 1, bars=4)
    grid = LocalTempoTracker()(mixture[0], 22050)

    def no_tracking(mono, rate):
        raise AssertionError("the song was tracked again")

    stems = bachata_sep.separate(
        mixture,
        sr=22050,
        instruments=("bass",),
        separator=IdentitySeparator(),
        tracker=no_tracking,
        grid=grid,
        progress=False,
    )
    assert si_sdr(mixture, stems["bass"]) >= 40


def test_beats_api_finds_the_one():
    audio, beats, downbeats = percussion_track(130, 8, pickup_beats=3, intro_seconds=0.5)
    found_beats, found_downbeats = bachata_sep.beats(audio, sr=22050)
    assert len(found_beats) == len(beats)
    assert np.abs(found_downbeats - downbeats).max() < 0.07


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros((2, 44100 * 10), dtype=np.float32), "silent"),
        (np.full((1, 44100), 0.1, dtype=np.float32), "long"),
        (np.array([[0.1, np.nan] * 44100], dtype=np.float32), "NaN"),
    ],
    ids=["silent", "too-short", "nan"],
)
def test_bad_audio_is_refused_in_one_sentence(audio, message):
    with pytest.raises(BadInputError, match=message) as error:
        bachata_sep.separate(audio, sr=44100, progress=False)
    assert "\n" not in str(error.value)


def test_shorter_than_one_bar_is_refused():
    """1.6 s of drums: too few beats to track, so the fallback grid's bar (1.85 s) applies."""
    audio, _, _ = percussion_track(140, 2, sample_rate=22050)
    with (
        pytest.warns(BeatTrackingWarning),
        pytest.raises(BadInputError, match="shorter than one 4-beat bar"),
    ):
        bachata_sep.separate(audio[: int(1.6 * 22050)], sr=22050, progress=False)


def test_requests_the_separator_cannot_serve_are_refused():
    mixture, stems = synthetic_song(22050, 1, bars=4)
    oracle = OracleSeparator(stems, mixture)
    with pytest.raises(BadInputError, match="guira"):
        bachata_sep.separate(mixture, sr=22050, instruments=("guira",), separator=oracle)
    with pytest.raises(BadInputError, match="at least one"):
        bachata_sep.separate(mixture, sr=22050, instruments=())
    with pytest.raises(BadInputError, match="not being separated"):
        bachata_sep.separate(
            mixture, sr=22050, instruments=("bass",), references={"guitar": mixture}
        )


def test_reference_clips_become_query_heatmaps():
    mixture, stems = synthetic_song(22050, 1, bars=6)
    separator = IdentitySeparator()
    queries = query_heatmaps(stems["bongo"], 22050, separator.spec, LocalTempoTracker())
    spec = separator.spec
    assert queries.shape[1:] == (spec.n_bins, spec.n_frames) and 1 <= queries.shape[0] <= 8
    with pytest.warns(BeatTrackingWarning):
        short = query_heatmaps(stems["bass"][:, :20000], 22050, separator.spec, LocalTempoTracker())
    assert short.shape[0] == 1
    with pytest.raises(BadInputError, match="silent"):
        query_heatmaps(
            np.zeros(40000, dtype=np.float32), 22050, separator.spec, LocalTempoTracker()
        )


def test_a_reference_without_a_pulse_is_cut_into_the_songs_bars():
    """A bass line alone often has no pulse the tracker trusts: squeezed whole into one
    clip it would show the model a pattern many times too dense (and pitched up)."""
    spec = IdentitySeparator().spec
    time = np.arange(10 * 22050) / 22050
    drone = (0.3 * np.sin(2 * np.pi * 110 * time)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BeatTrackingWarning)
        bars = query_heatmaps(drone, 22050, spec, LocalTempoTracker(), bar_seconds=2.0)
    assert bars.shape[0] == 5
    # Each clip is one bar stretched to the universal clip: the 110 Hz line stays low.
    hertz_per_bin = spec.sample_rate / spec.n_fft
    peak_hz = bars.mean(dim=(0, 2)).argmax().item() * hertz_per_bin
    assert peak_hz < 110 * 2.0 / (spec.length / spec.sample_rate) + 3 * hertz_per_bin


@pytest.mark.slow
def test_ten_minute_song_is_processed_in_bounded_memory():
    """Peak memory grows by about the input and its stem, not by the song's spectrogram
    (which alone would be ~420 MB for 10 minutes of 44.1 kHz mono at our STFT size). A
    short song goes first, so that imports and librosa's compiled functions don't count."""
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        sys.path.insert(0, "tests")
        from conftest import peak_rss_mb, percussion_track
        import bachata_sep
        loop, _, _ = percussion_track(128, 8, sample_rate=44100)
        song = np.tile(loop, 600 * 44100 // len(loop) + 1)[None, : 600 * 44100]
        bachata_sep.separate(song[:, : 10 * 44100], sr=44100, instruments=("bass",), progress=False)
        before = peak_rss_mb()
        stems = bachata_sep.separate(song, sr=44100, instruments=("bass",), progress=False)
        assert stems["bass"].shape == song.shape
        print(peak_rss_mb() - before)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    growth_mb = float(result.stdout.strip().splitlines()[-1])
    assert growth_mb < 400, growth_mb


class RecordingSeparator(IdentitySeparator):
    """The identity, remembering the queries it was given."""

    def masks(self, batch, queries):
        self.queries = dict(queries)
        return super().masks(batch, queries)


def test_a_span_of_the_song_is_the_query_of_its_bars():
    mixture, stems = synthetic_song(22050, 1, bars=8, pickup_beats=0)
    intro = 8 * 22050  # the guitar plays alone for the first 4 bars (0.2-7.7 s) and more
    song = mixture.copy()
    song[:, :intro] = stems["guitar"][:, :intro]
    separator = RecordingSeparator()
    spec = separator.spec
    bachata_sep.separate(
        song,
        sr=22050,
        instruments=("guitar",),
        references={"guitar": (0.2, 7.7)},
        separator=separator,
        progress=False,
    )
    query = separator.queries["guitar"]
    assert query.shape[0] == 4 and query.shape[1:] == (spec.n_bins, spec.n_frames)
    # The query is the guitar's own bars of the intro, cut on the song's downbeats.
    grid = LocalTempoTracker()(song[0], 22050)
    bars = bar_segments(grid.downbeats, 22050, song.shape[-1], 4 * grid.beat_period)
    guitar = stems["guitar"][0]
    guitar_bars = [
        guitar[bar.start : bar.end] for bar in bars if bar.start >= 0 and bar.end <= intro
    ]
    expected = loudest_clip_heatmaps(guitar_bars, spec)
    torch.testing.assert_close(query, expected, rtol=1e-4, atol=1e-4)
    bachata_sep.separate(
        song,
        sr=22050,
        instruments=("guitar",),
        references={"guitar": (8.0, 14.5)},
        separator=separator,
        progress=False,
    )
    assert (separator.queries["guitar"].mean(0) - expected.mean(0)).abs().mean() > 0.05


def test_a_query_leaves_out_bars_far_under_its_loudest():
    """A span whose instrument comes in late holds silent bars; level-normalised, their
    heatmaps would be amplified noise in the averaged query."""
    spec = ClipSpec()
    _, stems = synthetic_song(22050, 1, bars=8, pickup_beats=0)
    bar = round(4 * 60 / 128 * 22050)
    guitar = stems["guitar"][0]
    played = [guitar[bar : 2 * bar], guitar[3 * bar : 4 * bar]]
    silent, faint = np.zeros(bar, dtype=np.float32), guitar[2 * bar : 3 * bar] * 1e-2
    query = loudest_clip_heatmaps([silent, played[0], faint, played[1]], spec)
    torch.testing.assert_close(query, loudest_clip_heatmaps(played, spec))
    kept = loudest_clip_heatmaps([played[0], guitar[2 * bar : 3 * bar] * 0.2], spec)
    assert kept.shape[0] == 2  # 14 dB under the loudest still says what the guitar plays


@pytest.mark.parametrize(
    ("span", "message"),
    [
        ((3.0, 2.0), "end after it starts"),
        ((5.0, 99.0), "within the song"),
        ((1.0, 1.2), "too short"),
    ],
)
def test_a_bad_span_is_refused_before_separating(span, message):
    mixture, _ = synthetic_song(22050, 1, bars=6)
    separator = RecordingSeparator()
    with pytest.raises(BadInputError, match=message):
        bachata_sep.separate(
            mixture,
            sr=22050,
            instruments=("bass",),
            references={"bass": span},
            separator=separator,
            progress=False,
        )
    assert not hasattr(separator, "queries")


def test_int16_arrays_give_the_same_stems_as_their_float_samples():
    """The bass stem of an int16 song peaked at 4661.7 instead of 0.142 (issue 29)."""
    mixture, _ = synthetic_song(22050, 2, bars=4)
    pcm = np.round(mixture * 2**15).astype(np.int16)
    separator = IdentitySeparator()
    from_int = bachata_sep.separate(pcm, sr=22050, instruments="bass", separator=separator)
    from_float = bachata_sep.separate(
        pcm / 2**15, sr=22050, instruments=["bass"], separator=separator, progress=False
    )
    assert list(from_int) == ["bass"]  # a single name is one instrument, not four letters
    np.testing.assert_allclose(from_int["bass"], from_float["bass"], atol=1e-6)
    assert np.abs(from_int["bass"]).max() < 1


def test_beats_refuse_silence_as_separate_does():
    silence = np.zeros(22050 * 10, dtype=np.float32)
    for call in (bachata_sep.beats, bachata_sep.separate):
        with pytest.raises(BadInputError, match="silent"):
            call(silence, sr=22050)
