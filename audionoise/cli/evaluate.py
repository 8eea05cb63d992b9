"""``audionoise evaluate``: accuracy of trained runs on clean and noisy test clips; table, JSON and PNGs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from audionoise.cli._common import HelpFormatter, UsageError, add_quiet, existing_dir


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="accuracy of trained runs, clean and with noise at each SNR",
        description="Evaluate one or more runs of `audionoise train` on clean test clips and on the same clips "
        "mixed (deterministically, exact SNR) with noise from --noise.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folder(s) written by `audionoise train`")
    p.add_argument("--data", required=True, help="Speech-Commands-layout folder")
    p.add_argument("--subset", default="testing", choices=["testing", "validation", "training"],
                   help="which split of --data to evaluate on")
    p.add_argument("--noise", metavar="SOURCE",
                   help="noise recordings to mix in, anything BackgroundNoise takes (a folder, an audio file, a quoted "
                        "glob, a list file, a JSONL manifest; default: none, clean accuracy only)")
    p.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0, 5.0, 0.0, -5.0], help="SNRs in dB")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--plot", help="write the accuracy-vs-SNR PNG here (needs audionoise[plot])")
    p.add_argument("--confusion", help="confusion-matrix PNG (default: next to --plot, *_confusion.png)")
    p.add_argument("--html", metavar="REPORT_DIR",
                   help="write the report page REPORT_DIR/index.html: accuracy vs SNR with intervals (all clips and "
                   "per noise type), McNemar comparison, confusion matrices, training curves, misclassified clips "
                   "at 0 dB to listen to (needs audionoise[kws])")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"],
                   help="best.pt (best validation accuracy) or last.pt of each run")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-clip noise choice")
    p.add_argument("--batch-size", type=int, default=256, help="clips per evaluation batch")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    add_quiet(p)
    p.add_argument("--adapt-bn", action="store_true",
                   help="also evaluate each run with AdaBN: BatchNorm statistics re-estimated on the unlabelled "
                   "clips of each test condition (rows 'RUN +AdaBN', compared with RUN)")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave out unreadable test files (all listed) instead of stopping with exit status 2")
    p.set_defaults(run=run)


JSON_KEYS = ("clean", "snr", "n", "ci95", "by_noise", "by_noise_n", "run", "subset", "noise", "labels", "confusion",
             "bad_files", "unreadable", "adapted_bn")


def _lean(result: dict) -> dict:
    return {k: result[k] for k in JSON_KEYS if k in result}


def format_paired(paired: dict) -> str:
    """One line per compared pair and condition: accuracy difference, discordant counts, McNemar p-value."""
    lines = ["paired comparison (same clips; McNemar exact test):"]
    for pair, table in paired.items():
        cells = [f"{c if c == 'clean' else c + ' dB'}: {100 * t['delta']:+.1f} pts (b={t['b']}, c={t['c']}, "
                 f"p={t['p']:.3g})" for c, t in table.items()]
        lines.append(f"  {pair}: " + "; ".join(cells))
    return "\n".join(lines)


def confusion_paths(names: list[str], confusion: str | None, plot: str | None) -> dict[str, Path]:
    """Where each run's confusion PNG goes (none when neither --confusion nor --plot is given)."""
    base = Path(confusion) if confusion else (Path(plot).with_name(Path(plot).stem + "_confusion.png")
                                              if plot else None)
    if base is None:
        return {}
    if len(names) == 1:
        return {names[0]: base}
    return {n: base.with_name(f"{base.stem}_{n.replace('/', '_')}{base.suffix}") for n in names}


