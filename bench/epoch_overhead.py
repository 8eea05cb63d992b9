"""Wall time per training epoch, ``--augment default`` vs ``--augment none`` at the same settings (issue 13).

Runs short trainings of both kinds in interleaved order (none, default, default, none, ...) so that the load of
a shared machine hits both alike, and reports the median training seconds per epoch (``train_seconds`` in
``metrics.json``: the epoch's loop, without validation) of the epochs after the first (warm-up), the overhead
``default / none - 1``, the in-step augmentation share (``aug_fraction``), the augmentation time spent in the
DataLoader workers per batch and the share of the loop spent waiting for data.

    python bench/epoch_overhead.py --data data/generated/kws --setting quickstart
    python bench/epoch_overhead.py --data data/generated/kws --setting batch64 --workers 2 --threads 1

Not part of the test suite; on a shared machine run it a few times and compare.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audionoise.kws import TrainConfig, train  # noqa: E402

SETTINGS = {
    # recipes/quickstart.py: batch 32, MatchboxNet width 1.5, preloaded clips, 1 thread
    "quickstart": dict(batch_size=32, width=1.5, preload=True, threads=1),
    "batch64": dict(batch_size=64, width=1.5, preload=True, threads=1),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--setting", choices=sorted(SETTINGS), default="quickstart")
    p.add_argument("--workers", type=int, default=1, help="DataLoader workers (0: prepare batches in the step's "
                   "process, no overlap)")
    p.add_argument("--threads", type=int, default=None, help="torch threads of the training process")
    p.add_argument("--epochs", type=int, default=3, help="epochs per run (the first is warm-up)")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds (each: one run of each kind)")
    p.add_argument("--json", help="write the raw numbers here")
    args = p.parse_args(argv)
    kw = dict(SETTINGS[args.setting], num_workers=args.workers)
    if args.threads is not None:
        kw["threads"] = args.threads
    raw: dict[str, list[dict]] = {"none": [], "default": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = ("none", "default") if r % 2 == 0 else ("default", "none")
            for augment in order:
                out = Path(tmp) / f"{augment}{r}"
                # curriculum off: every batch of every epoch augmented (the worst case, not the clean epochs)
                s = train(TrainConfig(data=args.data, out=str(out), epochs=args.epochs, augment=augment, seed=r,
                                      device="cpu", progress=False, curriculum="off", **kw))
                for h in s["history"][1:]:
                    raw[augment].append({k: h[k] for k in ("train_seconds", "seconds", "aug_fraction",
                                                           "worker_aug_ms_per_batch", "data_wait_fraction",
                                                           "step_ms")})
                print(f"round {r} {augment:7s} " + " ".join(f"{h['train_seconds']:.2f}s" for h in s["history"]),
                      flush=True)
    med = {a: {k: statistics.median(h[k] for h in v) for k in v[0]} for a, v in raw.items()}
    overhead = med["default"]["train_seconds"] / med["none"]["train_seconds"] - 1
    print(f"\nsetting {args.setting} {kw}")
    print(f"{'augment':8s} {'epoch s':>8s} {'step ms':>8s} {'in-step aug':>11s} {'worker aug ms/batch':>20s} "
          f"{'data wait':>9s}")
    for a, m in med.items():
        print(f"{a:8s} {m['train_seconds']:8.2f} {m['step_ms']:8.1f} {100 * m['aug_fraction']:10.1f}% "
              f"{m['worker_aug_ms_per_batch']:20.1f} {100 * m['data_wait_fraction']:8.1f}%")
    print(f"overhead of --augment default per epoch: {100 * overhead:+.1f}% (target <= 5%)")
    if args.json:
        Path(args.json).write_text(json.dumps({"setting": args.setting, "config": kw, "raw": raw, "median": med,
                                               "overhead": overhead}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
