"""The lock on an output folder: one job per OUT (or per shard of OUT) for the job's whole life.

Files (hidden, in OUT, removed by their holder when it ends; a killed job's file is taken over by the next job,
the kernel having released its ``flock``, see :mod:`audionoise.io.lock`):

- ``.audionoise.lock``: held by an unsharded job (``--shard 0/1``) from before it reads OUT until its last write;
- ``.audionoise.shard-I-of-N.lock``: held by shard I of N; shards of the same N run side by side, each writing
  only its own inputs' outputs;
- ``.audionoise.start.lock``: held for a moment while a job checks the others (so two jobs never both pass).

A job is refused (:class:`OutputBusy`, CLI exit status 2, one line naming the running job's id, pid, host and
start time) when OUT holds a live job it could collide with: the same shard, an unsharded job and any other, or
shards of another N. With ``wait=True`` it waits for that job to end instead. Because a job's outputs,
temporary files and JSONL files are written only while it holds its lock, temporary files found by the next
holder of the same lock belong to dead jobs and are safe to delete.

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> with lock_output(out) as lock:
    ...     try:
    ...         lock_output(out, (2, 4))
    ...     except OutputBusy as busy:
    ...         print(str(busy).startswith(f"output folder {str(out)!r} is in use by job {lock.job_id}"))
    True
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from audionoise.io import lock as _lock
from audionoise.io.lock import Holder, Lock, LockBusy
from audionoise.offline.pipelines import OfflineUsageError

__all__ = ["OutputBusy", "lock_name", "lock_output"]

START = ".audionoise.start.lock"
_JOB_LOCK = re.compile(r"^\.audionoise(?:\.shard-(\d+)-of-(\d+))?\.lock$")


class OutputBusy(OfflineUsageError):
    """Another live job holds the output folder (``holder``: which, if known)."""

    def __init__(self, message: str, holder: Holder | None) -> None:
        super().__init__(message)
        self.holder = holder


def lock_name(shard: tuple[int, int] = (0, 1)) -> str:
    """The lock file of a job of shard ``(i, n)``: ``.audionoise.lock`` or ``.audionoise.shard-I-of-N.lock``."""
    return ".audionoise.lock" if shard[1] == 1 else f".audionoise.shard-{shard[0]}-of-{shard[1]}.lock"


def _collides(shard: tuple[int, int], other: tuple[int, int]) -> bool:
    return shard[1] == 1 or other[1] == 1 or shard[1] != other[1] or shard[0] == other[0]


def _conflict(out_dir: Path, shard: tuple[int, int]) -> tuple[Path, Holder] | None:
    """A live job in ``out_dir`` that ``shard`` would collide with (lock files of dead jobs are removed)."""
    mine = lock_name(shard)
    for entry in os.scandir(out_dir):
        m = _JOB_LOCK.match(entry.name)
        if m is None or entry.name == mine:
            continue
        other = (int(m.group(1)), int(m.group(2))) if m.group(1) else (0, 1)
        if not _collides(shard, other):
            continue
        holder = _lock.probe(entry.path)
        if holder is not None:
            return Path(entry.path), holder
    return None


def lock_output(out_dir: str | os.PathLike, shard: tuple[int, int] = (0, 1), *, wait: bool = False,
                job_id: str | None = None, should_stop: Callable[[], bool] | None = None) -> Lock:
    """Create ``out_dir`` if needed and take the lock of a job of ``shard`` on it (see the module docs).

    Args:
        out_dir: The output folder.
        shard: ``(i, n)`` of the job.
        wait: Wait for colliding jobs to end instead of raising :class:`OutputBusy`.
        job_id: The job id to record (default: a fresh one, :func:`audionoise.io.lock.new_job_id`).
        should_stop: Polled while waiting; true ends the wait with :class:`OutputBusy` (a stop signal).

    Returns:
        The held :class:`audionoise.io.lock.Lock`; release it (or leave its ``with`` block) when the job ends.

    Raises:
        OutputBusy: a colliding live job holds ``out_dir``.
        OSError: ``out_dir`` cannot be created or the lock file written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            with _lock.acquire(out_dir / START, wait=True, should_stop=should_stop):  # held for a moment
                try:
                    mine = _lock.acquire(out_dir / lock_name(shard), job_id=job_id)
                except LockBusy as busy:
                    found: tuple[Path, Holder | None] = (busy.path, busy.holder)
                else:
                    conflict = _conflict(out_dir, shard)
                    if conflict is None:
                        return mine
                    mine.release()
                    found = conflict
        except LockBusy:  # stopped while waiting for the start lock
            raise OutputBusy(f"stopped while waiting for the output folder {str(out_dir)!r}", None) from None
        path, holder = found
        who = str(holder) if holder is not None else "another job"
        if not wait:
            raise OutputBusy(f"output folder {str(out_dir)!r} is in use by {who}; pass --wait to start when it "
                             "ends, or choose another output folder", holder)
        while _lock.probe(path) is not None:
            if should_stop is not None and should_stop():
                raise OutputBusy(f"stopped while waiting for {who} to finish with {str(out_dir)!r}", holder)
            time.sleep(_lock.POLL_S)
