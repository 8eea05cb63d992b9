"""``audionoise grid IN OUT --noise SOURCE --snr 20 10 0 -5``: a noisy test set for any task.

Thin layer over :func:`audionoise.robustness.grid.make_grid` (exit status 0 all ok, 1 some inputs failed, 2 usage error).
"""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
Write every clip of IN (a folder, an audio file or a JSONL manifest) mixed with noise from --noise at every
--snr: the SNR is exact over each clip (the clean clip is never rescaled), a clip gets the same noise window
at every SNR (chosen from --seed and the clip's path; with --per-noise every noise clip is used), and outputs
are float WAV so nothing clips. OUT/manifest.jsonl lists every output (audio_filepath, source, noise,
noise_offset, snr_db, plus the input manifest's fields); OUT/errors.jsonl the inputs that could not be read.

exit status: 0 all inputs ok, 1 some inputs failed (the rest is done), 2 usage error."""


def register(subparsers) -> None:
    p = subparsers.add_parser("grid", help="noisy test set: every clip at every SNR (exact), same noise window",
                              description=DESCRIPTION, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("inp", metavar="IN", help="folder, audio file or JSONL manifest of clean clips (read only)")
    p.add_argument("out", metavar="OUT", help="output folder")
    p.add_argument("--noise", required=True, default=argparse.SUPPRESS, metavar="SOURCE", action="append",
                   help="noise recordings, anything BackgroundNoise takes: a folder, an audio file, a glob pattern "
                        "(quoted), a text file listing audio paths, a JSONL manifest; repeat for several; required")
    p.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0, 0.0, -5.0], help="SNRs in dB")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise choice")
    p.add_argument("--per-noise", action="store_true", help="every noise clip for every input (else one drawn)")
    p.add_argument("--sample-rate", type=int, default=None, metavar="SR", help="resample to SR Hz (default: keep)")
    p.add_argument("--subtype", default="FLOAT", choices=["FLOAT", "PCM_24", "PCM_16"], help="WAV subtype")
    p.add_argument("--resume", action="store_true", help="keep outputs of an interrupted run, do the rest")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from audionoise.robustness.grid import GridUsageError, make_grid

    try:
        s = make_grid(args.inp, args.out, args.noise, args.snr, seed=args.seed, per_noise=args.per_noise,
                      sample_rate=args.sample_rate, subtype=args.subtype, resume=args.resume,
                      progress=not args.no_progress and sys.stderr.isatty())
    except (GridUsageError, ValueError) as exc:
        print(f"audionoise grid: error: {exc}", file=sys.stderr)
        return 2
    print(f"{s['inputs']} input(s): {s['written']} written, {s['kept']} kept, {s['failed']} failed; {s['manifest']}")
    if s["failed"]:
        print(f"{s['failed']} input(s) failed: see {s['errors']}", file=sys.stderr)
    return 1 if s["failed"] else 0
