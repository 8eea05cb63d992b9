"""The offline job on any ``concurrent.futures`` executor: tasks of many inputs, manifest parts, retries.

The job's process cuts the work into tasks of :data:`TASK_INPUTS` inputs and submits :func:`run_task` for each to
the executor (a ``ProcessPoolExecutor``, a Dask ``client.get_executor()``, ``submitit.AutoExecutor`` for SLURM,
the Ray adapter of :mod:`audionoise.offline.backends`). A task runs where the executor puts it:

* it builds its :class:`~audionoise.offline.runner.Runner` from the small, picklable
  :class:`~audionoise.offline.runner.Job` (the config, not built modules, travels), once per process: the noise
  bank is decoded once per node through the on-disk cache (:mod:`audionoise.transforms._bank_cache`), never
  shipped through the executor (a job given a pipeline *module* instead of a config ships the module, noise bank
  included, with every task: pass a config for large banks);
* it writes each output atomically into OUT (a shared file system) and appends the output's manifest line to its
  **manifest part** ``OUT/.audionoise-parts/<job>/task-<n>.jsonl`` after every few inputs;
* it returns its results (manifest lines and error rows), which the job's process merges into the manifest.

Failure model: a task whose worker dies (the executor raises) is submitted again, up to :data:`RETRIES` times;
the new attempt keeps the outputs its part lists (their files exist) and does the rest, so nothing finished is lost
and every output is written whole or not at all (temporary name + rename; temporary files of dead attempts are
removed at the end). If the job's process dies, the parts stay: ``resume=True`` takes their lines (of outputs
whose files exist) into the manifest before it starts. Outputs and manifest are byte-identical to a one-process
run, since every output depends only on (seed, input, copy).
"""

from __future__ import annotations

import concurrent.futures as cf
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

from audionoise.offline.inputs import Item
from audionoise.offline.jsonl import Appender, read_manifest
from audionoise.offline.naming import output_name
from audionoise.offline.runner import Control, Job, Result, Runner, error_row, torch_single_threaded_if_imported

__all__ = ["PARTS", "RETRIES", "TASK_INPUTS", "parts_lines", "remove_parts", "run_executor", "run_task"]

#: folder of the manifest parts in OUT (one sub-folder per job: ``<lock name>.<job id>``)
PARTS = ".audionoise-parts"
#: most inputs in one task (fewer when the job is small, so that every worker gets several tasks)
TASK_INPUTS = 64
#: inputs after which a task appends its lines to its part
PART_GROUP = 8
#: times a task is submitted again after its worker died
RETRIES = 2

# Per process: the runner of each job this process serves (built on the first task of the job; a cache).
_RUNNERS: dict[tuple, Runner] = {}


def _runner(job: Job) -> Runner:
    key = (job.token, job.out_dir)
    runner = _RUNNERS.get(key)
    if runner is None:
        from audionoise.runtime import keep_freed_memory, set_blas_threads

        set_blas_threads(1)  # one thread per worker process: parallelism comes from the workers
        keep_freed_memory()  # as the job's own workers (Dask's nanny sets MALLOC_TRIM_THRESHOLD_=64 kB)
        if len(_RUNNERS) >= 4:
            _RUNNERS.clear()
        runner = _RUNNERS[key] = Runner(job)
    torch_single_threaded_if_imported()
    return runner


def run_task(job: Job, part: str, chunk: list[tuple[Item, list[int]]]) -> list[Result]:
    """Augment the inputs of one task (in a worker): outputs into OUT, their lines into the part file ``part``.

    Outputs listed in ``part`` by an earlier attempt whose files exist are kept, not redone.
    """
    runner = _runner(job)
    part_path = Path(part)
    earlier = {o: text for o, text in read_manifest(part_path).items() if (job.out_dir / o).is_file()}
    kept: dict[str, list[tuple[str, str]]] = {}  # key -> (output, line) done by an earlier attempt
    todo: list[tuple[Item, list[int]]] = []
    results: list[Result] = []
    for item, copies in chunk:
        names = {k: output_name(item.key, k, job.fmt) for k in copies}
        kept[item.key] = [(o, earlier[o]) for o in names.values() if o in earlier]
        rest = [k for k in copies if names[k] not in earlier]
        if rest:
            todo.append((item, rest))
        else:
            results.append(Result(item.key, kept[item.key]))
    part_path.parent.mkdir(parents=True, exist_ok=True)
    with Appender(part_path) as ap:
        for i in range(0, len(todo), PART_GROUP):
            group = runner.process_items(todo[i:i + PART_GROUP])
            lines = [text for r in group for _, text in r.lines]
            if lines:
                ap.append(lines)
            for r in group:
                r.lines[:0] = kept[r.key]
            results.extend(group)
            if any(r.fatal for r in group):
                break
    return results