def run(args: argparse.Namespace) -> int:
    for run_dir in args.runs:
        if not Path(run_dir).exists():
            raise UsageError(f"run {run_dir!r} does not exist; pass a run folder written by `audionoise train`")
    existing_dir(args.data, "--data")
    if args.noise is not None:  # anything BackgroundNoise takes: a folder, a file, a glob, a list file, a manifest
        from audionoise.corpora.noise_sources import absolute_sources

        try:
            absolute_sources(args.noise, "--noise")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if args.plot or args.confusion:  # before the evaluation: a missing extra should not cost a whole run
        from audionoise.kws.plots import plot_accuracy_by_noise, plot_accuracy_vs_snr, plot_confusion
    if args.html:
        from audionoise.runtime.extras import require

        require("matplotlib", extra="kws", purpose="the report page (--html)")
    from audionoise.io.files import atomic_write
    from audionoise.robustness.evaluation import compare
    from audionoise.kws.evaluate import evaluate, format_table
    from audionoise.corpora.scan import BadFilesError

    try:
        results = evaluate(args.runs, args.data, subset=args.subset, noise=args.noise, snrs=args.snr,
                           seed=args.seed, batch_size=args.batch_size, device=args.device,
                           checkpoint=args.checkpoint, progress=not args.quiet, skip_bad=args.skip_bad)
        if args.adapt_bn:
            adapted = evaluate(args.runs, args.data, subset=args.subset, noise=args.noise, snrs=args.snr,
                               seed=args.seed, batch_size=args.batch_size, device=args.device,
                               checkpoint=args.checkpoint, progress=not args.quiet, skip_bad=args.skip_bad,
                               adapt_bn=True)
            results = {k: v for name in results for k, v in ((name, results[name]),
                                                              (f"{name} +AdaBN", adapted[name]))}
    except BadFilesError as exc:
        print(f"audionoise evaluate: error: {exc}", file=sys.stderr)
        return 2
    for name, r in results.items():
        for line in r.get("bad_files", []) + [f"{k}: failed to decode" for k in r.get("unreadable", [])]:
            print(f"{name}: skipped unreadable {line}", file=sys.stderr)
    print(format_table(results))
    if args.adapt_bn:  # each adapted run against its plain self
        paired = {k: v for name in results if not name.endswith(" +AdaBN")
                  for k, v in compare({name: results[name], f"{name} +AdaBN": results[f"{name} +AdaBN"]}).items()}
    else:
        paired = compare(results) if len(results) > 1 else None
    if paired:
        print(format_paired(paired))
    if args.json:
        doc = _lean(next(iter(results.values()))) if len(results) == 1 else \
            {"runs": {name: _lean(r) for name, r in results.items()}, "paired": paired}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.json, json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        print(f"wrote {plot_accuracy_vs_snr(results, args.plot)}")
        if any(r["by_noise"] for r in results.values()):
            by_noise = Path(args.plot).with_name(Path(args.plot).stem + "_by_noise.png")
            print(f"wrote {plot_accuracy_by_noise(results, by_noise)}")
    for name, path in confusion_paths(list(results), args.confusion, args.plot).items():
        r = results[name]
        panels = {"clean": r["confusion"]["clean"]}
        if r["snr"]:
            worst = "0" if "0" in r["snr"] else min(r["snr"], key=float)
            panels[worst] = r["confusion"][worst]
        print(f"wrote {plot_confusion(panels, r['labels'], path, title=name)}")
    if args.html:
        print(f"wrote {write_html(args.html, results, paired, args)}")
    return 0


def write_html(folder: str, results: dict, paired: dict | None, args: argparse.Namespace) -> Path:
    """The report page, with misclassified clips at 0 dB (or the lowest SNR) to listen to when noise was added."""
    from audionoise.kws.evaluate import listening_clips, run_names
    from audionoise.pages.report import write_report

    runs = dict(zip(run_names(args.runs), args.runs))
    first = next(iter(results.values()))
    condition = "0" if "0" in first["snr"] else (min(first["snr"], key=float) if first["snr"] else "0")
    listening = []
    if args.noise is not None and first["snr"]:
        plain = {n: r for n, r in results.items() if not n.endswith(" +AdaBN")}
        listening = listening_clips(plain, args.data, args.noise, condition=condition, seed=args.seed,
                                    subset=args.subset, checkpoint=args.checkpoint)
    return write_report(folder, results, paired, {n: runs.get(n.removesuffix(" +AdaBN")) for n in results},
                        listening, condition)
