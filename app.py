"""bachata-sep web demo: drop a bachata song in, see and hear each instrument, rate the result.

Runs locally with ``python app.py`` and as a Hugging Face Space (``app_file: app.py``).
Separation goes through ``bachata_sep.separate`` with the separator loaded once at start-up
(Hub, then ``checkpoints/``, then identity: see :mod:`bachata_sep.pretrained`), pictures
through :mod:`bachata_sep.plots`, ratings into SQLite through :mod:`bachata_sep.ratings`.

Environment: ``BACHATA_SEP_REPO_ID`` (Hub weights), ``BACHATA_SEP_RATINGS_DB`` (ratings
file), ``BACHATA_SEP_MAX_SECONDS`` (longest song, default 600), ``BACHATA_SEP_EXAMPLES``
(demo songs folder), ``BACHATA_SEP_CACHE_EXAMPLES`` (1/0, default 1: lazy caching).
"""

from __future__ import annotations

import functools
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
import gradio.utils
import numpy as np
import torch

import bachata_sep
from bachata_sep import plots
from bachata_sep.api import track
from bachata_sep.audio import audio_info, output_subtype, read_audio, to_mono, write_audio
from bachata_sep.errors import BadInputError
from bachata_sep.names import markdown_escaped, printable, safe_stem
from bachata_sep.pretrained import default_separator
from bachata_sep.ratings import RATINGS, Rating, RatingStore, song_id
from bachata_sep.spec import INSTRUMENTS

APP_FOLDER = Path(__file__).resolve().parent
MAX_SECONDS_VARIABLE = "BACHATA_SEP_MAX_SECONDS"
EXAMPLES_VARIABLE = "BACHATA_SEP_EXAMPLES"
CACHE_EXAMPLES_VARIABLE = "BACHATA_SEP_CACHE_EXAMPLES"
DEFAULT_MAX_SECONDS = 600.0
DIGITS_CHECKPOINT = APP_FOLDER / "checkpoints" / "digits"
# Separated stems and pictures are deleted an hour after they were made.
KEEP_OUTPUTS_SECONDS = 3600
# Separation is CPU-bound: one song at a time, the others wait in the queue. It has its
# own concurrency group, so rating, the ratings table and the digits tab never wait behind it.
SEPARATION_CONCURRENCY = "separation"
MAX_FILE_SIZE = "300mb"
DIGIT_ZOOM = 8
RATING_HEADERS = ["song", *INSTRUMENTS, "overall", "weights", "rated at (UTC)"]
COUNT_HEADERS = ["rated", *RATINGS]

LOADED = default_separator()


def max_seconds() -> float:
    """The longest song (and reference clip) the app accepts, from the environment."""
    return float(os.environ.get(MAX_SECONDS_VARIABLE) or DEFAULT_MAX_SECONDS)


def cache_examples() -> bool:
    """Whether demo songs are separated once and replayed (on unless set to 0/false)."""
    return os.environ.get(CACHE_EXAMPLES_VARIABLE, "1").lower() not in ("0", "false", "no")


def available_instruments() -> list[str]:
    """The instruments the loaded weights can separate (trained models may cover a few)."""
    return [name for name in INSTRUMENTS if LOADED.separator.supports(name)]


def example_songs() -> list[Path]:
    """``examples/<song>/mixture.*`` (or the folder in ``$BACHATA_SEP_EXAMPLES``)."""
    folder = Path(os.environ.get(EXAMPLES_VARIABLE) or APP_FOLDER / "examples")
    return sorted(folder.glob("*/mixture.*"))


