"""Check a data set's audio files before a long run: every header read (nothing decoded), every problem listed.

A training or evaluation run over thousands of files should not die at 45% of an epoch on one truncated copy.
:func:`scan_headers` opens every file's header with :func:`audionoise.io.check_header` (missing, empty,
non-audio, unsupported, truncated WAV/AIFF data chunk, zero frames) and returns *all* the bad ones at once;
:class:`BadFilesError` lists them, one line each, for a run that must stop; :func:`write_bad_files` keeps the
list next to the run.

Example:
    >>> bad = scan_headers(["a.wav", "b.wav"])  # doctest: +SKIP
    >>> [b.path for b in bad]  # doctest: +SKIP
    ['b.wav']
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from audionoise import io
from audionoise.io.files import atomic_write

__all__ = ["BadFile", "BadFilesError", "format_bad_files", "scan_headers", "write_bad_files"]


@dataclass(frozen=True)
class BadFile:
    """One unreadable file: its path and why (the :class:`audionoise.io.AudioFileError` reason)."""

    path: str
    reason: str

    def line(self) -> str:
        return f"{self.path}: {self.reason}"


class BadFilesError(ValueError):
    """Some files of a data set are unreadable; ``bad`` lists them all (the message too, one per line)."""

    def __init__(self, bad: list[BadFile], what: str = "data set", hint: str = "") -> None:
        self.bad = list(bad)
        lines = "\n".join(b.line() for b in self.bad)
        super().__init__(f"{len(self.bad)} unreadable audio file(s) in the {what}:\n{lines}"
                         + (f"\n{hint}" if hint else ""))


def scan_headers(paths: Iterable[str | os.PathLike | None]) -> list[BadFile]:
    """The files of ``paths`` whose header shows they cannot be read (``None`` entries are skipped), in order."""
    bad = []
    seen = set()
    for p in paths:
        if p is None or str(p) in seen:
            continue
        seen.add(str(p))
        try:
            io.check_header(p)
        except io.AudioFileError as err:
            bad.append(BadFile(str(p), err.reason))
    return bad


def format_bad_files(bad: Iterable[BadFile]) -> str:
    """One ``path: reason`` line per file."""
    return "".join(b.line() + "\n" for b in bad)


def write_bad_files(path: str | os.PathLike, bad: Iterable[BadFile]) -> Path:
    """Write the list (``path: reason`` lines) atomically to ``path``; return it."""
    atomic_write(path, format_bad_files(bad))
    return Path(path)
