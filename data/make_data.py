"""Generate audionoise's data.

    python data/make_data.py [--out DIR] [--seed S] [--force]   # same as `audionoise make-data`
    python data/make_data.py --bundle                           # the small files committed in data/

``--bundle`` rewrites ``data/noise/*.wav`` (short training-type noises for the example pipeline
config) and ``data/examples/{yes,stop}.wav`` (one synthetic word each), deterministically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--bundle", action="store_true", help="write data/noise and data/examples instead")
    parser.add_argument("--out", default="data/generated", help="output root (without --bundle)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    if args.bundle:
        from audionoise.synth import write_repo_bundle

        for path in write_repo_bundle(Path(__file__).resolve().parent, seed=args.seed):
            print(path)
        return 0
    from audionoise.cli import main as cli

    forwarded = ["make-data", "--out", args.out, "--seed", str(args.seed)]
    return cli(forwarded + (["--force"] if args.force else []))


if __name__ == "__main__":
    sys.exit(main())