def separate_song(
    song_path: str | None,
    instruments: list[str],
    bongo_reference: str | None = None,
    guira_reference: str | None = None,
    bass_reference: str | None = None,
    guitar_reference: str | None = None,
    progress: gr.Progress = gr.Progress(track_tqdm=True),
) -> list:
    """Separate an uploaded song. Returns the waveform with beats, the mixture heatmap,
    then per instrument (its row's visibility, heatmap, stem), the zip of all stems and the
    song's details for rating (kept in the session's state: a client cannot forge them).
    Everything is plain data, so cached examples replay it. Lengths are checked from the
    files' headers before anything is decoded: an hour of FLAC silence is 618 KB on disk
    but 1.3 GB decoded."""
    if not song_path:
        raise gr.Error("Upload a song first (or pick an example).")
    chosen = [name for name in INSTRUMENTS if name in (instruments or [])]
    given = (bongo_reference, guira_reference, bass_reference, guitar_reference)
    references = {
        name: path for name, path in zip(INSTRUMENTS, given, strict=True) if path and name in chosen
    }
    with _as_gradio_errors(song_path, *references.values()):
        progress(0.0, desc="Reading the song")
        _check_length(audio_info(song_path).duration, "song")
        for path in references.values():
            _check_length(audio_info(path).duration, "reference clip")
        samples, sample_rate, subtype = read_audio(song_path)
        progress(0.05, desc="Tracking beats and downbeats")
        mono = to_mono(samples)
        grid = track(mono, sample_rate)
        stems = bachata_sep.separate(
            samples,
            sr=sample_rate,
            instruments=chosen,
            references=references,
            separator=LOADED.separator,
            grid=grid,
        )
    result = separation_record(song_path, chosen)
    song_name = result["song_name"]
    name = safe_stem(song_name)
    seconds = samples.shape[-1] / sample_rate
    folder = _fresh_output_folder()
    progress(None, desc="Drawing the waveform and the mixture heatmap")
    pictures = [
        plots.waveform_image(
            mono, sample_rate, grid, f"{_plain_title(song_name)}: beats and downbeats"
        ),
        _heatmap_picture(samples, sample_rate, seconds, "mixture heatmap"),
    ]
    rows: list = []
    stem_paths = {}
    for instrument in INSTRUMENTS:
        if instrument not in stems:
            rows += [gr.Column(visible=False), None, None]
            continue
        progress((len(stem_paths), len(stems)), desc=f"Drawing and saving the {instrument}")
        stem_paths[instrument] = folder / f"{name}-{instrument}.wav"
        write_audio(stem_paths[instrument], stems[instrument], sample_rate, output_subtype(subtype))
        heatmap = _heatmap_picture(stems[instrument], sample_rate, seconds, f"{instrument} heatmap")
        rows += [gr.Column(visible=True), heatmap, str(stem_paths[instrument])]
    archive = _zip_stems(folder / f"{name}-stems.zip", name, stem_paths)
    return [*pictures, *rows, str(archive), result]


def separation_record(song_path: str | os.PathLike, instruments: list[str]) -> dict:
    """What a rating refers to: the song's content id and printable name (a demo song's
    folder name), the weights and the instruments separated."""
    identity = song_id(song_path)
    return {
        "song_id": identity,
        "song_name": printable(_example_names().get(identity, Path(song_path).name)),
        "separator_source": LOADED.source,
        "instruments": instruments,
    }


def example_separated(example: tuple[int, object]) -> dict:
    """The record of a demo song whose cached separation was just shown. Gradio's example
    cache keeps no session state (it stores ``None`` for a ``gr.State``), so the click on a
    demo song sets it here; only the example's index is taken from the client."""
    index, _ = example
    songs = example_songs()
    if not isinstance(index, int) or not 0 <= index < len(songs):
        raise gr.Error("There is no such demo song.")
    return separation_record(songs[index], available_instruments())


def save_rating(
    store: RatingStore,
    result: Mapping | None,
    overall: str | None,
    verdicts: Mapping[str, str | None],
) -> str:
    """Store a listener's rating of the last song separated in this session (``result``
    is session state, never sent by the client); returns a confirmation."""
    if not result:
        raise gr.Error("Separate a song first, then rate it.")
    rating = Rating(
        song_id=result["song_id"],
        song_name=result["song_name"],
        overall=overall,
        instruments={name: verdicts.get(name) for name in result["instruments"]},
        separator_source=result["separator_source"],
    )
    with _as_gradio_errors():
        store.add(rating)
    return (
        f"Thank you: your rating of **{markdown_escaped(printable(rating.song_name))}** is saved."
    )