def parts_lines(out_dir: Path, prefix: str) -> dict[str, str]:
    """output -> manifest line, from the parts of earlier (dead) jobs of this shard (``prefix``: its lock name)."""
    root = out_dir / PARTS
    lines: dict[str, str] = {}
    if not root.is_dir():
        return lines
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and folder.name.startswith(prefix + "."):
            for part in sorted(folder.glob("task-*.jsonl")):
                lines.update(read_manifest(part))
    return lines


def remove_parts(out_dir: Path, prefix: str) -> None:
    """Delete this shard's part folders (their lines are in the manifest)."""
    root = out_dir / PARTS
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if folder.is_dir() and folder.name.startswith(prefix + "."):
            shutil.rmtree(folder, ignore_errors=True)
    try:
        root.rmdir()  # only when empty: other shards may have theirs
    except OSError:
        pass


def _died(item: Item) -> Result:
    return Result(item.key, [], error_row(item, "worker died while processing this file or one sent with it "
                                                f"({RETRIES + 1} attempts); retried by --resume"))


def _wait(futures: list) -> list:
    """The finished ones of ``futures``, waiting up to ~0.5 s for one: ``concurrent.futures`` futures, or any
    object with ``done()`` and ``result()`` (submitit's jobs), polled."""
    if all(isinstance(f, cf.Future) for f in futures):
        return list(cf.wait(futures, timeout=0.5, return_when=cf.FIRST_COMPLETED)[0])
    finished = [f for f in futures if f.done()]
    if not finished:
        time.sleep(0.5)
    return finished


def run_executor(executor: Any, tasks: list[tuple[Item, list[int]]], job: Job, parts: Path,
                 bar: Any, control: Control, in_flight: int | None = None) -> Iterator[Result]:
    """Yield the results of ``tasks`` run as :func:`run_task` calls on ``executor``; after a stop (signal, fatal
    write error) nothing new is submitted and the tasks in flight are waited for.

    ``in_flight``: most tasks submitted and not finished (default: twice the executor's ``_max_workers``, which
    ``ProcessPoolExecutor`` and the executors of :mod:`audionoise.offline.backends` carry; else 64)."""
    if in_flight is None:
        in_flight = max(4, 2 * int(getattr(executor, "_max_workers", 0) or 32))
    size = max(1, min(TASK_INPUTS, len(tasks) // 16 or 1))
    chunks = [tasks[i:i + size] for i in range(0, len(tasks), size)]
    pending = list(reversed(range(len(chunks))))
    futures: dict[cf.Future, tuple[int, int]] = {}  # future -> (chunk index, attempt)

    def submit(n: int, attempt: int) -> None:
        fut = executor.submit(run_task, job, str(parts / f"task-{n:06d}.jsonl"), chunks[n])
        futures[fut] = (n, attempt)

    while pending or futures:
        while pending and not control.stopping and len(futures) < in_flight:
            submit(pending.pop(), 0)
        if not futures:
            break
        finished = _wait(list(futures))
        for fut in finished:
            n, attempt = futures.pop(fut)
            try:
                results = fut.result()
            except Exception:  # the worker died (or the executor failed the task): try again, then report
                if attempt < RETRIES and not control.stopping:
                    try:
                        submit(n, attempt + 1)
                        continue
                    except Exception:  # a broken executor (e.g. a ProcessPoolExecutor whose worker died)
                        pass
                results = [_died(item) for item, _ in chunks[n]]
            for result in results:
                bar.update(1)
                yield result
        if control.stopping and not futures:
            break
