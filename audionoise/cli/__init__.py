"""Command-line entry point: ``audionoise augment | preview | grid | train | evaluate | make-data | demo | cache``.

Each subcommand lives in its own module of this package and exposes two functions:
``register(subparsers)`` adds its argparse parser, ``run(args) -> int`` does the work and
returns the exit status. The modules import torch and the rest only inside ``run``, so
``audionoise --help`` and ``audionoise --version`` stay fast (no torch import).

Errors: a user error (see :func:`audionoise.cli._common.is_user_error`) prints one line on stderr and exits
with status 2; ``--debug`` shows the traceback instead. Ctrl-C exits with status 130.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from audionoise import __version__
from audionoise.cli._common import is_user_error, one_line

# subcommand name -> module (inside audionoise.cli) that implements it
SUBCOMMANDS = {
    "augment": "augment",
    "preview": "preview",
    "grid": "grid",
    "train": "train",
    "evaluate": "evaluate",
    "make-data": "make_data",
    "demo": "demo",
    "cache": "cache",
}


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad command line reported on one line (the usage is one ``--help`` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; ``only``: register just that subcommand (its module's imports only: start-up)."""
    parser = _Parser(
        prog="audionoise",
        description="Exact, batched, reproducible noise augmentation for speech audio.",
        epilog="`audionoise COMMAND --help` shows each command's options and defaults.",
    )
    parser.add_argument("--version", action="version", version=f"audionoise {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of any error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module in SUBCOMMANDS.items():
        if only is not None and name != only:
            continue
        importlib.import_module(f"audionoise.cli.{module}").register(sub)
    for p in sub.choices.values():  # `audionoise train ... --debug` works too
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the Python traceback of any error")
    return parser


def main(argv: list[str] | None = None) -> int:
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    parser = build_parser(words[0] if words and words[0] in SUBCOMMANDS else None)
    args, extra = parser.parse_known_args(argv)
    if extra:  # name the subcommand whose options these are not
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        from audionoise.runtime import keep_freed_memory

        keep_freed_memory()  # batch-sized buffers stay in the heap: no page faults per call (see runtime.py)
        return int(args.run(args) or 0)
    except BrokenPipeError:  # `audionoise ... | head`: the reader left; stop quietly (Python docs' recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"audionoise {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug or not is_user_error(exc):
            raise
        print(f"audionoise {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
