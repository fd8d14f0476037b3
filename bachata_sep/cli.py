"""The ``bachata-sep`` command line: a thin layer over the Python API.

Each feature module contributes its sub-commands through a ``register(subparsers)``
function listed in ``REGISTRARS``; a user's bad input ends as one line on stderr and
exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence

from .errors import BadInputError

Registrar = Callable[[argparse._SubParsersAction], None]


def _registrars() -> list[Registrar]:
    from . import commands, digits
    from .data import cli as data_cli

    return [commands.register, data_cli.register, digits.register]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bachata-sep",
        description="Separate bongo, güira, bass and guitar from bachata songs.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _registrars():
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = _one_line_warning
    try:
        status = args.run(args)
    except BadInputError as error:
        print(f"bachata-sep: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bachata-sep: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


def _one_line_warning(message: Warning | str, *_args: object, **_kwargs: object) -> str:
    """Library warnings (e.g. a fixed-grid fallback) read as one line, like errors."""
    return f"bachata-sep: warning: {message}\n"


if __name__ == "__main__":
    sys.exit(main())
