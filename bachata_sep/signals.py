"""SIGTERM and SIGHUP unwind a command as Ctrl-C does, so its ``finally`` blocks run.

Python turns SIGINT into ``KeyboardInterrupt`` but dies at once on SIGTERM (``kill``, a
closing container) and SIGHUP (a closed terminal): the staging folder of half-written stems
stayed behind. Here they raise :class:`Terminated` instead.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

TERMINATION_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Terminated(BaseException):
    """A termination signal arrived. A ``BaseException``, like ``KeyboardInterrupt``, so
    that no ``except Exception`` on the way swallows it."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


@contextmanager
def terminations_raise() -> Iterator[None]:
    """Within the block, a termination signal raises :class:`Terminated` in the main
    thread; the former handlers are put back afterwards. Elsewhere than the main thread
    (where Python allows no handlers) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _raise_terminated) for number in TERMINATION_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _raise_terminated(signal_number: int, _frame: FrameType | None) -> None:
    # A second signal must not cut the clean-up that the first one started short.
    for number in TERMINATION_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    raise Terminated(signal_number)
