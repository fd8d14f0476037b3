import re
import sqlite3
import threading
from contextlib import closing

import pytest

from bachata_sep.errors import BadInputError
from bachata_sep.names import MAX_NAME_CHARS
from bachata_sep.ratings import (
    DEFAULT_PATH,
    PATH_VARIABLE,
    Rating,
    RatingStore,
    database_path,
    move_aside,
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


def _not_a_database(path):
    path.write_bytes(b"these are not the ratings you are looking for\n" * 100)


def _damaged_pages(path):
    """A real ratings file whose table pages were overwritten: 'database disk image is
    malformed', the error that stopped the app from starting."""
    RatingStore(path)
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.executemany(
            "INSERT INTO ratings (song_id, song_name, separator_source, rated_at, bass) "
            "VALUES ('x', ?, 'identity', '2026-01-01T00:00:00+00:00', 'fair')",
            [(f"song {index}.wav",) for index in range(300)],
        )
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[4096 * 2 : 4096 * 4] = b"\xa5" * (4096 * 2)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_not_a_database, _damaged_pages], ids=["text", "pages"])
def test_an_unreadable_file_is_moved_aside_and_a_fresh_one_started(tmp_path, caplog, damage):
    path = tmp_path / "ratings.sqlite3"
    damage(path)
    unreadable = path.read_bytes()
    store = RatingStore(path)
    store.add(_rating(bass="good"))
    assert [rating.instruments["bass"] for rating in store.all()] == ["good"]
    (aside,) = [p for p in tmp_path.iterdir() if re.fullmatch(r".*unreadable-\d{8}T\d{6}Z", p.name)]
    assert aside.name.startswith("ratings.sqlite3.unreadable-")
    assert aside.read_bytes() == unreadable  # kept byte for byte, for a person to rescue
    (record,) = caplog.records
    assert str(path) in record.getMessage() and str(aside) in record.getMessage()
    assert "\n" not in record.getMessage()


def test_moving_aside_twice_in_a_second_overwrites_nothing(tmp_path):
    path = tmp_path / "ratings.sqlite3"
    asides = []
    for text in (b"first", b"second"):
        path.write_bytes(text)
        asides.append(move_aside(path))
    assert [aside.read_bytes() for aside in asides] == [b"first", b"second"]
    assert not path.exists()


def test_texts_are_stored_printable_and_short(tmp_path):
    store = RatingStore(tmp_path / "ratings.sqlite3")
    store.add(Rating("id\x00", "a\x1b[2J" + "x" * 10_000_000, "good", {}, "w\neights"))
    (rating,) = store.all()
    assert rating.song_id == "id" and rating.separator_source == "weights"
    assert rating.song_name.startswith("a[2Jxxx") and len(rating.song_name) == MAX_NAME_CHARS
    assert sum(path.stat().st_size for path in tmp_path.iterdir()) < 1_000_000


def test_a_new_instrument_gets_its_column_and_old_ratings_stay(tmp_path):
    path = tmp_path / "ratings.sqlite3"
    RatingStore(path).add(_rating(bass="fair"))
    store = RatingStore(path, instruments=("bass", "maracas"))
    store.add(_rating("maracas.wav", maracas="good", bass="poor"))
    newest, oldest = store.all()
    assert newest.instruments == {"bass": "poor", "maracas": "good"}
    assert oldest.instruments == {"bass": "fair", "maracas": None}
    assert store.counts()["maracas"] == {"good": 1, "fair": 0, "poor": 0}
    assert RatingStore(path).all()[1].instruments["bass"] == "fair"  # the four still read


def test_a_remix_verdict_is_stored_and_counted(tmp_path):
    store = RatingStore(tmp_path / "ratings.sqlite3")
    store.add(Rating("x", "song.wav", None, {}, "identity", remix="good"))
    (rating,) = store.all()
    assert rating.remix == "good" and rating.overall is None
    assert store.counts()["remix"] == {"good": 1, "fair": 0, "poor": 0}


@pytest.mark.parametrize("name", ["overall", "remix", "Bass", "bass; DROP TABLE ratings", ""])
def test_an_instrument_name_that_cannot_be_a_column_is_refused(tmp_path, name):
    with pytest.raises(BadInputError, match="cannot be an instrument's name"):
        RatingStore(tmp_path / "ratings.sqlite3", instruments=(name,))


def test_a_rating_for_an_instrument_not_loaded_is_refused(tmp_path):
    store = RatingStore(tmp_path / "ratings.sqlite3", instruments=("bass",))
    with pytest.raises(BadInputError, match="no 'guitar' model"):
        store.add(_rating(guitar="good"))
