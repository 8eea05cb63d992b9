"""Robustness study: clean training vs noise augmentation at several training SNR ranges.

Trains one model per condition on the same data and seed, and evaluates all of them on the test split, clean
and mixed with held-out noise at 20..-5 dB. Conditions: ``clean`` (no augmentation) and, for each pair of
``--min-snr``/``--max-snr`` values, the default pipeline with its background-noise SNR drawn from
U(min, max) dB. It answers: how low must training SNRs go, and what does it cost on clean speech?

Usage::

    python recipes/robustness_study.py --data data/generated/kws --noise-eval data/generated/noise_eval \\
        --min-snr 10 0 -5 -10 --max-snr 30 20 20 10
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

try:
    import audionoise  # noqa: F401
except ImportError:  # running from a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audionoise import load_pipeline, save_pipeline
from audionoise.kws import TrainConfig, train
from audionoise.kws.augment import default_pipeline_config, resolve_noise_dir
from audionoise.kws.evaluate import evaluate, format_table
from audionoise.kws.plots import plot_accuracy_vs_snr


def pipeline_for(noise_dir: Path, low: float, high: float, path: Path) -> Path:
    """The default pipeline with its background-noise SNR range set to [low, high], saved as TOML."""
    config = default_pipeline_config(noise_dir)
    for t in config["transforms"]:
        if t["name"] == "BackgroundNoise":
            t["min_snr_db"], t["max_snr_db"] = low, high
    save_pipeline(load_pipeline(config), path)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, help="Speech-Commands-layout folder")
    p.add_argument("--noise-eval", required=True, help="held-out noise folder for the evaluation")
    p.add_argument("--noise-dir", help="training noise (default: DATA/_background_noise_)")
    p.add_argument("--min-snr", nargs="+", type=float, default=[10.0, 0.0, -5.0],
                   help="lower ends of the training SNR ranges (dB)")
    p.add_argument("--max-snr", nargs="+", type=float, default=[30.0, 20.0, 20.0],
                   help="upper ends of the training SNR ranges (dB), one per --min-snr")
    p.add_argument("--out", default="runs/robustness")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--labels", default="v2-12")
    p.add_argument("--clip-seconds", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    if len(args.min_snr) != len(args.max_snr) or any(lo > hi for lo, hi in zip(args.min_snr, args.max_snr)):
        p.error(f"--min-snr {args.min_snr} and --max-snr {args.max_snr} must pair up with min <= max")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    noise_dir = resolve_noise_dir(args.noise_dir, args.data)
    conditions = {"clean": "none"}
    for low, high in zip(args.min_snr, args.max_snr):
        name = f"snr_{low:g}_{high:g}"
        conditions[name] = str(pipeline_for(noise_dir, low, high, out / f"{name}.toml"))
    for name, augment in conditions.items():
        train(TrainConfig(data=args.data, out=str(out / name), augment=augment, epochs=args.epochs,
                          batch_size=args.batch_size, labels=args.labels, clip_seconds=args.clip_seconds,
                          seed=args.seed, device=args.device, preload=True, num_workers=0, resume=True))
    results = evaluate([out / n for n in conditions], args.data, noise=args.noise_eval, checkpoint="last")
    print(format_table(results))
    (out / "results.json").write_text(json.dumps({k: {f: r[f] for f in ("clean", "snr", "n")}
                                                   for k, r in results.items()}, indent=1) + "\n")
    print(f"wrote {plot_accuracy_vs_snr(results, out / 'accuracy_vs_snr.png', title='Training SNR range')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
