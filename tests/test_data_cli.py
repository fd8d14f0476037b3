"""The render-song and render-loops commands."""

from __future__ import annotations

import json

from bachata_sep.cli import main
from bachata_sep.data.song import STEMS


def test_render_song_writes_mixture_stems_and_annotations(tmp_path, capsys):
    out = tmp_path / "song"
    assert main(["render-song", "--seed", "4", "--duration", "6", "-o", str(out)]) == 0
    assert (out / "mixture.wav").is_file()
    assert sorted(p.stem for p in (out / "stems").iterdir()) == sorted(STEMS)
    notes = json.loads((out / "annotations.json").read_text())
    assert notes["seed"] == 4 and notes["duration"] == 6.0
    assert str(out) in capsys.readouterr().out


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "song"
    status = main(["render-song", "--seed", "4", "--soundfont", "nowhere.sf2", "-o", str(out)])
    assert status == 2 and not out.exists() and not list(tmp_path.iterdir())
    error = capsys.readouterr().err
    assert error.startswith("bachata-sep: error:") and len(error.strip().splitlines()) == 1
    assert main(["render-song", "--seed", "4", "--duration", "2", "-o", str(out)]) == 2


def test_render_loops_writes_a_library(tmp_path):
    lib = tmp_path / "lib"
    args = ["render-loops", "-o", str(lib), "--songs", "1", "--duration", "8"]
    assert main([*args, "--timbres", "procedural", "--loops-per-section", "1"]) == 0
    assert (lib / "loops.csv").is_file()
    assert list(lib.glob("guitar/intro/*.wav"))
