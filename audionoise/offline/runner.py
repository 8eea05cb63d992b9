"""The runner of an offline job: a :class:`Runner` turns items into their outputs, in this process or in each
worker of a pool (:func:`run`) or of any ``concurrent.futures`` executor (:mod:`audionoise.offline.tasks`).

A :class:`Runner` holds everything a process needs for one job (the :class:`Job`, the pipelines built for it, the
output folders already checked): no module state, so one process may run several jobs. Every result is a
:class:`Result`; a write failure that would hit every later output too (disk full, read-only
or vanished output folder: an ``OSError`` while writing) is ``fatal`` and stops the job, an input's own
problem is an ``error`` row and the job goes on. :class:`Control` turns SIGINT/SIGTERM into a clean stop: the
items in flight are finished, nothing new starts.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import signal
import sys
import threading
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from audionoise import io
from audionoise.offline import clipping, inputs
from audionoise.offline.inputs import Item, is_within
from audionoise.offline.jsonl import line
from audionoise.offline.naming import converted_from, output_name, output_seed, output_subtype
from audionoise.offline.numpy_engine import ENGINE as NUMPY_ENGINE
from audionoise.offline.pipelines import Pipelines

__all__ = ["Control", "Job", "Result", "Runner", "error_row", "run"]


@dataclass(frozen=True)
class Job:
    """What every worker needs to know to turn an item into its outputs."""

    out_dir: Path
    real_out: Path
    seed: int
    fmt: str
    sample_rate: int | None
    manifest_input: bool  # rows keep the input line's fields (NeMo manifest in, manifest out)
    on_clip: str = clipping.DEFAULT_POLICY  # outputs beyond full scale (integer subtypes): offline.clipping
    # the pipeline source, for a worker that builds its own Pipelines (Runner.for_job): the config dict (read once
    # by the job) with the folder its relative paths start from, or a pipeline module; and the engine choice
    pipeline: Any = dataclasses.field(default=None, compare=False, repr=False)
    base_dir: Path | None = None
    engine: str = "auto"
    token: str = ""  # names the job's settings (a hash of run.json): a worker's runner cache key
    stems: bool = False  # also write each output's clean target and noise stem (offline.stems)


@dataclass
class Result:
    key: str
    lines: list[tuple[str, str]]          # (output, its manifest line), encoded where the output was written
    error: dict[str, Any] | None = None   # the input failed (one line in errors.jsonl)
    fatal: str | None = None              # writing failed: the job stops (the input is redone by --resume)


@dataclass
class Control:
    """Why the job stops early, if it does: a signal (SIGINT/SIGTERM) or a fatal write error."""

    signal: int | None = None
    fatal: str | None = None
    _previous: dict[int, Any] = field(default_factory=dict)

    @property
    def stopping(self) -> bool:
        return self.signal is not None or self.fatal is not None

    def install(self) -> None:
        """Catch SIGINT/SIGTERM (main thread only): the first asks for a clean stop and restores the previous
        handlers, so a second signal acts as usual (KeyboardInterrupt / termination)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _on_signal(self, signum, frame) -> None:
        self.signal = signum
        self.restore()


# ---------------------------------------------------------------------------------------------- one item
def torch_single_threaded():
    """``torch``, imported on first use (the NumPy engine never needs it) and set to one thread: bit-identical
    results in every process, and no OpenMP hand-offs, which cost milliseconds per small op on a busy machine
    (parallelism comes from worker processes). :func:`restore_threads` undoes it."""
    import torch

    if "threads" not in _THREADS:
        _THREADS["threads"] = torch.get_num_threads()
        torch.set_num_threads(1)
    return torch


_THREADS: dict[str, int] = {}


def batchable(pipe) -> bool:
    """Whether ``pipe`` runs batched across files (:func:`audionoise.offline.batched.batchable`)."""
    from audionoise.offline.batched import batchable as walk

    return walk(pipe)


def torch_single_threaded_if_imported() -> None:
    """:func:`torch_single_threaded` where torch is imported already (the NumPy engine never imports it)."""
    if "torch" in sys.modules:
        torch_single_threaded()


