"""Clean-cost study: does noise augmentation cost clean accuracy, and what does it buy in noise never heard?

Trains, for every seed, up to three models with identical settings and epochs (``--conditions``): ``none`` (no
augmentation), ``constant`` (the default pipeline on every batch from the first step, ``--curriculum off``) and
``default`` (what ``audionoise train`` does by default: the same pipeline with the curriculum, the first quarter
of the epochs clean, then the noisy share of each batch widening over the next quarter to 75%, a quarter of
every batch staying clean). Each is evaluated (last weights) on the test split of ``--data`` and, when given, of
``--shifted-data`` (e.g. the bundled set regenerated with another seed: voices and recording channels no run was
tuned on), clean and with held-out noise at 20..-5 dB, with 95% Wilson intervals, McNemar tests against the first
condition on the same clips, and a table per held-out noise family at 0 dB.

Usage::

    python recipes/clean_cost_study.py --data data/generated/kws --noise-eval data/generated/noise_eval \\
        --shifted-data data/shifted/kws --seeds 0 1 2 --epochs 12
    python recipes/clean_cost_study.py --data data/generated/kws --noise-eval data/generated/noise_eval \\
        --seeds 0 1 2 --epochs 40 --width 1.5 --conditions none default      # the quickstart's setting
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

try:
    import audionoise  # noqa: F401
except ImportError:  # running from a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audionoise.robustness.evaluation import compare
from audionoise.kws import TrainConfig, train
from audionoise.kws.evaluate import evaluate
from audionoise.robustness.stats import wilson_interval

SNRS = [20.0, 10.0, 5.0, 0.0, -5.0]


def conditions(epochs: int) -> dict[str, dict]:
    """The study's arms: no augmentation, constant augmentation (noise on every batch from the first step) and the
    trainer's default (``TrainConfig()``: the default pipeline with the ``"auto"`` curriculum, a quarter of the
    epochs clean, a quarter of ramp, a quarter of every later batch clean)."""
    return {
        "none": {"augment": "none"},
        "constant": {"augment": "default", "curriculum": "off"},
        "default": {"augment": "default"},
    }


def family_table(per_seed: dict[str, list[dict]], snr: str = "0") -> dict[str, dict]:
    """Per condition and held-out noise family: mean accuracy over seeds at ``snr`` dB, min, max and the Wilson
    interval of the pooled counts (each test clip meets one family, so a family has about n/6 clips a seed)."""
    out = {}
    for cond, results in per_seed.items():
        fams = sorted(results[0].get("by_noise", {}))
        row = {}
        for fam in fams:
            accs = [r["by_noise"][fam][snr] for r in results]
            ns = [r["by_noise_n"][fam] for r in results]
            k = sum(round(a * n) for a, n in zip(accs, ns))
            row[fam.rsplit(".", 1)[0]] = {"mean": statistics.mean(accs), "min": min(accs), "max": max(accs),
                                          "pooled_ci95": list(wilson_interval(k, sum(ns))), "n": sum(ns)}
        out[cond] = row
    return out


def summarise(per_seed: dict[str, list[dict]]) -> dict[str, dict]:
    """Per condition: mean accuracy over seeds, min and max, and the Wilson interval of the pooled counts."""
    out = {}
    for cond, results in per_seed.items():
        row = {}
        for c in ["clean"] + [f"{s:g}" for s in SNRS]:
            accs = [r["clean"] if c == "clean" else r["snr"][c] for r in results]
            k = sum(round(a * r["n"]) for a, r in zip(accs, results))
            n = sum(r["n"] for r in results)
            row[c] = {"mean": statistics.mean(accs), "min": min(accs), "max": max(accs),
                      "pooled_ci95": list(wilson_interval(k, n))}
        out[cond] = row
    return out


def table(summary: dict[str, dict]) -> str:
    conds = ["clean"] + [f"{s:g}" for s in SNRS]
    lines = ["| run | " + " | ".join(c if c == "clean" else f"{c} dB" for c in conds) + " |",
             "|---|" + "---|" * len(conds)]
    for name, row in summary.items():
        cells = [f"{100 * row[c]['mean']:.1f} [{100 * row[c]['min']:.1f}-{100 * row[c]['max']:.1f}]" for c in conds]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, help="Speech-Commands-layout folder to train on (and test)")
    p.add_argument("--noise-eval", required=True, help="held-out noise folder for the evaluation")
    p.add_argument("--shifted-data", help="a second Speech-Commands-layout folder: its test split is evaluated too")
    p.add_argument("--out", default="runs/clean_cost")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--conditions", nargs="+", default=["none", "constant", "default"],
                   choices=["none", "constant", "default"], help="which arms to train (the first is the reference "
                                                                      "of the paired tests)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--clip-seconds", type=float, default=1.0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)

    out = Path(args.out)
    tests = {"bundled": args.data} | ({"shifted": args.shifted_data} if args.shifted_data else {})
    per_seed: dict[str, dict[str, list[dict]]] = {t: {} for t in tests}
    paired: dict[str, dict] = {t: {} for t in tests}
    for seed in args.seeds:
        runs = {}
        for name in args.conditions:
            extra = conditions(args.epochs)[name]
            run = out / f"seed{seed}" / name
            summary = train(TrainConfig(data=args.data, out=str(run), epochs=args.epochs, width=args.width,
                                        batch_size=args.batch_size, clip_seconds=args.clip_seconds, seed=seed,
                                        device=args.device, preload=True, num_workers=args.workers,
                                        threads=args.threads, resume=True, progress=False, **extra))
            print(f"seed {seed} {name}: trained, last validation accuracy {100 * summary['last_val_acc']:.1f}%",
                  flush=True)
            runs[name] = run
        for test, data in tests.items():
            results = evaluate(list(runs.values()), data, noise=args.noise_eval, snrs=SNRS, device=args.device,
                               checkpoint="last")
            results = dict(zip(runs, results.values()))
            for name, r in results.items():
                per_seed[test].setdefault(name, []).append(
                    {k: r[k] for k in ("clean", "snr", "n", "ci95", "by_noise", "by_noise_n")})
            paired[test][f"seed{seed}"] = compare(results, reference=args.conditions[0])
    summary = {t: summarise(per_seed[t]) for t in tests}
    families = {t: family_table(per_seed[t]) for t in tests}
    doc = {"settings": vars(args), "conditions": {c: conditions(args.epochs)[c] for c in args.conditions},
           "per_seed": per_seed, "summary": summary, "families_0db": families, "paired": paired}
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps(doc, indent=1) + "\n")
    for test in tests:
        print(f"\n{test} test split: mean over seeds {args.seeds} [min-max], accuracy in %")
        print(table(summary[test]))
        print(f"\n{test} test split at 0 dB by held-out noise family: mean over seeds [pooled 95% interval], %")
        fams = sorted(next(iter(families[test].values())))
        print("| run | " + " | ".join(fams) + " | mean |\n|---|" + "---|" * (len(fams) + 1))
        for name, row in families[test].items():
            cells = [f"{100 * row[f]['mean']:.1f} [{100 * row[f]['pooled_ci95'][0]:.0f}, "
                     f"{100 * row[f]['pooled_ci95'][1]:.0f}]" for f in fams]
            mean = statistics.mean(row[f]["mean"] for f in fams)
            print(f"| {name} | " + " | ".join(cells) + f" | {100 * mean:.1f} |")
    print(f"\nwrote {out / 'study.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
