"""Command-line entry point: ``audionoise augment | grid | train | evaluate | make-data | demo``.

Each subcommand lives in its own module of this package and exposes two functions:
``register(subparsers)`` adds its argparse parser, ``run(args) -> int`` does the work and
returns the exit status. Modules are imported lazily so ``audionoise --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand name -> module (inside audionoise.cli) that implements it
SUBCOMMANDS = {
    "augment": "augment",
    "grid": "grid",
    "train": "train",
    "evaluate": "evaluate",
    "make-data": "make_data",
    "demo": "demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audionoise",
        description="Exact, batched, reproducible noise augmentation for speech audio.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module in SUBCOMMANDS.items():
        try:
            mod = importlib.import_module(f"audionoise.cli.{module}")
        except ModuleNotFoundError as exc:  # subcommand not built yet in this checkout
            if exc.name != f"audionoise.cli.{module}":
                raise
            continue
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from audionoise.runtime import keep_freed_memory

    parser = build_parser()
    args = parser.parse_args(argv)
    keep_freed_memory()  # batch-sized buffers stay in the heap: no page faults per call (see runtime.py)
    return int(args.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
