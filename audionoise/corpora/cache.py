"""The on-disk noise-bank cache (``audionoise cache list|prune``): what it holds, and removing what is old or big.

A :class:`~audionoise.NoiseBank` built from files is decoded once and cached as ``noisebank-<key>.npy`` (the
samples) + ``noisebank-<key>.json`` (what they are), in :func:`default_cache_dir` unless ``cache_dir=`` says
otherwise; see :mod:`audionoise.transforms._bank_cache`. Each use of a cached bank refreshes the ``.json``'s
modification time, so an entry's age is the time since it was last used. Nothing prunes the cache on its own:
:func:`prune_cache` (``audionoise cache prune``) removes entries by age or keeps the total under a size, least
recently used first. Removing a bank that a running process has mapped is safe (the process keeps its mapping);
the next build decodes the noise again. The generated training-noise banks of the keyword-spotting trainer
(``<user cache>/audionoise/training_noise/<version>``, :mod:`audionoise.synth.noise_bank`; a use refreshes
their ``VERSION.json``) are listed and pruned the same way, as entries ``training_noise/<name>``; a removed one is
generated again when a run needs it.

This module does not import torch (``audionoise cache`` is quick).

Example:
    >>> entries = list_cache("/tmp/no-such-cache")
    >>> entries
    []
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CacheEntry", "default_cache_dir", "list_cache", "prune_cache", "user_cache_root"]

_BANK = re.compile(r"^noisebank-([0-9a-f]+)\.(npy|json)$")
_TEMP = re.compile(r"^\.noisebank-([0-9a-f]+)\.(npy|json)\..*\.tmp$")
#: an ``.npy`` without its ``.json``, or a temporary file, older than this is left over by a crashed writer
STALE_S = 3600.0


#: subfolder of :func:`user_cache_root` holding the generated training-noise banks (:mod:`audionoise.synth.noise_bank`)
TRAINING_NOISE = "training_noise"


def user_cache_root() -> Path:
    """``$XDG_CACHE_HOME/audionoise``, else ``~/.cache/audionoise``: the folder of audionoise's caches."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "audionoise"


