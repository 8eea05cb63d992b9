"""Noise selection: pick the training SNR range by a stated criterion on validation data (never the test split).

Short runs, one per candidate background-noise SNR range (the rest of the default pipeline unchanged), plus a
clean-trained reference; chosen: the best mean noisy validation accuracy (tuning noise at 10/5/0/-5 dB) among
candidates whose clean validation accuracy is at most 0.5 points below the reference's
(:func:`audionoise.kws.tune.tune`). Writes ``OUT/chosen.toml`` (train with ``--augment OUT/chosen.toml``),
``OUT/tune.json`` and ``OUT/frontier.png``.

Usage::

    python recipes/tune_noise.py --data data/generated/kws --tuning-noise data/generated/kws/_background_noise_ \\
        --min-snr 10 0 -5 -10 --max-snr 30 20 20 10 --epochs 6
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import audionoise  # noqa: F401
except ImportError:  # running from a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audionoise.kws import TrainConfig
from audionoise.kws.augment import resolve_noise_dir
from audionoise.kws.tune import snr_range_candidates, tune


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--tuning-noise", required=True, help="noise folder for the noisy validation accuracy")
    p.add_argument("--noise-dir", help="training noise (default: DATA/_background_noise_)")
    p.add_argument("--min-snr", nargs="+", type=float, default=[10.0, 0.0, -5.0],
                   help="lower ends of the candidate training SNR ranges (dB)")
    p.add_argument("--max-snr", nargs="+", type=float, default=[30.0, 20.0, 20.0],
                   help="upper ends, one per --min-snr")
    p.add_argument("--out", default="runs/tune")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--clip-seconds", type=float, default=1.0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    if len(args.min_snr) != len(args.max_snr) or any(lo > hi for lo, hi in zip(args.min_snr, args.max_snr)):
        p.error(f"--min-snr {args.min_snr} and --max-snr {args.max_snr} must pair up with min <= max")
    base = TrainConfig(data=args.data, out=args.out, epochs=args.epochs, width=args.width,
                       batch_size=args.batch_size, clip_seconds=args.clip_seconds, num_workers=args.workers,
                       seed=args.seed, preload=True, progress=False, threads=1)
    candidates = snr_range_candidates(resolve_noise_dir(args.noise_dir, args.data),
                                      list(zip(args.min_snr, args.max_snr)))
    doc = tune(base, candidates, noise=args.tuning_noise, device=args.device)
    ref = doc["reference"]
    print(f"reference (clean-trained): clean {100 * ref['clean']:.1f}%, mean noisy {100 * ref['noisy']:.1f}%")
    for name, c in doc["candidates"].items():
        print(f"{name:>14s}: clean {100 * c['clean']:.1f}%, mean noisy {100 * c['noisy']:.1f}%"
              + ("  <- chosen" if name == doc["chosen"] else ""))
    print(f"criterion: {doc['criterion']}\nwrote {doc['chosen_toml']}, {Path(args.out) / 'frontier.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
