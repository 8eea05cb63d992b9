"""Exclusive locks held for a job's life: ``fcntl.flock`` on a small lock file that names its holder.

A lock is an open file with an ``flock`` on it, so the kernel releases it when the holding process ends, however
it ends (``kill -9`` included): a dead holder's lock is simply taken by the next job, never "stale". The file
holds one JSON line naming the holder (job id, pid, host, start time) so a refused job can say who runs; it is
rewritten in place (never renamed over: the lock lives on the inode) and removed by its holder on release.
Removal is safe because :func:`acquire` checks, once it holds the ``flock``, that the path still names the inode
it locked, and starts again if not (the usual unlink-race guard).

Forked children inherit the lock (same open file description): a worker pool forked by the holder keeps it until
the last process exits. Processes on other hosts (cluster workers) do not: they write only files named with the
holder's :attr:`Lock.job_id`, so the holder can tell its own temporary files from those of dead jobs.

Linux/macOS only (``fcntl``); on platforms without it :func:`acquire` holds nothing and never refuses.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with acquire(d / ".job.lock") as lock:
    ...     try:
    ...         acquire(d / ".job.lock")
    ...     except LockBusy as busy:
    ...         print(busy.holder.job_id == lock.job_id)
    True
    >>> (d / ".job.lock").exists()
    False
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["Holder", "Lock", "LockBusy", "acquire", "new_job_id", "probe"]

#: seconds between two tries while waiting for a lock (``wait=True``)
POLL_S = 0.1


def new_job_id() -> str:
    """A fresh job id: 12 hex digits, unique enough to tell jobs' files apart (``secrets``, not the seed)."""
    return secrets.token_hex(6)


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as written in its file."""

    job_id: str
    pid: int
    host: str
    started: str  # UTC, ISO 8601 to the second

    def __str__(self) -> str:
        return f"job {self.job_id} (pid {self.pid} on {self.host}, started {self.started})"

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            d = json.loads(text)
            return cls(str(d["job_id"]), int(d["pid"]), str(d["host"]), str(d["started"]))
        except (ValueError, KeyError, TypeError):  # being written, or not ours
            return None


class LockBusy(Exception):
    """The lock is held by another live job (``holder``: who, if its file could be read)."""

    def __init__(self, path: Path, holder: Holder | None) -> None:
        self.path, self.holder = path, holder
        who = str(holder) if holder is not None else "another job"
        super().__init__(f"{path} is held by {who}")


class Lock:
    """A held lock: :attr:`job_id`, :attr:`holder`, :meth:`release` (also on leaving a ``with`` block)."""

    def __init__(self, path: Path, fd: int | None, holder: Holder) -> None:
        self.path, self._fd, self.holder = path, fd, holder

    @property
    def job_id(self) -> str:
        return self.holder.job_id

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Remove the lock file (while still holding it), then release the lock. Idempotent."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if _same_file(self.path, fd):
                os.unlink(self.path)
        except OSError:
            pass
        finally:
            os.close(fd)  # releases the flock (unless forked children still hold the description)

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Lock({str(self.path)!r}, {self.holder}, held={self.held})"


def _same_file(path: Path, fd: int) -> bool:
    try:
        a, b = os.stat(path), os.fstat(fd)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode("utf-8", "replace")
    except OSError:
        return ""


def _try_lock(path: Path) -> tuple[int | None, Holder | None]:
    """``(fd, None)`` with the lock held on the inode ``path`` names now, or ``(None, holder)`` if busy."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Holder.parse(_read(fd))
            os.close(fd)
            return None, holder
        except BaseException:
            os.close(fd)
            raise
        if _same_file(path, fd):
            return fd, None
        os.close(fd)  # the holder removed it as we opened it: lock the new file


def acquire(path: str | os.PathLike, *, wait: bool = False, job_id: str | None = None,
            should_stop: Callable[[], bool] | None = None) -> Lock:
    """Take the exclusive lock ``path`` (created if missing; its folder must exist) and write who holds it.

    Args:
        path: The lock file.
        wait: If another live job holds it, wait until it is released (polling every :data:`POLL_S` s) instead
            of raising :class:`LockBusy`.
        job_id: The id written in the file (default :func:`new_job_id`).
        should_stop: While waiting, checked every poll; when it returns true the wait ends with
            :class:`LockBusy` (e.g. a stop flag set by SIGINT/SIGTERM).

    Raises:
        LockBusy: held by another live job (and ``wait`` is false, or ``should_stop`` said so).
        OSError: the lock file cannot be created or written (e.g. a read-only folder).
    """
    path = Path(path)
    holder = Holder(job_id or new_job_id(), os.getpid(), socket.gethostname(),
                    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    if fcntl is None:  # pragma: no cover
        return Lock(path, None, holder)
    while True:
        fd, other = _try_lock(path)
        if fd is not None:
            break
        if not wait or (should_stop is not None and should_stop()):
            raise LockBusy(path, other)
        time.sleep(POLL_S)
    try:
        data = (json.dumps(asdict(holder)) + "\n").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except BaseException:
        lock = Lock(path, fd, holder)
        lock.release()
        raise
    return Lock(path, fd, holder)


def probe(path: str | os.PathLike) -> Holder | None:
    """Who holds ``path`` now: its :class:`Holder` if a live job holds it (a placeholder holder if its file
    cannot be parsed), ``None`` if nobody does. A lock file left by a dead job is removed on the way."""
    path = Path(path)
    if fcntl is None:  # pragma: no cover
        return None
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return Holder.parse(_read(fd)) or Holder("?", 0, "?", "?")
        if _same_file(path, fd):  # a dead job's file: ours for a moment, remove it
            try:
                os.unlink(path)
            except OSError:
                pass
        return None
    finally:
        os.close(fd)
