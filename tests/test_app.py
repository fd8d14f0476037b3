"""The app's handlers called directly, and the served app through ``gradio_client``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import soundfile as sf
from conftest import si_sdr, synthetic_song
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import Status
from test_refine import BandSeparator

import app
from bachata_sep.beat_tracking import LocalTempoTracker
from bachata_sep.pretrained import LoadedSeparator
from bachata_sep.queries import query_heatmaps
from bachata_sep.ratings import RatingStore
from bachata_sep.separators import IdentitySeparator
from bachata_sep.spec import INSTRUMENTS, ClipSpec

APP_FILE = Path(app.__file__)
STARTUP_SECONDS = 120
SEPARATION_SECONDS = 180


def write_song(path: Path, sample_rate: int = 22050, bars: int = 8) -> np.ndarray:
    """An 8-bar synthetic song (about 15 s), the size every app test uses."""
    mixture, _ = synthetic_song(sample_rate, 2, bars=bars)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, mixture.T, sample_rate, subtype="PCM_16")
    return mixture


@pytest.fixture
def identity(monkeypatch):
    """The identity separator whatever weights are installed: stems equal the song."""
    monkeypatch.setattr(app, "LOADED", LoadedSeparator(IdentitySeparator(), "identity (test)"))


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> tuple[Path, np.ndarray]:
    path = tmp_path_factory.mktemp("songs") / "my song.wav"
    return path, write_song(path)


def _no_progress(*args, **kwargs) -> None:
    return None


def _outputs(outputs: list, names=INSTRUMENTS) -> dict:
    """``separate_song``'s outputs by what they are."""
    n = len(names)
    rows = outputs[2 : 2 + 3 * n]
    after = outputs[2 + 3 * n :]
    return {
        "waveform": outputs[0],
        "mixture": outputs[1],
        "rows": {name: rows[3 * index : 3 * index + 3] for index, name in enumerate(names)},
        "zip": after[0],
        "rest": after[1],
        "notes": dict(zip(names, after[2 : 2 + n], strict=True)),
        "mixer": after[2 + n : -1],
        "record": after[-1],
    }


def test_separation_gives_pictures_players_the_rest_and_a_zip(identity, song):
    path, mixture = song
    shown = _outputs(app.separate_song(str(path), ["bass", "guitar"], progress=_no_progress))
    assert shown["waveform"].ndim == 3 and shown["mixture"].ndim == 3
    for name, (column, heatmap, player) in shown["rows"].items():
        assert column.visible == (name in ("bass", "guitar"))
        if name in ("bass", "guitar"):
            assert heatmap.ndim == 3
            stem, rate = sf.read(player, always_2d=True)
            assert rate == 22050 and stem.shape == mixture.T.shape
            assert si_sdr(mixture, stem.T) > 30
            assert shown["notes"][name] == "Reference: the model's default."
        else:
            assert heatmap is None and player is None and shown["notes"][name] == ""
    rest, _ = sf.read(shown["rest"], always_2d=True)  # the mixture minus two identity stems
    assert si_sdr(-mixture, rest.T) > 30
    with zipfile.ZipFile(shown["zip"]) as stems:
        assert sorted(stems.namelist()) == [
            "my song/bass.wav",
            "my song/guitar.wav",
            "my song/rest.wav",
        ]
    record = shown["record"]
    assert record["song_name"] == "my song.wav" and record["instruments"] == ["bass", "guitar"]
    assert record["separator_source"] == "identity (test)"
    assert sorted(record["tracks"]) == ["bass", "guitar", "rest"]


