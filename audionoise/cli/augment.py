"""``audionoise augment IN OUT --config PIPELINE.toml``: augment a folder tree, a file or a manifest offline.

Thin layer over :func:`audionoise.offline.augment` / :func:`~audionoise.offline.dry_run`: parses options, prints
the summary, returns the exit status (0 all ok, 1 some inputs failed, 2 usage error, 3 stopped by a write error
such as a full disk, 130/143 stopped by SIGINT/SIGTERM).
"""

from __future__ import annotations

import argparse
import sys

from audionoise.cli._common import HelpFormatter, UsageError, add_quiet, int_at_least

DESCRIPTION = """\
Write augmented copies of every input of IN under OUT (name_aug0.wav, name_aug1.wav, ...), with
OUT/manifest.jsonl (one line per output, with every applied parameter) and OUT/errors.jsonl (one line per
input that failed). IN is a folder (its tree is mirrored), one audio file, or a NeMo JSONL manifest
(audio_filepath, optional offset/duration; the output manifest keeps every field). Each output depends only
on (--seed, input path, copy index): any --workers, --shard split or --resume gives identical bytes.
IN is never written to; outputs are written atomically (temp file + rename). m4a/mp4/aac/wma/amr inputs
need the audionoise[ffmpeg] extra and are written as FLAC.

exit status: 0 all inputs ok, 1 some inputs failed (the rest is done), 2 usage error or OUT in use by
another job (one line names it; --wait waits), 3 stopped by a write error (disk full: free space, then
--resume), 130/143 stopped by SIGINT/SIGTERM (then --resume)."""

EPILOG = """\
examples:
  audionoise augment clean/ noisy/ --config pipeline.toml --copies 3 --workers 4
  audionoise augment clean/ noisy/ --noise noise/ --snr 0 20 --white-snr 20 40   # no TOML needed
  audionoise augment clean/ noisy/ --noise 'musan/noise/**/*.wav' --noise dns.jsonl --snr 10   # fixed 10 dB
  audionoise augment --noise noise/ --snr 0 20 --print-config > pipeline.toml    # the same as a TOML
  audionoise augment train.jsonl noisy/ --config pipeline.toml --dry-run         # check, write nothing
  audionoise augment clean/ noisy/ --config pipeline.toml --resume        # after an interruption
  audionoise augment clean/ noisy/ --config pipeline.toml --shard 3/16    # job 3 of 16 (0-based)
  audionoise augment clean/ noisy/ --config pipeline.toml --backend ray --address ray://head:10001"""


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r} must look like I/N, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: need 0 <= I < N (I is 0-based), e.g. 0/4 ... 3/4")
    return i, n


_positive = int_at_least(1)


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{text} must be > 0 seconds")
    return v


