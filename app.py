"""bachata-sep web demo: drop a bachata song in, see and hear each instrument, remix them,
rate the result.

Runs locally with ``python app.py`` and as a Hugging Face Space (``app_file: app.py``).
Separation goes through ``bachata_sep.separate`` with the separator loaded once at start-up
(Hub, then ``checkpoints/``, then identity: see :mod:`bachata_sep.pretrained`), pictures
through :mod:`bachata_sep.plots`, remixes through :mod:`bachata_sep.remix`, ratings into
SQLite through :mod:`bachata_sep.ratings`. The instruments are the loaded models' own: a
``maracas`` model gets its row, reference, mixer slider and rating like the four.

Environment: ``BACHATA_SEP_REPO_ID`` (Hub weights), ``BACHATA_SEP_RATINGS_DB`` (ratings
file), ``BACHATA_SEP_MAX_SECONDS`` (longest song, default 600), ``BACHATA_SEP_EXAMPLES``
(demo songs folder), ``BACHATA_SEP_CACHE_EXAMPLES`` (1/0, default 1: lazy caching).
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
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
from bachata_sep.pretrained import DIGITS_CHECKPOINT, default_separator
from bachata_sep.queries import Span, is_span, parse_span
from bachata_sep.ratings import RATINGS, REMIX, Rating, RatingStore, song_id
from bachata_sep.refine import ReferenceWarning
from bachata_sep.remix import MAX_GAIN, REST, remix_files, rest_of, solo_and_mute
from bachata_sep.spec import INSTRUMENTS

APP_FOLDER = Path(__file__).resolve().parent
MAX_SECONDS_VARIABLE = "BACHATA_SEP_MAX_SECONDS"
EXAMPLES_VARIABLE = "BACHATA_SEP_EXAMPLES"
CACHE_EXAMPLES_VARIABLE = "BACHATA_SEP_CACHE_EXAMPLES"
DEFAULT_MAX_SECONDS = 600.0
# Separated stems and pictures are deleted an hour after they were made.
KEEP_OUTPUTS_SECONDS = 3600
# Separation is CPU-bound: one song at a time, the others wait in the queue. It has its
# own concurrency group, so rating, the ratings table and the digits tab never wait behind it.
SEPARATION_CONCURRENCY = "separation"
MAX_FILE_SIZE = "300mb"
DIGIT_ZOOM = 8
COUNT_HEADERS = ["rated", *RATINGS, "ratings", "good / fair / poor (%)"]
REST_LABEL = "the rest"
GAIN_STEP = 0.05

LOADED = default_separator()


def max_seconds() -> float:
    """The longest song (and reference clip) the app accepts, from the environment."""
    return float(os.environ.get(MAX_SECONDS_VARIABLE) or DEFAULT_MAX_SECONDS)


def cache_examples() -> bool:
    """Whether demo songs are separated once and replayed (on unless set to 0/false)."""
    return os.environ.get(CACHE_EXAMPLES_VARIABLE, "1").lower() not in ("0", "false", "no")


def available_instruments() -> list[str]:
    """The loaded models' instruments (trained models may cover a few, or add their own),
    the four of bachata in their usual order first."""
    offered = LOADED.separator.instruments
    return [name for name in INSTRUMENTS if name in offered] + [
        name for name in offered if name not in INSTRUMENTS
    ]


def rating_headers(names: Sequence[str]) -> list[str]:
    """The rated-songs table's columns for these instruments."""
    return ["song", *names, "overall", REMIX, "weights", "rated at (UTC)"]


def example_songs() -> list[Path]:
    """``examples/<song>/mixture.*`` (or the folder in ``$BACHATA_SEP_EXAMPLES``)."""
    folder = Path(os.environ.get(EXAMPLES_VARIABLE) or APP_FOLDER / "examples")
    return sorted(folder.glob("*/mixture.*"))


Reference = str | Span