def test_reference_clip_is_used_and_checked(identity, song, tmp_path):
    silent = tmp_path / "silent guitar.wav"
    sf.write(silent, np.zeros(22050 * 2, dtype=np.float32), 22050)
    with pytest.raises(gr.Error, match="reference clip is silent"):
        app.separate_song(str(song[0]), ["guitar"], {"guitar": str(silent)})
    clip = tmp_path / "guitar *solo*.wav"
    sf.write(clip, _tone(6.0), 22050)
    shown = _outputs(app.separate_song(str(song[0]), ["guitar"], {"guitar": str(clip)}))
    assert shown["notes"]["guitar"] == r"Reference: the uploaded clip *guitar \*solo\*.wav*."


def test_a_span_of_the_song_is_a_reference(identity, song):
    shown = _outputs(
        app.separate_song(str(song[0]), ["bass", "guitar"], {"guitar": (1.0, 9.5)}),
    )
    assert shown["notes"]["guitar"] == "Reference: this song from 0:01.0 to 0:09.5."
    assert shown["notes"]["bass"] == "Reference: the model's default."
    with pytest.raises(gr.Error) as error:
        app.separate_song(str(song[0]), ["guitar"], {"guitar": (9.0, 3.0)})
    assert error.value.message.startswith("The reference span 9-3 s must lie within the song")


@pytest.mark.filterwarnings("ignore::bachata_sep.beat_tracking.BeatTrackingWarning")
def test_a_reference_set_aside_is_named_as_such(song, tmp_path, monkeypatch):
    """The library falls back to the default reference when a stem strays (a bass clip
    given as the guitar's): the page must not claim the clip was used."""
    _, stems = synthetic_song(22050, 1, bars=8)
    tracker, spec = LocalTempoTracker(), ClipSpec()
    guitar = query_heatmaps(stems["guitar"][0], 22050, spec, tracker, 4 * 60 / 128)

    class GuitarBand(BandSeparator):
        instruments = ("guitar",)

    monkeypatch.setattr(app, "LOADED", LoadedSeparator(GuitarBand({"guitar": guitar}), "band"))
    bass_clip = tmp_path / "bass.wav"
    sf.write(bass_clip, stems["bass"][0], 22050)
    outputs = app.separate_song(str(song[0]), ["guitar"], {"guitar": str(bass_clip)})
    assert _outputs(outputs, names=["guitar"])["notes"]["guitar"] == (
        "Reference: the model's default. The uploaded clip *bass.wav* was set aside: its "
        "stem strayed too far from the default's."
    )
    note = app.reference_note((65.0, 73.0), set_aside=True)
    assert note.startswith("Reference: the model's default. This song from 1:05.0 to 1:13.0")


@pytest.mark.parametrize(
    ("clips", "spans", "message"),
    [
        (["a.wav", None], ["1-3", None], "bongo a reference clip or a span"),
        ([None, None], ["", "0:02"], "bass span '0:02' is not START-END"),
    ],
)
def test_a_reference_is_a_clip_or_a_span(clips, spans, message):
    with pytest.raises(gr.Error, match=message):
        app.reference_choices(["bongo", "bass"], clips, spans)
    chosen = app.reference_choices(["bongo", "bass"], [None, "b.wav"], [" 0:00-0:04.5 ", ""])
    assert chosen == {"bongo": (0.0, 4.5), "bass": "b.wav"}


def _tone(seconds: float, amplitude: float = 0.3) -> np.ndarray:
    time_axis = np.arange(int(seconds * 22050)) / 22050
    return (amplitude * np.sin(2 * np.pi * 220 * time_axis)).astype(np.float32)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not audio at all", "Cannot read upload.wav as audio"),
        (_tone(0.5), "at least one 4-beat bar"),
        (_tone(3.0, amplitude=0.0), "silent"),
        (_tone(8.0), "over this app's limit of 0.1 minutes"),
        (b"", "upload.wav is empty"),  # not capitalised: it is the name
    ],
    ids=["not-audio", "too-short", "silent", "too-long", "empty"],
)
def test_bad_upload_is_one_clear_sentence(identity, tmp_path, monkeypatch, content, message):
    monkeypatch.setenv(app.MAX_SECONDS_VARIABLE, "6")
    path = tmp_path / "upload.wav"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        sf.write(path, content, 22050)
    with pytest.raises(gr.Error, match=message) as error:
        app.separate_song(str(path), list(INSTRUMENTS), progress=_no_progress)
    assert str(tmp_path) not in error.value.message