def rating_tables(store: RatingStore) -> tuple[list[list[str]], list[list]]:
    """The rated songs (song, each instrument, overall, newest first) and how often each
    verdict was given."""
    songs = [
        [
            rating.song_name,
            *(rating.instruments.get(name) or "" for name in INSTRUMENTS),
            rating.overall or "",
            rating.separator_source,
            rating.rated_at,
        ]
        for rating in store.all()
    ]
    counts = [[target, *row.values()] for target, row in store.counts().items()]
    return songs, counts


@functools.cache
def _example_names() -> dict[str, str]:
    """Demo songs by content id: their files are all called ``mixture``, their folders not."""
    return {song_id(path): path.parent.name for path in example_songs()}


@functools.cache
def _digits() -> tuple:
    """The digits model and the held-out test images, loaded on first use."""
    from bachata_sep.digits.data import load_splits
    from bachata_sep.digits.evaluate import load_model

    return load_model(DIGITS_CHECKPOINT), load_splits().test


def draw_digits(seed: int | None = None) -> list:
    """A random overlay of four test digits, another image of each of them as four queries,
    and the mask the model gave back to each: one mixture, four answers, picked by the query."""
    from bachata_sep.digits.data import SteeringQueries
    from bachata_sep.digits.metrics import MASK_THRESHOLD, per_item_scores, steering_hits
    from bachata_sep.digits.train import predict_steering

    with _as_gradio_errors():
        model, images = _digits()
    steering = SteeringQueries(images, 1, int(np.random.default_rng(seed).integers(2**31)))
    answers, masks = predict_steering(model, steering, torch.device("cpu"))
    drawn, queries = steering[0]
    predicted = answers[0] >= MASK_THRESHOLD
    iou, _ = per_item_scores(predicted, masks[0])
    hits = steering_hits(predicted[None], masks[0][None])[0]
    scores = ", ".join(
        f"{digit}: {value:.2f}" for digit, value in zip(drawn.classes, iou.tolist(), strict=True)
    )
    caption = (
        f"Overlay of digits {', '.join(map(str, sorted(drawn.classes)))}. Each query got "
        f"back a mask that overlaps its own digit most in {int(hits.sum())} of 4 cases; "
        f"IoU with the queried digit: {scores}."
    )
    pictures = [drawn.image / max(float(drawn.image.max()), 1e-6), *queries, *predicted.numpy()]
    return [*(_zoom(picture) for picture in pictures), caption]


