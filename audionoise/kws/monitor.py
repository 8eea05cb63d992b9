"""What a training run reports while it runs: its log (``train.log`` and the console) and step timing."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

__all__ = ["StepTimer", "WaitTimer", "run_log"]

log = logging.getLogger("audionoise.kws.train")


class _ConsoleHandler(logging.Handler):
    """Log lines on stderr that do not break tqdm progress bars."""

    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(self.format(record), file=sys.stderr)


@contextlib.contextmanager
def run_log(out: Path, main: bool, console: bool):
    """Rank 0 logs to ``out/train.log`` (and to the console when ``console``) during the run."""
    handlers: list[logging.Handler] = []
    if main:
        handlers.append(logging.FileHandler(out / "train.log"))
        handlers[0].setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
        if console:
            handlers.append(_ConsoleHandler())
            handlers[1].setFormatter(logging.Formatter(f"[{out.name}] %(message)s"))
        for h in handlers:
            log.addHandler(h)
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        for h in handlers:
            log.removeHandler(h)
            h.close()


class StepTimer:
    """Wall time of whole training steps and of the augmentation inside them (``aug_fraction`` in metrics).

    On CPU every step is timed; on CUDA only every 10th (timing needs device syncs, which slow training).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.timed = False
        self.step_s = self.aug_s = 0.0
        self.steps = 0
        self._t0 = 0.0

    def _sync(self) -> None:
        if self.timed and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def start(self, step: int) -> None:
        self.timed = self.device.type == "cpu" or step % 10 == 5
        self._sync()
        self._t0 = time.perf_counter()

    @contextlib.contextmanager
    def augmenting(self):
        self._sync()
        t0 = time.perf_counter()
        yield
        self._sync()
        if self.timed:
            self.aug_s += time.perf_counter() - t0

    def stop(self) -> None:
        self._sync()
        if self.timed:
            self.step_s += time.perf_counter() - self._t0
            self.steps += 1

    def metrics(self) -> dict[str, float]:
        n = max(self.steps, 1)
        return {"aug_ms_per_step": 1000 * self.aug_s / n, "step_ms": 1000 * self.step_s / n,
                "aug_fraction": self.aug_s / self.step_s if self.step_s > 0 else 0.0}


class WaitTimer:
    """How long the training loop waits for its next batch, and the augmentation done off the step.

    ``wrap(loader)`` yields the loader's batches and times each ``next()``; ``add_work(seconds)`` adds the
    augmentation time a DataLoader worker spent on the batch (0 when the step augments). In metrics:
    ``data_wait_ms`` per batch, ``data_wait_fraction`` of the loop's time (wait + steps) and
    ``worker_aug_ms_per_batch``. With augmentation off the critical path the wait stays near the
    ``--augment none`` run's while ``worker_aug_ms_per_batch`` shows the work moved to the workers.
    """

    def __init__(self) -> None:
        self.wait_s = self.work_s = 0.0
        self.batches = 0

    def wrap(self, loader):
        it = iter(loader)
        while True:
            t0 = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                return
            self.wait_s += time.perf_counter() - t0
            self.batches += 1
            yield batch

    def add_work(self, seconds: float) -> None:
        self.work_s += seconds

    def metrics(self, step_s: float) -> dict[str, float]:
        n = max(self.batches, 1)
        total = self.wait_s + step_s
        return {"data_wait_ms": 1000 * self.wait_s / n, "worker_aug_ms_per_batch": 1000 * self.work_s / n,
                "data_wait_fraction": self.wait_s / total if total > 0 else 0.0}