def test_remix_mixes_the_sessions_stems_and_replaces_its_last_mix(identity, song):
    path, mixture = song
    record = app.separate_song(str(path), ["bass", "guitar"], progress=_no_progress)[-1]
    gains = {"bass": 1.0, "guitar": 0.5, "rest": 1.0, "bongo": None}  # bongo not separated
    first, record = app.remix_song(record, gains, soloed=["bass"])
    bass, _ = sf.read(record["tracks"]["bass"])
    np.testing.assert_array_equal(sf.read(first)[0], bass)
    second, record = app.remix_song(record, gains, muted=["rest"])
    mix, rate = sf.read(second, always_2d=True)
    assert rate == 22050 and mix.shape == mixture.T.shape
    assert si_sdr(mixture, mix.T) > 30  # 1.5 × the song (identity stems), scaled if too loud
    assert not Path(first).exists() and Path(second).name == "my song-remix.wav"
    with pytest.raises(gr.Error) as error:
        app.remix_song(record, {**gains, "bass": 3.0})
    assert error.value.message == "The bass gain is 3: gains go from 0 to 2"
    with pytest.raises(gr.Error, match="Separate a song first, then mix it"):
        app.remix_song(None, gains)


def test_no_upload_or_no_instrument_is_a_gradio_error(identity, song):
    with pytest.raises(gr.Error, match="Upload a song first"):
        app.separate_song(None, list(INSTRUMENTS))
    with pytest.raises(gr.Error, match="Choose at least one instrument"):
        app.separate_song(str(song[0]), [], progress=_no_progress)


def test_rating_needs_a_separation_and_a_verdict(tmp_path):
    store = RatingStore(tmp_path / "ratings.sqlite3")
    with pytest.raises(gr.Error, match="Separate a song first"):
        app.save_rating(store, None, "good", {})
    result = {
        "song_id": "x",
        "song_name": "a.wav",
        "separator_source": "s",
        "instruments": ["bass"],
    }
    with pytest.raises(gr.Error, match="Choose good, fair or poor"):
        app.save_rating(store, result, None, {"bass": None})
    with pytest.raises(gr.Error, match="Play a mix first"):
        app.save_rating(store, result, "fair", {}, remix="good")
    app.save_rating(store, result, "fair", {"bass": "good", "bongo": "poor"})
    app.save_rating(store, {**result, "remix": "m.wav"}, "poor", {"bass": "good"}, "good")
    songs, counts = app.rating_tables(store)
    assert songs[1][:7] == ["a.wav", "", "", "good", "", "fair", ""]  # bongo not separated
    assert songs[0][:7] == ["a.wav", "", "", "good", "", "poor", "good"]
    assert counts[0] == ["overall", 0, 1, 1, 2, "0 / 50 / 50"]
    assert counts[3] == ["bass", 2, 0, 0, 2, "100 / 0 / 0"]
    assert counts[-1] == ["remix", 1, 0, 0, 1, "100 / 0 / 0"]
    assert counts[1] == ["bongo", 0, 0, 0, 0, ""]


def test_page_offers_what_the_weights_support_and_names_them(monkeypatch, tmp_path):
    bass_only = IdentitySeparator(instruments=("bass",))
    monkeypatch.setattr(app, "LOADED", LoadedSeparator(bass_only, "bass-only weights"))
    monkeypatch.setenv("BACHATA_SEP_RATINGS_DB", str(tmp_path / "ratings.sqlite3"))
    blocks = app.build_demo().blocks.values()
    (choices,) = [block.choices for block in blocks if getattr(block, "label", "") == "Instruments"]
    assert [value for _, value in choices] == ["bass"]
    assert any("bass-only weights" in str(getattr(block, "value", "")) for block in blocks)
    assert not any("guitar" in str(getattr(block, "elem_id", "")) for block in blocks)