def build_demo() -> gr.Blocks:
    """The page: Separate, Ratings and Digits tabs over one ratings store."""
    store = RatingStore()
    with gr.Blocks(title="bachata-sep", delete_cache=(KEEP_OUTPUTS_SECONDS,) * 2) as demo:
        gr.Markdown(
            "# bachata-sep\nDrop a bachata song in and hear its **bongo, güira, bass and "
            "guitar** apart. The song is cut on its downbeats into 4-beat clips; a U-Net "
            "finds each instrument in every clip's spectrogram heatmap, given a reference "
            "clip of that instrument."
        )
        gr.Markdown(f"**Weights:** {LOADED.source}", elem_id="weights")
        with gr.Tab("Separate"):
            with gr.Row():
                with gr.Column(scale=1):
                    song = gr.Audio(
                        label="Song (drop a file or click to browse)",
                        type="filepath",
                        sources=["upload"],
                        elem_id="song",
                    )
                    instruments = gr.CheckboxGroup(
                        available_instruments(),
                        value=available_instruments(),
                        label="Instruments",
                    )
                    with gr.Accordion("Reference clips (optional)", open=False):
                        gr.Markdown(
                            "A few bars of an instrument playing alone are the query; without "
                            "one, the model's built-in reference is used. The models here have "
                            "learnt their instrument by heart, so a clip changes little today "
                            "(see the README: *Does the query matter?*)."
                        )
                        references = [
                            gr.Audio(label=f"{name} reference", type="filepath", sources=["upload"])
                            for name in INSTRUMENTS
                        ]
                    separate_button = gr.Button("Separate", variant="primary", elem_id="separate")
                with gr.Column(scale=2):
                    waveform = gr.Image(
                        label="Waveform", show_label=False, interactive=False, elem_id="waveform"
                    )
                    mixture = gr.Image(
                        label="Mixture heatmap",
                        show_label=False,
                        interactive=False,
                        elem_id="mixture-heatmap",
                    )
            instrument_outputs = []
            verdicts = []
            for name in INSTRUMENTS:
                visible = name in available_instruments()
                with gr.Column(visible=visible) as row_column, gr.Row(equal_height=True):
                    heatmap = gr.Image(
                        label=f"{name} heatmap",
                        show_label=False,
                        interactive=False,
                        scale=3,
                        elem_id=f"{name}-heatmap",
                    )
                    with gr.Column(scale=2):
                        player = gr.Audio(
                            label=name,
                            type="filepath",
                            interactive=False,
                            buttons=["download"],
                            elem_id=f"{name}-player",
                        )
                        verdict = gr.Radio(
                            list(RATINGS),
                            label=f"How good is the {name}?",
                            elem_id=f"{name}-rating",
                        )
                        verdicts.append(verdict)
                instrument_outputs += [row_column, heatmap, player]
            with gr.Row(equal_height=True):
                stems_zip = gr.File(label="All stems (zip)", interactive=False, elem_id="stems")
                with gr.Column():
                    overall = gr.Radio(
                        list(RATINGS),
                        label="How good is the separation overall?",
                        elem_id="overall-rating",
                    )
                    rate_button = gr.Button("Save rating", elem_id="rate")
                    status = gr.Markdown(elem_id="rating-status")
            result = gr.State(None)
            song_inputs = [song, instruments, *references]
            outputs = [
                waveform,
                mixture,
                *instrument_outputs,
                stems_zip,
                result,
            ]
            songs = example_songs()
            if songs:
                examples = gr.Examples(
                    [[str(path), available_instruments()] for path in songs],
                    inputs=[song, instruments],
                    outputs=outputs,
                    fn=separate_song,
                    cache_examples=cache_examples(),
                    cache_mode="lazy",
                    example_labels=[path.parent.name for path in songs],
                    label="Demo songs",
                )
                if examples.cache_examples:
                    examples.cache_event.then(
                        example_separated,
                        inputs=examples.dataset,
                        outputs=result,
                        api_name="example_separated",
                        api_visibility="undocumented",
                        concurrency_limit=None,
                    )
        with gr.Tab("Ratings"):
            gr.Markdown("What listeners said about the separations, newest first.")
            counts = gr.Dataframe(headers=COUNT_HEADERS, label="Counts", interactive=False)
            rated = gr.Dataframe(headers=RATING_HEADERS, label="Rated songs", interactive=False)
            refresh = gr.Button("Refresh")
        with gr.Tab("Digits"):
            gr.Markdown(
                "The proof of concept: the same U-Net finds one MNIST digit in an overlay of "
                "four (their mean, as sounds add in a mix), given another handwritten example "
                "of it. Each of the four digits is asked for in turn: the overlay stays the "
                "same, only the query changes, and so does the answer."
            )
            draw = gr.Button("Draw a random overlay", variant="primary")
            with gr.Row():
                digit_overlay = gr.Image(label="overlay", interactive=False)
            with gr.Row():
                digit_queries = [
                    gr.Image(label=f"query {number}", interactive=False) for number in range(1, 5)
                ]
            with gr.Row():
                digit_answers = [
                    gr.Image(label=f"mask for query {number}", interactive=False)
                    for number in range(1, 5)
                ]
            caption = gr.Markdown()

        separate_button.click(
            separate_song,
            inputs=song_inputs,
            outputs=outputs,
            api_name="separate_song",
            concurrency_limit=1,
            concurrency_id=SEPARATION_CONCURRENCY,
        )
        song.change(
            lambda: [None] * (1 + len(INSTRUMENTS)),
            outputs=[overall, *verdicts],
            api_visibility="private",
            queue=False,
        )

        def rate(
            result: Mapping | None,
            overall: str | None,
            bongo: str | None,
            guira: str | None,
            bass: str | None,
            guitar: str | None,
        ) -> tuple:
            verdicts = {"bongo": bongo, "guira": guira, "bass": bass, "guitar": guitar}
            return save_rating(store, result, overall, verdicts), *rating_tables(store)

        rate_button.click(
            rate,
            inputs=[result, overall, *verdicts],
            outputs=[status, rated, counts],
            api_name="rate",
            concurrency_limit=None,
        )
        gr.on(
            [demo.load, refresh.click],
            lambda: rating_tables(store),
            outputs=[rated, counts],
            api_name="ratings",
            concurrency_limit=None,
        )
        draw.click(
            lambda: draw_digits(),
            outputs=[digit_overlay, *digit_queries, *digit_answers, caption],
            api_name="digits",
        )
    return demo


