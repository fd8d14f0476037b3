"""The ``bachata-sep`` command line: a thin layer over the Python API.

Each feature module contributes its sub-commands through a ``register(subparsers)``
function; a user's bad input ends as one line on stderr and exit status 2, never a
traceback. Ctrl-C, SIGTERM and SIGHUP end a run cleanly (no half-written output) with
status 128 + the signal's number.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import warnings
from collections.abc import Sequence

from .errors import BadInputError
from .signals import Terminated, terminations_raise

# The module that registers each sub-command. A run imports only its own command's module,
# so that ``separate`` does not wait for the training and rendering code (scipy.signal
# and the rest: about 0.7 s); help, or a command not listed, imports them all.
COMMAND_MODULES = {
    "separate": "bachata_sep.commands",
    "beats": "bachata_sep.commands",
    "train": "bachata_sep.train.commands",
    "evaluate": "bachata_sep.train.commands",
    "push": "bachata_sep.train.commands",
    "render-song": "bachata_sep.data.cli",
    "render-loops": "bachata_sep.data.cli",
    "digits": "bachata_sep.digits",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for ``command`` alone when it is known, else for every sub-command."""
    parser = argparse.ArgumentParser(
        prog="bachata-sep",
        description="Separate bongo, güira, bass and guitar from bachata songs.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if command in COMMAND_MODULES:
        modules = [COMMAND_MODULES[command]]
    else:
        modules = list(dict.fromkeys(COMMAND_MODULES.values()))
    for module in modules:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    warnings.formatwarning = _one_line_warning
    try:
        with terminations_raise():
            status = args.run(args)
    except BadInputError as error:
        print(f"bachata-sep: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bachata-sep: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except Terminated as error:
        print(f"bachata-sep: stopped by {error}", file=sys.stderr)
        return 128 + error.signal_number
    return int(status or 0)


def _one_line_warning(message: Warning | str, *_args: object, **_kwargs: object) -> str:
    """Library warnings (e.g. a fixed-grid fallback) read as one line, like errors."""
    return f"bachata-sep: warning: {message}\n"


if __name__ == "__main__":
    sys.exit(main())