def test_a_model_of_a_new_instrument_gets_its_row_reference_slider_and_rating(
    monkeypatch, tmp_path
):
    """Issue 30: a user's ``maracas`` model was left out: the four were hard-coded."""
    five = IdentitySeparator(instruments=(*INSTRUMENTS, "maracas"))
    monkeypatch.setattr(app, "LOADED", LoadedSeparator(five, "five instruments"))
    monkeypatch.setenv("BACHATA_SEP_RATINGS_DB", str(tmp_path / "ratings.sqlite3"))
    blocks = app.build_demo().blocks.values()
    ids = {getattr(block, "elem_id", None) for block in blocks}
    for part in ("player", "heatmap", "span", "reference", "gain", "rating"):
        assert f"maracas-{part}" in ids
    (table,) = [block for block in blocks if getattr(block, "label", "") == "Rated songs"]
    assert "maracas" in table.headers


def test_digits_tab_shows_one_overlay_four_queries_and_four_answers(tmp_path, monkeypatch):
    from bachata_sep.unet import ConditionedUNet

    ConditionedUNet(base_channels=4, depth=2, embedding_dim=8).save_pretrained(tmp_path)
    monkeypatch.setattr(app, "DIGITS_CHECKPOINT", tmp_path)
    app._digits.cache_clear()
    try:
        *pictures, caption = app.draw_digits(seed=0)
        again = app.draw_digits(seed=0)
    finally:
        app._digits.cache_clear()
    zoomed = 28 * app.DIGIT_ZOOM
    assert len(pictures) == 1 + 4 + 4
    assert all(picture.shape == (zoomed, zoomed) for picture in pictures)
    assert pictures[0].max() == 255  # the faint mean overlay is stretched to be seen
    queries = pictures[1:5]
    assert not any(np.array_equal(queries[0], other) for other in queries[1:])
    assert "of 4 cases" in caption and "IoU" in caption
    assert again[-1] == caption


