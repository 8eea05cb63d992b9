"""What to augment: the items of a folder tree, of a single file or of a NeMo-style JSONL manifest.

Every item has a ``key``: a relative posix path that names its outputs (``output_name(key, k)``) and seeds them
(``output_seed(seed, key, k)``). For a folder it is the path relative to the folder (as before manifests
existed, so seeds and names are unchanged); for a single file its name; for a manifest line the
:func:`~audionoise.offline.naming.safe_key` of its ``audio_filepath``, with ``.L<line>`` added to the stem when
several lines share a path (segments of one recording, duplicates), so no two items share outputs and no item
can name a file outside OUT.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audionoise import io
from audionoise.corpora.manifests import BadLine
from audionoise.corpora.manifests import read as read_manifest
from audionoise.offline.naming import safe_key

__all__ = ["LONG_SAMPLES", "Item", "Inputs", "collect", "is_long", "is_within", "segment_frames"]


@dataclass(frozen=True)
class Item:
    """One input: ``source`` read from ``offset`` for ``duration`` seconds (``None``: to the end)."""

    key: str
    source: Path
    offset: float = 0.0
    duration: float | None = None
    fields: dict[str, Any] | None = None  # the manifest line, for manifest inputs
    line: int | None = None               # 1-based line number in the manifest


@dataclass
class Inputs:
    """Items (sorted by key), failing entries (key -> error row) and skipped entries of one IN."""

    kind: str                                              # "folder" | "file" | "manifest"
    root: Path                                             # the folder, the file's folder, the manifest's folder
    items: list[Item] = field(default_factory=list)
    bad: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def real_path(path: Path) -> Path | None:
    """``path.resolve()``, or ``None`` for a symlink loop (Python raises ``RuntimeError`` or ``OSError(ELOOP)``
    there: one bad entry must not stop the job)."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return None


#: the error line of an entry that is (or passes through) a symlink loop
LOOP = "symlink loop (the link points back to itself through other links); fix or remove it"


def collect(in_path: Path, extensions: frozenset[str]) -> Inputs:
    """The inputs of IN: a folder (walked), a ``.jsonl`` manifest or a single audio file."""
    if in_path.is_dir():
        return _scan_folder(in_path, extensions)
    if in_path.suffix.lower() == ".jsonl":
        return _read_manifest(in_path)
    inputs = Inputs("file", in_path.parent)
    inputs.items.append(Item(in_path.name, in_path))
    return inputs


def _scan_folder(in_dir: Path, extensions: frozenset[str]) -> Inputs:
    """Walk ``in_dir`` without following symlinked folders; classify every entry.

    Audio = a non-hidden file with one of ``extensions``; hidden files and folders (name starting with ".") are
    skipped, like other entries that are not audio. Folders are read with ``os.scandir``, whose entries know their
    type from the directory listing: a plain file costs no ``stat`` (symlinks and odd entries do), which keeps the
    serial start of a job over 100,000 files short.
    """
    real_in = in_dir.resolve()
    scan = Inputs("folder", in_dir)
    bad = scan.bad
    todo: list[tuple[str, str]] = [(os.fspath(in_dir), "")]  # (folder, its path relative to in_dir + "/")
    while todo:
        folder, prefix = todo.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:  # as os.walk: an unreadable folder is passed over
            continue
        subdirs = []
        for entry in entries:
            name = entry.name
            rel = prefix + name
            try:
                is_dir = entry.is_dir()  # follows symlinks, as os.walk lists them
            except OSError:
                is_dir = False
            if is_dir:
                if name.startswith("."):  # hidden folders (.git, .Trash, ...): not descended
                    scan.skipped.append(rel)
                elif entry.is_symlink():
                    target = real_path(Path(entry.path))
                    if target is None:
                        bad[rel] = _error(rel, LOOP)
                    elif not is_within(target, real_in):
                        bad[rel] = _error(rel, f"symlinked folder resolves outside the input folder (to {target}); "
                                               "not followed: copy the files into the input folder if you want them")
                    else:
                        scan.skipped.append(rel)  # its files are processed under their real path
                else:
                    subdirs.append((entry.path, rel + "/"))
                continue
            if io._suffix(name) not in extensions or name.startswith("."):  # "._x.wav": macOS metadata
                scan.skipped.append(rel)
                continue
            if entry.is_symlink():
                target = real_path(Path(entry.path))
                if target is None:
                    bad[rel] = _error(rel, LOOP)
                    continue
                if not is_within(target, real_in):
                    bad[rel] = _error(rel, f"symlink resolves outside the input folder (to {target}); not "
                                           "followed: copy the file into the input folder if you want it")
                    continue
                if not target.exists():
                    bad[rel] = _error(rel, f"broken symlink (to {target}); fix or remove it")
                    continue
            try:
                regular = entry.is_file()
            except OSError:
                regular = False
            if not regular:
                bad[rel] = _error(rel, "not a regular file (FIFO, socket or device?); not read")
                continue
            scan.items.append(Item(rel, Path(entry.path)))
        todo.extend(reversed(subdirs))  # depth first, in name order
    scan.items.sort(key=lambda it: it.key)
    return scan


def _error(key: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"input": key, **extra, "reason": reason}


def _read_manifest(path: Path) -> Inputs:
    """Items of a NeMo-style JSONL manifest, parsed by :mod:`audionoise.corpora.manifests` (its one segment rule: a line is
    a segment only when it has ``offset``; a ``duration`` alone is informative, the whole file is read). Other
    fields are kept in the output manifest. A bad line is an error row with its line number; the others go on."""
    inputs = Inputs("manifest", path.parent)
    lines = read_manifest(path)
    counts = Counter(safe_key(line.audio) for line in lines if line.audio is not None)
    for line in lines:
        if line.audio is None:  # no usable audio_filepath: no key to name the error after
            inputs.bad[f"<line {line.line}>"] = _error(None, _bad_line(path, line), line=line.line)
            continue
        key = safe_key(line.audio)
        if counts[key] > 1:  # segments or duplicates of one path: the line number tells them apart
            head, _, name = key.rpartition("/")
            stem, dot, ext = name.rpartition(".")
            name = f"{stem}.L{line.line}.{ext}" if dot else f"{name}.L{line.line}"
            key = f"{head}/{name}" if head else name
        if isinstance(line, BadLine):  # a bad offset/duration
            inputs.bad[key] = _error(line.audio, _bad_line(path, line), line=line.line)
            continue
        inputs.items.append(Item(key, line.path, line.offset, line.duration, line.fields, line.line))
    inputs.items.sort(key=lambda it: it.key)
    return inputs


def _bad_line(path: Path, bad: BadLine) -> str:
    """The errors.jsonl reason of a bad line: the manifest's name and the line number, then why."""
    if bad.problem == "json":
        return f"{path.name} line {bad.line} is not JSON ({bad.cause}); fix the line"
    return f"{path.name} line {bad.line}: {bad.detail}"


#: inputs with more samples than this (frames x channels) are processed in blocks (:mod:`audionoise.offline.longfile`)
LONG_SAMPLES = 1 << 23


def segment_frames(meta: io.AudioInfo, offset: float, duration: float | None) -> tuple[int, int]:
    """Frames ``[start, stop)`` of a segment, as :func:`audionoise.io.load` reads it."""
    start = round(offset * meta.sample_rate)
    stop = meta.frames if duration is None else min(meta.frames, start + max(1, round(duration * meta.sample_rate)))
    return start, stop


def is_long(meta: io.AudioInfo, start: int, stop: int) -> bool:
    """Whether the segment is processed in blocks."""
    return (stop - start) * meta.channels > LONG_SAMPLES

