"""``audionoise cache list|prune``: the noise-bank cache (sizes, ages, sources), pruned by age or total size.

Thin layer over :mod:`audionoise.corpora.cache` (torch-free).
"""

from __future__ import annotations

import argparse
import re
import time

from audionoise.cli._common import HelpFormatter, UsageError

DESCRIPTION = """\
Noise banks built from files are decoded once and cached (one .npy of samples + one .json per bank) in
$AUDIONOISE_CACHE_DIR, else $XDG_CACHE_HOME/audionoise/noisebanks, else ~/.cache/audionoise/noisebanks.
The keyword-spotting trainer's generated training noise lives beside them ($XDG_CACHE_HOME/audionoise/
training_noise, else ~/.cache/audionoise/training_noise) and is listed as training_noise/<name>. Nothing prunes
the cache on its own: `list` shows each entry's size, time since last use and source; `prune` removes entries
unused for longer than --older-than and/or the least recently used ones until the rest fits in --max-size. A
pruned bank is decoded (or generated) again the next time it is used."""

EPILOG = """\
examples:
  audionoise cache list
  audionoise cache prune --older-than 30d            # unused for 30 days
  audionoise cache prune --max-size 5G --dry-run     # what keeping 5 GB would remove
  audionoise cache prune --all"""

_UNITS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
_TIMES = {"": 86400.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def _size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; write e.g. 500M, 2G or 1.5GB")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def _age(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([smhdw]?)\s*", text.lower())
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age; write e.g. 30d, 12h or 90m (a bare number: days)")
    return float(m.group(1)) * _TIMES[m.group(2)]


def register(subparsers) -> None:
    p = subparsers.add_parser("cache", help="list or prune the noise-bank cache (~/.cache/audionoise)",
                              description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", default=None, help="cache folder (default: the one described above)")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the Python traceback of any error")
    ls = actions.add_parser("list", parents=[common], help="each cached bank: size, last use, source",
                            formatter_class=HelpFormatter)
    ls.set_defaults(run=run_list)
    pr = actions.add_parser("prune", parents=[common], help="remove banks by age and/or to fit a size",
                            formatter_class=HelpFormatter)
    pr.add_argument("--older-than", type=_age, default=None, metavar="AGE",
                    help="remove banks unused for longer than AGE (30d, 12h, 90m; a bare number: days)")
    pr.add_argument("--max-size", type=_size, default=None, metavar="SIZE",
                    help="then remove the least recently used banks until the rest takes at most SIZE (500M, 2G)")
    pr.add_argument("--all", action="store_true", dest="everything", help="remove every bank")
    pr.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    pr.set_defaults(run=run_prune)


def _bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _rows(entries, now: float) -> list[str]:
    rows = []
    for e in entries:
        rate = f" at {e.sample_rate} Hz" if e.sample_rate else ""
        what = (f"{e.clips} clip(s), {e.seconds / 60:.1f} min{rate}, from {e.source}" if e.complete
                and e.seconds is not None else "incomplete (a writer stopped or is still writing)")
        rows.append(f"{e.key if '/' in e.key else e.key[:12]}  {_bytes(e.size):>9}  {_ago(e.age_s(now)):>5} ago  {what}")
    return rows


def _where(folder: str | None) -> str:
    from audionoise.corpora.cache import TRAINING_NOISE, default_cache_dir, user_cache_root

    if folder is not None:
        return folder
    return f"{default_cache_dir()} (+ {user_cache_root() / TRAINING_NOISE})"


def run_list(args: argparse.Namespace) -> int:
    from audionoise.corpora.cache import list_cache

    entries = list_cache(args.dir)  # None: the default cache and the generated training noise
    now = time.time()
    print(f"{_where(args.dir)}: {len(entries)} bank(s), {_bytes(sum(e.size for e in entries))}")
    for row in _rows(entries, now):
        print(row)
    return 0


def run_prune(args: argparse.Namespace) -> int:
    from audionoise.corpora.cache import list_cache, prune_cache

    if args.older_than is None and args.max_size is None and not args.everything:
        raise UsageError("say what to prune: an age (--older-than 30d), a total size to keep under (--max-size 5G), "
                         "or --all")
    now = time.time()
    removed = prune_cache(args.dir, older_than_s=args.older_than, max_bytes=args.max_size,
                          everything=args.everything, dry_run=args.dry_run, now=now)
    verb = "would remove" if args.dry_run else "removed"
    freed = sum(e.size for e in removed)
    left = sum(e.size for e in list_cache(args.dir)) - (freed if args.dry_run else 0)
    print(f"{_where(args.dir)}: {verb} {len(removed)} bank(s), {_bytes(freed)}; {_bytes(max(left, 0))} left")
    for row in _rows(removed, now):
        print(row)
    return 0
