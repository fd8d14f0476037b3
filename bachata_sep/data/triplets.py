"""On-the-fly (mixture, ground truth, query) triplets drawn from a normalised loop library.

An item is a random mixture of loops from one section (the target's own song and bar
half the time, so keys and grooves agree), the target's loop in it (or silence when the
target is left out), and a query: another loop of the same instrument from another song
(another pattern, and usually another timbre), or with ``song_query_rate`` sometimes
another loop of the target's own song (same timbre: a query worth listening to, as a
reference cut from the user's own song is). With ``eq_db`` every loop, query included,
also gets its own random EQ (timbre augmentation, see ``augment``). With ``shift_ms`` the
mixture and its target are rolled together by a random few milliseconds, so the model
learns bars cut a little off the downbeat, as a beat tracker cuts them. With ``codec_rate``
that share of mixtures go through an MP3 codec (pedalboard's LAME, VBR quality 2-7), as
songs reach users; the target stays clean. With ``twin_rate`` that share of mixtures also
play a *twin*: a loop of the target's own instrument from another song (a second guitar,
a bongo of another kit), and the query comes from the target's own song, so only the
query can tell which of the two to take (requinto beside segunda; bongo beside conga):
``benchmarks/twins.py`` scores models on such items (training on them did not pay, see
``docs/queries.md``).
Item ``i`` depends only on ``(seed, i)``, so a dataset is reproducible with any number of
DataLoader workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pedalboard
import torch

from ..errors import BadInputError
from ..spec import INSTRUMENTS, ClipSpec
from ..transforms import heatmap, model_magnitude
from .augment import apply_eq_curve, random_eq_db
from .effects import VBR_QUALITY, apply
from .loops import LoopLibrary
from .mix import db_to_gain


@dataclass(frozen=True)
class Draw:
    """Which loops make an item: indices into the library, and their gains."""

    instrument: str
    target: int
    query: int
    others: tuple[int, ...]
    gains: tuple[float, ...]  # target first, then others
    present: bool
    equalizers: tuple[tuple[float, ...], ...] = ()  # EQ anchor dB: target, others, query
    shift: int = 0  # samples the mixture and target are rolled by (positive: later)
    codec: float = 0.0  # the mixture's MP3 VBR quality; 0: no codec
    twin: int = -1  # a loop of the target's instrument from another song; -1: none
    twin_gain: float = 0.0
    twin_equalizer: tuple[float, ...] = ()


class TripletDataset(torch.utils.data.Dataset):
    """Triplets from one split of a library, for targets drawn from ``instruments``."""

    def __init__(
        self,
        library: LoopLibrary,
        split: str = "train",
        instruments: tuple[str, ...] = INSTRUMENTS,
        size: int = 10_000,
        seed: int = 0,
        absent_rate: float = 0.1,
        same_song_rate: float = 0.5,
        include_rate: float = 0.8,
        gain_db: tuple[float, float] = (-9.0, 3.0),
        eq_db: float = 0.0,
        shift_ms: float = 0.0,
        song_query_rate: float = 0.0,
        codec_rate: float = 0.0,
        twin_rate: float = 0.0,
        spec: ClipSpec | None = None,
    ) -> None:
        self.library = library
        self.spec = spec or ClipSpec()
        self.size, self.seed = size, seed
        self.absent_rate, self.same_song_rate = absent_rate, same_song_rate
        self.include_rate, self.gain_db, self.eq_db = include_rate, gain_db, eq_db
        self.max_shift = round(shift_ms / 1000 * self.spec.sample_rate)
        self.song_query_rate, self.codec_rate = song_query_rate, codec_rate
        self.twin_rate = twin_rate
        self.pool = {
            name: library.select(instrument=name, split=split)
            for name in sorted({m["instrument"] for m in library.meta})
        }
        self.groups: dict[tuple, list[int]] = {}
        # Kept apart from ``groups``: a song named like a section must not share its key.
        self.song_loops: dict[tuple[str, str], list[int]] = {}
        for name, pool in self.pool.items():
            for i in pool:
                meta = library.meta[i]
                self.groups.setdefault((name, meta["section"]), []).append(int(i))
                self.groups.setdefault((name, meta["section"], meta["song"]), []).append(int(i))
                self.song_loops.setdefault((name, meta["song"]), []).append(int(i))
        self.instruments = tuple(i for i in instruments if self._queryable(i))
        if not self.instruments:
            raise BadInputError(
                f"the {split} split has no instrument with loops from two songs to query"
            )
        if library.clips.shape[-1] != self.spec.length:
            raise BadInputError("the library was normalised for another clip format")

    def _queryable(self, instrument: str) -> bool:
        pool = self.pool.get(instrument, ())
        return len({self.library.meta[i]["song"] for i in pool}) >= 2

    def __len__(self) -> int:
        return self.size

    def draw(self, index: int) -> Draw:
        """Choose the loops and gains of item ``index`` (deterministic in seed and index)."""
        rng = np.random.default_rng([self.seed, index])
        meta = self.library.meta
        instrument = self.instruments[rng.integers(len(self.instruments))]
        target = int(rng.choice(self.pool[instrument]))
        song, section = meta[target]["song"], meta[target]["section"]
        others = []
        for name, pool in self.pool.items():
            if name == instrument or not len(pool) or rng.random() > self.include_rate:
                continue
            candidates = self.groups.get((name, section, song))
            if not candidates or rng.random() > self.same_song_rate:
                candidates = self.groups.get((name, section), pool)
            others.append(int(rng.choice(candidates)))
        query = target
        while meta[query]["song"] == song:  # terminates: the pool spans two songs or more
            query = int(rng.choice(self.pool[instrument]))
        gains = tuple(float(g) for g in db_to_gain(rng.uniform(*self.gain_db, 1 + len(others))))
        present = bool(rng.random() >= self.absent_rate) or not others
        # Augmentations are drawn last, so that without them the items are those of a
        # dataset without them.
        equalizers = (
            tuple(tuple(random_eq_db(rng, self.eq_db).tolist()) for _ in range(len(others) + 2))
            if self.eq_db > 0
            else ()
        )
        shift = int(rng.integers(-self.max_shift, self.max_shift + 1)) if self.max_shift else 0
        own = [i for i in self.song_loops[instrument, song] if i != target]  # same timbre
        if self.song_query_rate and rng.random() < self.song_query_rate:
            query = int(rng.choice(own)) if own else query
        codec = 0.0
        if self.codec_rate and rng.random() < self.codec_rate:
            codec = float(rng.uniform(*VBR_QUALITY))
        twin, twin_gain, twin_equalizer = -1, 0.0, ()
        if self.twin_rate and rng.random() < self.twin_rate:
            strangers = [i for i in self.pool[instrument] if meta[i]["song"] != song]
            if own:  # a twin needs a query from the target's own song to tell them apart
                twin, query = int(rng.choice(strangers)), int(rng.choice(own))
                twin_gain = float(db_to_gain(rng.uniform(*self.gain_db)))
                if self.eq_db > 0:
                    twin_equalizer = tuple(random_eq_db(rng, self.eq_db).tolist())
        return Draw(
            instrument,
            target,
            query,
            tuple(others),
            gains,
            present,
            equalizers,
            shift,
            codec,
            twin,
            twin_gain,
            twin_equalizer,
        )

    def _loop(self, draw: Draw, index: int, position: int) -> np.ndarray:
        """Library clip ``index``, through the draw's EQ at ``position`` if it has one."""
        return self._shaped(index, draw.equalizers[position] if draw.equalizers else ())

    def _shaped(self, index: int, equalizer: tuple[float, ...]) -> np.ndarray:
        """Library clip ``index``, through the EQ with these anchors (none: as it is)."""
        clip = np.asarray(self.library.clips[index], dtype=np.float32)
        if not equalizer:
            return clip
        return apply_eq_curve(clip, np.array(equalizer), self.spec.sample_rate)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        draw = self.draw(index)
        target = self._loop(draw, draw.target, 0) * np.float32(draw.gains[0])
        if not draw.present:
            target = np.zeros_like(target)
        mixture = target.copy()
        for position, (loop, gain) in enumerate(zip(draw.others, draw.gains[1:], strict=True)):
            mixture += self._loop(draw, loop, position + 1) * np.float32(gain)
        if draw.twin >= 0:
            mixture += self._shaped(draw.twin, draw.twin_equalizer) * np.float32(draw.twin_gain)
        if draw.shift:
            # A loop repeats, so what a late cut moves to the front is the bar's own end.
            mixture, target = np.roll(mixture, draw.shift), np.roll(target, draw.shift)
        if draw.codec:
            codec = pedalboard.MP3Compressor(vbr_quality=draw.codec)
            mixture = apply(pedalboard.Pedalboard([codec]), mixture, self.spec.sample_rate)
        query = self._loop(draw, draw.query, len(draw.others) + 1).copy()
        magnitudes = model_magnitude(np.stack([mixture, query]), self.spec)
        return {
            "mixture": torch.from_numpy(mixture),
            "target": torch.from_numpy(target),
            "query": torch.from_numpy(query),
            "mixture_heatmap": heatmap(magnitudes[0])[None],
            "query_heatmap": heatmap(magnitudes[1])[None],
            "present": torch.tensor(float(draw.present)),
            "instrument": torch.tensor(
                INSTRUMENTS.index(draw.instrument) if draw.instrument in INSTRUMENTS else -1
            ),
        }
