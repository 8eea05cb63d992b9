"""What a noise bank is built from: folders, list files, JSONL manifests, audio files, glob patterns, lists of them.

:func:`collect` turns the user's ``source`` into a flat list of :class:`Entry` (one audio file or segment each),
skipping bad entries (missing file, bad manifest line) with one :class:`NoiseBankWarning` each. A source itself
that cannot be used (a folder that does not exist, a pattern that matches nothing, an empty folder) is an error:
it is what the user typed, not one bad line among thousands.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

from audionoise import io as aio
from audionoise.corpora.manifests import BadLine, iter_lines, resolve
from audionoise.io.globs import any_match, bounded_glob

#: file suffixes read as NeMo-style JSONL manifests (one JSON object per line)
MANIFEST_SUFFIXES = frozenset({".jsonl", ".json"})

SOURCE_KINDS = ("a folder, a text file listing audio paths (one per line), a JSONL manifest (audio_filepath, "
                "optional offset/duration), an audio file, a glob pattern, or a list of these")


class NoiseBankWarning(UserWarning):
    """A noise file, list line or manifest line was skipped while building a noise bank (the message says why)."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One clip to decode: ``path`` (absolute), the segment ``[offset, offset + duration)`` s, the record name."""

    name: str
    path: str
    offset: float = 0.0
    duration: float | None = None


def skip(skipped: list[dict[str, str]], name: str, reason: str) -> None:
    """Record a skipped entry in ``skipped`` and warn about it (one line naming it and the reason)."""
    skipped.append({"clip": name, "reason": reason})
    warnings.warn(f"noise bank: skipped {name}: {reason}", NoiseBankWarning, stacklevel=4)


def absolute_sources(noise: Any, what: str = "noise") -> str | list[str]:
    """``noise`` (one source or a list) with each path made absolute, so a config or a settings file written from
    it does not depend on the folder it is read from; ``ValueError`` naming ``what`` for a source that does not
    exist or a pattern that matches nothing (the files themselves are read later, by :func:`collect`)."""
    out = []
    for item in flatten_sources(noise):
        text = os.path.expanduser(item)
        if os.path.exists(text):
            out.append(str(Path(text).resolve()))
        elif glob.has_magic(text) and any_match(text):
            out.append(os.path.abspath(text))
        else:
            raise ValueError(f"{what} {item!r} does not exist (or, as a pattern, matches no file); pass {SOURCE_KINDS}")
    return out[0] if len(out) == 1 else out


def flatten_sources(source: Any) -> list[str]:
    """``source`` (one path or a list/tuple of paths) as a list of strings; ``ValueError`` for anything else."""
    items = list(source) if isinstance(source, (list, tuple)) else [source]
    if not items:
        raise ValueError(f"noise source list is empty; pass {SOURCE_KINDS}")
    for item in items:
        if not isinstance(item, (str, os.PathLike)) or isinstance(item, bytes):
            raise ValueError(f"noise source {item!r} ({type(item).__name__}) is not a path; pass {SOURCE_KINDS}")
    return [os.fspath(item) for item in items]


def collect(source: Any, extensions: frozenset[str] | None = None) -> tuple[list[Entry], list[dict[str, str]]]:
    """Every clip named by ``source``, in order (folders sorted by relative path), and the skipped entries."""
    exts = frozenset(e.lower() if e.startswith(".") else "." + e.lower() for e in (extensions or aio.AUDIO_EXTENSIONS))
    entries: list[Entry] = []
    skipped: list[dict[str, str]] = []
    for item in flatten_sources(source):
        path = Path(item).expanduser()
        if path.is_dir():
            entries += _folder(path, exts)
        elif path.is_file():
            suffix = path.suffix.lower()
            if suffix in MANIFEST_SUFFIXES:
                entries += _manifest(path, skipped)
            elif suffix in aio.AUDIO_EXTENSIONS:
                entries.append(Entry(item, os.path.abspath(path)))
            else:
                entries += _list_file(path, skipped)
        elif glob.has_magic(item):
            found = sorted(p for p in bounded_glob(item)  # symlinked folders not entered, MAX_GLOB_MATCHES at most
                           if Path(p).is_file() and Path(p).suffix.lower() in exts)
            if not found:
                raise ValueError(f"noise pattern {item!r} matches no audio file (extensions {sorted(exts)})")
            entries += [Entry(p, os.path.abspath(p)) for p in found]
        else:
            raise ValueError(f"noise source {item!r} does not exist; pass {SOURCE_KINDS}")
    return entries, skipped


def _folder(root: Path, exts: frozenset[str]) -> list[Entry]:
    """Audio files under ``root`` (recursive, sorted, hidden files and folders skipped), named relative to it."""
    from audionoise.io.files import _scan_folder  # the one folder scan of the package

    rel = _scan_folder(root, exts)
    if not rel:
        raise ValueError(f"noise folder {str(root)!r} holds no audio file (looked for {sorted(exts)}; hidden files "
                         f"and folders are skipped)")
    base = os.path.abspath(root)
    return [Entry(r, os.path.join(base, r)) for r in rel]


def _list_file(path: Path, skipped: list[dict[str, str]]) -> list[Entry]:
    """One audio path per line (relative to the list's folder); blank lines and ``#`` comments are skipped."""
    out = []
    for number, line in enumerate(_read_lines(path), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        audio = resolve(text, path)
        if not audio.is_file():
            skip(skipped, text, f"{'is a folder' if audio.is_dir() else 'no such file'} ({audio}, line {number} of "
                                f"{path}); a list file names one audio file per line")
            continue
        out.append(Entry(text, os.path.abspath(audio)))
    return out


def _manifest(path: Path, skipped: list[dict[str, str]]) -> list[Entry]:
    """A NeMo-style JSONL manifest, parsed by :mod:`audionoise.corpora.manifests` with its one segment rule (a line with
    ``offset`` is a segment; a ``duration`` alone is informative: the whole file); bad lines are skipped."""
    out = []
    for row in iter_lines(path):
        where = f"line {row.line} of {path}"
        if isinstance(row, BadLine):
            if row.audio is None:
                skip(skipped, where, row.detail)
            else:  # a bad offset/duration: named by its audio, like a missing file
                skip(skipped, row.audio, f'bad "{row.problem}" {row.fields[row.problem]!r} ({where}); use seconds, '
                                         "offset >= 0 and duration > 0")
            continue
        if not row.path.is_file():
            skip(skipped, row.audio, f"no such file ({row.path}, {where})")
            continue
        name = row.audio
        if row.offset or row.duration is not None:  # a segment: "a.wav@12.5s+3s" (or "+end")
            name += f"@{row.offset:g}s+" + ("end" if row.duration is None else f"{row.duration:g}s")
        out.append(Entry(name, os.path.abspath(row.path), row.offset, row.duration))
    return out


def _read_lines(path: Path) -> Sequence[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        raise ValueError(f"noise source {str(path)!r} is not a UTF-8 text file ({err.reason}); pass a list of audio "
                         f"paths (one per line) or a JSONL manifest") from None
