"""``audionoise make-data``: build the synthetic keyword-spotting set and the evaluation noises."""

from __future__ import annotations

import json
import time
from pathlib import Path

from audionoise.cli._common import HelpFormatter, UsageError, add_quiet


def register(subparsers) -> None:
    """Add the ``make-data`` parser to ``subparsers``."""
    p = subparsers.add_parser(
        "make-data",
        help="generate the synthetic keyword-spotting data set (needs audionoise[kws])",
        description=(
            "Speak 20 Speech Commands words with 40 synthetic espeak-ng speakers (split by speaker "
            "into training/validation/testing) and synthesise training and held-out evaluation "
            "noises. Writes OUT/kws (Speech Commands layout) and OUT/noise_eval. Deterministic "
            "from --seed; skipped when OUT already holds the same version and seed."
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("--out", default="data/generated", help="output root folder")
    p.add_argument("--seed", type=int, default=0, help="seed of speakers, utterances and noises")
    p.add_argument("--force", action="store_true", help="rebuild even if OUT is up to date")
    add_quiet(p)
    p.set_defaults(run=run)


def _summary(root: Path) -> str:
    path = root / "summary.json"
    if not path.is_file():
        return ""
    s = json.loads(path.read_text())
    speakers = ", ".join(f"{k} {v}" for k, v in s["speakers"].items())
    clips = ", ".join(f"{k} {v}" for k, v in s["clips"].items())
    return (
        f"speakers: {speakers}\n"
        f"clips:    {clips} (total {sum(s['clips'].values())})\n"
        f"training noises ({len(s['background_noises'])}): {', '.join(s['background_noises'])}\n"
        f"evaluation noises ({len(s['eval_noises'])}): {', '.join(s['eval_noises'])}\n"
        f"size:     {s['bytes'] / 1e6:.1f} MB, generated in {s['seconds']:.1f} s"
    )


def run(args) -> int:
    """Build (or find up to date) the data under ``args.out``; returns 0 on success."""
    from audionoise.synth import bundled_data_current, ensure_bundled_data

    root = Path(args.out)
    if root.exists() and not root.is_dir():
        raise UsageError(f"--out {str(root)!r} is a file; pass a folder")
    if not args.force and bundled_data_current(root, args.seed):
        print(f"{root} is up to date (seed {args.seed}); use --force to rebuild")
    else:
        start = time.perf_counter()
        ensure_bundled_data(root, seed=args.seed, force=args.force, progress=not args.quiet)
        print(f"wrote {root / 'kws'} and {root / 'noise_eval'} in {time.perf_counter() - start:.1f} s")
    summary = _summary(root)
    if summary:
        print(summary)
    return 0
