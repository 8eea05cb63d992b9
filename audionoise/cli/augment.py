"""``audionoise augment IN_DIR OUT_DIR --config PIPELINE.toml``: augment a folder tree offline.

Thin layer over :func:`audionoise.offline.augment_folder`: parses options, prints the summary, returns the exit
status (0 all ok, 1 some inputs failed, 2 usage error).
"""

from __future__ import annotations

import argparse
import sys

from audionoise.cli._common import HelpFormatter, add_quiet

DESCRIPTION = """\
Write augmented copies of every audio file under IN_DIR to the same relative paths under OUT_DIR
(name_aug0.wav, name_aug1.wav, ...), with OUT_DIR/manifest.jsonl (one line per output, with every applied
parameter) and OUT_DIR/errors.jsonl (one line per input that failed). Each output depends only on
(--seed, relative path, copy index): any --workers, --shard split or --resume gives identical bytes.
IN_DIR is never written to; outputs are written atomically (temp file + rename).

exit status: 0 all inputs ok, 1 some inputs failed (the rest is done), 2 usage error."""

EPILOG = """\
examples:
  audionoise augment clean/ noisy/ --config pipeline.toml --copies 3 --workers 4
  audionoise augment clean/ noisy/ --config pipeline.toml --resume        # after an interruption
  audionoise augment clean/ noisy/ --config pipeline.toml --shard 3/16    # job 3 of 16 (0-based)"""


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r} must look like I/N, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: need 0 <= I < N (I is 0-based), e.g. 0/4 ... 3/4")
    return i, n


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be >= 1")
    return v


def _extensions(text: str) -> list[str]:
    return [e.strip() for e in text.split(",") if e.strip()]


def register(subparsers) -> None:
    p = subparsers.add_parser("augment", help="augment a folder of audio files offline",
                              description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    p.add_argument("in_dir", metavar="IN_DIR", help="folder of input audio (read only)")
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder (created; must not be inside IN_DIR)")
    p.add_argument("--config", required=True, metavar="PIPELINE.toml",
                   help="pipeline config (.toml, .yaml/.yml or .json), required")
    p.add_argument("--copies", type=_positive, default=1, help="augmented copies per input")
    p.add_argument("--workers", type=_positive, default=1, help="worker processes")
    p.add_argument("--seed", type=int, default=0, help="run seed")
    p.add_argument("--resume", action="store_true", help="keep finished outputs of an earlier run, do the rest")
    p.add_argument("--shard", type=_shard, default="0/1", metavar="I/N",
                   help="process only shard I (0-based) of N of the sorted file list")
    p.add_argument("--format", dest="fmt", choices=("same", "wav", "flac"), default="same",
                   help="output format")
    p.add_argument("--sample-rate", type=_positive, default=None, metavar="SR",
                   help="resample outputs to SR Hz (default: keep each file's rate)")
    p.add_argument("--ext", type=_extensions, default=None, metavar="wav,flac,...",
                   help="extensions treated as audio (default: all supported)")
    add_quiet(p)
    p.add_argument("--no-progress", action="store_true", dest="quiet", help="same as --quiet")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from audionoise.offline import augment_folder

    # bad folders, options or configs raise OfflineUsageError (a ValueError): one line and exit 2 (see cli/__init__)
    summary = augment_folder(args.in_dir, args.out_dir, args.config, copies=args.copies, workers=args.workers,
                             seed=args.seed, resume=args.resume, shard=args.shard, fmt=args.fmt,
                             sample_rate=args.sample_rate, extensions=args.ext, progress=not args.quiet)
    print(summary)
    if summary.failed:
        print(f"{summary.failed} input(s) failed: see {summary.errors}", file=sys.stderr)
    return summary.exit_status