def queued(demo: gr.Blocks) -> gr.Blocks:
    """The queue the app is served with. No overall size limit: Gradio counts every
    waiting event against it, so songs waiting to be separated refused ratings ("Queue is
    full"). Each event has its own concurrency group; separations run one at a time."""
    return demo.queue(max_size=None, default_concurrency_limit=1)


def main() -> None:
    """Serve the app (address and port from Gradio's ``GRADIO_SERVER_*`` variables)."""
    queued(build_demo()).launch(max_file_size=MAX_FILE_SIZE, theme=gr.themes.Soft())


def _check_length(seconds: float, what: str) -> None:
    limit = max_seconds()
    if seconds > limit:
        raise BadInputError(
            f"the {what} is {seconds / 60:.1f} minutes long, over this app's limit of "
            f"{limit / 60:.1f} minutes"
        )


def _plain_title(text: str) -> str:
    """``text`` for a matplotlib title: a ``$`` in a file's name must not start mathtext."""
    return text.replace("$", r"\$")


@contextmanager
def _as_gradio_errors(*paths: str) -> Iterator[None]:
    """Show a ``BadInputError`` as a ``gr.Error`` with the same sentence, naming uploaded
    files by their own name rather than their temporary path. The sentence starts with a
    capital unless it starts with a file's name, which is shown as it is spelt."""
    try:
        yield
    except BadInputError as error:
        message = str(error)
        names = [Path(path).name for path in paths]
        for path, name in zip(paths, names, strict=True):
            message = message.replace(str(path), name)
        if not any(name and message.startswith(name) for name in names):
            message = message[:1].upper() + message[1:]
        raise gr.Error(message) from None


def _heatmap_picture(audio: np.ndarray, sample_rate: int, seconds: float, title: str) -> np.ndarray:
    spec = LOADED.separator.spec
    values = plots.song_heatmap(audio, sample_rate, spec)
    return plots.heatmap_image(values, seconds, spec.sample_rate / 2, title)


def _fresh_output_folder() -> Path:
    """A new folder in Gradio's own cache: files there are served without a second copy
    and deleted with the rest of the cache (``delete_cache``)."""
    cache = Path(gradio.utils.get_upload_folder())
    cache.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="bachata-sep-", dir=cache))


def _zip_stems(path: Path, song_name: str, stems: Mapping[str, Path]) -> Path:
    """``<song>/<instrument>.wav`` entries, the command line's layout (stored: WAV hardly
    compresses)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for instrument, stem in stems.items():
            archive.write(stem, f"{song_name}/{instrument}.wav")
    return path


def _zoom(image: np.ndarray) -> np.ndarray:
    """Enlarge a 28×28 image with square pixels, scaled to 8-bit grey."""
    big = np.kron(np.clip(image, 0, 1), np.ones((DIGIT_ZOOM, DIGIT_ZOOM)))
    return (big * 255).astype(np.uint8)


if __name__ == "__main__":
    main()
