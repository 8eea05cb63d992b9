"""The standard 12-class Speech Commands v2 task (10 words + silence + unknown) with noise augmentation.

For users who have the data set (Warden 2018; ``speech_commands_v0.02.tar.gz``, about 2.4 GB, 105,829 clips;
``audionoise make-data --speech-commands DIR --download`` (or ``--archive PATH``) prepares it as
``DIR/speech_commands_v0.02``, see docs/kws.md "Real Speech Commands v2"). Trains with the default on-the-fly
augmentation, using the data set's own ``_background_noise_`` recordings, then reports test accuracy, clean and
(with ``--noise-eval``, a folder of noise recordings you did *not* train with, e.g. ESC-50 or DEMAND) at 20..-5
dB.

Expected accuracy (v2-12 test split; published numbers for these architectures, not measured in this
repository, which has no copy of the data): MatchboxNet 3x2x64 about 97-98% after 200 epochs of training
with augmentation, BC-ResNet-1 96.9% and BC-ResNet-8 98.7% (``--arch bcresnet --width 8``). The default
30 epochs here trade a little of that for time (about 15 s per epoch on one modern GPU).

Usage::

    python recipes/speech_commands_v2_12.py --data /path/to/speech_commands_v0.02 --device cuda
    torchrun --standalone --nproc_per_node=4 recipes/speech_commands_v2_12.py --data ... --device cuda
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import audionoise  # noqa: F401
except ImportError:  # running from a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audionoise.kws import TrainConfig, train
from audionoise.kws.evaluate import evaluate, format_table
from audionoise.kws.plots import plot_accuracy_vs_snr


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, help="extracted speech_commands_v0.02 folder")
    p.add_argument("--out", default="runs/sc_v2_12")
    p.add_argument("--noise-eval", help="held-out noise folder for the robustness evaluation")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--arch", default="matchboxnet", choices=["matchboxnet", "bcresnet"])
    p.add_argument("--width", type=float, default=1.5)
    p.add_argument("--augment", default="default", help="'default', 'none' or a pipeline TOML")
    p.add_argument("--workers", type=int, default=4, help="DataLoader workers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)

    cfg = TrainConfig(data=args.data, out=args.out, labels="v2-12", epochs=args.epochs, batch_size=args.batch_size,
                      lr=args.lr, arch=args.arch, width=args.width, augment=args.augment,
                      num_workers=args.workers, seed=args.seed, device=args.device, resume=True)
    summary = train(cfg)
    import torch.distributed as dist

    if dist.is_initialized():
        if dist.get_rank() != 0:
            dist.destroy_process_group()
            return 0
        dist.destroy_process_group()
    print(f"best validation accuracy {100 * summary['best_val_acc']:.2f}% (epoch {summary['best_epoch']}), "
          f"{summary['params']} parameters")
    results = evaluate([args.out], args.data, noise=args.noise_eval, device=args.device, num_workers=args.workers)
    print(format_table(results))
    if args.noise_eval:
        print(f"wrote {plot_accuracy_vs_snr(results, Path(args.out) / 'accuracy_vs_snr.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
