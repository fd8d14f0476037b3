"""The one exception type a user's bad input raises.

The CLI prints its message as a single line and the app shows it as a ``gr.Error``,
so every message must read as one plain sentence that says what to fix.
"""


class BadInputError(ValueError):
    """The input cannot be processed (unreadable, empty, silent, too short, ...)."""
