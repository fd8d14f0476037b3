"""The one exception type a user's bad input raises.

The CLI prints its message as a single line and the app shows it as a ``gr.Error``,
so every message must read as one plain sentence that says what to fix.
"""


class BadInputError(ValueError):
    """The input cannot be processed (unreadable, empty, silent, too short, ...)."""


class MissingWeightsError(BadInputError):
    """No trained weights anywhere (Hub, shipped ``checkpoints``): the message says how to
    get them. A :class:`BadInputError`, so the CLI and the app report it the same way."""
