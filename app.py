"""bachata-sep web demo: drop a bachata song in, get one player per instrument.

Runs locally with ``python app.py`` and as a Hugging Face Space (``app_file: app.py``).
Everything it does goes through ``bachata_sep.separate``, like the command line.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

import bachata_sep
from bachata_sep.audio import output_subtype, read_audio, write_audio
from bachata_sep.errors import BadInputError
from bachata_sep.spec import INSTRUMENTS

OUTPUT_ROOT = Path(tempfile.gettempdir()) / "bachata-sep-app"


def separate_song(
    song_path: str | None,
    instruments: list[str],
    progress: gr.Progress = gr.Progress(track_tqdm=True),
) -> list[str | None]:
    """Separate an uploaded song; one WAV path per instrument (None where not chosen)."""
    if not song_path:
        raise gr.Error("Upload a song first.")
    try:
        samples, sample_rate, subtype = read_audio(song_path)
        stems = bachata_sep.separate(samples, sr=sample_rate, instruments=instruments)
    except BadInputError as error:
        raise gr.Error(str(error)) from None
    OUTPUT_ROOT.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=OUTPUT_ROOT))
    paths = {}
    for name, audio in stems.items():
        paths[name] = folder / f"{Path(song_path).stem}-{name}.wav"
        write_audio(paths[name], audio, sample_rate, output_subtype(subtype))
    return [str(paths[name]) if name in paths else None for name in INSTRUMENTS]


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="bachata-sep") as demo:
        gr.Markdown("# bachata-sep\nSeparate bongo, güira, bass and guitar from a bachata song.")
        song = gr.Audio(label="Song", type="filepath", sources=["upload"])
        instruments = gr.CheckboxGroup(
            list(INSTRUMENTS), value=list(INSTRUMENTS), label="Instruments"
        )
        button = gr.Button("Separate", variant="primary")
        players = [gr.Audio(label=name, type="filepath", interactive=False) for name in INSTRUMENTS]
        button.click(separate_song, inputs=[song, instruments], outputs=players)
    return demo


if __name__ == "__main__":
    build_demo().queue().launch()