def _db(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of dB (one value: a fixed SNR, two: LO HI; "
                                         f"put IN and OUT before the options)") from None


def _extensions(text: str) -> list[str]:
    return [e.strip() for e in text.split(",") if e.strip()]


def add_pipeline_args(p: argparse.ArgumentParser) -> None:
    """``--config`` and the quick flags (shared with ``audionoise preview``; read back by :func:`_pipeline`)."""
    p.add_argument("--config", default=None, metavar="PIPELINE.toml",
                   help="pipeline config (.toml, .yaml/.yml or .json); or build one with the quick flags below")
    quick = p.add_argument_group("quick pipeline (instead of --config): background noise, white noise, time mask")
    quick.add_argument("--noise", action="append", default=None, metavar="SOURCE",
                       help="noise recordings, anything BackgroundNoise takes: a folder, an audio file, a glob "
                            "pattern (quoted), a text file listing audio paths, a JSONL manifest; repeat for "
                            "several (needs --snr)")
    quick.add_argument("--snr", type=_db, nargs="+", default=None, metavar="DB",
                       help="SNR of the background noise in dB: one value (fixed, --snr 10) or a range (--snr 0 20)")
    quick.add_argument("--white-snr", type=_db, nargs="+", default=None, metavar="DB",
                       help="add white noise at this SNR in dB: one value (fixed) or a range LO HI")
    quick.add_argument("--time-mask", type=_seconds, default=None, metavar="MAX_S",
                       help="silence one stretch of up to MAX_S seconds")


def register(subparsers) -> None:
    p = subparsers.add_parser("augment", help="augment a folder of audio files offline",
                              description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    p.add_argument("in_dir", metavar="IN", nargs="?",
                   help="folder of input audio, one audio file, or a .jsonl manifest (read only)")
    p.add_argument("out_dir", metavar="OUT", nargs="?", help="output folder (created; must not be inside IN)")
    add_pipeline_args(p)
    p.add_argument("--print-config", action="store_true",
                   help="print the pipeline as TOML and exit (IN and OUT not needed)")
    p.add_argument("--dry-run", action="store_true",
                   help="check the config and every input's header, count outputs and bytes; write nothing")
    p.add_argument("--copies", type=_positive, default=1, help="augmented copies per input")
    p.add_argument("--workers", type=_positive, default=1,
                   help="worker processes (with --backend ray|dask and no --address: the local cluster's size)")
    p.add_argument("--backend", choices=("local", "ray", "dask"), default="local",
                   help="local: a process pool on this machine; ray, dask: tasks of many inputs on a cluster (a "
                        "local one of --workers processes, or the one at --address); IN and OUT must be on a file "
                        "system every worker sees. Needs audionoise[ray] / audionoise[dask]")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="join a running cluster: Ray ray://HOST:10001 or HOST:6379, Dask tcp://HOST:8786")
    p.add_argument("--seed", type=int, default=0, help="run seed")
    p.add_argument("--resume", action="store_true", help="keep finished outputs of an earlier run, do the rest")
    p.add_argument("--wait", action="store_true",
                   help="if another job is writing OUT (the same shard, or any job it would collide with), wait "
                        "for it to end instead of stopping with exit status 2")
    p.add_argument("--shard", type=_shard, default="0/1", metavar="I/N",
                   help="process only shard I (0-based) of N of the sorted file list")
    p.add_argument("--format", dest="fmt", choices=("same", "wav", "flac"), default="same",
                   help="output format")
    p.add_argument("--sample-rate", type=_positive, default=None, metavar="SR",
                   help="resample outputs to SR Hz (default: keep each file's rate)")
    p.add_argument("--on-clip", choices=("normalize", "clip", "error"), default="normalize",
                   help="an integer-format output beyond full scale (float outputs hold any value): normalize = "
                        "scale it by 1/peak, speech and noise together (SNRs kept; the manifest records "
                        "normalized_db); clip = clamp at full scale (the manifest counts the clipped samples); "
                        "error = fail that input (a line in errors.jsonl with the peak in dBFS)")
    p.add_argument("--engine", choices=("auto", "torch"), default="auto",
                   help="auto: NumPy (no torch import, ~2 s less start-up) for white/background noise, time masks "
                        "and gain with their common options, torch for everything else; torch: every output "
                        "from the torch pipeline (equal to the library call with a torch.Generator)")
    p.add_argument("--stems", action="store_true",
                   help="speech-enhancement data: also write each output's clean target (the signal before the "
                        "additive noise) and noise stem next to it (_clean, _noise; manifest fields clean_filepath, "
                        "noise_filepath); every additive noise injector must come last in the pipeline")
    p.add_argument("--ext", type=_extensions, default=None, metavar="wav,flac,...",
                   help="extensions treated as audio (default: all supported)")
    add_quiet(p)
    p.add_argument("--no-progress", action="store_true", dest="quiet", help="same as --quiet")
    p.set_defaults(run=run)


def _pipeline(args: argparse.Namespace):
    """The --config path, or the quick flags' config dict."""
    from audionoise.offline import quick_config

    quick = any(v is not None for v in (args.noise, args.snr, args.white_snr, args.time_mask))
    if args.config is not None and quick:
        raise UsageError("--config and the quick flags (--noise/--snr/--white-snr/--time-mask) exclude each other")
    if args.config is not None:
        return args.config
    return quick_config(args.noise, args.snr, args.white_snr, args.time_mask)


def run(args: argparse.Namespace) -> int:
    from audionoise.offline import OfflineUsageError

    # bad inputs, options or configs raise OfflineUsageError/UsageError: one line and exit 2 (see cli/__init__)
    try:
        return _run(args)
    except OfflineUsageError as exc:
        if exc.cli is None:
            raise
        raise UsageError(exc.cli) from None  # the message in command-line words (--resume, not resume=True)


def _run(args: argparse.Namespace) -> int:
    from audionoise.offline import augment, dry_run

    pipeline = _pipeline(args)
    if args.print_config:
        return _print_config(pipeline)
    if args.in_dir is None or args.out_dir is None:
        raise UsageError("IN and OUT are required (only --print-config works without them)")
    common = dict(copies=args.copies, seed=args.seed, resume=args.resume, shard=args.shard, fmt=args.fmt,
                  sample_rate=args.sample_rate, extensions=args.ext, on_clip=args.on_clip,
                  engine=args.engine)
    if args.dry_run:
        report = dry_run(args.in_dir, args.out_dir, pipeline, **common)
        print(report)
        return report.exit_status
    from audionoise.offline.backends import executor

    with executor(args.backend, args.workers, args.address) as ex:  # None: the local process pool
        summary = augment(args.in_dir, args.out_dir, pipeline, workers=args.workers if ex is None else 1,
                          progress=not args.quiet, wait=args.wait, executor=ex, stems=args.stems,
                          **common)
    print(summary)
    if summary.failed:
        print(f"{summary.failed} input(s) failed: see {summary.errors}", file=sys.stderr)
    if summary.stop_line:
        print(f"audionoise augment: {summary.stop_line}", file=sys.stderr)
    return summary.exit_status


def _print_config(pipeline) -> int:
    import tomli_w

    from audionoise.pipeline import read_config

    config = read_config(pipeline) if not isinstance(pipeline, dict) else pipeline
    sys.stdout.write(tomli_w.dumps(config))
    return 0
