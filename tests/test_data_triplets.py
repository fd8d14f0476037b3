"""Triplet sampler: item format, determinism, absent targets, and splits that share no timbre."""

from __future__ import annotations

import csv
from dataclasses import replace

import numpy as np
import pytest
import torch

from bachata_sep.data.loops import load_library, render_library
from bachata_sep.data.timbres import TEST_TIMBRES, VALID_TIMBRES
from bachata_sep.data.triplets import TripletDataset
from bachata_sep.spec import ClipSpec

SPEC = ClipSpec()


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("lib")
    for split in ("train", "valid", "test"):
        render_library(root, songs=2, timbres=split, duration=12.0, loops_per_section=1)
    return load_library(root, SPEC, cache_dir=tmp_path_factory.mktemp("cache"))


def test_item_format(library):
    item = TripletDataset(library, "train", size=4)[0]
    for name in ("mixture", "target", "query"):
        assert item[name].shape == (SPEC.length,) and item[name].dtype == torch.float32
    for name in ("mixture_heatmap", "query_heatmap"):
        assert item[name].shape == (1, SPEC.n_bins, SPEC.n_frames)
        assert item[name].min() >= 0 and item[name].max() <= 1
    assert item["present"].item() in (0.0, 1.0)


def test_items_are_deterministic_per_seed(library):
    dataset = TripletDataset(library, "train", size=8, seed=1)
    again = TripletDataset(library, "train", size=8, seed=1)
    other = TripletDataset(library, "train", size=8, seed=2)
    for index in range(8):
        torch.testing.assert_close(dataset[index]["mixture"], again[index]["mixture"])
    assert any(not torch.equal(dataset[i]["mixture"], other[i]["mixture"]) for i in range(8))


def test_mixture_is_target_plus_others_and_query_is_another_song(library):
    dataset = TripletDataset(library, "train", size=64, absent_rate=0.3)
    meta = library.meta
    for index in range(64):
        draw, item = dataset.draw(index), dataset[index]
        others = sum(library.clips[i] * g for i, g in zip(draw.others, draw.gains[1:], strict=True))
        residual = item["mixture"].numpy() - item["target"].numpy()
        np.testing.assert_allclose(residual, others, atol=1e-5)
        assert meta[draw.query]["instrument"] == draw.instrument == meta[draw.target]["instrument"]
        assert meta[draw.query]["song"] != meta[draw.target]["song"]
        if not draw.present:
            assert item["target"].abs().max() == 0 and item["present"] == 0


def test_absent_rate(library):
    dataset = TripletDataset(library, "train", size=300, absent_rate=0.3)
    absent = np.mean([not dataset.draw(i).present for i in range(300)])
    assert 0.2 < absent < 0.4
    never = TripletDataset(library, "train", size=50, absent_rate=0.0)
    assert all(never.draw(i).present for i in range(50))


def timbres_used(dataset: TripletDataset, count: int) -> set[str]:
    used = set()
    for index in range(count):
        draw = dataset.draw(index)
        for loop in (draw.target, draw.query, *draw.others):
            used.update(dataset.library.meta[loop]["timbre"].split("+"))
    return used


def test_splits_never_share_timbres(library):
    used = {
        split: timbres_used(TripletDataset(library, split, size=200), 200)
        for split in ("train", "valid", "test")
    }
    assert used["train"] and used["valid"] and used["test"]
    assert not used["train"] & used["valid"]
    assert not used["train"] & used["test"]
    assert not used["valid"] & used["test"]
    assert not used["train"] & (TEST_TIMBRES | VALID_TIMBRES)
    assert not any(name.startswith("musescore/") for name in used["train"] | used["valid"])


def test_shift_rolls_mixture_and_target_together(library):
    plain = TripletDataset(library, "train", size=32, seed=3)
    shifted = TripletDataset(library, "train", size=32, seed=3, shift_ms=20.0)
    most = round(0.02 * shifted.spec.sample_rate)
    shifts = []
    for index in range(32):
        before, after = plain.draw(index), shifted.draw(index)
        assert after == replace(before, shift=after.shift) and before.shift == 0
        assert abs(after.shift) <= most
        shifts.append(after.shift)
        item, reference = shifted[index], plain[index]
        for key in ("mixture", "target"):
            torch.testing.assert_close(item[key], reference[key].roll(after.shift))
        torch.testing.assert_close(item["query"], reference["query"])
    assert len(set(shifts)) > 20 and min(shifts) < -most // 2 and max(shifts) > most // 2


