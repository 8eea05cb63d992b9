"""Timing helpers for the benchmark: interleaved repeats, robust statistics, first-call cost.

Every case is a zero-argument callable. Cases that are compared with each other are timed in
the same round, one after the other, in an order that rotates from round to round, so a slow
spell of the shared machine hits all of them alike. Warm-up rounds are not recorded; the cost
of building a fresh object and calling it once is measured separately (:func:`first_call`).

Cheap cases are called several times per sample (``inner`` calls, chosen in the warm-up so a
sample lasts at least ``min_sample_s``) and the sample is the mean per call; this keeps timer
noise out of sub-millisecond numbers.

Example:
    >>> stats = interleaved({"sum": lambda: sum(range(1000))}, repeats=3, warmup=1)
    >>> stats["sum"].n
    3
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Mapping

import torch


@dataclass(frozen=True)
class Stats:
    """Summary of the per-call times of one case, in milliseconds.

    Attributes:
        median: median over the recorded samples.
        q1: first quartile (25 %).
        q3: third quartile (75 %).
        min: fastest sample.
        max: slowest sample.
        n: number of recorded samples.
        inner: calls averaged inside each sample.
    """

    median: float
    q1: float
    q3: float
    min: float
    max: float
    n: int
    inner: int = 1

    def cell(self) -> str:
        """Markdown cell ``median (q1-q3)`` with a precision that suits the magnitude."""
        return f"{fmt_ms(self.median)} ({fmt_ms(self.q1)}-{fmt_ms(self.q3)})"


def fmt_ms(value: float) -> str:
    """Format milliseconds with 3 significant digits (``0.0123``, ``1.23``, ``123``)."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def summarize(samples_s: list[float], inner: int = 1) -> Stats:
    """Median, quartiles and range of per-call times given in seconds.

    Quartiles use the "inclusive" method of :func:`statistics.quantiles`, so with three or more
    samples q1 <= median <= q3 always holds.

    Example:
        >>> summarize([0.001, 0.002, 0.003]).median
        2.0
    """
    if not samples_s:
        raise ValueError("samples_s is empty: time at least one call before summarizing")
    ms = sorted(s * 1e3 for s in samples_s)
    if len(ms) >= 3:
        q1, _, q3 = statistics.quantiles(ms, n=4, method="inclusive")
    else:
        q1, q3 = ms[0], ms[-1]
    return Stats(statistics.median(ms), q1, q3, ms[0], ms[-1], len(ms), inner)


def synchronize(device: torch.device | str) -> None:
    """Wait for queued GPU work so wall-clock times cover it (no-op on CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _time_calls(fn: Callable[[], object], inner: int, device: torch.device | str) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / inner


def interleaved(
    cases: Mapping[str, Callable[[], object]],
    repeats: int,
    warmup: int = 2,
    device: torch.device | str = "cpu",
    min_sample_s: float = 0.002,
    max_inner: int = 64,
    max_case_s: float | None = None,
    min_rounds: int = 3,
    known_s: Mapping[str, float] | None = None,
) -> dict[str, Stats]:
    """Time several cases in interleaved rounds and summarize each.

    Round ``r`` calls the cases starting at position ``r mod len(cases)``; warm-up rounds are
    run first and dropped. The number of calls per sample of a case is
    ``clip(ceil(min_sample_s / t_warm), 1, max_inner)`` with ``t_warm`` its fastest warm-up call.

    Args:
        cases: name -> zero-argument callable doing one unit of work.
        repeats: recorded rounds (samples per case).
        warmup: rounds run before recording (at least 1, used to choose ``inner``).
        device: device whose queue is synchronized around each sample.
        min_sample_s: target minimum duration of one sample.
        max_inner: upper bound on calls per sample.
        max_case_s: optional time budget per case: a case whose first warm-up call takes
            ``t_warm`` is recorded in only the first ``max(min_rounds, max_case_s // t_warm)``
            rounds, and gets a single warm-up call when ``t_warm > max_case_s / 4`` (slow peers
            would otherwise dominate the run time).
        min_rounds: fewest recorded rounds of a case capped by ``max_case_s``.
        known_s: seconds of a call already made (e.g. while checking the case runs); a case known
            to be slow (``> max_case_s / 4``) skips the warm-up rounds altogether.

    Returns:
        name -> :class:`Stats` in milliseconds per call.

    Example:
        >>> s = interleaved({"a": lambda: None, "b": lambda: None}, repeats=2, warmup=1)
        >>> sorted(s)
        ['a', 'b']
    """
    if repeats < 1:
        raise ValueError(f"repeats ({repeats}) must be >= 1: pass --repeats 1 or more")
    names = list(cases)
    best_warm = {name: (known_s or {}).get(name, math.inf) for name in names}
    for _ in range(max(1, warmup)):
        for name in names:
            if max_case_s is not None and math.isfinite(best_warm[name]) and best_warm[name] > max_case_s / 4:
                continue
            best_warm[name] = min(best_warm[name], _time_calls(cases[name], 1, device))
    inner = {
        name: int(min(max_inner, max(1, math.ceil(min_sample_s / max(best_warm[name], 1e-9)))))
        for name in names
    }
    rounds = {name: repeats for name in names}
    if max_case_s is not None:
        for name in names:
            rounds[name] = min(repeats, max(min_rounds, int(max_case_s // max(best_warm[name], 1e-9))))
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            if r < rounds[name]:
                samples[name].append(_time_calls(cases[name], inner[name], device))
    return {name: summarize(samples[name], inner[name]) for name in names}


def first_call(make: Callable[[], Callable[[], object]], device: torch.device | str = "cpu") -> float:
    """Milliseconds to build a fresh case with ``make()`` and call it once.

    This is what a user pays the first time (construction, file decoding, lazy caches), after
    the libraries are imported. Import time is measured separately by :func:`timed_import`.
    """
    synchronize(device)
    start = time.perf_counter()
    fn = make()
    fn()
    synchronize(device)
    return (time.perf_counter() - start) * 1e3


def timed_import(module_name: str) -> tuple[object | None, float, str | None]:
    """Import ``module_name`` and return ``(module, milliseconds, error)``.

    A failed import returns ``(None, ms, "ExceptionType: message")`` instead of raising, so the
    benchmark can report the failure in its table.
    """
    import importlib

    start = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the peer is broken in this environment: report, do not crash
        return None, (time.perf_counter() - start) * 1e3, f"{type(exc).__name__}: {exc}"
    return module, (time.perf_counter() - start) * 1e3, None


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else :func:`platform.processor`."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_description(device: torch.device | str) -> dict[str, str]:
    """What the numbers were measured on: CPU, threads, GPU, library versions, date."""
    info = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": f"{cpu_model()} ({os.cpu_count()} logical CPUs visible)",
        "torch threads": str(torch.get_num_threads()),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    try:
        import torchaudio

        info["torchaudio"] = torchaudio.__version__
    except ImportError:  # pragma: no cover - torchaudio is a hard dependency
        info["torchaudio"] = "missing"
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info