def default_cache_dir() -> Path:
    """``$AUDIONOISE_CACHE_DIR``, else ``$XDG_CACHE_HOME/audionoise/noisebanks``, else
    ``~/.cache/audionoise/noisebanks``."""
    explicit = os.environ.get("AUDIONOISE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    return user_cache_root() / "noisebanks"


@dataclass(frozen=True)
class CacheEntry:
    """One cached bank (or the leftovers of an unfinished one: ``complete`` false).

    ``size``: bytes of its files; ``last_used``: POSIX time of its last use (the ``.json``'s modification time,
    else the newest file's); ``source``, ``sample_rate``, ``seconds``, ``clips``: from its metadata (``None`` when
    unknown)."""

    key: str
    files: tuple[Path, ...]
    size: int
    last_used: float
    complete: bool
    source: str | None = None
    sample_rate: int | None = None
    seconds: float | None = None
    clips: int | None = None

    def age_s(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.last_used)


def _folder(cache_dir: str | os.PathLike | None) -> Path:
    return default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()


def list_cache(cache_dir: str | os.PathLike | None = None) -> list[CacheEntry]:
    """The entries of the cache folder (default: :func:`default_cache_dir`, plus the generated training-noise
    banks under :func:`user_cache_root`, keyed ``training_noise/<name>``), most recently used first; an empty list
    when there are none."""
    entries = _banks(_folder(cache_dir))
    if cache_dir is None:
        entries += _generated(user_cache_root() / TRAINING_NOISE)
    return sorted(entries, key=lambda e: (-e.last_used, e.key))


def _generated(folder: Path) -> list[CacheEntry]:
    """Each generated training-noise bank (one folder each; rebuilt on demand when removed)."""
    out = []
    try:
        subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except FileNotFoundError:
        return out
    for sub in subfolders:
        files = [p for p in sub.rglob("*") if p.is_file()]
        marker = sub / "VERSION.json"
        try:
            summary = json.loads((sub / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = {}
        seconds = summary.get("seconds_of_audio")
        out.append(CacheEntry(
            key=f"{TRAINING_NOISE}/{sub.name}", files=(sub,), size=sum(p.stat().st_size for p in files),
            last_used=(marker if marker.is_file() else sub).stat().st_mtime, complete=marker.is_file(),
            source="the trainer's generated noise (made again when needed)",
            sample_rate=summary.get("sample_rate"),
            seconds=float(seconds) if isinstance(seconds, (int, float)) else None,
            clips=sum(p.suffix == ".wav" for p in files)))
    return out


def _banks(root: Path) -> list[CacheEntry]:
    groups: dict[str, list[tuple[Path, os.stat_result]]] = {}
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    for name in names:
        m = _BANK.match(name) or _TEMP.match(name)
        if m is None:
            continue
        path = root / name
        try:
            groups.setdefault(m.group(1), []).append((path, path.lstat()))
        except FileNotFoundError:  # removed meanwhile (another prune, a writer's rename)
            continue
    return [_entry(root, key, files) for key, files in groups.items()]


def _entry(root: Path, key: str, files: list[tuple[Path, os.stat_result]]) -> CacheEntry:
    stats = {p.name: st for p, st in files}
    meta_name, npy_name = f"noisebank-{key}.json", f"noisebank-{key}.npy"
    complete = meta_name in stats and npy_name in stats
    meta: dict[str, Any] = {}
    if meta_name in stats:
        try:
            meta = json.loads((root / meta_name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            complete = False
    last = stats[meta_name].st_mtime if meta_name in stats else max(st.st_mtime for st in stats.values())
    rate, samples = meta.get("sample_rate"), meta.get("samples")
    seconds = samples / rate if isinstance(rate, int) and rate > 0 and isinstance(samples, int) else None
    names = meta.get("names")
    return CacheEntry(key=key, files=tuple(sorted(p for p, _ in files)), size=sum(st.st_size for st in stats.values()),
                      last_used=last, complete=complete, source=meta.get("source"),
                      sample_rate=rate if isinstance(rate, int) else None, seconds=seconds,
                      clips=len(names) if isinstance(names, list) else None)


def prune_cache(cache_dir: str | os.PathLike | None = None, *, older_than_s: float | None = None,
                max_bytes: int | None = None, everything: bool = False, dry_run: bool = False,
                now: float | None = None) -> list[CacheEntry]:
    """Remove cache entries; return those removed (or, with ``dry_run``, those that would be).

    Removed: with ``everything``, every entry; else entries unused for more than ``older_than_s`` seconds, then,
    while the rest holds more than ``max_bytes``, the least recently used ones. Leftovers of a crashed writer
    (older than an hour) always go.

    Raises:
        ValueError: none of ``older_than_s``, ``max_bytes``, ``everything`` given, or a negative one.
    """
    if older_than_s is None and max_bytes is None and not everything:
        raise ValueError("say what to prune: older_than_s (an age in seconds), max_bytes (a total size to keep "
                         "under) or everything=True")
    if (older_than_s is not None and older_than_s < 0) or (max_bytes is not None and max_bytes < 0):
        raise ValueError(f"older_than_s ({older_than_s}) and max_bytes ({max_bytes}) must be >= 0")
    now = time.time() if now is None else now
    entries = list_cache(cache_dir)
    drop = []
    from audionoise.io import lock as _lock

    for e in entries:
        if not e.complete and "/" not in e.key and _lock.probe(_folder(cache_dir) / f"noisebank-{e.key}.lock") \
                is not None:
            continue  # being built right now (however long it takes): not a leftover
        if everything or (not e.complete and e.age_s(now) > STALE_S) or (
                older_than_s is not None and e.complete and e.age_s(now) > older_than_s):
            drop.append(e)
    if max_bytes is not None:
        kept = [e for e in entries if e not in drop and e.complete]
        total = sum(e.size for e in entries if e not in drop)
        for e in reversed(kept):  # least recently used first
            if total <= max_bytes:
                break
            drop.append(e)
            total -= e.size
    if not dry_run:
        for e in drop:
            for path in e.files:
                try:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                except FileNotFoundError:
                    pass
    return drop