def test_song_queries_come_from_the_target_song(library):
    meta = library.meta
    plain = TripletDataset(library, "train", size=64, seed=3)
    own = TripletDataset(library, "train", size=64, seed=3, song_query_rate=1.0)
    half = TripletDataset(library, "train", size=64, seed=3, song_query_rate=0.5)
    eligible = same_in_half = 0
    for index in range(64):
        before, after = plain.draw(index), own.draw(index)
        assert after == replace(before, query=after.query)
        assert meta[before.query]["song"] != meta[before.target]["song"]
        song = meta[after.target]["song"]
        siblings = set(own.pool[after.instrument]) - {after.target}
        if any(meta[i]["song"] == song for i in siblings):
            assert after.query in siblings and meta[after.query]["song"] == song
            eligible += 1
            same_in_half += meta[half.draw(index).query]["song"] == song
        else:  # the only loop of its song: the query stays another song's
            assert after.query == before.query
    assert eligible >= 10
    assert 0.2 < same_in_half / eligible < 0.8


def test_a_song_named_like_a_section_keeps_its_own_loops(tmp_path):
    root = tmp_path / "lib"
    render_library(root, songs=2, timbres="train", duration=12.0, loops_per_section=1)
    rows = list(csv.DictReader((root / "loops.csv").open()))
    first = rows[0]["song"]
    for row in rows:  # the first song is called "intro", like a section of both songs
        row["song"] = "intro" if row["song"] == first else row["song"]
    with (root / "loops.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    library = load_library(root, SPEC, cache_dir=tmp_path / "cache")
    own = TripletDataset(library, "train", size=64, seed=3, song_query_rate=1.0)
    for draw in map(own.draw, range(64)):
        song = library.meta[draw.target]["song"]
        siblings = [i for i in own.pool[draw.instrument] if i != draw.target]
        if any(library.meta[i]["song"] == song for i in siblings):
            assert library.meta[draw.query]["song"] == song


def test_eq_changes_timbres_but_not_the_draw(library):
    plain = TripletDataset(library, "train", size=16, seed=3)
    shaped = TripletDataset(library, "train", size=16, seed=3, eq_db=6.0)
    again = TripletDataset(library, "train", size=16, seed=3, eq_db=6.0)
    for index in range(16):
        before, after = plain.draw(index), shaped.draw(index)
        assert (after.target, after.query, after.others, after.gains, after.present) == (
            before.target,
            before.query,
            before.others,
            before.gains,
            before.present,
        )
        assert len(after.equalizers) == len(after.others) + 2 and not before.equalizers
        item = shaped[index]
        torch.testing.assert_close(item["mixture"], again[index]["mixture"])
        assert not torch.allclose(item["query"], plain[index]["query"], atol=1e-4)
        if after.present:
            assert not torch.allclose(item["target"], plain[index]["target"], atol=1e-4)
            # Same level, other timbre: the EQ keeps each loop's RMS.
            torch.testing.assert_close(
                item["target"].square().mean(),
                plain[index]["target"].square().mean(),
                rtol=1e-3,
                atol=0,
            )


def test_codec_changes_only_the_mixture_and_is_deterministic(library):
    plain = TripletDataset(library, "train", size=8, seed=3)
    coded = TripletDataset(library, "train", size=8, seed=3, codec_rate=1.0)
    for index in range(3):
        draw = coded.draw(index)
        assert 2 <= draw.codec <= 7 and replace(draw, codec=0.0) == plain.draw(index)
        item, clean, again = coded[index], plain[index], coded[index]
        torch.testing.assert_close(item["target"], clean["target"])
        torch.testing.assert_close(item["query"], clean["query"])
        torch.testing.assert_close(item["mixture"], again["mixture"], rtol=0, atol=0)
        error = item["mixture"] - clean["mixture"]
        ratio = (clean["mixture"] ** 2).sum() / (error**2).sum()
        assert 1.0 < 10 * torch.log10(ratio) < 40  # changed, and still the same music


def test_twins_add_the_same_instrument_from_another_song_and_query_the_target_song(library):
    meta = library.meta
    plain = TripletDataset(library, "train", size=32, seed=3)
    twinned = TripletDataset(library, "train", size=32, seed=3, twin_rate=1.0)
    with_twin = 0
    for index in range(32):
        draw, before = twinned.draw(index), plain.draw(index)
        assert replace(draw, query=before.query, twin=-1, twin_gain=0.0) == before
        song = meta[draw.target]["song"]
        siblings = set(twinned.pool[draw.instrument]) - {draw.target}
        if draw.twin < 0:  # the only loop of its song: no query could tell a twin apart
            assert draw.query == before.query
            assert not any(meta[i]["song"] == song for i in siblings)
            continue
        with_twin += 1
        assert meta[draw.twin]["instrument"] == draw.instrument
        assert meta[draw.twin]["song"] != song
        assert meta[draw.query]["song"] == song and draw.query != draw.target
        assert 10 ** (-9 / 20) <= draw.twin_gain <= 10 ** (3 / 20)
        item, clean = twinned[index], plain[index]
        np.testing.assert_allclose(
            item["mixture"] - clean["mixture"],
            library.clips[draw.twin] * draw.twin_gain,
            atol=1e-5,
        )
        torch.testing.assert_close(item["target"], clean["target"])
    assert with_twin >= 6  # the small library has one loop per section: few siblings
