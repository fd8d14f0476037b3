"""bachata-sep: query-by-example separation of bongo, güira, bass and guitar."""

from .api import beats, separate, separate_blocks
from .errors import BadInputError
from .spec import INSTRUMENTS, ClipSpec

__all__ = ["INSTRUMENTS", "BadInputError", "ClipSpec", "beats", "separate", "separate_blocks"]
__version__ = "0.1.0"
