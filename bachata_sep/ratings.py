"""Listeners' ratings of separated songs, kept in SQLite so that none is lost on a restart.

Every rating is one row: the song (a hash of its audio file and its name), good / fair /
poor for each instrument, overall and for how useful a remix of it was (any of them may be
left out), which weights made the stems, and when. Each instrument the loaded models
separate has a column of its own, added when first seen. Rows are only ever added, so
several users can rate at the same time (WAL mode lets readers and one writer work side
by side). A file SQLite cannot read is moved aside under a dated name, never deleted, and
a fresh one started: the app must start.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import BadInputError
from .names import printable
from .spec import INSTRUMENTS

RATINGS: tuple[str, ...] = ("good", "fair", "poor")
PATH_VARIABLE = "BACHATA_SEP_RATINGS_DB"
DEFAULT_PATH = Path("data") / "ratings.sqlite3"
# Seconds a writer waits for another's lock before giving up.
BUSY_TIMEOUT = 10.0
# SQLite's companions of a database file, moved aside with it.
SIDECAR_SUFFIXES = ("-wal", "-shm", "-journal")
# The verdict on a remix made from the stems: how useful it was to listen or dance to.
REMIX = "remix"
# Instruments name columns: plain lowercase words that are not one of the fixed columns.
_INSTRUMENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_FIXED_COLUMNS = ("id", "song_id", "song_name", "overall", "separator_source", "rated_at", REMIX)

LOG = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    song_id TEXT NOT NULL,
    song_name TEXT NOT NULL,
    overall TEXT,
    separator_source TEXT NOT NULL,
    rated_at TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Rating:
    """One listener's verdict on one separated song."""

    song_id: str
    song_name: str
    overall: str | None
    instruments: Mapping[str, str | None]
    separator_source: str
    rated_at: str = ""
    remix: str | None = None

    def verdicts(self) -> dict[str, str | None]:
        """Overall, each instrument's and the remix's verdict (None where none was given)."""
        return {"overall": self.overall, **self.instruments, REMIX: self.remix}


def check_instrument_name(name: str) -> None:
    """Refuse an instrument name that cannot be a ratings column (a model's config names
    it, so it must never reach SQL unchecked)."""
    if not _INSTRUMENT_NAME.fullmatch(name) or name in _FIXED_COLUMNS:
        raise BadInputError(
            f"{name!r} cannot be an instrument's name: use lowercase letters, digits and _, "
            f"not one of {', '.join(_FIXED_COLUMNS)}"
        )


def database_path() -> Path:
    """``$BACHATA_SEP_RATINGS_DB``, else ``data/ratings.sqlite3`` under the working folder."""
    return Path(os.environ.get(PATH_VARIABLE) or DEFAULT_PATH)


def song_id(path: str | os.PathLike) -> str:
    """A stable id of a song file's content: the same song uploaded twice gets one id."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


class RatingStore:
    """The ratings table of one SQLite file for ``instruments`` (the loaded models'); every
    call opens its own connection, so the store can be shared by the app's worker threads.
    Columns of instruments no longer loaded stay in the file, untouched."""

    def __init__(
        self, path: str | os.PathLike | None = None, instruments: Sequence[str] = INSTRUMENTS
    ) -> None:
        for name in instruments:
            check_instrument_name(name)
        self.instruments = tuple(instruments)
        self.path = Path(path) if path is not None else database_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._open()
        except sqlite3.DatabaseError as error:
            aside = move_aside(self.path)
            LOG.warning(
                "ratings file %s is unreadable (%s): moved it to %s and started a new one",
                self.path,
                error,
                aside,
            )
            self._open()

    def _open(self) -> None:
        """Check the file, then create or migrate the table; raises ``DatabaseError`` for a
        file that is not SQLite or is damaged."""
        with closing(self._connect()) as connection, connection:
            problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError(f"integrity check: {problems[0]}")
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_SCHEMA)
            _add_columns(connection, [*self.instruments, REMIX])

    def add(self, rating: Rating) -> None:
        """Store a rating; at least one verdict must be given and each must be a known one.
        Its texts are stored printable and cut to a name's length: a 10 MB song name made
        the file 11 MB and every read of the table slow."""
        verdicts = rating.verdicts()
        for name in rating.instruments:
            if name not in self.instruments:
                raise BadInputError(f"there is no {name!r} model to rate")
        if all(verdict is None for verdict in verdicts.values()):
            raise BadInputError("choose good, fair or poor for the song or an instrument first")
        for verdict in verdicts.values():
            if verdict is not None and verdict not in RATINGS:
                raise BadInputError(f"{verdict!r} is not a rating: use good, fair or poor")
        rated_at = rating.rated_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
        columns = ["song_id", "song_name", "separator_source", "rated_at", *map(_quoted, verdicts)]
        values = [
            printable(text) for text in (rating.song_id, rating.song_name, rating.separator_source)
        ] + [rated_at]
        with closing(self._connect()) as connection, connection:
            connection.execute(
                f"INSERT INTO ratings ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})",
                [*values, *verdicts.values()],
            )

    def all(self) -> list[Rating]:
        """Every rating, newest first."""
        columns = ", ".join(map(_quoted, [REMIX, *self.instruments]))
        with closing(self._connect()) as connection:
            rows = connection.execute(
                f"SELECT song_id, song_name, overall, separator_source, rated_at, {columns} "
                "FROM ratings ORDER BY id DESC"
            ).fetchall()
        return [
            Rating(
                *row[:3],
                dict(zip(self.instruments, row[6:], strict=True)),
                *row[3:6],
            )
            for row in rows
        ]

    def counts(self) -> dict[str, dict[str, int]]:
        """How often each verdict was given: overall, per instrument and for remixes."""
        targets = ("overall", *self.instruments, REMIX)
        counts = {target: dict.fromkeys(RATINGS, 0) for target in targets}
        for rating in self.all():
            for target, verdict in rating.verdicts().items():
                if verdict in RATINGS:
                    counts[target][verdict] += 1
        return counts

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=BUSY_TIMEOUT)


def move_aside(path: Path) -> Path:
    """Rename ``path`` (and its SQLite companions) to ``<name>.unreadable-<UTC time>``,
    numbered when that exists already: the listeners' ratings in it are kept for a person
    to rescue, and nothing is overwritten."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.unreadable-{stamp}")
    number = 1
    while any(Path(f"{aside}{suffix}").exists() for suffix in ("", *SIDECAR_SUFFIXES)):
        aside = path.with_name(f"{path.name}.unreadable-{stamp}-{number}")
        number += 1
    for suffix in SIDECAR_SUFFIXES:
        if Path(f"{path}{suffix}").exists():
            os.rename(f"{path}{suffix}", f"{aside}{suffix}")
    os.rename(path, aside)
    return aside


def _add_columns(connection: sqlite3.Connection, names: Sequence[str]) -> None:
    """A verdict column per instrument (and the remix's), added to older files too, so a
    new instrument never needs a hand-run migration and old ratings are kept."""
    existing = {row[1] for row in connection.execute("PRAGMA table_info(ratings)")}
    for name in names:
        if name not in existing:
            connection.execute(f"ALTER TABLE ratings ADD COLUMN {_quoted(name)} TEXT")


def _quoted(column: str) -> str:
    """A checked column name as an SQL identifier (``"bass"``)."""
    return f'"{column}"'
