import argparse
import json
import re
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from importlib.metadata import entry_points

import numpy as np
import pytest
import soundfile as sf
from conftest import percussion_track, synthetic_song

from bachata_sep import api
from bachata_sep.audio import write_audio
from bachata_sep.cli import COMMAND_MODULES, build_parser, main
from bachata_sep.folders import reference_clip
from bachata_sep.model import InstrumentModel, ModelSeparator
from bachata_sep.pretrained import CHECKPOINTS
from bachata_sep.spec import INSTRUMENTS
from bachata_sep.train.cards import METRICS_FILE, SETTINGS, update_metrics
from bachata_sep.train.commands import _write_cards
from bachata_sep.train.evaluate import METHODS


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bachata_sep.cli", *args], capture_output=True, text=True
    )


@pytest.fixture
def song_file(tmp_path):
    mixture, _ = synthetic_song(48000, 2, bars=4)
    path = tmp_path / "my song.wav"
    sf.write(path, mixture.T, 48000, subtype="PCM_24")
    return path


def test_console_script_is_installed():
    scripts = {entry.name: entry.value for entry in entry_points(group="console_scripts")}
    assert scripts["bachata-sep"] == "bachata_sep.cli:main"


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(subparsers.choices)


def test_each_command_parser_is_built_from_its_own_module_alone():
    assert _commands(build_parser()) == set(COMMAND_MODULES)
    for command, module in COMMAND_MODULES.items():
        same_module = {name for name, owner in COMMAND_MODULES.items() if owner == module}
        assert _commands(build_parser(command)) == same_module


def test_separating_does_not_import_training_or_rendering():
    code = (
        "import sys\n"
        "from bachata_sep.cli import build_parser\n"
        "build_parser('separate').parse_args(['separate', 'a.wav', '-o', 'out'])\n"
        "print(sorted(m for m in ('bachata_sep.train', 'bachata_sep.data', 'scipy.signal')"
        " if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_separate_end_to_end(song_file, tmp_path):
    result = _run("separate", str(song_file), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "out" / "my song"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.wav" for n in INSTRUMENTS)
    source = sf.info(song_file)
    for name in INSTRUMENTS:
        info = sf.info(folder / f"{name}.wav")
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (
            source.samplerate,
            source.channels,
            source.frames,
            "PCM_24",
        )
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["my song"]


def test_instrument_choice_and_reference(song_file, tmp_path):
    reference = tmp_path / "bass clip.wav"
    sf.write(reference, sf.read(song_file)[0][: 48000 * 4], 48000)
    status = main(
        [
            "separate",
            str(song_file),
            "-o",
            str(tmp_path / "out"),
            "--instruments",
            "bass,guitar",
            "--reference",
            f"bass={reference}",
        ]
    )
    assert status == 0
    written = sorted(p.name for p in (tmp_path / "out" / "my song").iterdir())
    assert written == ["bass.wav", "guitar.wav"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: None, "no such file"),
        (lambda path: path.write_bytes(b"\x00\x01" * 5000), "cannot read"),
        (lambda path: path.write_bytes(b""), "empty"),
        (lambda path: sf.write(path, np.zeros((441000, 2)), 44100), "silent"),
        (lambda path: sf.write(path, np.full(22050, 0.1), 44100), "long"),
    ],
    ids=["missing", "corrupt", "empty", "silent", "too-short"],
)
def test_bad_input_one_line_error_and_no_output(tmp_path, make, message):
    bad = tmp_path / "bad.wav"
    make(bad)
    out = tmp_path / "out"
    result = _run("separate", str(bad), "-o", str(out))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stderr.startswith("bachata-sep: error: ")
    assert not out.exists() or list(out.iterdir()) == []


def test_separate_with_models_from_another_folder(song_file, tmp_path):
    empty = tmp_path / "no-models"
    empty.mkdir()
    result = _run(
        "separate", str(song_file), "-o", str(tmp_path / "out"), "--checkpoints", str(empty)
    )
    assert result.returncode == 2 and "no instrument models" in result.stderr
    status = main(
        [
            "separate",
            str(song_file),
            "-o",
            str(tmp_path / "out"),
            "--checkpoints",
            str(CHECKPOINTS),
            "--instruments",
            "guira",
        ]
    )
    assert status == 0
    assert [p.name for p in (tmp_path / "out" / "my song").iterdir()] == ["guira.wav"]


