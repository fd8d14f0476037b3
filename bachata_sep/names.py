"""Names made from what a user typed or uploaded, safe to show and to build paths from.

A song called ``...wav`` has the stem ``..``: joined to a folder it climbs out of it, and
in a zip it is the entry ``../bass.wav``. Names shown back (in Markdown, in the ratings
table) must not carry control characters or run to megabytes.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePath

# Longest name kept for files and for display; longer ones are cut with an ellipsis.
MAX_NAME_CHARS = 120
FALLBACK_STEM = "song"
_SEPARATORS = re.compile(r"[/\\:]+")
# Characters that format text in the middle of a line (a name has no line breaks left).
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>!|~$&])")


def printable(text: str, limit: int = MAX_NAME_CHARS) -> str:
    """``text`` without control or format characters (newlines, NUL, bidi overrides),
    cut to ``limit`` characters."""
    kept = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf"))
    return kept if len(kept) <= limit else kept[: limit - 1] + "…"


def safe_stem(file_name: str) -> str:
    """A file name's stem fit to be one path component or zip folder: printable, no path
    separators, no leading or trailing dots or spaces (so never ``.`` or ``..``)."""
    stem = PurePath(_SEPARATORS.sub("_", file_name)).stem
    stem = printable(stem).strip(". ")
    return stem or FALLBACK_STEM


def markdown_escaped(text: str) -> str:
    """``text`` shown literally in Markdown: no bold, links or HTML from a file's name."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)
