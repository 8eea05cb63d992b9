"""Progress of long loops: a tqdm bar on a terminal, a plain line every few seconds anywhere else.

Logs of batch jobs (SLURM, CI, ``cmd > log``) are not terminals: a tqdm bar would write thousands of
carriage-return updates into them. There :func:`progress` prints one ordinary line at most every ``interval_s``
seconds (10 by default), and a last line at the end when it printed any, so a log shows how far a job got
without drowning the rest. Every progress display of the package (offline augmentation, training, evaluation,
data generation) goes through this function.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> for _ in progress(range(3), desc="demo", unit="file", file=out, interval_s=0):
    ...     pass
    >>> print(out.getvalue().splitlines()[-1])  # doctest: +ELLIPSIS
    demo: 3/3 files (100%) done in ... s
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

DEFAULT_INTERVAL_S = 10.0


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
             enabled: bool = True, initial: int = 0, leave: bool = True, file: IO[str] | None = None,
             interval_s: float = DEFAULT_INTERVAL_S) -> Any:
    """A progress display over ``iterable`` (or updated by hand with ``.update(n)``).

    Returns a tqdm bar when ``file`` (default ``sys.stderr``) is a terminal or a notebook, otherwise a
    :class:`PlainProgress`; both support iteration, ``update``, ``set_postfix``, ``close`` and ``with``.

    Args:
        iterable: What to iterate over; its ``len()`` is the total when it has one.
        total: Number of steps (default: ``len(iterable)`` if defined).
        desc: Label in front of the counts.
        unit: Name of one step (plural with an "s" in plain lines, except "it" and byte units like "MB").
        enabled: False shows nothing at all (``-q/--quiet``).
        initial: Steps already done (a resumed job).
        leave: Keep the finished bar on a terminal / print the final plain line.
        file: Stream to write to.
        interval_s: Shortest time between two plain lines.
    """
    file = sys.stderr if file is None else file
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if enabled and _interactive(file):
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave, file=file,
                    dynamic_ncols=True)
    return PlainProgress(iterable, total=total, desc=desc, unit=unit, enabled=enabled, initial=initial,
                         leave=leave, file=file, interval_s=interval_s)


def _interactive(file: IO[str]) -> bool:
    if type(file).__module__.startswith("ipykernel"):  # a Jupyter notebook: tqdm.auto draws a widget
        return True
    isatty = getattr(file, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


class PlainProgress:
    """Prints ``desc: n/total units (p%), elapsed, rate, eta[, postfix]`` at most every ``interval_s`` seconds.

    Nothing is printed before the first ``interval_s`` has passed, so a short loop stays silent; ``close`` adds a
    final ``done`` line when ``leave`` and any line was printed (or ``interval_s <= 0``).
    """

    def __init__(self, iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", enabled: bool = True, initial: int = 0, leave: bool = True,
                 file: IO[str] | None = None, interval_s: float = DEFAULT_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.enabled, self.leave, self.file, self.interval_s = enabled, leave, file, interval_s
        self.n = self._start_n = initial
        self.lines = 0
        self._clock = clock
        self._start = self._last = clock()
        self._postfix = ""
        self._closed = False

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.enabled and self._clock() - self._last >= self.interval_s:
            self._print(self._line())

    def set_postfix(self, **values: Any) -> None:
        self._postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.enabled and self.leave and (self.lines or self.interval_s <= 0):
            elapsed = self._clock() - self._start
            self._print(f"{self._prefix()}{self._count()} done in {elapsed:.1f} s" +
                        (f", {self._postfix}" if self._postfix else ""))

    def _print(self, line: str) -> None:
        print(line, file=self.file if self.file is not None else sys.stderr, flush=True)
        self._last = self._clock()
        self.lines += 1

    def _prefix(self) -> str:
        return f"{self.desc}: " if self.desc else ""

    def _count(self) -> str:
        units = self.unit if self.n == 1 or self.unit == "it" or self.unit.endswith("B") else \
            self.unit + ("es" if self.unit.endswith(("s", "x", "ch", "sh")) else "s")
        if not self.total:
            return f"{self.n} {units}"
        return f"{self.n}/{self.total} {units} ({100 * self.n / self.total:.0f}%)"

    def _line(self) -> str:
        elapsed = self._clock() - self._start
        parts = [f"{self._prefix()}{self._count()}", f"{elapsed:.0f} s"]
        done = self.n - self._start_n
        if done > 0 and elapsed > 0:
            parts.append(f"{done / elapsed:.3g} {self.unit}/s")
            if self.total:
                parts.append(f"eta {(self.total - self.n) * elapsed / done:.0f} s")
        if self._postfix:
            parts.append(self._postfix)
        return ", ".join(parts)