def test_bad_input_among_several_keeps_the_good_ones(song_file, tmp_path):
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"nope" * 100)
    out = tmp_path / "out"
    status = main(["separate", str(bad), str(song_file), "-o", str(out), "--instruments", "bass"])
    assert status == 2
    assert [p.name for p in out.iterdir()] == ["my song"]


def test_rerun_keeps_other_files_in_the_song_folder(song_file, tmp_path):
    notes = tmp_path / "out" / "my song" / "my notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("keep me")
    assert (
        main(["separate", str(song_file), "-o", str(tmp_path / "out"), "--instruments", "bass"])
        == 0
    )
    assert notes.read_text() == "keep me"


def test_a_failure_while_separating_leaves_no_half_song(song_file, tmp_path, monkeypatch):
    separate_blocks = api.separate_blocks

    def failing_blocks(*args, **kwargs):
        yield next(separate_blocks(*args, **kwargs))
        raise RuntimeError("disk full")

    monkeypatch.setattr(api, "separate_blocks", failing_blocks)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk full"):
        main(["separate", str(song_file), "-o", str(out), "--instruments", "bass"])
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_ten_minute_stereo_song_never_holds_its_stems(tmp_path):
    """Stems go to disk block by block: the command's peak memory grows by less than the
    four float32 stereo stems of a 10-minute song would take alone (850 MB)."""
    loop, _, _ = percussion_track(128, 8, sample_rate=44100)
    song = np.tile(loop, 600 * 44100 // len(loop) + 1)[: 600 * 44100]
    path = tmp_path / "long.wav"
    sf.write(path, np.stack([song, 0.5 * song], axis=1), 44100, subtype="PCM_16")
    script = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, "tests")
        from conftest import peak_rss_mb
        from bachata_sep.cli import main
        before = peak_rss_mb()
        assert main(["separate", sys.argv[1], "-o", sys.argv[2]]) == 0
        print(peak_rss_mb() - before)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=True,
    )
    growth_mb = float(result.stdout.strip().splitlines()[-1])
    assert growth_mb < 850, growth_mb
    assert sf.info(tmp_path / "out" / "long" / "guitar.wav").frames == len(song)


def test_argument_errors(song_file, tmp_path):
    result = _run("separate", str(song_file), "-o", str(tmp_path), "--reference", "bass")
    assert result.returncode == 2 and "INSTRUMENT=PATH" in result.stderr
    for span in ("@0:01", "@a-3", "@1:-3"):
        result = _run(
            "separate", str(song_file), "-o", str(tmp_path), "--reference", f"bass={span}"
        )
        assert result.returncode == 2 and "@START-END in seconds or M:SS" in result.stderr
    other = tmp_path / "sub" / "my song.flac"
    other.parent.mkdir()
    other.write_bytes(song_file.read_bytes())
    result = _run("separate", str(song_file), str(other), "-o", str(tmp_path / "o"))
    assert result.returncode == 2 and "both write" in result.stderr


def test_bad_shifts_one_line_error_and_no_output(song_file, tmp_path):
    out = tmp_path / "out"
    result = _run("separate", str(song_file), "-o", str(out), "--shifts", "0")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "shifts must be a whole number of passes" in result.stderr
    assert not out.exists()
    result = _run("evaluate", "--shifts", "3", "--write-cards")
    assert result.returncode == 2 and "drop --shifts" in result.stderr


