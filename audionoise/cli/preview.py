"""``audionoise preview IN OUT_DIR``: a page to hear and see what a pipeline does to a few of your clips.

Thin layer over :func:`audionoise.pages.preview_files`: parses options (the pipeline as ``augment`` takes it:
``--config`` or the quick flags), writes the page, prints one line per failed input on stderr, returns the exit
status (0 all picked inputs ok, 1 some failed (the page lists them), 2 usage error).
"""

from __future__ import annotations

import argparse
import sys

from audionoise.cli._common import HelpFormatter, add_quiet, int_at_least
from audionoise.cli.augment import _extensions, _pipeline, _positive, add_pipeline_args

DESCRIPTION = """\
Pick N inputs of IN (a folder, one audio file or a .jsonl manifest, as for augment; in an order drawn from
--seed), augment each --copies times and write OUT_DIR/index.html: per input the clean and augmented audio
(WAV files beside the page, at the clip's rate), waveforms and spectrograms before/after on one colour scale,
and the record of every applied transform with the measured SNR of each noise step; then how often each
transform fired and the distribution of every drawn parameter, over the page and over a dry draw of the plan.
Copy k of an input is exactly augment's output _aug<k> for the same --seed and --engine. The page loads nothing
from the network: open it from disk, or copy the folder anywhere.

exit status: 0 all picked inputs ok, 1 some inputs failed (listed on the page and on stderr), 2 usage error."""

EPILOG = """\
examples:
  audionoise preview clean/ preview/ --noise noise/ --snr 0 20        # then open preview/index.html
  audionoise preview clean/ preview/ --config pipeline.toml -n 4 --copies 3 --seed 1
  audionoise preview train.jsonl preview/ --config pipeline.toml"""


_count = int_at_least(0)


def register(subparsers) -> None:
    p = subparsers.add_parser("preview", help="a page to hear and see what a pipeline does to your clips",
                              description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    p.add_argument("in_dir", metavar="IN", help="folder of input audio, one audio file, or a .jsonl manifest")
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder for index.html and its files (created)")
    add_pipeline_args(p)  # --config or augment's quick flags, the same options
    p.add_argument("-n", type=_positive, default=8, dest="n", help="inputs on the page")
    p.add_argument("--copies", type=_positive, default=2, help="augmented copies per input")
    p.add_argument("--seed", type=int, default=0, help="run seed (picks the inputs; seeds the copies as augment)")
    p.add_argument("--dry-draws", type=_count, default=1000, metavar="N",
                   help="samples of the plan in the summary's distributions")
    p.add_argument("--engine", choices=("auto", "torch"), default="auto",
                   help="as augment's --engine: the copies equal augment's outputs made with the same engine")
    p.add_argument("--ext", type=_extensions, default=None, metavar="wav,flac,...",
                   help="extensions treated as audio (default: all supported)")
    add_quiet(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from audionoise.pages import preview_files

    pipeline = _pipeline(args)
    pv = preview_files(args.in_dir, pipeline, n=args.n, copies=args.copies, seed=args.seed, engine=args.engine,
                       extensions=args.ext, dry_draws=args.dry_draws, out_dir=args.out_dir)
    path = pv.save(args.out_dir)
    for row in pv.errors:
        print(f"audionoise preview: {row['input']}: {' '.join(str(row['reason']).split())}", file=sys.stderr)
    size = sum(f.stat().st_size for f in path.parent.iterdir() if f.is_file())
    print(f"wrote {path}: {len(pv.examples)} inputs x {pv.copies} copies, {size / 1e6:.2f} MB; "
          f"{len(pv.errors)} inputs failed")
    return pv.exit_status
