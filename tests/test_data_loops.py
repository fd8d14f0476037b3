"""Loop libraries: rendering, loading with bad files, tempo and beat counts, the cache."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from bachata_sep.data.loops import load_library, read_rows, render_library, split_of_timbre
from bachata_sep.spec import ClipSpec

SPEC = ClipSpec()


@pytest.fixture(scope="module")
def library_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("lib")
    render_library(root, songs=2, seed=3, timbres="procedural", duration=16.0)
    # A user's additions: an 8-beat loop without metadata, and files that cannot be used.
    rows = read_rows(root)
    name = sorted(n for n in rows if n.startswith("guitar/verse/"))[0]
    audio, rate = sf.read(root / name)
    sf.write(root / "guitar/verse/eight-beats.wav", np.concatenate([audio, audio]), rate)
    (root / "bongo/verse/corrupt.wav").write_bytes(b"RIFF this is not audio at all")
    sf.write(root / "bongo/verse/blip.wav", np.ones(4410) * 0.1, rate)
    return root


def test_rendered_library_layout(library_root):
    rows = read_rows(library_root)
    assert rows and all((library_root / name).is_file() for name in rows)
    instruments = {row["instrument"] for row in rows.values()}
    assert {"bongo", "guira", "bass", "guitar", "other"} <= instruments
    assert {row["section"] for row in rows.values()} >= {"intro", "verse", "outro"}
    assert not any(n.startswith(("bongo/intro", "bass/intro", "guira/intro")) for n in rows)
    for name, row in rows.items():
        seconds = sf.info(library_root / name).duration
        assert seconds == pytest.approx(4 * 60 / float(row["bpm"]), abs=1e-3)


def test_split_other_gives_each_interferer_a_folder_of_its_own(tmp_path):
    render_library(tmp_path, songs=1, seed=3, timbres="procedural", duration=30.0, split_other=True)
    rows = read_rows(tmp_path)
    instruments = {row["instrument"] for row in rows.values()}
    assert {"bongo", "guira", "bass", "guitar", "voice", "keys", "percussion"} <= instruments
    assert "other" not in instruments
    for row in rows.values():
        assert row["file"].startswith(f"{row['instrument']}/")
        assert "+" not in row["timbre"]  # one part's timbre, not the shared stem's list


def test_load_skips_bad_files_in_one_warning(library_root, tmp_path):
    with pytest.warns(UserWarning) as caught:
        library = load_library(library_root, SPEC, cache_dir=tmp_path)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "skipped 2 loop(s)" in message and "corrupt.wav" in message and "blip.wav" in message
    rows = read_rows(library_root)
    assert library.clips.shape == (len(rows) + 2, SPEC.length)  # + two pieces of 8 beats
    assert np.isfinite(library.clips).all()
    rms = np.sqrt(np.mean(np.square(library.clips), axis=1))
    np.testing.assert_allclose(20 * np.log10(rms), -20.0, atol=0.5)
    pieces = [m for m in library.meta if m["file"] == "guitar/verse/eight-beats.wav"]
    assert [m["piece"] for m in pieces] == [0, 1]
    first = library.select(file=pieces[0]["file"])
    np.testing.assert_allclose(library.clips[first[0]], library.clips[first[1]], atol=0.05)


def test_cache_is_reused_and_invalidated(library_root, tmp_path):
    root, cache = tmp_path / "lib", tmp_path / "cache"
    shutil.copytree(library_root, root)
    with pytest.warns(UserWarning):
        first = load_library(root, SPEC, cache_dir=cache)
    with pytest.warns(UserWarning):
        again = load_library(root, SPEC, cache_dir=cache)
    assert isinstance(again.clips, np.memmap) and not isinstance(first.clips, np.memmap)
    np.testing.assert_array_equal(again.clips, first.clips)
    assert len(list(cache.glob("*.npy"))) == 1
    (root / "bongo/verse/blip.wav").unlink()
    with pytest.warns(UserWarning, match="skipped 1 loop"):
        load_library(root, SPEC, cache_dir=cache)
    assert len(list(cache.glob("*.npy"))) == 2


def test_split_of_timbre():
    assert split_of_timbre("fluidr3/guitar/24") == "train"
    assert split_of_timbre("musescore/guitar/24") == "test"
    assert split_of_timbre("procedural/bass/upright") == "valid"
    assert split_of_timbre("procedural/voice/ah+musescore/keys/4") == "test"
    assert split_of_timbre("my-congas") == split_of_timbre("my-congas")
