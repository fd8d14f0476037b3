import sqlite3
import threading

import pytest

from bachata_sep.errors import BadInputError
from bachata_sep.ratings import (
    DEFAULT_PATH,
    PATH_VARIABLE,
    Rating,
    RatingStore,
    database_path,
    song_id,
)


def _rating(name: str = "song.wav", overall: str | None = "good", **instruments) -> Rating:
    return Rating("abc123", name, overall, instruments, "identity separator")


def test_ratings_survive_reopening_the_file(tmp_path):
    path = tmp_path / "ratings.sqlite3"
    RatingStore(path).add(_rating(bongo="fair", guitar="poor"))
    RatingStore(path).add(_rating("other.flac", overall=None, bass="good"))

    newest, oldest = RatingStore(path).all()
    assert newest.song_name == "other.flac" and newest.overall is None
    assert newest.instruments == {"bongo": None, "guira": None, "bass": "good", "guitar": None}
    assert (oldest.song_id, oldest.overall, oldest.separator_source) == (
        "abc123",
        "good",
        "identity separator",
    )
    assert oldest.instruments["bongo"] == "fair" and oldest.instruments["guitar"] == "poor"
    assert oldest.rated_at.endswith("+00:00")


def test_counts_per_instrument_and_overall(tmp_path):
    store = RatingStore(tmp_path / "ratings.sqlite3")
    store.add(_rating(bongo="good"))
    store.add(_rating(overall="poor", bongo="good", bass="fair"))
    counts = store.counts()
    assert counts["overall"] == {"good": 1, "fair": 0, "poor": 1}
    assert counts["bongo"] == {"good": 2, "fair": 0, "poor": 0}
    assert counts["bass"]["fair"] == 1 and sum(counts["guitar"].values()) == 0


@pytest.mark.parametrize(
    "rating", [_rating(overall=None), _rating(overall="great"), _rating(bass="meh")]
)
def test_empty_or_unknown_verdicts_are_refused(tmp_path, rating):
    store = RatingStore(tmp_path / "ratings.sqlite3")
    with pytest.raises(BadInputError):
        store.add(rating)
    assert store.all() == []


def test_file_is_in_wal_mode(tmp_path):
    path = tmp_path / "ratings.sqlite3"
    RatingStore(path)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_older_file_gains_instrument_columns_and_keeps_its_rows(tmp_path):
    path = tmp_path / "ratings.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE ratings (id INTEGER PRIMARY KEY AUTOINCREMENT, song_id TEXT NOT NULL, "
            "song_name TEXT NOT NULL, overall TEXT, separator_source TEXT NOT NULL, "
            "rated_at TEXT NOT NULL, bongo TEXT)"
        )
        connection.execute(
            "INSERT INTO ratings (song_id, song_name, overall, separator_source, rated_at, bongo) "
            "VALUES ('x', 'old.wav', 'fair', 'identity', '2025-01-01T00:00:00+00:00', 'poor')"
        )
    store = RatingStore(path)
    store.add(_rating(guira="good"))
    newest, old = store.all()
    assert old.song_name == "old.wav" and old.instruments["bongo"] == "poor"
    assert newest.instruments["guira"] == "good"


def test_concurrent_writers_lose_nothing(tmp_path):
    store = RatingStore(tmp_path / "ratings.sqlite3")

    def rate_many() -> None:
        for _ in range(20):
            store.add(_rating(bongo="good"))

    threads = [threading.Thread(target=rate_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.all()) == 80


def test_path_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(PATH_VARIABLE, raising=False)
    assert database_path() == DEFAULT_PATH
    monkeypatch.setenv(PATH_VARIABLE, str(tmp_path / "elsewhere.db"))
    assert database_path() == tmp_path / "elsewhere.db"


def test_song_id_follows_the_content_not_the_name(tmp_path):
    first, copy, other = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"
    first.write_bytes(b"RIFF same bytes")
    copy.write_bytes(b"RIFF same bytes")
    other.write_bytes(b"RIFF other bytes")
    assert song_id(first) == song_id(copy) != song_id(other)
