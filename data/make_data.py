"""Generate audionoise's data.

    python data/make_data.py [--out DIR] [--seed S] [--force]   # same as `audionoise make-data`
    python data/make_data.py --bundle                           # the small committed clips

``--bundle`` rewrites, deterministically, the clips shipped in the package, ``audionoise/assets/noise/*.wav``
(short training-type noises) and ``audionoise/assets/examples/{yes,stop}.wav`` (one synthetic word each), and
copies the noises to ``data/noise/`` for the example pipeline configs (``noise = "data/noise"``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--bundle", action="store_true", help="write the package's bundled clips and data/noise instead")
    parser.add_argument("--out", default="data/generated", help="output root (without --bundle)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    if args.bundle:
        from audionoise.synth import write_repo_bundle

        assets = REPO / "audionoise" / "assets"
        for path in write_repo_bundle(assets, seed=args.seed):
            print(path)
            if path.parent.name == "noise":
                shutil.copyfile(path, REPO / "data" / "noise" / path.name)
                print(REPO / "data" / "noise" / path.name)
        return 0
    from audionoise.cli import main as cli

    forwarded = ["make-data", "--out", args.out, "--seed", str(args.seed)]
    return cli(forwarded + (["--force"] if args.force else []))


if __name__ == "__main__":
    sys.exit(main())
