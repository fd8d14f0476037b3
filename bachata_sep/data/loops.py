"""Loop libraries: ``LIB/<instrument>/<section>/*.wav`` (+ optional ``loops.csv``).

A library is either a user's own loops or rendered from synthetic songs. Loading
normalises every loop once, to the universal 4-beat clip (FFT resampling) and one
loudness, and caches the result as one ``.npy`` (memory-mapped afterwards), so training
never resamples at each step. Unreadable or unusable files are skipped and listed in a
single warning; a load never fails as a whole because of one bad loop.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import AUDIO_SUFFIXES, is_silent, read_audio, to_mono, write_audio
from ..errors import BadInputError
from ..spec import ClipSpec
from ..stretch import stretch
from .mix import db_to_gain
from .song import render_song
from .timbres import (
    SAMPLES,
    SEED_RANGES,
    SPLITS,
    TEST_TIMBRES,
    TRAIN_TIMBRES,
    VALID_TIMBRES,
    family_of,
)

CSV_NAME = "loops.csv"
CSV_FIELDS = ("file", "instrument", "section", "bpm", "beats", "key", "timbre", "song")
LOOP_BEATS = (4, 8)
PLAUSIBLE_BPM = (70.0, 200.0)
LOUDNESS_DB = -20.0
SILENT_RMS = 1e-3  # a rendered stem plays at about 1e-2 RMS or more
EARLY_NOTE_SECONDS = 0.05
CACHE_VERSION = 1


@dataclass
class LoopLibrary:
    """Normalised 4-beat clips ``(N, spec.length)`` and one metadata dict per clip."""

    clips: np.ndarray
    meta: list[dict]
    skipped: list[str]

    def select(self, **criteria: str | None) -> np.ndarray:
        """Indices of the clips whose metadata equal every given (non-None) criterion."""
        wanted = {key: value for key, value in criteria.items() if value is not None}
        return np.array(
            [i for i, m in enumerate(self.meta) if all(m[k] == v for k, v in wanted.items())],
            dtype=np.int64,
        )

    def families(self, split: str) -> list[str]:
        """The timbre families (see ``timbres.family_of``) heard in a split's clips."""
        return sorted(
            {
                family_of(part)
                for meta in self.meta
                if meta["split"] == split
                for part in meta["timbre"].split("+")
            }
        )


# --- rendering a library from synthetic songs ------------------------------------------


def render_library(
    root: str | os.PathLike,
    songs: int,
    seed: int = 0,
    timbres: str = "train",
    beats: int = 4,
    loops_per_section: int = 2,
    duration: float | None = 60.0,
    timbre_spread: float | None = None,
    extra_programs: bool = False,
    samples: str | os.PathLike | None = None,
    randomise: bool = False,
    exclude: tuple[str, ...] = (),
    split_other: bool = False,
) -> Path:
    """Cut rendered songs into loops of every stem: ``loops_per_section`` per section.

    ``timbres`` is a split (train/valid/test: every timbre source of that split, seeds
    offset into its seed range, so splits never share songs) or one timbre source;
    ``timbre_spread`` widens the procedural presets' jitter, ``extra_programs`` adds the
    SoundFonts' variation programs, ``samples`` the real sample sets of that folder to the
    draw, ``randomise`` draws every song far wider and ``exclude`` leaves timbre families
    out (see ``render_song``). ``split_other`` writes the voice, the keys and the extra
    percussion as instruments of their own instead of one ``other``: more target families
    for a shared model, whose query must then tell a bongo from a conga.
    """
    if beats not in LOOP_BEATS:
        raise BadInputError(f"loops have 4 or 8 beats, not {beats}")
    if songs < 1:
        raise BadInputError("render at least one song")
    root = Path(root)
    if timbres in SPLITS:
        source, first_seed = "mixed", SEED_RANGES[timbres].start + seed
    else:
        source, first_seed = timbres, seed
    rows = read_rows(root)
    for song_seed in range(first_seed, first_seed + songs):
        song = render_song(
            song_seed,
            source,
            duration,
            timbre_spread=timbre_spread,
            extra_programs=extra_programs,
            samples=samples,
            randomise=randomise,
            exclude=exclude,
            split_other=split_other,
        )
        rng = np.random.default_rng([song_seed, 1])
        rows.update(cut_loops(song, root, beats, loops_per_section, rng))
    write_rows(root, rows)
    return root


