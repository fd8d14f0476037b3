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


def test_render_loops_with_a_wider_timbre_spread(tmp_path, capsys):
    args = ["render-loops", "--songs", "1", "--duration", "8", "--timbres", "procedural"]
    plain, wide = tmp_path / "plain", tmp_path / "wide"
    assert main([*args, "-o", str(plain), "--loops-per-section", "1"]) == 0
    assert main([*args, "-o", str(wide), "--loops-per-section", "1", "--timbre-spread", "0.3"]) == 0
    names = sorted(p.relative_to(plain) for p in plain.glob("guitar/*/*.wav"))
    assert names and names == sorted(p.relative_to(wide) for p in wide.glob("guitar/*/*.wav"))
    assert (plain / names[0]).read_bytes() != (wide / names[0]).read_bytes()
    refused = tmp_path / "refused"
    assert main([*args, "-o", str(refused), "--timbre-spread", "0.9"]) == 2
    assert not refused.exists()
    assert "timbre spread must be between 0 and 0.5" in capsys.readouterr().err


def test_render_loops_with_extra_programs_records_them(tmp_path):
    lib = tmp_path / "lib"
    args = ["render-loops", "-o", str(lib), "--duration", "8", "--loops-per-section", "1"]
    extra = ["--songs", "1", "--seed", "0", "--timbres", "fluidr3", "--extra-programs"]
    assert main([*args, *extra]) == 0
    assert "fluidr3/guitar/8:25" in (lib / "loops.csv").read_text()  # the 12-string guitar