def separate_song(
    song_path: str | None,
    instruments: list[str],
    references: Mapping[str, Reference] | None = None,
    progress: gr.Progress = gr.Progress(track_tqdm=True),
) -> list:
    """Separate an uploaded song; ``references`` maps an instrument to an uploaded clip's
    path or a ``(start, end)`` span of the song in seconds. Returns :func:`song_outputs`
    and the song's record for the mixer and ratings (session state: a client cannot forge
    it). Everything else is plain data, so cached examples replay it. Lengths are checked
    from the files' headers before anything is decoded: an hour of FLAC silence is 618 KB
    on disk but 1.3 GB decoded."""
    if not song_path:
        raise gr.Error("Upload a song first (or pick an example).")
    names = available_instruments()
    chosen = [name for name in names if name in (instruments or [])]
    references = {
        name: reference
        for name, reference in (references or {}).items()
        if name in chosen and reference is not None
    }
    clips = [reference for reference in references.values() if not is_span(reference)]
    with _as_gradio_errors(song_path, *clips), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ReferenceWarning)
        progress(0.0, desc="Reading the song")
        _check_length(audio_info(song_path).duration, "song")
        for path in clips:
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
    set_aside = set()
    for warning in caught:  # others go to the log, as they would have without the catch
        if isinstance(warning.message, ReferenceWarning):
            set_aside.add(warning.message.instrument)
        else:
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    record = separation_record(song_path, chosen)
    song_name = record["song_name"]
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
    tracks: dict[str, str] = {}
    heatmaps = {}
    for instrument, stem in stems.items():
        progress((len(tracks), len(stems)), desc=f"Drawing and saving the {instrument}")
        tracks[instrument] = str(folder / f"{name}-{instrument}.wav")
        write_audio(tracks[instrument], stem, sample_rate, output_subtype(subtype))
        heatmaps[instrument] = _heatmap_picture(stem, sample_rate, seconds, f"{instrument} heatmap")
    tracks[REST] = str(folder / f"{name}-{REST}.wav")
    write_audio(tracks[REST], rest_of(samples, stems), sample_rate, output_subtype(subtype))
    archive = _zip_stems(folder / f"{name}-stems.zip", name, tracks)
    notes = {
        instrument: reference_note(references.get(instrument), instrument in set_aside)
        for instrument in stems
    }
    record["tracks"] = tracks
    return [*song_outputs(names, pictures, heatmaps, tracks, str(archive), notes), record]


def song_outputs(
    names: Sequence[str],
    pictures: list,
    heatmaps: Mapping[str, np.ndarray],
    tracks: Mapping[str, str],
    archive: str,
    notes: Mapping[str, str],
) -> list:
    """What the page shows of a separated song, in the order of ``/separate_song``'s
    outputs: the waveform and mixture heatmap; per instrument its row, heatmap and stem
    (kept in the places they had when there were always four); the zip; then the rest's
    player, per instrument the reference it used, and the mixer with a slider per stem."""
    rows: list = []
    for name in names:
        shown = name in tracks
        rows += [gr.Column(visible=shown), heatmaps.get(name), tracks.get(name)]
    notes_shown = [notes.get(name, "") for name in names]
    sliders = [gr.Column(visible=name in tracks) for name in names]  # their columns
    mixer = [gr.Column(visible=True), *sliders]
    return [*pictures, *rows, archive, tracks[REST], *notes_shown, *mixer]


def reference_note(reference: Reference | None, set_aside: bool = False) -> str:
    """Which reference a stem was separated with, in words (Markdown)."""
    if reference is None:
        return "Reference: the model's default."
    if is_span(reference):
        used = f"this song from {_clock(reference[0])} to {_clock(reference[1])}"
    else:
        used = f"the uploaded clip *{markdown_escaped(printable(Path(reference).name))}*"
    if set_aside:
        return (
            f"Reference: the model's default. {used[:1].upper()}{used[1:]} was set aside: "
            "its stem strayed too far from the default's."
        )
    return f"Reference: {used}."


def reference_choices(
    names: Sequence[str], clips: Sequence[str | None], spans: Sequence[str | None]
) -> dict[str, Reference]:
    """Each instrument's reference from the page: an uploaded clip, or a span of the song
    written ``0:05-0:13`` (or ``5-13``), never both."""
    chosen: dict[str, Reference] = {}
    for name, clip, span in zip(names, clips, spans, strict=True):
        span = (span or "").strip()
        if clip and span:
            raise gr.Error(f"Give the {name} a reference clip or a span of the song, not both.")
        if clip:
            chosen[name] = clip
        elif span:
            try:
                chosen[name] = parse_span(span)
            except BadInputError:
                raise gr.Error(
                    f"The {name} span {span!r} is not START-END in seconds or M:SS, e.g. 0:05-0:13."
                ) from None
    return chosen