def test_beats_json_and_table(tmp_path):
    audio, beats, downbeats = percussion_track(126, 8, pickup_beats=2, intro_seconds=0.4)
    path = tmp_path / "drums.wav"
    sf.write(path, audio, 22050)
    result = _run("beats", str(path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert abs(report["bpm"] - 126) < 2
    assert np.abs(np.array(report["downbeats"]) - downbeats).max() < 0.07
    assert report["beat_numbers"][:3] == [3, 4, 1]
    assert np.allclose(report["local_bpm"], 126, rtol=0.03) and "counts" not in report
    table = _run("beats", str(path)).stdout.splitlines()
    assert table[0] == "time_s\tbeat" and len(table) == len(beats) + 1


def test_beats_counts_8_over_two_bars(tmp_path):
    audio, beats, _ = percussion_track(126, 4, pickup_beats=2, intro_seconds=0.4)
    path = tmp_path / "drums.wav"
    sf.write(path, audio, 22050)
    table = _run("beats", str(path), "--counts", "8").stdout.splitlines()
    assert table[0] == "time_s\tbeat\tcount" and len(table) == len(beats) + 1
    counts = [int(line.split("\t")[2]) for line in table[1:]]
    assert counts == [7, 8, *range(1, 9), *range(1, 9)]
    report = json.loads(_run("beats", str(path), "--counts", "8", "--json").stdout)
    assert report["counts"] == counts and report["beat_numbers"][:3] == [3, 4, 1]
    result = _run("beats", str(path), "--counts", "6")
    assert result.returncode == 2 and result.stderr.count("\n") <= 2


def test_pulseless_input_warns_in_one_line(tmp_path):
    path = tmp_path / "noise.wav"
    sf.write(path, np.random.default_rng(0).standard_normal(22050 * 6) * 0.1, 22050)
    result = _run("beats", str(path))
    assert result.returncode == 0
    assert result.stderr.strip().startswith("bachata-sep: warning: no steady pulse")
    assert result.stderr.count("\n") == 1


def test_evaluate_writes_each_models_card_a_shared_one_per_instrument(tmp_path):
    shutil.copytree(CHECKPOINTS / "bass", tmp_path / "bass")
    spec = ModelSeparator.from_folder(tmp_path).spec
    shared = InstrumentModel("guira,guitar", spec.to_dict(), 4, {"base_channels": 8, "depth": 2})
    shared.save_pretrained(tmp_path / "shared")
    update_metrics(tmp_path / "shared", training={"instrument": "guira,guitar"})  # as train does
    for name in ("guira", "guitar"):
        noise = np.random.default_rng(0).standard_normal(spec.length) * 0.1
        path = tmp_path / "shared" / reference_clip(name, shared=True)
        write_audio(path, noise, spec.sample_rate, "PCM_16")
    separator = ModelSeparator.from_folder(tmp_path)
    summary = {"si_sdr": {"mixture": -3.0}, "si_sdri": dict.fromkeys(METHODS, 1.0)}
    report = {"songs": 6, **{setting: dict.fromkeys(INSTRUMENTS, summary) for setting in SETTINGS}}
    args = argparse.Namespace(songs=6, duration=30.0)
    _write_cards(args, separator, report)
    bass = json.loads((tmp_path / "bass" / METRICS_FILE).read_text())["evaluation"]
    assert bass["aligned_clips"] == summary and bass["min_si_sdri_db"] > 5
    evaluated = json.loads((tmp_path / "shared" / METRICS_FILE).read_text())["evaluation"]
    assert set(evaluated) == {"guira", "guitar"}
    assert all(section["aligned_clips"] == summary for section in evaluated.values())
    assert "### guitar" in (tmp_path / "shared" / "README.md").read_text()


def test_a_reference_span_of_the_input(song_file, tmp_path):
    out = tmp_path / "out"
    args = ["separate", str(song_file), "-o", str(out), "--instruments", "bass"]
    result = _run(*args, "--reference", "bass=@0:00.5-0:07")
    assert result.returncode == 0, result.stderr
    assert sf.info(out / "my song" / "bass.wav").frames == sf.info(song_file).frames
    beyond = _run(*args, "--reference", "bass=@0:01-9:00")
    assert beyond.returncode == 2 and "within the song" in beyond.stderr


def test_refine_separates_with_a_second_pass(song_file, tmp_path):
    out = tmp_path / "out"
    status = main(
        ["separate", str(song_file), "-o", str(out), "--instruments", "guira", "--refine"]
    )
    assert status == 0
    assert sf.info(out / "my song" / "guira.wav").frames == sf.info(song_file).frames


@pytest.mark.parametrize(
    ("out_name", "cause"),
    [("taken", "taken is a file; give a folder"), ("taken/out", "taken is a file, not a folder")],
    ids=["out-is-a-file", "out-under-a-file"],
)
def test_an_output_folder_that_cannot_be_made_is_one_line(song_file, tmp_path, out_name, cause):
    """FileExistsError and NotADirectoryError escaped as tracebacks with status 1."""
    (tmp_path / "taken").write_text("keep me")
    result = _run("separate", str(song_file), "-o", str(tmp_path / out_name))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("bachata-sep: error: ") and result.stderr.count("\n") == 1
    assert cause in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my song.wav", "taken"]
    assert (tmp_path / "taken").read_text() == "keep me"


def _messages(stderr: str) -> list[str]:
    """The command's own lines on stderr (the progress bar shares it); none a traceback."""
    assert "Traceback" not in stderr, stderr
    return re.findall(r"bachata-sep: .*", stderr)


def _limit_file_size() -> None:
    """In the child: files may grow to 1 MB at most (RLIMIT_FSIZE), and a write beyond
    fails with EFBIG instead of killing the process by SIGXFSZ: a full disk as the kernel
    reports it, without filling a real disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def test_a_write_that_fails_midway_is_one_line_and_leaves_no_staging(song_file, tmp_path):
    """Stems of 2.3 MB each meet a 1 MB file limit: libsndfile's bare 'System error' used
    to escape as a traceback. Files already in the output folder are left as they were."""
    out = tmp_path / "out"
    notes = out / "my song" / "notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("keep me")
    other = tmp_path / "other.wav"
    other.write_bytes(song_file.read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "bachata_sep.cli", "separate", str(song_file), str(other)]
        + ["-o", str(out), "--instruments", "bass"],
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size,
    )
    assert result.returncode == 2, result.stderr
    lines = _messages(result.stderr)
    assert len(lines) == 2 and all(line.startswith("bachata-sep: error: ") for line in lines)
    assert f"{song_file}: cannot write {out / 'my song'}: file too large" in lines[0]
    assert f"{other}: cannot write {out / 'other'}: file too large" in lines[1]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "my song",
        "my song/notes.txt",
    ]
    assert notes.read_text() == "keep me"


def test_a_song_named_dots_stays_inside_the_output_folder(song_file, tmp_path):
    """``...wav`` has the stem ``..``: its stems went to the output folder's parent."""
    dots = tmp_path / "in" / "...wav"
    dots.parent.mkdir()
    dots.write_bytes(song_file.read_bytes())
    out = tmp_path / "deep" / "out"
    assert main(["separate", str(dots), "-o", str(out), "--instruments", "bass"]) == 0
    assert sorted(
        str(p.relative_to(tmp_path / "deep")) for p in (tmp_path / "deep").rglob("*")
    ) == [
        "out",
        "out/song",
        "out/song/bass.wav",
    ]


def test_too_many_shifts_are_refused_in_one_line(song_file, tmp_path):
    result = _run("separate", str(song_file), "-o", str(tmp_path / "out"), "--shifts", "1000")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "from 1 to 8, not 1000" in result.stderr and not (tmp_path / "out").exists()


def test_beats_of_silence_are_refused_as_separate_refuses_them(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(22050 * 10), 22050)
    for command in ("beats", "separate"):
        result = _run(
            command, str(path), *(["-o", str(tmp_path / "out")] * (command == "separate"))
        )
        assert result.returncode == 2 and "silent" in result.stderr, command
        assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_stopped_run_leaves_no_staging_folder(tmp_path, signal_name):
    """SIGTERM and SIGHUP killed the command with 2 MB of 7 MB stems in ``.partial-*``;
    SIGINT already cleaned up. The signal is sent once the staging folder exists; the
    command starts with every signal at its default (a shell's background job, e.g. a test
    run with ``&``, hands its children SIGINT ignored)."""
    mixture, _ = synthetic_song(22050, 2, bars=64)
    song = tmp_path / "long.wav"
    sf.write(song, mixture.T, 22050, subtype="PCM_16")
    out = tmp_path / "out"
    command = subprocess.Popen(
        [sys.executable, "-m", "bachata_sep.cli", "separate", str(song), "-o", str(out)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        while not list(out.glob(".partial-*")) and command.poll() is None:
            time.sleep(0.02)
        assert command.poll() is None, "the command finished before it could be stopped"
        command.send_signal(getattr(signal, signal_name))
        _, stderr = command.communicate(timeout=60)
    finally:
        command.kill()
    number = getattr(signal, signal_name)
    assert command.returncode == 128 + number, stderr
    assert _messages(stderr) == [
        "bachata-sep: interrupted"
        if signal_name == "SIGINT"
        else f"bachata-sep: stopped by {signal_name}"
    ]
    assert list(out.iterdir()) == []
