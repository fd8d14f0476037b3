"""The render-song and render-loops commands."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from bachata_sep.cli import main
from bachata_sep.data.loops import load_library
from bachata_sep.data.song import STEMS


def test_render_song_writes_mixture_stems_and_annotations(tmp_path, capsys):
    out = tmp_path / "song"
    assert main(["render-song", "--seed", "4", "--duration", "6", "-o", str(out)]) == 0
    assert (out / "mixture.wav").is_file()
    assert sorted(p.stem for p in (out / "stems").iterdir()) == sorted(STEMS)
    notes = json.loads((out / "annotations.json").read_text())
    assert notes["seed"] == 4 and notes["duration"] == 6.0
    assert str(out) in capsys.readouterr().out


def test_render_song_with_tempo_drift_says_so_in_its_annotations(tmp_path):
    out = tmp_path / "song"
    args = ["render-song", "--seed", "4", "--duration", "6", "--tempo-drift", "3"]
    assert main([*args, "--drift-shape", "ramp", "-o", str(out)]) == 0
    notes = json.loads((out / "annotations.json").read_text())
    assert notes["tempo_drift"] == {"shape": "ramp", "percent": 3.0}
    assert main([*args[:-1], "30", "-o", str(tmp_path / "too-far")]) == 2


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


SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"


def test_render_song_from_real_samples_names_its_sources(tmp_path):
    out = tmp_path / "song"
    args = ["render-song", "--seed", "5", "--duration", "6", "-o", str(out)]
    assert main([*args, "--timbres", "samples", "--samples", str(SAMPLES), "--randomise"]) == 0
    notes = json.loads((out / "annotations.json").read_text())
    for part in ("bongo", "guira", "bass", "guitar"):
        assert notes["timbres"][part].startswith(f"samples/{part}/")
        assert notes["samples"][part]["sources"] and notes["samples"][part]["licences"]
    assert notes["randomised"]["effects"]["guitar"]
    # The old spelling still works.
    old = tmp_path / "old"
    assert (
        main(
            [
                "render-song",
                "--seed",
                "5",
                "--duration",
                "6",
                "--soundfont",
                "timgm6mb",
                "-o",
                str(old),
            ]
        )
        == 0
    )
    assert json.loads((old / "annotations.json").read_text())["soundfont"] == "timgm6mb"


def test_samples_without_a_folder_is_one_line(tmp_path, capsys):
    out = tmp_path / "song"
    assert main(["render-song", "--seed", "5", "--timbres", "samples", "-o", str(out)]) == 2
    assert "--samples DIR" in capsys.readouterr().err and not out.exists()


def test_render_loops_with_samples_leaves_out_an_excluded_family(tmp_path):
    lib = tmp_path / "lib"
    args = ["render-loops", "-o", str(lib), "--duration", "8", "--loops-per-section", "1"]
    extra = ["--songs", "3", "--timbres", "samples", "--samples", str(SAMPLES)]
    assert main([*args, *extra, "--exclude", "emily-guitar", "--exclude", "growly-bass"]) == 0
    rows = list(csv.DictReader((lib / "loops.csv").open()))
    timbres = {row["timbre"] for row in rows}
    assert "samples/guitar/martin-steel-guitar" in timbres
    assert "samples/bass/killer-bass" in timbres
    assert not any("emily-guitar" in t or "growly-bass" in t for t in timbres)
    library = load_library(lib, cache_dir=tmp_path / "cache")
    assert {m["split"] for m in library.meta} == {"train"}
    assert "emily-guitar" not in library.families("train")
    assert "martin-steel-guitar" in library.families("train")