def remix_song(
    record: Mapping | None,
    gains: Mapping[str, float | None],
    soloed: Collection[str] = (),
    muted: Collection[str] = (),
) -> tuple[str, dict]:
    """Mix this session's stems and rest (``record`` is session state) with ``gains``, as
    soloed and muted; returns the new mix's path and the record that remembers it. The
    session's previous mix is deleted: each is as long as the song."""
    if not record or not record.get("tracks"):
        raise gr.Error("Separate a song first, then mix it.")
    tracks = record["tracks"]
    for name in [*soloed, *muted]:
        if name not in tracks:
            raise gr.Error(f"The {name} was not separated in this song: untick it, or separate it.")
    folder = _fresh_output_folder()
    path = folder / f"{safe_stem(record['song_name'])}-remix.wav"
    with _as_gradio_errors():
        levels = solo_and_mute({name: gains.get(name) for name in tracks}, soloed, muted)
        remix_files(tracks, levels, path)
    if record.get(REMIX):
        shutil.rmtree(Path(record[REMIX]).parent, ignore_errors=True)
    return str(path), {**record, REMIX: str(path)}


def separation_record(song_path: str | os.PathLike, instruments: list[str]) -> dict:
    """What a rating refers to: the song's content id and printable name (a demo song's
    folder name), the weights and the instruments separated. Separation adds its
    ``tracks`` (stem and rest files) for the mixer, a remix its file."""
    identity = song_id(song_path)
    return {
        "song_id": identity,
        "song_name": printable(_example_names().get(identity, Path(song_path).name)),
        "separator_source": LOADED.source,
        "instruments": instruments,
    }


def example_record(index: object, cached: Callable[[int], list]) -> dict:
    """The record of a demo song whose cached separation was just shown. Gradio's example
    cache keeps no session state (it stores ``None`` for a ``gr.State``), so the click on a
    demo song sets it here from the cache (``cached``, Gradio's own reader) on the server:
    only the example's index is taken from the client."""
    songs = example_songs()
    if not isinstance(index, int) or not 0 <= index < len(songs):
        raise gr.Error("There is no such demo song.")
    names = available_instruments()
    outputs = cached(index)
    players = {name: outputs[2 + 3 * position + 2] for position, name in enumerate(names)}
    players[REST] = outputs[2 + 3 * len(names) + 1]
    record = separation_record(songs[index], names)
    record["tracks"] = {name: player.path for name, player in players.items()}
    return record


def save_rating(
    store: RatingStore,
    result: Mapping | None,
    overall: str | None,
    verdicts: Mapping[str, str | None],
    remix: str | None = None,
) -> str:
    """Store a listener's rating of the last song separated in this session (``result``
    is session state, never sent by the client), and of its mix if one was played;
    returns a confirmation."""
    if not result:
        raise gr.Error("Separate a song first, then rate it.")
    if remix is not None and not result.get(REMIX):
        raise gr.Error("Play a mix first, then rate how useful it is.")
    rating = Rating(
        song_id=result["song_id"],
        song_name=result["song_name"],
        overall=overall,
        instruments={name: verdicts.get(name) for name in result["instruments"]},
        separator_source=result["separator_source"],
        remix=remix,
    )
    with _as_gradio_errors():
        store.add(rating)
    return (
        f"Thank you: your rating of **{markdown_escaped(printable(rating.song_name))}** is saved."
    )


