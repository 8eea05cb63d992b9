"""Quickstart: does noise augmentation make a keyword spotter robust? Measure it in a few minutes on a CPU.

1. Make the bundled data if absent (synthetic Speech Commands: 20 words, 40 voices split by speaker, the
   held-out ones new speakers of the training voice families, plus *held-out* noise types), see
   ``data/README.md``.
2. Train two identical MatchboxNet models (183k parameters): ``clean`` without augmentation, ``augmented``
   with the default on-the-fly pipeline (time shift, background noise at -5..20 dB from the generated
   training-noise bank of 9 families, built in the user cache on first use, short foreground events from the
   same bank, white noise, vocal-tract and tempo warping, SpecAugment masks, the clean-first curriculum; see
   ``audionoise/kws/augment.py``).
3. Evaluate both on held-out voices (test split), clean and mixed with held-out noise types (rain, engine,
   music, cafe, keyboard, wind) at 20, 10, 5, 0 and -5 dB; print the table, write JSON, plots and the report
   page ``runs/quickstart/report/index.html`` (curves, McNemar, confusions, training curves, clips to listen to).

Usage (from the repository root, after ``pip install -e ".[kws]"``: plots and the speech synthesiser)::

    python recipes/quickstart.py                       # ~11 min on 2 CPU cores
    python recipes/quickstart.py --device cuda --threads 4

Re-running continues finished/interrupted runs (``resume``) instead of training again; ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

try:
    import audionoise  # noqa: F401
except ImportError:  # running from a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from audionoise.kws import TrainConfig, train
from audionoise.kws.evaluate import evaluate, format_table, listening_clips
from audionoise.kws.plots import plot_accuracy_vs_snr, plot_confusion
from audionoise.pages.report import write_report
from audionoise.robustness.evaluation import compare

SNRS = [20.0, 10.0, 5.0, 0.0, -5.0]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default="runs/quickstart", help="folder for the two runs and the results")
    p.add_argument("--data-root", default="data/generated", help="where the bundled data are made")
    p.add_argument("--data", help="use this Speech-Commands-layout folder instead of the bundled data")
    p.add_argument("--noise-eval", help="held-out noise folder (default: the bundled noise_eval)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--width", type=float, default=1.5, help="MatchboxNet channel multiplier (1.5: 183k parameters)")
    p.add_argument("--clip-seconds", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads; 1 is fastest on a CPU shared with other jobs, try 2+ on an idle one")
    p.add_argument("--jobs", type=int, default=2 if (os.cpu_count() or 1) >= 4 else 1,
                   help="trainings at once: 2 trains the clean and the augmented model side by side in two processes "
                        "(--threads torch threads each; the same models), 1 one after the other (on 2 cores side by "
                        "side saves only ~5%%: each run's data worker needs a core too)")
    p.add_argument("--fresh", action="store_true", help="delete previous runs in --out first")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error(f"--jobs must be >= 1, got {args.jobs}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return run(args, start)
    finally:
        torch.set_num_threads(threads)


def run(args: argparse.Namespace, start: float) -> int:
    if args.data is None:
        from audionoise.synth import ensure_bundled_data

        paths = ensure_bundled_data(args.data_root, progress=True)
        data, noise_eval = paths["kws"], paths["noise_eval"]
        print(f"bundled data ready in {time.perf_counter() - start:.0f} s: {data}")
    else:
        data = Path(args.data)
        noise_eval = Path(args.noise_eval) if args.noise_eval else None
    if noise_eval is None:
        raise SystemExit("--noise-eval is required with --data (a folder of noise recordings unseen in training)")
    out = Path(args.out)
    if args.fresh and out.exists():
        shutil.rmtree(out)

    configs = {name: TrainConfig(data=str(data), out=str(out / name), augment=augment, epochs=args.epochs,
                                 batch_size=args.batch_size, width=args.width, clip_seconds=args.clip_seconds,
                                 seed=args.seed, device=args.device, preload=True, num_workers=1, resume=True,
                                 threads=args.threads)
               for name, augment in (("clean", "none"), ("augmented", "default"))}
    for name, summary, seconds in _train_all(configs, args.jobs):
        print(f"trained {name}: validation accuracy {100 * summary['last_val_acc']:.1f}% after {args.epochs} epochs "
              f"(best {100 * summary['best_val_acc']:.1f}% at epoch {summary['best_epoch']}; "
              f"{summary['params']} parameters, {seconds:.0f} s)", flush=True)
    runs = [out / name for name in configs]

    # the final weight average: with 6 validation voices, "best epoch" is mostly noise (see docs/kws.md)
    results = evaluate(runs, data, noise=noise_eval, snrs=SNRS, device=args.device, checkpoint="last")
    print(f"\nTest accuracy on held-out voices, clean and with held-out noise types ({noise_eval}):")
    print(format_table(results))
    clean, aug = results["clean"], results["augmented"]
    print(f"\nat 0 dB: augmented {100 * aug['snr']['0']:.1f}% vs clean-trained {100 * clean['snr']['0']:.1f}% "
          f"({100 * (aug['snr']['0'] - clean['snr']['0']):+.1f} points); clean speech: "
          f"{100 * (aug['clean'] - clean['clean']):+.1f} points")
    (out / "results.json").write_text(json.dumps({k: {f: r[f] for f in ("clean", "snr", "n")}
                                                   for k, r in results.items()}, indent=1) + "\n")
    plot = plot_accuracy_vs_snr(results, out / "accuracy_vs_snr.png",
                                title="Held-out voices + held-out noise types")
    cm = plot_confusion({"clean": aug["confusion"]["clean"], "0": aug["confusion"]["0"]}, aug["labels"],
                        out / "confusion_augmented.png", title="augmented model")
    # the report page: curves with intervals, per noise type, McNemar, confusions, training curves, clips to hear
    page = write_report(out / "report", results, compare(results), dict(zip(results, runs)),
                        listening_clips(results, data, noise_eval, condition="0", checkpoint="last"))
    print(f"wrote {out / 'results.json'}, {plot}, {cm}, {page} (open it in a browser)")
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


def _train_all(configs: dict[str, TrainConfig], jobs: int):
    """``(name, summary, seconds)`` of every run, in order: one after the other, or ``jobs`` at a time in fresh
    processes (each run is deterministic from its config alone, so the models are the same either way); ``seconds``
    is the run's own wall time (side by side: from the start until its result came back)."""
    if jobs == 1 or len(configs) == 1:
        for name, cfg in configs.items():
            t0 = time.perf_counter()
            summary = train(cfg)
            yield name, summary, time.perf_counter() - t0
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    t0 = time.perf_counter()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(configs)), mp_context=spawn) as pool:
        futures = {name: pool.submit(train, cfg) for name, cfg in configs.items()}
        for name, future in futures.items():
            yield name, future.result(), time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
