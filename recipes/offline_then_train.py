"""Augment a Speech-Commands training split offline, then train on the augmented copies.

Offline augmentation suits fixed compute budgets and sharing one noisy set between experiments: the noise is
decided once (deterministic per file, resumable, shardable with ``audionoise augment``) and training reads the
ready files. Here:

1. ``offline_training_set`` writes ``OUT/data/kws``: every *training* clip plus ``--copies`` noisy versions of it
   (time shift, background noise, short foreground events, white noise: the waveform part of the default
   pipeline), while the validation and test clips stay clean;
2. a model is trained on it with only the SpecAugment masks left on-the-fly (``OUT/spec_masks.toml``);
3. it is evaluated clean and with ``--noise-eval`` noise.

Usage::

    python recipes/offline_then_train.py --data data/generated/kws --noise-eval data/generated/noise_eval
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import audionoise  # noqa: F401
except ImportError:  # running from a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audionoise import load_pipeline, save_pipeline
from audionoise.kws import TrainConfig, train
from audionoise.kws.augment import default_pipeline_config, offline_training_set, resolve_noise_dir, split_config
from audionoise.kws.evaluate import evaluate, format_table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, help="Speech-Commands-layout folder")
    p.add_argument("--noise-dir", help="training noise (default: DATA/_background_noise_)")
    p.add_argument("--noise-eval", help="held-out noise folder for the evaluation")
    p.add_argument("--out", default="runs/offline")
    p.add_argument("--copies", type=int, default=2, help="augmented versions per training clip")
    p.add_argument("--workers", type=int, default=2, help="processes for the offline augmentation")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--labels", default="v2-12")
    p.add_argument("--clip-seconds", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wave, spec = split_config(default_pipeline_config(resolve_noise_dir(args.noise_dir, args.data)))
    data = offline_training_set(args.data, out / "data", wave, copies=args.copies, workers=args.workers,
                                seed=args.seed)
    save_pipeline(load_pipeline(spec), out / "spec_masks.toml")
    cfg = TrainConfig(data=str(data), out=str(out / "run"), augment=str(out / "spec_masks.toml"),
                      epochs=args.epochs, batch_size=args.batch_size, labels=args.labels,
                      clip_seconds=args.clip_seconds, seed=args.seed, device=args.device, resume=True)
    summary = train(cfg)
    print(f"trained on {data}: best validation accuracy {100 * summary['best_val_acc']:.1f}%")
    results = evaluate([out / "run"], data, noise=args.noise_eval, checkpoint="last")
    print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