def restore_threads() -> None:
    """Give torch back the thread count it had before :func:`torch_single_threaded` (if it ran)."""
    if "threads" in _THREADS:
        import torch

        torch.set_num_threads(_THREADS.pop("threads"))


def error_reason(exc: BaseException) -> str:
    """The one-line reason an input failed, as ``errors.jsonl`` words it."""
    if isinstance(exc, io.AudioFileError):
        return exc.reason
    if isinstance(exc, clipping.ClippingError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def error_row(item: Item, reason: str) -> dict[str, Any]:
    if item.fields is None:
        return {"input": item.key, "reason": reason}
    return {"input": item.fields["audio_filepath"], "line": item.line, "reason": reason}


def _row(item: Item, job: Job, record: dict[str, Any]) -> dict[str, Any]:
    """The manifest line of one output, a valid NeMo manifest line either way: (folder or file input) the output's
    ``audio_filepath`` and ``duration``, then the record; (manifest input) the input line with the output's path
    and duration and the record under ``"augmentation"``."""
    if not job.manifest_input:  # a NeMo manifest line too: the output's path (relative to OUT) and duration first
        return {"audio_filepath": record["output"], "duration": round(record["frames"] / record["sample_rate"], 6),
                **record}
    record = {"output": record["output"], "input": item.fields["audio_filepath"], "line": item.line,
              **{k: v for k, v in record.items() if k not in ("output", "input")}}
    row = dict(item.fields)
    row["audio_filepath"] = record["output"]  # relative to OUT, where the manifest is
    if "offset" in row:
        row["offset"] = 0.0  # the output holds the segment only
    duration = round(record["frames"] / record["sample_rate"], 6)
    if row.get("duration") != duration:
        row["duration"] = duration
    row["augmentation"] = record
    return row


def _failure(result: Result, item: Item, exc: Exception) -> None:
    """Record ``exc`` on ``result``: fatal for a system write error (disk full, ...), else the input's error."""
    if isinstance(exc, io.AudioWriteError) and exc.os_error is not None:
        result.fatal = str(exc)  # every later write would fail too
    else:
        result.error = error_row(item, error_reason(exc))


#: most samples (all channels) stacked in one batch; longer inputs run alone
BATCH_SAMPLES = 1 << 20
#: most examples in one batch
BATCH_EXAMPLES = 64


class Runner:
    """Turns items of one job into their outputs, in the process it lives in (the job's, or a worker's).

    Holds the :class:`Job`, the job's :class:`~audionoise.offline.pipelines.Pipelines` (built lazily per sample
    rate), the output folders already checked and which pipelines can be batched.
    """

    def __init__(self, job: Job, pipelines: Pipelines | None = None) -> None:
        self.job = job
        self.pipelines = pipelines if pipelines is not None else Pipelines(job.pipeline, job.engine, job.base_dir)
        self._verified: set[str] = set()
        self._batchable_pipes: dict[int, tuple] = {}  # id(pipe) -> (pipe, batchable)

    def _check_out_folder(self, out_dir: Path, rel: str, real_out: Path) -> None:
        """Create folder ``rel`` (posix, relative to ``out_dir``; ``""`` is ``out_dir``) and check that it really lies
        in the output folder (not behind a symlink). Done once per folder."""
        verified = self._verified
        if rel in verified:
            return
        folder = out_dir / rel
        folder.mkdir(parents=True, exist_ok=True)
        if not is_within(folder.resolve(), real_out):
            raise ValueError(f"output folder {folder} resolves outside the output folder (a symlink in OUT?); "
                             "not written")
        verified.add(rel)

    def _load(self, item: Item):
        job = self.job
        return io.load_with_info(item.source, sample_rate=job.sample_rate, offset=item.offset,
                                 duration=item.duration)

    def _target(self, item: Item, k: int, meta: io.AudioInfo) -> tuple[str, Path, str]:
        """Relative output name, destination path (its folder checked) and subtype of output ``k`` of ``item``."""
        job = self.job
        out_rel = output_name(item.key, k, job.fmt)
        self._check_out_folder(job.out_dir, out_rel.rpartition("/")[0], job.real_out)
        return out_rel, job.out_dir / out_rel, output_subtype(io.format_for_path(out_rel)[0], meta.subtype)

    def _manifest_row(self, item: Item, k: int, out_rel: str, rate: int, frames: int, channels: int, subtype: str,
                      level: dict, records: list[dict], engine: str | None = None,
                      stems: dict | None = None) -> tuple[str, str]:
        """The output's name and its manifest line (JSON, encoded here: in a worker process with ``--workers``).

        ``level``: the clipping policy's fields (``clipped``, and ``normalized_db`` for a scaled output);
        ``engine``: ``"numpy"`` for outputs of :mod:`audionoise.offline.numpy_engine` (torch: no field)."""
        job = self.job
        record = {"output": out_rel, "input": item.key, "copy": k, "seed": output_seed(job.seed, item.key, k),
                  "sample_rate": rate, "frames": frames, "channels": channels, "subtype": subtype, **level}
        if engine is not None:
            record["engine"] = engine
        converted = converted_from(item.key, job.fmt)
        if converted:
            record["converted_from"] = converted  # e.g. "m4a": audionoise does not write that container
        record["transforms"] = records
        row = _row(item, job, record)
        if stems:  # clean_filepath / noise_filepath, relative to OUT like audio_filepath
            row.update(stems)
        return out_rel, line(row)

    def _save(self, item: Item, k: int, y, rate: int, meta: io.AudioInfo, records: list[dict],
              within: bool = False, engine: str | None = None) -> tuple[str, str]:
        """Write output ``k`` of ``item`` (``y`` is ``(channels, time)``, tensor or NumPy) under the job's clipping
        policy; its name and manifest line. ``within``: ``y`` is known to lie in [-1, 1] (nothing for the policy
        to do)."""
        job = self.job
        out_rel, dst, subtype = self._target(item, k, meta)
        if within:
            level = {"clipped": 0}
        else:
            y, level = clipping.limit(y, subtype, job.on_clip, out_rel)
        io.save(dst, y, rate, subtype=subtype)
        return self._manifest_row(item, k, out_rel, rate, int(y.shape[-1]), int(y.shape[0]), subtype, level,
                                  records, engine)

    def _long_input(self, item: Item):
        """``(meta, start, stop)`` when ``item`` is long enough to be processed in blocks, else ``None``."""
        job = self.job
        if item.source.suffix.lower() in io.FFMPEG_EXTENSIONS:
            return None
        try:
            if item.source.stat().st_size < inputs.LONG_SAMPLES // 16:  # cheap: no header read for short files
                return None
            meta = io.info(item.source)
        except (OSError, ValueError):
            return None  # the normal path reports the problem
        start, stop = inputs.segment_frames(meta, item.offset, item.duration)
        if start >= stop or not inputs.is_long(meta, start, stop) or job.sample_rate not in (None, meta.sample_rate):
            return None
        return meta, start, stop

    def process_long(self, item: Item, copies: list[int], meta: io.AudioInfo, start: int, stop: int,
                     pipe) -> Result:
        """Augment a long input block by block (:mod:`audionoise.offline.longfile`), in bounded memory."""
        from audionoise.offline import longfile

        torch = torch_single_threaded()
        job = self.job
        result = Result(item.key, [])
        try:
            for k in copies:
                out_rel, dst, subtype = self._target(item, k, meta)
                generator = torch.Generator().manual_seed(output_seed(job.seed, item.key, k))
                with torch.no_grad(), io.AudioWriter(dst, meta.sample_rate, meta.channels, subtype) as writer:
                    records, frames, level = longfile.augment_long(
                        pipe, item.source, start, stop, meta.channels, generator, writer, job.on_clip, out_rel)
                result.lines.append(self._manifest_row(item, k, out_rel, meta.sample_rate, frames, meta.channels,
                                                       subtype, level, records))
        except Exception as exc:
            _failure(result, item, exc)
        return result

    def _save_stems(self, item: Item, k: int, noisy, clean, rate: int, meta: io.AudioInfo,
                    records: list[dict]) -> tuple[str, str]:
        """Write output ``k`` with its clean target and noise stem (:mod:`audionoise.offline.stems`): the noisy
        file under the job's clipping policy (a scaled output scales the clean target alike), the clean target
        (clamped to full scale in an integer subtype), and ``noise = noisy - clean`` from what was written (read
        back for an integer subtype, so the three files add up exactly there)."""
        from audionoise.offline.stems import stem_names

        job = self.job
        out_rel, dst, subtype = self._target(item, k, meta)
        peak = noisy.abs().max()
        noisy, level = clipping.limit(noisy, subtype, job.on_clip, out_rel)
        if "normalized_db" in level:  # the whole output was scaled by 1 / peak: so is its clean target
            clean = clean * (1.0 / float(peak))
        clean_rel, noise_rel = stem_names(out_rel)
        io.save(dst, noisy, rate, subtype=subtype)
        if clipping.fixed_scale(subtype):
            clean = clean.clamp(-1.0, 1.0)
            io.save(job.out_dir / clean_rel, clean, rate, subtype=subtype)
            noisy, clean = io.load(dst)[0], io.load(job.out_dir / clean_rel)[0]
            noise = (noisy - clean).clamp(-1.0, 1.0)
        else:
            io.save(job.out_dir / clean_rel, clean, rate, subtype=subtype)
            noise = noisy - clean
        io.save(job.out_dir / noise_rel, noise, rate, subtype=subtype)
        return self._manifest_row(item, k, out_rel, rate, int(noisy.shape[-1]), int(noisy.shape[0]), subtype, level,
                                  records, stems={"clean_filepath": clean_rel, "noise_filepath": noise_rel})

    def process_item(self, item: Item, copies: list[int], loaded=None) -> Result:
        """Augment one input into the given copies, one pipeline call per copy."""
        torch = torch_single_threaded()
        pipelines = self.pipelines
        job = self.job
        result = Result(item.key, [])
        try:
            x, rate, meta = loaded or self._load(item)
            pipe = pipelines.get(rate)
            for k in copies:
                seed = output_seed(job.seed, item.key, k)
                if job.stems:
                    from audionoise.offline.stems import augment_with_stems

                    with torch.no_grad():
                        noisy, clean, new_lengths, records = augment_with_stems(
                            pipe, x[None], torch.Generator().manual_seed(seed))
                    n = noisy.shape[-1] if new_lengths is None else int(new_lengths[0])
                    result.lines.append(self._save_stems(item, k, noisy[0, ..., :n], clean[0, ..., :n], rate, meta,
                                                         records[0]))
                    continue
                with torch.no_grad():
                    out = pipe(x[None], generator=torch.Generator().manual_seed(seed), return_params=True)
                if len(out) == 3:  # a length-changing pipeline (speed perturbation, ...): (y, lengths, records)
                    y, new_lengths, records = out
                    y = y[..., :int(new_lengths[0])]
                else:
                    y, records = out
                result.lines.append(self._save(item, k, y[0], rate, meta, records[0]))
        except Exception as exc:  # one bad file never stops the job
            _failure(result, item, exc)
        return result

    def process_items(self, tasks: list[tuple[Item, list[int]]]) -> list[Result]:
        """Augment several inputs, stacking the copies of inputs of one shape and rate into batches.

        Each output is bit-identical to its one-file definition (:mod:`audionoise.offline.batched`); pipelines that
        cannot be batched, and a batch in which something fails, run one file at a time (so an error names its file).
        """
        pipelines = self.pipelines
        job = self.job
        results = [Result(item.key, []) for item, _ in tasks]
        groups: dict[tuple, list[tuple[int, int]]] = {}     # (rate, shape) -> [(task index, copy)]
        loaded: dict[int, tuple] = {}
        for t, (item, copies) in enumerate(tasks):
            if job.stems:  # the torch pipeline, one file at a time, whole files (offline.stems)
                results[t] = self.process_item(item, copies)
                if results[t].fatal:
                    return results
                continue
            long = self._long_input(item)
            if long is not None:
                try:
                    pipe = pipelines.get(long[0].sample_rate)
                except Exception as exc:
                    _failure(results[t], item, exc)
                    continue
                from audionoise.offline import longfile

                if longfile.streamable(pipe):
                    results[t] = self.process_long(item, copies, *long, pipe)
                    if results[t].fatal:
                        return results
                    continue
            try:
                data, meta = io.load_array(item.source, offset=item.offset, duration=item.duration)
                fast = pipelines.numpy(meta.sample_rate) if job.sample_rate in (None, meta.sample_rate) else None
                if fast is not None:
                    results[t] = self.process_numpy(item, copies, data, meta, fast)
                    if results[t].fatal:
                        return results
                    continue
                x, rate, meta = loaded[t] = self._as_tensor(item, data, meta)
                pipe = pipelines.get(rate)
            except Exception as exc:
                _failure(results[t], item, exc)
                continue
            if not self._batchable(pipe):
                results[t] = self.process_item(item, copies, loaded.pop(t))
                if results[t].fatal:
                    return results
                continue
            groups.setdefault((rate, tuple(x.shape)), []).extend((t, k) for k in copies)
        for (rate, shape), examples in groups.items():
            size = max(1, min(BATCH_EXAMPLES, BATCH_SAMPLES // max(1, shape[0] * shape[1])))
            for i in range(0, len(examples), size):
                if self._run_batch(examples[i:i + size], tasks, loaded, results, pipelines.get(rate), rate):
                    return results  # a fatal write error: stop here
        return results

    def _as_tensor(self, item: Item, data: np.ndarray, meta: io.AudioInfo):
        """``(x, rate, meta)`` as :func:`_load` gives them, from samples already read."""
        job = self.job
        torch = torch_single_threaded()
        x, rate = torch.from_numpy(data), meta.sample_rate
        if job.sample_rate is not None and job.sample_rate != rate:
            import torchaudio.functional as AF

            x, rate = AF.resample(x, rate, int(job.sample_rate)), int(job.sample_rate)
        return x, rate, meta

    def process_numpy(self, item: Item, copies: list[int], data: np.ndarray, meta: io.AudioInfo, pipe) -> Result:
        """Augment one input with the NumPy engine (:mod:`audionoise.offline.numpy_engine`): output ``k`` from
        the stream of ``torch.Generator().manual_seed(output_seed(seed, key, k))``
        (:class:`~audionoise.kernels.stream.TorchStream`)."""
        job = self.job
        result = Result(item.key, [])
        try:
            for k in copies:
                y, records = pipe(data, output_seed(job.seed, item.key, k), str(item.source))
                result.lines.append(self._save(item, k, y, meta.sample_rate, meta, records, engine=NUMPY_ENGINE))
        except Exception as exc:  # one bad file never stops the job
            _failure(result, item, exc)
        return result

    def _batchable(self, pipe) -> bool:
        """:func:`batchable`, asked once per pipeline of the job (it walks the module tree)."""
        known = self._batchable_pipes
        if id(pipe) not in known:
            known[id(pipe)] = (pipe, batchable(pipe))  # holds pipe: its id is not reused while the job runs
        return known[id(pipe)][1]

    def _run_batch(self, examples, tasks, loaded, results, pipe, rate) -> bool:
        """Augment and write one batch; True if a fatal write error stopped it."""
        from audionoise.plan import Plan, apply_plan, sample_plan

        torch = torch_single_threaded()
        examples = [(t, k) for t, k in examples if results[t].error is None]
        try:
            with torch.no_grad():
                plans = [sample_plan(pipe, loaded[t][0][None], None, torch.Generator().manual_seed(
                    output_seed(self.job.seed, tasks[t][0].key, k))) for t, k in examples]
                x = loaded[examples[0][0]][0][None] if len(examples) == 1 else torch.stack(
                    [loaded[t][0] for t, _ in examples])
                out = apply_plan(x, Plan.concat(plans), None, owned=True)
                y, records = out.audio, out.records
        except Exception:  # find the culprit: one file at a time
            for t, k in examples:
                if results[t].error is None and not results[t].fatal:
                    one = self.process_item(tasks[t][0], [k], loaded[t])
                    results[t].lines.extend(one.lines)
                    results[t].error, results[t].fatal = one.error, one.fatal
                    if one.fatal:
                        return True
            return False
        within = clipping.rows_within_full_scale(y)  # one pass for the batch, not one per output
        for i, (t, k) in enumerate(examples):
            if results[t].error is not None:
                continue
            item, meta = tasks[t][0], loaded[t][2]
            try:
                results[t].lines.append(self._save(item, k, y[i], rate, meta, records[i], within[i]))
            except Exception as exc:
                _failure(results[t], item, exc)
                if results[t].fatal:
                    return True
        return False


#: The runner of a pool worker process (set once by the pool's initializer; the pool's processes serve one job).
_POOL_RUNNER: list[Runner] = []


def _init_pool_worker(runner: Runner) -> None:
    torch_single_threaded_if_imported()
    # the parent decides when to stop; a worker finishes what it was sent
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _POOL_RUNNER[:] = [runner]


def _process_chunk(chunk: list[tuple[Item, list[int]]]) -> list[Result]:
    return _POOL_RUNNER[0].process_items(chunk)


# ---------------------------------------------------------------------------------------------- the loop
def progress_bar(total: int, initial: int, enabled: bool):
    from audionoise.runtime.progress import progress

    return progress(total=total, initial=initial, enabled=enabled, unit="file", desc="augment")


def run(tasks: list[tuple[Item, list[int]]], runner: Runner, workers: int, progress: bool, done: int,
        control: Control) -> Iterator[Result]:
    """Yield a :class:`Result` per item, from ``runner`` in this process or in a pool of ``workers`` processes
    (each with a copy of ``runner``); nothing new starts once ``control.stopping``."""
    total = done + len(tasks)
    if workers == 1:
        torch_single_threaded_if_imported()
        with progress_bar(total, done, progress) as bar:
            for i in range(0, len(tasks), WINDOW):
                if control.stopping:
                    break
                for result in runner.process_items(tasks[i:i + WINDOW]):
                    bar.update(1)
                    yield result
        return
    yield from _run_pool(tasks, runner, workers, progress, done, total, control)


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork shares the already-imported torch (if any) and the parent's pipeline (no 1.7 s re-import per worker); safe
    # because workers run torch single-threaded (as DataLoader workers do). Elsewhere: forkserver or spawn.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else methods[0])


#: inputs handed to :func:`process_items` at a time (the stop check runs between windows)
WINDOW = 32


def _run_pool(tasks, runner: Runner, workers, progress, done, total, control: Control):
    chunk = max(1, min(WINDOW, len(tasks) // (workers * 4)))
    chunks = [tasks[i:i + chunk] for i in range(0, len(tasks), chunk)]
    # Workers start in ``workers`` far-apart stretches of the sorted inputs: at any time they write into different
    # folders, and creating files in one folder serialises on its lock in the kernel.
    stride = -(-len(chunks) // workers)
    order = [chunks[s * stride + i] for i in range(stride) for s in range(workers) if s * stride + i < len(chunks)]
    pending = list(reversed(order))
    window = 2 * workers
    bar = None
    while pending and not control.stopping:
        # Forked children inherit unflushed stdio buffers and flush them again on exit: flush first.
        sys.stdout.flush()
        sys.stderr.flush()
        pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(),
                                      initializer=_init_pool_worker, initargs=(runner,))
        futures: dict[cf.Future, list] = {}
        try:
            while (pending and not control.stopping) or futures:
                while pending and not control.stopping and len(futures) < window:
                    c = pending.pop()
                    futures[pool.submit(_process_chunk, c)] = c
                if bar is None:  # after the workers started: no tqdm monitor thread exists at fork time
                    bar = progress_bar(total, done, progress)
                if not futures:
                    break
                finished, _ = cf.wait(futures, timeout=0.5, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    results = fut.result()  # BrokenProcessPool if a worker died: handled below
                    del futures[fut]
                    for result in results:
                        bar.update(1)
                        yield result
        except cf.process.BrokenProcessPool:
            # A worker died (e.g. a decoder crashed): report the inputs in flight, go on with a fresh pool.
            for fut, c in futures.items():
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    results = fut.result()
                else:
                    results = [Result(item.key, [], error_row(item, "worker process died while processing this "
                                                                    "file or one sent with it (crash in a "
                                                                    "decoder?); retried by --resume"))
                               for item, _ in c]
                for result in results:
                    bar.update(1)
                    yield result
            futures.clear()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    if bar is not None:
        bar.close()
