"""The data engine: synthetic bachata songs, loop libraries and on-the-fly triplets."""

from .loops import LoopLibrary, load_library, render_library
from .song import Song, render_song, save_song
from .timbres import TEST_TIMBRES, TRAIN_TIMBRES, VALID_TIMBRES
from .triplets import TripletDataset

__all__ = [
    "TEST_TIMBRES",
    "TRAIN_TIMBRES",
    "VALID_TIMBRES",
    "LoopLibrary",
    "Song",
    "TripletDataset",
    "load_library",
    "render_library",
    "render_song",
    "save_song",
]