def rating_tables(store: RatingStore) -> tuple[list[list[str]], list[list]]:
    """The rated songs (song, each instrument, overall, remix, newest first) and how often
    each verdict was given, as counts and shares of that row's ratings."""
    songs = [
        [
            rating.song_name,
            *(rating.instruments.get(name) or "" for name in store.instruments),
            rating.overall or "",
            rating.remix or "",
            rating.separator_source,
            rating.rated_at,
        ]
        for rating in store.all()
    ]
    counts = []
    for target, row in store.counts().items():
        total = sum(row.values())
        shares = " / ".join(f"{100 * count / total:.0f}" for count in row.values()) if total else ""
        counts.append([target, *row.values(), total, shares])
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
    """The page: Separate, Ratings and Digits tabs over one ratings store, with a row, a
    reference, a mixer slider and a rating per loaded instrument."""
    names = available_instruments()
    store = RatingStore(instruments=names)
    with gr.Blocks(title="bachata-sep", delete_cache=(KEEP_OUTPUTS_SECONDS,) * 2) as demo:
        gr.Markdown(
            f"# bachata-sep\nDrop a bachata song in and hear its **{_listed(names)}** apart, "
            "then mix them: solo the bongo and güira to dance to them, or mute the guitar to "
            "play along. The song is cut on its downbeats into 4-beat clips; a U-Net finds "
            "each instrument in every clip's spectrogram heatmap, given a reference clip of "
            "that instrument."
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
                    instruments = gr.CheckboxGroup(names, value=names, label="Instruments")
                    with gr.Accordion("References (optional)", open=False):
                        gr.Markdown(
                            "A few bars of an instrument playing alone are its query: pick a "
                            "span of this song (a guitar intro, say) or upload a clip. Without "
                            "one, the model's built-in reference is used. The models here have "
                            "learnt their instrument by heart, except the bongo's (the shared "
                            "model, which its query steers), so a reference changes little for "
                            "the others today (see docs/queries.md)."
                        )
                        clips, spans = [], []
                        for name in names:
                            with gr.Row(equal_height=True):
                                spans.append(
                                    gr.Textbox(
                                        label=f"{name}: span of this song",
                                        placeholder="e.g. 0:05-0:13",
                                        max_length=40,
                                        elem_id=f"{name}-span",
                                    )
                                )
                                clips.append(
                                    gr.Audio(
                                        label=f"or a {name} clip",
                                        type="filepath",
                                        sources=["upload"],
                                        elem_id=f"{name}-reference",
                                    )
                                )
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
            instrument_outputs, verdicts, notes = [], [], []
            for name in names:
                with gr.Column(visible=False) as row_column, gr.Row(equal_height=True):
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
                        notes.append(gr.Markdown(elem_id=f"{name}-reference-used"))
                        verdicts.append(
                            gr.Radio(
                                list(RATINGS),
                                label=f"How good is the {name}?",
                                elem_id=f"{name}-rating",
                            )
                        )
                instrument_outputs += [row_column, heatmap, player]
            with gr.Column(visible=False) as mixer:
                gr.Markdown(
                    "## Mixer\nEach instrument, and the rest of the song (voice, keys, "
                    "everything not separated), at a gain of its own: 0 is silent, 1 as in "
                    "the song, 2 twice as loud."
                )
                with gr.Row():
                    sliders, slider_columns = [], []
                    for name in names:
                        with gr.Column(min_width=160) as slider_column:
                            sliders.append(
                                gr.Slider(
                                    0,
                                    MAX_GAIN,
                                    value=1.0,
                                    step=GAIN_STEP,
                                    label=name,
                                    elem_id=f"{name}-gain",
                                )
                            )
                        slider_columns.append(slider_column)
                    rest_slider = gr.Slider(
                        0,
                        MAX_GAIN,
                        value=1.0,
                        step=GAIN_STEP,
                        label=REST_LABEL,
                        elem_id="rest-gain",
                    )
                with gr.Row():
                    choices = [*((name, name) for name in names), (REST_LABEL, REST)]
                    solo = gr.CheckboxGroup(choices, label="Solo", elem_id="solo")
                    mute = gr.CheckboxGroup(choices, label="Mute", elem_id="mute")
                remix_button = gr.Button("Play the mix", variant="primary", elem_id="remix")
                with gr.Row(equal_height=True):
                    mix_player = gr.Audio(
                        label="The mix",
                        type="filepath",
                        interactive=False,
                        buttons=["download"],
                        elem_id="mix-player",
                    )
                    rest_player = gr.Audio(
                        label=f"{REST_LABEL} alone",
                        type="filepath",
                        interactive=False,
                        buttons=["download"],
                        elem_id="rest-player",
                    )
                remix_verdict = gr.Radio(
                    list(RATINGS),
                    label="How useful is the mix, to listen or dance to?",
                    elem_id="remix-rating",
                )
            with gr.Row(equal_height=True):
                stems_zip = gr.File(
                    label="All stems and the rest (zip)", interactive=False, elem_id="stems"
                )
                with gr.Column():
                    overall = gr.Radio(
                        list(RATINGS),
                        label="How good is the separation overall?",
                        elem_id="overall-rating",
                    )
                    rate_button = gr.Button("Save rating", elem_id="rate")
                    status = gr.Markdown(elem_id="rating-status")
            result = gr.State(None)
            song_inputs = [song, instruments, *clips, *spans]
            mixer_outputs = [mixer, *slider_columns]
            outputs = [
                waveform,
                mixture,
                *instrument_outputs,
                stems_zip,
                rest_player,
                *notes,
                *mixer_outputs,
                result,
            ]
            songs = example_songs()
            if songs:
                examples = gr.Examples(
                    [[str(path), names] for path in songs],
                    inputs=[song, instruments],
                    outputs=outputs,
                    fn=separate_song,
                    cache_examples=cache_examples(),
                    cache_mode="lazy",
                    example_labels=[path.parent.name for path in songs],
                    label="Demo songs",
                )
                if examples.cache_examples:

                    def example_separated(example: tuple[int, object]) -> dict:
                        return example_record(example[0], examples.load_from_cache)

                    examples.cache_event.then(
                        example_separated,
                        inputs=examples.dataset,
                        outputs=result,
                        api_name="example_separated",
                        api_visibility="undocumented",
                        concurrency_limit=None,
                    )
        with gr.Tab("Ratings"):
            gr.Markdown(
                "What listeners said about the separations and their mixes, newest first, "
                "and how often each verdict was given."
            )
            counts = gr.Dataframe(headers=COUNT_HEADERS, label="Verdicts", interactive=False)
            rated = gr.Dataframe(
                headers=rating_headers(names), label="Rated songs", interactive=False
            )
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

        count = len(names)

        def separate(
            song: str | None,
            chosen: list[str],
            *references: object,
            progress: gr.Progress = gr.Progress(track_tqdm=True),
        ) -> list:
            choices = reference_choices(names, references[:count], references[count:])
            return separate_song(song, chosen, choices, progress=progress)

        separate_button.click(
            _signed(
                separate,
                ["song", "instruments"],
                [*(f"{name}_reference" for name in names), *(f"{name}_span" for name in names)],
            ),
            inputs=song_inputs,
            outputs=outputs,
            api_name="separate_song",
            concurrency_limit=1,
            concurrency_id=SEPARATION_CONCURRENCY,
        )
        song.change(  # a new song: no verdicts yet, and the last song's mix is gone
            lambda: [None] * (3 + count),
            outputs=[overall, *verdicts, remix_verdict, mix_player],
            api_visibility="private",
            queue=False,
        )

        def remix(record: Mapping | None, *levels: object) -> tuple[str, dict]:
            *gains, soloed, muted = levels
            return remix_song(
                record, dict(zip([*names, REST], gains, strict=True)), soloed or (), muted or ()
            )

        remix_button.click(
            _signed(remix, ["result"], [], [*names, REST, "solo", "mute"]),
            inputs=[result, *sliders, rest_slider, solo, mute],
            outputs=[mix_player, result],
            api_name="remix",
            concurrency_limit=None,
        )

        def rate(result: Mapping | None, overall: str | None, *given: str | None) -> tuple:
            *instrument_verdicts, remix_given = given
            verdicts = dict(zip(names, instrument_verdicts, strict=True))
            return save_rating(store, result, overall, verdicts, remix_given), *rating_tables(store)

        rate_button.click(
            _signed(rate, ["result", "overall"], [*names, REMIX]),
            inputs=[result, overall, *verdicts, remix_verdict],
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


def _signed(
    handler: Callable,
    required: Sequence[str],
    optional: Sequence[str] = (),
    defaulted: Sequence[str] = (),
) -> Callable:
    """``handler`` (which takes its per-instrument inputs as ``*args``) with a signature
    naming each input, so ``/separate_song``, ``/remix`` and ``/rate`` take keyword
    arguments named after the loaded instruments (``guitar_span``, ``maracas``). Gradio
    reads the names from the signature; ``optional`` ones default to None, ``defaulted``
    ones to the component's own value."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [inspect.Parameter(name, kind) for name in [*required, *defaulted]]
    parameters += [inspect.Parameter(name, kind, default=None) for name in optional]
    keywords = [
        parameter
        for parameter in inspect.signature(handler).parameters.values()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    handler.__signature__ = inspect.Signature([*parameters, *keywords])
    return handler


def _listed(names: Sequence[str]) -> str:
    """``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _clock(seconds: float) -> str:
    """``m:ss.s``, as a player shows a position."""
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


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


def _zip_stems(path: Path, song_name: str, stems: Mapping[str, str]) -> Path:
    """``<song>/<instrument>.wav`` entries, the command line's layout, and ``rest.wav``
    (stored: WAV hardly compresses)."""
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
