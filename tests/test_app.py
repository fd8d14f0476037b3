import gradio as gr
import numpy as np
import pytest
import soundfile as sf
from conftest import si_sdr, synthetic_song

import app


def test_separate_song_gives_one_player_per_chosen_instrument(tmp_path):
    mixture, _ = synthetic_song(22050, 2, bars=4)
    path = tmp_path / "song.wav"
    sf.write(path, mixture.T, 22050, subtype="PCM_16")
    outputs = app.separate_song(str(path), ["bass", "guitar"])
    assert outputs[0] is None and outputs[1] is None
    for output in outputs[2:]:
        audio, rate = sf.read(output, always_2d=True)
        assert rate == 22050 and audio.shape == mixture.T.shape
        assert si_sdr(mixture, audio.T) > 30


@pytest.mark.parametrize("content", [None, b"not audio at all"])
def test_bad_upload_is_a_clear_gradio_error(tmp_path, content):
    path = None
    if content is not None:
        path = tmp_path / "upload.wav"
        path.write_bytes(content)
    with pytest.raises(gr.Error):
        app.separate_song(None if path is None else str(path), ["bass"])


def test_demo_builds():
    demo = app.build_demo()
    assert isinstance(demo, gr.Blocks)
    assert np.any([fn.name == "separate_song" for fn in demo.fns.values()])