def test_digits_tab_without_a_model_says_how_to_train_one(tmp_path, monkeypatch):
    monkeypatch.setattr(app, "DIGITS_CHECKPOINT", tmp_path / "missing")
    app._digits.cache_clear()
    try:
        with pytest.raises(gr.Error, match="digits train"):
            app.draw_digits()
    finally:
        app._digits.cache_clear()


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(app.MAX_SECONDS_VARIABLE, "90")
    monkeypatch.setenv(app.CACHE_EXAMPLES_VARIABLE, "0")
    monkeypatch.setenv(app.EXAMPLES_VARIABLE, str(tmp_path))
    write_song(tmp_path / "demo" / "mixture.wav", bars=2)
    assert app.max_seconds() == 90 and app.cache_examples() is False
    assert app.example_songs() == [tmp_path / "demo" / "mixture.wav"]
    monkeypatch.delenv(app.CACHE_EXAMPLES_VARIABLE)
    monkeypatch.delenv(app.MAX_SECONDS_VARIABLE)
    assert app.cache_examples() is True and app.max_seconds() == app.DEFAULT_MAX_SECONDS


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_app(folder: Path, **environment: str) -> Iterator[str]:
    """``python app.py`` on a free localhost port; yields its URL, stops it afterwards.
    The server's output goes to ``folder/server.log``, shown when it fails to start."""
    port = _free_port()
    log_path = folder / "server.log"
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        app.CACHE_EXAMPLES_VARIABLE: "0",
        **environment,
    }
    with open(log_path, "ab") as log:
        server = subprocess.Popen(
            [sys.executable, str(APP_FILE)], cwd=folder, env=env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the app did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_served_app_separates_an_example_and_keeps_its_rating_across_a_restart(tmp_path):
    example = tmp_path / "examples" / "test-song" / "mixture.flac"
    write_song(example)
    not_audio = tmp_path / "not-audio.wav"
    not_audio.write_bytes(b"just text")
    environment = {
        app.EXAMPLES_VARIABLE: str(example.parents[1]),
        "BACHATA_SEP_RATINGS_DB": str(tmp_path / "data" / "ratings.sqlite3"),
    }
    with running_app(tmp_path, **environment) as url:
        client = Client(url, verbose=False)
        with pytest.raises(AppError, match="Cannot read not-audio.wav as audio"):
            client.predict(handle_file(str(not_audio)), ["bass"], api_name="/separate_song")
        jobs = [  # two users at once: both are served, one after the other
            Client(url, verbose=False).submit(
                handle_file(str(example)), ["bass"], api_name="/separate_song"
            ),
            client.submit(handle_file(str(example)), list(INSTRUMENTS), api_name="/separate_song"),
        ]
        outputs = [job.result(timeout=SEPARATION_SECONDS) for job in jobs][-1]
        players = [outputs[3 + 2 * index] for index in range(len(INSTRUMENTS))]
        assert all(Path(player).stat().st_size > 0 for player in players)
        zip_index = 2 + 2 * len(INSTRUMENTS)
        assert Path(outputs[zip_index]).name == "test-song-stems.zip"  # the folder's name
        message, _, _ = client.predict("good", "fair", "poor", "good", "fair", api_name="/rate")
        assert "test-song" in message  # the session's last separation, kept on the server
    with running_app(tmp_path, **environment) as url:
        songs, counts = Client(url, verbose=False).predict(api_name="/ratings")
    assert [row[:6] for row in songs["data"]] == [
        ["test-song", "fair", "poor", "good", "fair", "good"]
    ]
    assert counts["data"][0][:4] == ["overall", 1, 0, 0]


def _silent_flac(path: Path, minutes: int) -> Path:
    """Minutes of 8 kHz silence as FLAC, written a minute at a time: a few KB on disk,
    ``minutes`` × 1.9 MB once decoded to float32."""
    with sf.SoundFile(path, "w", 8000, 1, subtype="PCM_16") as file:
        for _ in range(minutes):
            file.write(np.zeros(8000 * 60, dtype=np.int16))
    return path


@pytest.mark.parametrize("long_one", ["song", "reference"])
def test_a_long_upload_is_refused_from_its_header_before_decoding(
    identity, song, tmp_path, monkeypatch, long_one
):
    """An hour of FLAC silence took the app from 466 MB to 1.98 GB before it was refused.
    tracemalloc counts numpy's buffers: decoding these 30 minutes would take 58 MB."""
    monkeypatch.setenv(app.MAX_SECONDS_VARIABLE, "20")
    long = _silent_flac(tmp_path / "long.flac", minutes=30)
    song_path = long if long_one == "song" else song[0]
    reference = long if long_one == "reference" else None
    tracemalloc.start()
    try:
        with pytest.raises(gr.Error, match=f"The {long_one}.* is 30.0 minutes long"):
            app.separate_song(
                str(song_path), ["guitar"], {"guitar": reference}, progress=_no_progress
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000, peak


def test_a_song_named_dots_gets_safe_stem_and_zip_names(identity, song, tmp_path):
    """``...wav`` gave the zip entry ``../bass.wav``."""
    dots = tmp_path / "...wav"
    dots.write_bytes(song[0].read_bytes())
    outputs = app.separate_song(str(dots), ["bass"], progress=_no_progress)
    shown = _outputs(outputs)
    with zipfile.ZipFile(shown["zip"]) as stems:
        assert stems.namelist() == ["song/bass.wav", "song/rest.wav"]
    bass_player = shown["rows"]["bass"][2]
    assert Path(bass_player).name == "song-bass.wav" and shown["record"]["song_name"] == "...wav"


def test_a_rating_message_shows_the_name_literally(tmp_path):
    store = RatingStore(tmp_path / "ratings.sqlite3")
    result = {
        "song_id": "x",
        "song_name": "**[click](http://evil)**\x1b.wav",
        "separator_source": "s",
        "instruments": ["bass"],
    }
    message = app.save_rating(store, result, "good", {})
    assert r"\*\*\[click\](http://evil)\*\*.wav" in message and "\x1b" not in message


def test_the_app_starts_over_an_unreadable_ratings_file(monkeypatch, tmp_path):
    """'database disk image is malformed' stopped the app at start-up."""
    path = tmp_path / "ratings.sqlite3"
    path.write_bytes(b"not SQLite" * 1000)
    monkeypatch.setenv("BACHATA_SEP_RATINGS_DB", str(path))
    app.build_demo()
    assert len(list(tmp_path.glob("ratings.sqlite3.unreadable-*"))) == 1


@pytest.fixture
def served(identity, tmp_path, monkeypatch) -> Iterator[tuple[gr.Blocks, str]]:
    """The app built and queued as ``main`` serves it, in this process (so the identity
    separator applies), on a free localhost port; demo songs from ``tmp_path/examples``,
    cached lazily under ``tmp_path``."""
    monkeypatch.setenv("BACHATA_SEP_RATINGS_DB", str(tmp_path / "ratings.sqlite3"))
    monkeypatch.setenv(app.EXAMPLES_VARIABLE, str(tmp_path / "examples"))
    monkeypatch.setenv(app.CACHE_EXAMPLES_VARIABLE, "1")
    monkeypatch.chdir(tmp_path)
    app._example_names.cache_clear()
    demo = app.queued(app.build_demo())
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        yield demo, url
    finally:
        demo.close()
        app._example_names.cache_clear()


@pytest.mark.slow
def test_ratings_are_only_for_the_song_this_session_separated(served, song):
    """/rate took any 'result' JSON from the client: a 10 MB song name was stored, and
    songs never separated could be rated. Now the song is the session's own state."""
    _, url = served
    client = Client(url, verbose=False)
    parameters = client.view_api(return_format="dict", print_info=False)["named_endpoints"][
        "/rate"
    ]["parameters"]
    assert [parameter["parameter_name"] for parameter in parameters] == [
        "overall",
        *INSTRUMENTS,
        "remix",
    ]
    with pytest.raises(AppError, match="Separate a song first"):
        client.predict("good", None, None, None, None, api_name="/rate")
    client.predict(handle_file(str(song[0])), ["bass"], api_name="/separate_song")
    message, songs, _ = client.predict("good", "poor", None, "fair", None, api_name="/rate")
    assert "my song" in message
    assert songs["data"][0][:6] == ["my song.wav", "", "", "fair", "", "good"]
    with pytest.raises(AppError, match="Separate a song first"):  # another session
        Client(url, verbose=False).predict("good", None, None, None, None, api_name="/rate")


@pytest.mark.slow
def test_ratings_are_served_while_separations_fill_the_queue(served, monkeypatch, tmp_path):
    """With 21 songs waiting, /ratings and /rate were refused: 'Queue is full'. Each
    separation is held at its first step until the checks are done."""
    demo, url = served
    release = threading.Event()
    header = app.audio_info

    def held_audio_info(path):
        release.wait(timeout=60)
        return header(path)

    monkeypatch.setattr(app, "audio_info", held_audio_info)
    not_audio = tmp_path / "not-audio.wav"
    not_audio.write_bytes(b"just text")
    client = Client(url, verbose=False)
    jobs = [
        client.submit(handle_file(str(not_audio)), ["bass"], api_name="/separate_song")
        for _ in range(21)
    ]
    try:
        deadline = time.monotonic() + 30
        while sum(job.status().code == Status.IN_QUEUE for job in jobs) < 20:
            assert time.monotonic() < deadline, [job.status().code for job in jobs]
            time.sleep(0.1)
        _, counts = client.predict(api_name="/ratings")
        assert counts["data"][0][:4] == ["overall", 0, 0, 0]
        with pytest.raises(AppError, match="Separate a song first"):
            client.predict("good", None, None, None, None, api_name="/rate")
    finally:
        release.set()
    for job in jobs:
        with pytest.raises(AppError, match="Cannot read not-audio.wav"):
            job.result(timeout=60)


@pytest.fixture
def demo_example(tmp_path) -> Path:
    """A demo song in the examples folder, written before the app is built."""
    path = tmp_path / "examples" / "demo" / "mixture.wav"
    write_song(path, bars=4)
    return path


@pytest.mark.slow
def test_a_cached_demo_song_can_be_rated(demo_example, served):
    """Gradio's example cache stores ``None`` for a ``gr.State``: a replayed demo song
    must still be the session's song to rate, and only an existing demo song can be."""
    _, url = served
    client = Client(url, verbose=False)
    with pytest.raises(AppError, match="no such demo song"):
        client.predict(-1, api_name="/example_separated")
    for _ in range(2):  # separated and cached, then replayed from the cache
        session = Client(url, verbose=False)
        session.predict(0, api_name="/load_example")
        session.predict(0, api_name="/example_separated")  # as the page does after it
        guitar = session.predict(0, 0, 0, 1, 0, api_name="/remix")  # the cached stems
        assert sf.info(guitar).frames == sf.info(str(demo_example)).frames
        message, songs, _ = session.predict(
            "good", None, None, None, None, "fair", api_name="/rate"
        )
        assert "**demo**" in message and songs["data"][0][0] == "demo"
        assert songs["data"][0][6] == "fair"  # the mix's verdict


def test_a_dollar_sign_in_a_name_is_not_mathtext(identity, song, tmp_path):
    """A name like ``$\\x$.wav`` reached the waveform's title as (invalid) mathtext."""
    dollars = tmp_path / "cost $\\x$.wav"
    dollars.write_bytes(song[0].read_bytes())
    waveform = app.separate_song(str(dollars), ["bass"], progress=_no_progress)[0]
    assert waveform.ndim == 3


@pytest.mark.slow
def test_remix_gives_each_session_its_own_stems(served, song, tmp_path):
    """Two listeners at once: each one's /remix mixes the song that session separated."""
    _, url = served
    other = tmp_path / "other.wav"
    other_mixture = write_song(other, bars=6)
    listeners = {song[0]: Client(url, verbose=False), other: Client(url, verbose=False)}
    parameters = next(iter(listeners.values())).view_api(return_format="dict", print_info=False)[
        "named_endpoints"
    ]["/remix"]["parameters"]
    assert [parameter["parameter_name"] for parameter in parameters] == [
        *INSTRUMENTS,
        "rest",
        "solo",
        "mute",
    ]
    with pytest.raises(AppError, match="Separate a song first, then mix it"):
        Client(url, verbose=False).predict(1, 1, 1, 1, 1, api_name="/remix")
    for path, client in listeners.items():
        client.predict(handle_file(str(path)), ["bass", "guitar"], api_name="/separate_song")
    for client, mixture in zip(listeners.values(), [song[1], other_mixture], strict=True):
        bass = client.predict(0, 0, 1, 0, 0, api_name="/remix")
        remixed, rate = sf.read(bass, always_2d=True)
        assert rate == 22050 and remixed.shape == mixture.T.shape
        assert si_sdr(mixture, remixed.T) > 30  # identity: the bass stem is the song
        soloed = client.predict(1, 1, 1, 1, 2, ["guitar"], [], api_name="/remix")
        np.testing.assert_array_equal(sf.read(soloed)[0], remixed)  # the guitar stem too
    with pytest.raises(AppError, match="greater than maximum|gains go from 0 to 2"):
        client.predict(0, 0, 3, 0, 0, api_name="/remix")