def cut_loops(
    song, root: Path, beats: int, loops_per_section: int, rng: np.random.Generator
) -> dict[str, dict]:
    """Write mono loops from each stem, aligned on downbeats; return their CSV rows."""
    notes = song.annotations
    rate = song.sample_rate
    beat_seconds = 60.0 / notes["tempo_bpm"]
    downbeats = np.array(notes["downbeats"])
    rows = {}
    for section in notes["sections"]:
        bars = downbeats[
            (downbeats >= section["start"] - 1e-6)
            & (downbeats + beats * beat_seconds <= section["end"] + 1e-6)
        ]
        starts = bars[:: beats // 4]
        chosen = rng.choice(starts, size=min(loops_per_section, len(starts)), replace=False)
        for start in sorted(chosen):
            first = int(round(start * rate))
            last = first + int(round(beats * beat_seconds * rate))
            for stem in song.stems:
                loop = to_mono(song.stems[stem][:, first:last])
                # Early notes of the next bar reach into a loop's last moments: not playing.
                if np.sqrt(np.mean(loop[: -int(EARLY_NOTE_SECONDS * rate)] ** 2)) < SILENT_RMS:
                    continue
                timbre = "+".join(notes["timbres"][part] for part in notes["stems"][stem])
                name = f"{stem}/{section['name']}/s{notes['seed']}-t{first}.wav"
                write_audio(root / name, loop[None], rate, subtype="PCM_16")
                rows[name] = {
                    "file": name,
                    "instrument": stem,
                    "section": section["name"],
                    "bpm": notes["tempo_bpm"],
                    "beats": beats,
                    "key": notes["key"],
                    "timbre": timbre,
                    "song": notes["seed"],
                }
    return rows


def read_rows(root: Path) -> dict[str, dict]:
    """The rows of ``root/loops.csv`` keyed by file (empty when there is none)."""
    path = root / CSV_NAME
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        return {row["file"]: row for row in csv.DictReader(handle) if row.get("file")}


def write_rows(root: Path, rows: dict[str, dict]) -> None:
    """Write ``loops.csv`` atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for name in sorted(rows):
        writer.writerow(rows[name])
    root.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".partial-", suffix=".csv", dir=root)
    with os.fdopen(descriptor, "w", newline="") as handle:
        handle.write(buffer.getvalue())
    os.replace(temporary, root / CSV_NAME)


# --- loading and normalising a library --------------------------------------------------


def split_of_timbre(timbre: str) -> str:
    """Known synthetic timbres and the real sample sets keep their split; a user's timbre
    is split 80/10/10 by name."""
    parts = timbre.split("+")
    if any(part in TEST_TIMBRES for part in parts):
        return "test"
    if any(part in VALID_TIMBRES for part in parts):
        return "valid"
    if all(part in TRAIN_TIMBRES or part.startswith(f"{SAMPLES}/") for part in parts):
        return "train"
    bucket = zlib.crc32(timbre.encode()) % 10
    return "test" if bucket == 9 else "valid" if bucket == 8 else "train"


def loop_files(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.glob("*/*/*")
        if path.suffix.lower() in AUDIO_SUFFIXES and not path.name.startswith(".")
    )


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bachata-sep" / "loops"


def library_key(root: Path, files: list[Path], spec: ClipSpec) -> str:
    """A fingerprint of the files (names, sizes, times), their metadata and the clip format."""
    digest = hashlib.sha1(json.dumps([CACHE_VERSION, spec.to_dict()]).encode())
    for path in files:
        status = path.stat()
        digest.update(f"{path.relative_to(root)}|{status.st_size}|{status.st_mtime_ns}".encode())
    csv_path = root / CSV_NAME
    if csv_path.is_file():
        digest.update(csv_path.read_bytes())
    return digest.hexdigest()[:20]


def load_library(
    root: str | os.PathLike,
    spec: ClipSpec | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> LoopLibrary:
    """Load (from the cache when the library is unchanged) every loop as 4-beat clips."""
    spec = spec or ClipSpec()
    root = Path(root)
    if not root.is_dir():
        raise BadInputError(f"loop library {root} is not a folder")
    files = loop_files(root)
    if not files:
        raise BadInputError(f"no loops in {root}: expected {root}/<instrument>/<section>/*.wav")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = library_key(root, files, spec)
    clips_path, meta_path = cache / f"{key}.npy", cache / f"{key}.json"
    if clips_path.is_file() and meta_path.is_file():
        stored = json.loads(meta_path.read_text())
        library = LoopLibrary(np.load(clips_path, mmap_mode="r"), stored["meta"], stored["skipped"])
    else:
        library = normalise_library(root, files, spec)
        save_atomically(clips_path, lambda path: np.save(path, library.clips))
        save_atomically(
            meta_path,
            lambda path: Path(path).write_text(
                json.dumps({"meta": library.meta, "skipped": library.skipped})
            ),
        )
    if library.skipped:
        warnings.warn(
            f"skipped {len(library.skipped)} loop(s) of {root}: " + "; ".join(library.skipped),
            stacklevel=2,
        )
    return library


def normalise_library(root: Path, files: list[Path], spec: ClipSpec) -> LoopLibrary:
    rows = read_rows(root)
    clips, meta, skipped = [], [], []
    for path in files:
        name = path.relative_to(root).as_posix()
        try:
            pieces = normalise_loop(path, rows.get(name, {}), spec)
        except BadInputError as error:
            skipped.append(f"{name} ({error})")
            continue
        row = rows.get(name, {})
        instrument, section = path.parts[-3], path.parts[-2]
        timbre = row.get("timbre") or f"{instrument}/{path.stem}"
        for number, clip in enumerate(pieces):
            clips.append(clip)
            meta.append(
                {
                    "file": name,
                    "piece": number,
                    "instrument": instrument,
                    "section": section,
                    "timbre": timbre,
                    "song": str(row.get("song") or name),
                    "key": row.get("key", ""),
                    "split": split_of_timbre(timbre),
                }
            )
    array = np.stack(clips) if clips else np.zeros((0, spec.length), dtype=np.float32)
    return LoopLibrary(array.astype(np.float32), meta, skipped)


def normalise_loop(path: Path, row: dict, spec: ClipSpec) -> list[np.ndarray]:
    """One loop → its 4-beat pieces, each stretched to the universal clip and loudness."""
    samples, rate, _ = read_audio(path)
    mono = to_mono(samples)
    if is_silent(mono):
        raise BadInputError("silent")
    beats = loop_beats(mono, rate, row)
    clip = stretch(mono, spec.length * beats // 4)
    clip *= db_to_gain(LOUDNESS_DB) / (np.sqrt(np.mean(clip**2)) + 1e-9)
    return [piece.astype(np.float32) for piece in np.split(clip, beats // 4)]


def loop_beats(mono: np.ndarray, rate: int, row: dict) -> int:
    """Beats in a loop: from the CSV, else from its BPM, else the count (4 or 8) whose
    tempo is plausible (and closest to an estimate from the audio when both are)."""
    seconds = len(mono) / rate
    if row.get("beats"):
        beats = int(float(row["beats"]))
    elif row.get("bpm"):
        beats = round(seconds * float(row["bpm"]) / 60)
    else:
        plausible = [
            b for b in LOOP_BEATS if PLAUSIBLE_BPM[0] <= 60 * b / seconds <= PLAUSIBLE_BPM[1]
        ]
        if len(plausible) > 1:
            estimate = estimated_bpm(mono, rate)
            plausible.sort(key=lambda b: abs(np.log(60 * b / seconds / estimate)))
        beats = plausible[0] if plausible else 0
    if beats not in LOOP_BEATS:
        raise BadInputError(f"{seconds:.2f} s is not a 4- or 8-beat loop at a bachata tempo")
    return beats


def estimated_bpm(mono: np.ndarray, rate: int) -> float:
    import librosa

    tempo = librosa.feature.tempo(y=mono, sr=rate, start_bpm=130.0)
    return float(np.atleast_1d(tempo)[0])


def save_atomically(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=".partial-", suffix=path.suffix, dir=path.parent
    )
    os.close(descriptor)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
