"""Atomic file writes: the one helper every writer of audionoise goes through.

:func:`atomic_write` writes to a hidden temporary file in the destination's folder, named
``.<name>.<pid><random>.tmp`` (8 hex digits of the process id, 8 random hex digits; created with ``O_EXCL``, so
no other writer's file is ever clobbered), optionally ``fsync``-s it, then renames it over the destination
(``os.replace``, atomic on POSIX and Windows). A reader, a concurrent writer or a job resumed after ``kill -9``
therefore only ever sees no file, the old file or the complete new one; the temporary file is removed if
anything fails. :func:`temp_target` recognises such leftovers so a resumed job can delete them.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(p, "hello\\n").read_text()
    'hello\\n'
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_open", "atomic_write", "temp_name", "temp_target", "write_file_atomically"]

# 12 hex digits: the temporary names of earlier versions (still cleaned up on resume); 16: today's.
_TEMP_NAME = re.compile(r"^\.(.+)\.[0-9a-f]{12,16}\.tmp$", re.S)


def temp_name(name: str) -> str:
    """A fresh temporary file name for destination file ``name``: ``.<name>.<pid:08x><8 random hex>.tmp``."""
    return f".{name}.{os.getpid() & 0xFFFFFFFF:08x}{secrets.token_hex(4)}.tmp"


def temp_target(name: str) -> str | None:
    """If ``name`` is a temporary file of :func:`atomic_write`, the file name it was going to become, else None.

    Example:
        >>> temp_target(".a.wav.00001234deadbeef.tmp"), temp_target("a.wav")
        ('a.wav', None)
    """
    m = _TEMP_NAME.match(name)
    return m.group(1) if m else None


def _open_exclusive(path: Path) -> tuple[Path, int]:
    for _ in range(100):
        tmp = path.with_name(temp_name(path.name))
        try:
            # O_EXCL: never open someone else's file; 0o666 is reduced by the umask like any new file
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {path}")  # pragma: no cover


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse to sync folders
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, *, fsync: bool = False) -> Iterator[BinaryIO]:
    """Open ``path`` for an atomic write: yields a binary file object on a temporary file in the same folder,
    renamed over ``path`` when the ``with`` block ends normally, removed if it raises.

    For writers that produce a file piece by piece (e.g. audio written in blocks); :func:`atomic_write` is the
    one-call form.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "b.txt"
        >>> with atomic_open(p) as fh:
        ...     _ = fh.write(b"part 1, "); _ = fh.write(b"part 2")
        >>> p.read_bytes()
        b'part 1, part 2'
    """
    path = path if isinstance(path, Path) else Path(path)
    tmp, fd = _open_exclusive(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        _fsync_folder(path.parent)


def write_file_atomically(path: str | os.PathLike, data: bytes) -> None:
    """:func:`atomic_write` of ``data`` in system calls only (no file object, no context manager): what the
    offline engine uses for its many small outputs. The same temporary name, ``O_EXCL``, rename and clean-up.

    Raises:
        OSError: as :func:`atomic_write` (nothing is left behind; a write that makes no progress is ``ENOSPC``).
    """
    folder, name = os.path.split(os.fspath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, temp_name(name))
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover
        raise FileExistsError(f"could not create a temporary file next to {path}")
    try:
        try:
            view = memoryview(data)
            while view:
                done = os.write(fd, view)
                if done <= 0:  # pragma: no cover - the kernel reports ENOSPC itself
                    raise OSError(28, "No space left on device", tmp)
                view = view[done:]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write(path: str | os.PathLike, content: str | bytes | Callable[[BinaryIO], object], *,
                 fsync: bool = False) -> Path:
    """Write ``path`` atomically (temporary file in the same folder, then ``os.replace``).

    Args:
        path: Destination file; its folder must exist.
        content: ``str`` (written as UTF-8, newlines untouched), ``bytes``, or a function that writes to the
            binary file object it is given (``lambda fh: torch.save(obj, fh)``).
        fsync: Flush the file (and the folder entry) to disk before returning: for files that must survive a
            power loss, e.g. checkpoints.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: the folder is missing or not writable, or the disk is full (nothing is left behind); any error
            raised by ``content`` propagates after the temporary file is removed.
    """
    path = path if isinstance(path, Path) else Path(path)
    with atomic_open(path, fsync=fsync) as fh:
        if callable(content):
            content(fh)
        else:
            fh.write(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _scan_folder(root: Path, extensions: frozenset[str]) -> list[str]:
    """Relative posix paths of the non-hidden files under ``root`` with one of ``extensions``, sorted.

    Hidden files and folders (name starting with ".") are skipped; symlinked folders are not followed (so a
    link loop cannot hang the scan), symlinked files are listed.
    """
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        base = Path(folder)
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in extensions:
                found.append((base / name).relative_to(root).as_posix())
    return sorted(found)
