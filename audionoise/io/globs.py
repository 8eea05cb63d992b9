"""Glob patterns of noise files, bounded: ``**`` never enters a symlinked folder and a pattern stops at
:data:`MAX_GLOB_MATCHES` matches.

:func:`glob.glob` with ``recursive=True`` follows symlinks to folders under ``**``: two links back to a parent turn
``dir/**/*.wav`` into an exponential scan. :func:`bounded_glob` has :mod:`glob`'s syntax and hidden-name rule
(``*``, ``?``, ``[...]``, ``**`` for any number of folders; names starting with ``.`` match only a pattern part
that starts with ``.``) but descends ``**`` only into real folders, like the folder scan of audionoise
(:func:`audionoise.io.files._scan_folder`). A pattern part without ``**`` may pass through a symlinked folder (a fixed
depth: no loop).

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "a").mkdir(); _ = (d / "a" / "x.wav").write_bytes(b"")
    >>> (d / "a" / "loop").symlink_to(d)
    >>> [pathlib.Path(p).relative_to(d).as_posix() for p in bounded_glob(str(d / "**" / "*.wav"))]
    ['a/x.wav']
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterator

__all__ = ["MAX_GLOB_MATCHES", "any_match", "bounded_glob", "has_magic"]

#: most matches of one pattern (a noise corpus of 100,000 files is large; list files or manifests scale further)
MAX_GLOB_MATCHES = 100_000
has_magic = glob.has_magic


def _names(folder: str) -> list[os.DirEntry]:
    try:
        with os.scandir(folder or ".") as it:
            return sorted(it, key=lambda e: e.name)
    except OSError:  # unreadable or vanished folder: nothing there, as for glob
        return []


def _match(folder: str, parts: list[str]) -> Iterator[str]:
    if not parts:
        yield folder
        return
    head, rest = parts[0], parts[1:]
    if head == "**":
        yield from _match(folder, rest)  # no folder at all
        stack = [folder]
        while stack:  # every real folder below, depth first; symlinked folders are not entered
            here = stack.pop()
            subs = []
            for entry in _names(here):
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    subs.append(entry.path)
                    yield from _match(entry.path, rest)
                elif not rest:  # a trailing ** lists files too
                    yield entry.path
            stack.extend(reversed(subs))
    elif has_magic(head):
        for entry in _names(folder):
            if (entry.name.startswith(".") and not head.startswith(".")) or not fnmatch.fnmatch(entry.name, head):
                continue
            if not rest:
                yield entry.path
            elif entry.is_dir():
                yield from _match(entry.path, rest)
    else:
        path = os.path.join(folder, head)
        if rest and os.path.isdir(path):
            yield from _match(path, rest)
        elif not rest and os.path.lexists(path):
            yield path


def _split(pattern: str) -> tuple[str, list[str]]:
    drive, rest = os.path.splitdrive(os.path.expanduser(pattern))
    anchor = drive + (os.sep if rest.startswith(os.sep) else "")
    return anchor, [p for p in rest.split(os.sep) if p not in ("", ".")]


def any_match(pattern: str) -> bool:
    """Whether ``pattern`` matches anything (stops at the first match)."""
    return next(_match(*_split(pattern)), None) is not None


def bounded_glob(pattern: str, limit: int = MAX_GLOB_MATCHES) -> list[str]:
    """The paths matching ``pattern`` (``~`` expanded), in a deterministic order (callers sort), without entering
    symlinked folders under ``**``.

    Raises:
        ValueError: more than ``limit`` matches (one line naming the pattern and the limit).
    """
    found: list[str] = []
    for path in _match(*_split(pattern)):
        found.append(path)
        if len(found) > limit:
            raise ValueError(f"pattern {pattern!r} matches more than {limit} paths; narrow it, or list the files "
                             "in a list file or manifest")
    return found
