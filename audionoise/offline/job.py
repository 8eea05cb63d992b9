"""An offline job from start to end: check the request, plan the outputs, run, keep the JSONL files right."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import json
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from audionoise import io

from audionoise.io import _ffmpeg
from audionoise.io.files import temp_target
from audionoise.offline import clipping
from audionoise.offline import runner
from audionoise.offline import tasks as tasks_module
from audionoise.offline.inputs import LOOP, Inputs, Item, collect, is_within, real_path
from audionoise.offline.lock import OutputBusy, lock_name, lock_output
from audionoise.offline.jsonl import Appender, line, read_lines, read_manifest, write_lines_atomic
from audionoise.offline.naming import manifest_name, output_name, output_subtype, shard_of
from audionoise.offline.pipelines import OfflineUsageError
from audionoise.offline.spec import JobSpec
from audionoise.runtime import keep_freed_memory, set_blas_threads

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "EXIT_WRITE", "DryRun", "Summary", "augment", "dry_run"]

#: Exit statuses of ``audionoise augment`` (a signal gives 128 + its number: 130 SIGINT, 143 SIGTERM).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_WRITE = 0, 1, 2, 3


@dataclass(frozen=True)
class Summary:
    """What :func:`augment` did.

    Attributes:
        inputs: Audio inputs in this shard (files with an audio extension, bad links included).
        written: Outputs written by this run.
        resumed: Outputs already complete from an earlier run (``resume=True``), kept as they were.
        failed: Inputs that gave an error line (unreadable, bad symlink, failed write, unsupported audio, ...).
        skipped: Entries that are not audio by extension, plus symlinked folders (not descended).
        seconds: Wall time of the call.
        manifest: Path of the manifest JSONL file.
        errors: Path of the errors JSONL file.
        unsupported: Of ``failed``, audio files in a container that needs the ``audionoise[ffmpeg]`` extra.
        stopped: Why the job stopped before the end (a write error such as a full disk), else ``None``.
        signal: The signal (SIGINT 2, SIGTERM 15) that stopped the job, else ``None``.
        planned: Outputs this shard should have in the end (``resumed + written`` once complete).
    """

    inputs: int
    written: int
    resumed: int
    failed: int
    skipped: int
    seconds: float
    manifest: Path
    errors: Path
    unsupported: int = 0
    stopped: str | None = None
    signal: int | None = None
    planned: int = 0

    @property
    def files_per_s(self) -> float:
        """Inputs handled (written, resumed or failed) per second of wall time."""
        return self.inputs / self.seconds if self.seconds > 0 else float("inf")

    @property
    def exit_status(self) -> int:
        """0 all inputs ok; 1 some failed (the rest is done); 3 stopped by a write error; 128 + signal."""
        if self.signal is not None:
            return 128 + self.signal
        if self.stopped is not None:
            return EXIT_WRITE
        return EXIT_FAILED if self.failed else EXIT_OK

    @property
    def stop_line(self) -> str | None:
        """One line saying why the job stopped, how far it got and how to finish it (``None`` if it did not)."""
        if self.signal is None and self.stopped is None:
            return None
        why = f"stopped by signal {self.signal}" if self.signal is not None else f"stopped: {self.stopped}"
        return (f"{why}; {self.written} outputs written by this run, {self.written + self.resumed} of "
                f"{self.planned} done; run the same command with --resume to finish")

    def __str__(self) -> str:
        failed = f"{self.failed} inputs failed"
        if self.unsupported:
            failed += f" ({self.unsupported} unsupported audio: install audionoise[ffmpeg])"
        return (f"{self.inputs} audio inputs: {self.written} outputs written, {self.resumed} already done, "
                f"{failed}, {self.skipped} non-audio entries skipped; "
                f"{self.seconds:.2f} s, {self.files_per_s:.1f} files/s")


@dataclass(frozen=True)
class DryRun:
    """What :func:`dry_run` found: the job that would run, without writing anything.

    Attributes:
        inputs: Audio inputs in this shard.
        outputs: Outputs the run would write (already complete ones excluded with ``resume``).
        resumed: Outputs already complete (``resume=True``).
        unreadable: ``(input, reason)`` of every input that would fail (headers are read, not decoded).
        unsupported: Of ``unreadable``, audio in a container that needs ``audionoise[ffmpeg]``.
        skipped: Non-audio entries.
        input_bytes: Size of the readable inputs.
        output_bytes: Estimated size of the outputs (exact for PCM containers; FLAC/Ogg/MP3 estimated).
    """

    inputs: int
    outputs: int
    resumed: int
    unreadable: list[tuple[str, str]]
    unsupported: int
    skipped: int
    input_bytes: int
    output_bytes: int

    @property
    def exit_status(self) -> int:
        return EXIT_FAILED if self.unreadable else EXIT_OK

    def __str__(self) -> str:
        lines = [f"{path}: {reason}" for path, reason in self.unreadable]
        lines.append(f"dry run: {self.inputs} audio inputs ({_size(self.input_bytes)}), {self.outputs} outputs to "
                     f"write (about {_size(self.output_bytes)}), {self.resumed} already done, "
                     f"{len(self.unreadable)} inputs would fail ({self.unsupported} unsupported audio), "
                     f"{self.skipped} non-audio entries skipped; nothing written")
        return "\n".join(lines)


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


# ---------------------------------------------------------------------------------------------- checks
def _earlier_run(manifest: Path, out_dir: Path) -> OfflineUsageError:
    """OUT holds a job already: the error, in Python words and in command-line words."""
    earlier = f"{manifest} exists: {out_dir} holds an earlier run; pass"
    return OfflineUsageError(f"{earlier} resume=True to finish it, or choose an empty output folder",
                             cli=f"{earlier} --resume to finish it, or choose an empty output folder")


def _check_same_settings(path: Path, settings: str, resume: bool) -> None:
    if not (resume and path.is_file()):
        return
    before = path.read_text(encoding="utf-8")
    if before != settings:
        old, new = json.loads(before), json.loads(settings)
        old.setdefault("engine", "torch")  # folders made before the NumPy engine: every output came from torch
        differ = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if not differ:
            return
        hint = f" (this one ran with --engine {old['engine']})" if "engine" in differ else ""
        raise OfflineUsageError(f"cannot resume: {path.parent} was made with other settings ({', '.join(differ)} "
                                f"differ{hint}, see {path}); resume with the same ones or choose a new output "
                                "folder")


# ---------------------------------------------------------------------------------------------- planning
@dataclass
class _Plan:
    mine: list[str]                      # keys of this shard (good and bad)
    bad: dict[str, dict[str, Any]]       # key -> error row, for this shard
    items: dict[str, Item]               # key -> item, the good ones of this shard
    unsupported: int
    skipped: int
    copies: int = 1
    fmt: str = "same"

    @functools.cached_property
    def outputs(self) -> dict[str, list[str]]:
        """key -> planned output names (made when first asked: a dry run counts them instead)."""
        return {key: [output_name(key, k, self.fmt) for k in range(self.copies)] for key in self.items}

    def kept_counts(self, outputs: Iterable[str]) -> dict[str, int]:
        """key -> how many of ``outputs`` (names) are planned outputs of it, without listing the planned ones."""
        first = {output_name(key, 0, self.fmt): key for key in self.items}
        counts: dict[str, int] = {}
        for out in outputs:
            m = _OUTPUT.match(out)
            key = m and first.get(m.group(1) + "0" + m.group(3))
            if key and int(m.group(2)) < self.copies and output_name(key, int(m.group(2)), self.fmt) == out:
                counts[key] = counts.get(key, 0) + 1
        return counts


#: an output name: ``<dir/stem>_aug<copy><ext>`` (:func:`audionoise.offline.naming.output_name`)
_OUTPUT = re.compile(r"^(.*_aug)(0|[1-9][0-9]*)([^0-9][^/]*|)$", re.S)


def _plan(inputs: Inputs, shard, copies, fmt, real_out: Path) -> _Plan:
    """Inputs of this shard, failing entries of this shard, and planned outputs per good input."""
    every = sorted([it.key for it in inputs.items] + list(inputs.bad))
    mine = [key for i, key in enumerate(every) if shard_of(i, shard)]
    mine_set = set(mine)
    bad = {key: inputs.bad[key] for key in mine if key in inputs.bad}
    items = {it.key: it for it in inputs.items if it.key in mine_set}
    unsupported = 0
    no_ffmpeg = not _ffmpeg.available()
    for key, it in list(items.items()):
        if it.source.suffix.lower() in io.FFMPEG_EXTENSIONS and no_ffmpeg:
            bad[key] = runner.error_row(it, _ffmpeg.missing_reason(it.source))
            unsupported += 1
        elif inputs.kind == "manifest" and real_path(it.source) is None:
            bad[key] = runner.error_row(it, LOOP)
        elif inputs.kind == "manifest" and is_within(real_path(it.source), real_out):
            bad[key] = runner.error_row(it, "input lies inside the output folder; not read (outputs could "
                                            "overwrite it)")
    # Output names may collide (a.wav + a.flac with fmt="wav"); check over all inputs, not just this shard. Copy k
    # of a and copy j of b share a name only if k == j and their copies 0 do ("_aug<k>" ends the stem): copy 0
    # tells.
    owner: dict[str, str] = {}
    shared: dict[str, list[str]] = {}
    for it in inputs.items:
        out = output_name(it.key, 0, fmt)
        first = owner.setdefault(out, it.key)
        if first != it.key:
            shared.setdefault(out, [first]).append(it.key)
    for out, keys in shared.items():
        for key in keys:
            if key in items and key not in bad:
                bad[key] = runner.error_row(items[key], f"output name {out!r} would be shared by "
                                                        f"{', '.join(sorted(keys))}; rename one of them or "
                                                        "use --format same")
    for key in bad:
        items.pop(key, None)
    return _Plan(mine, bad, items, unsupported, len(inputs.skipped), copies, fmt)


def _remove_stale_temps(out_dir: Path, planned: set[str]) -> None:
    """Delete temporary files left by a killed run, only those of this job's own files (other shards may be
    writing theirs in the same folder)."""
    folders = {p.rpartition("/")[0] or "." for p in planned}  # posix names: str(Path(p).parent), without Paths
    for folder in folders:
        d = out_dir / folder
        if not d.is_dir():
            continue
        for entry in os.scandir(d):
            target = temp_target(entry.name)
            if target is not None and (target if folder == "." else f"{folder}/{target}") in planned:
                os.unlink(entry.path)


def _scan(spec: JobSpec) -> tuple[Inputs, _Plan]:
    """The job's inputs and the plan of this shard's outputs."""
    try:
        inputs = collect(spec.in_path, spec.extensions)
    except (OSError, UnicodeDecodeError) as exc:
        raise OfflineUsageError(f"cannot read the input {str(spec.in_path)!r}: {exc}") from None
    return inputs, _plan(inputs, spec.shard, spec.copies, spec.fmt, spec.out_dir.resolve())


# ---------------------------------------------------------------------------------------------- entry points
def augment(in_path: str | os.PathLike, out_dir: str | os.PathLike, pipeline_or_config: Any,
            copies: int = 1, workers: int = 1, seed: int = 0, resume: bool = False,
            shard: tuple[int, int] = (0, 1), fmt: str = "same", sample_rate: int | None = None,
            extensions: Iterable[str] | None = None, progress: bool = True,
            on_clip: str = clipping.DEFAULT_POLICY, engine: str = "auto", wait: bool = False,
            executor: cf.Executor | None = None, stems: bool = False) -> Summary:
    """Write ``copies`` augmented versions of every input of ``in_path`` under ``out_dir``.

    ``in_path`` is a folder (its tree is mirrored), a single audio file, or a NeMo-style ``.jsonl`` manifest
    (see :mod:`audionoise.offline`). Output ``k`` of input ``key`` is
    ``pipeline(x[None], generator=Generator().manual_seed(s))[0]`` with ``s = output_seed(seed, key, k)`` (with
    any engine: the configs :mod:`audionoise.offline.numpy_engine` implements run there without torch, drawing the
    same stream with the same kernels: the same parameters and records, audio equal to float rounding), saved at
    the file's sample rate (or ``sample_rate``) with the file's channel count and, where the format allows, its
    subtype. An output that exceeds full scale in an integer subtype is handled by ``on_clip``
    (:mod:`audionoise.offline.clipping`): by default scaled down to full scale as a whole.

    Args:
        in_path: Folder, audio file or ``.jsonl`` manifest (read only).
        out_dir: Output folder (created); must not be, contain or lie inside an input folder.
        pipeline_or_config: A TOML config path, a config dict (as for :func:`audionoise.load_pipeline`; a pipeline
            is built for each sample rate met) or a pipeline module (used for files of its own rate).
        copies: Augmented versions per input (``_aug0`` ... ``_aug{copies-1}``).
        workers: Processes; 1 runs in this process.
        seed: Run seed, mixed with each input key and copy index.
        resume: Keep outputs that exist and have a manifest line; redo the rest; retry failed inputs.
        shard: ``(i, n)``: process inputs ``i, i+n, i+2n, ...`` of the sorted list.
        fmt: ``"same"`` (keep each file's format; m4a and other read-only containers become FLAC), ``"wav"``
            or ``"flac"``.
        sample_rate: Resample every input to this rate first (``None`` keeps each file's rate).
        extensions: Which extensions count as audio (default :data:`audionoise.io.READABLE_EXTENSIONS`).
        progress: Show a tqdm progress bar on stderr.
        on_clip: Outputs beyond full scale in an integer subtype (float outputs hold any value):
            ``"normalize"`` scales the output by ``1 / peak`` (speech and noise together: SNRs kept; the manifest
            row gets ``"normalized_db"``), ``"clip"`` clamps to [-1, 1] (the manifest's ``"clipped"`` counts the
            samples), ``"error"`` fails the input (one line in ``errors.jsonl`` with the peak in dBFS).
        engine: ``"auto"`` (default: the NumPy engine where it implements the config, torch elsewhere) or
            ``"torch"`` (every output from the torch pipeline; a pipeline module always runs on torch).
        wait: If another live job holds ``out_dir`` (the same shard, or any job it could collide with, see
            :mod:`audionoise.offline.lock`), wait for it to end instead of raising :class:`OutputBusy`.
        executor: Run the work as tasks of many inputs on this ``concurrent.futures.Executor`` (a Dask
            ``client.get_executor()``, a ``ProcessPoolExecutor``, the Ray adapter of
            :mod:`audionoise.offline.backends`; also ``submitit.AutoExecutor`` for SLURM, whose jobs are polled)
            instead of ``workers`` local processes; its workers
            must see ``in_path`` and ``out_dir`` at the same paths (:mod:`audionoise.offline.tasks`: failure model).
            Outputs and manifest are byte-identical to ``workers=1``.
        stems: Also write each output's clean target and noise stem next to it (``x_aug0_clean.wav``,
            ``x_aug0_noise.wav``; manifest fields ``clean_filepath`` and ``noise_filepath``) for speech-enhancement
            training (:mod:`audionoise.offline.stems`: every additive injector must come last in the pipeline).

    Returns:
        A :class:`Summary`; ``summary.exit_status`` is 0 if every input succeeded, 1 if some failed, 3 if a write
        error (disk full) stopped the job, 128 + signal number after SIGINT/SIGTERM.

    Raises:
        OfflineUsageError: bad input, folders, options or config, or ``out_dir`` holds a manifest and ``resume``
            is false.
        OutputBusy: (an :class:`OfflineUsageError`) another live job holds ``out_dir`` and ``wait`` is false.
    """
    start = time.perf_counter()
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= MAX_WORKERS:
        raise OfflineUsageError(f"workers ({workers!r}) must be an integer from 1 to {MAX_WORKERS}")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise OfflineUsageError(f"executor must be a concurrent.futures.Executor (or submitit's executor: any object "
                                f"with submit(fn, *args)), got {type(executor).__name__}")
    control = runner.Control()
    control.install()
    blas = set_blas_threads(1)  # one thread per process, workers included (they fork from here)
    held: list = []  # the output folder's lock, held from before OUT is read until after the last write
    try:
        try:
            with _signal_stops(control):  # preparation writes nothing: a signal ends it at once
                spec = JobSpec.create(in_path, out_dir, pipeline_or_config, copies=copies, seed=seed, shard=shard,
                                      fmt=fmt, sample_rate=sample_rate, extensions=extensions, on_clip=on_clip,
                                      engine=engine, stems=stems)
                scanned = _scan(spec)
        except _Stopped:
            where = Path(out_dir)
            return Summary(inputs=0, written=0, resumed=0, failed=0, skipped=0, seconds=time.perf_counter() - start,
                           manifest=where / manifest_name("manifest", shard),
                           errors=where / manifest_name("errors", shard), signal=control.signal)
        return _augment(spec, control, workers=workers, resume=resume, progress=progress, wait=wait,
                        executor=executor, held=held, start=start, scanned=scanned)
    finally:
        for lock in held:
            lock.release()
        control.restore()
        runner.restore_threads()  # torch ran single-threaded, if it ran (runner.torch_single_threaded)
        if blas is not None:
            set_blas_threads(blas)


#: most worker processes of one job
MAX_WORKERS = 1024


class _Stopped(BaseException):
    """A signal during the preparation (raised from the handler: nothing is written yet, nothing to finish)."""


@contextlib.contextmanager
def _signal_stops(control: runner.Control) -> Iterator[None]:
    """While preparing (config, noise banks, the input scan), SIGINT/SIGTERM raise :class:`_Stopped` at once
    (recorded in ``control.signal``) instead of waiting for the preparation to end; the job's handlers are back
    afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        control.signal = signum
        raise _Stopped(signum)

    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)

#: outputs whose manifest lines are appended in one write
MANIFEST_GROUP = 64


def _augment(spec: JobSpec, control: runner.Control, *, workers: int = 1, resume: bool = False,
             progress: bool = True, wait: bool = False, executor: cf.Executor | None = None,
             held: list | None = None, start: float | None = None, scanned: tuple | None = None) -> Summary:
    """Run the job of ``spec``: lock OUT, plan, run the items (locally or on ``executor``), keep the JSONL right."""
    start = time.perf_counter() if start is None else start
    keep_freed_memory()  # workers fork from here and inherit it (audionoise.runtime)
    inputs, plan = _scan(spec) if scanned is None else scanned
    out_dir, shard = spec.out_dir, spec.shard
    manifest = out_dir / manifest_name("manifest", shard)
    errors = out_dir / manifest_name("errors", shard)
    try:  # every check of OUT's contents below is made under the lock
        lock = lock_output(out_dir, shard, wait=wait, should_stop=lambda: control.signal is not None)
    except OutputBusy:
        if control.signal is None:
            raise
        lock = None  # stopped by a signal while waiting (wait=True)
    except OSError as exc:  # e.g. permission denied or disk full: as for any write in OUT
        control.fatal, lock = f"could not write in {out_dir} ({exc})", None
    if lock is None:
        return Summary(inputs=len(plan.mine), written=0, resumed=0, failed=0, skipped=plan.skipped,
                       seconds=time.perf_counter() - start, manifest=manifest, errors=errors,
                       stopped=control.fatal, signal=control.signal)
    if held is not None:
        held.append(lock)
    if manifest.exists() and not resume:
        raise _earlier_run(manifest, out_dir)
    settings = spec.settings
    _check_same_settings(out_dir / "run.json", settings, resume)

    planned = {o for outs in plan.outputs.values() for o in outs}
    kept: dict[str, str] = {}
    parts_prefix = lock_name(shard)  # manifest parts of cluster tasks (offline.tasks), per shard and job

    def summary(written: int = 0, failed: int = 0) -> Summary:
        return Summary(inputs=len(plan.mine), written=written, resumed=len(kept), failed=len(plan.bad) + failed,
                       skipped=plan.skipped, seconds=time.perf_counter() - start, manifest=manifest, errors=errors,
                       unsupported=plan.unsupported, stopped=control.fatal, signal=control.signal,
                       planned=len(planned))

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_lines_atomic(out_dir / "run.json", [settings])
        earlier = {**tasks_module.parts_lines(out_dir, parts_prefix), **read_manifest(manifest)}  # dead jobs' too
        kept = {o: text for o, text in earlier.items() if o in planned and (out_dir / o).is_file()}
        own = {manifest.name, errors.name} | ({"run.json"} if shard[1] == 1 else set())
        _remove_stale_temps(out_dir, planned | own)
        write_lines_atomic(manifest, [kept[o] for o in sorted(kept)])
        write_lines_atomic(errors, [line(plan.bad[key]) for key in sorted(plan.bad)])
    except OSError as exc:  # e.g. disk full before anything was done
        control.fatal = f"could not write in {out_dir} ({exc})"
        return summary()

    tasks = [(plan.items[key], [k for k, o in enumerate(outs) if o not in kept])
             for key, outs in plan.outputs.items()]
    tasks = [t for t in tasks if t[1]]
    job = spec.worker_job(inputs.kind == "manifest")
    written = failed = 0
    pending: list[tuple[str, str]] = []  # (output, line) of written outputs whose lines are not appended yet
    done = dict(kept)  # output -> manifest line, of every line on disk: the final sorted manifest

    def flush() -> None:
        nonlocal written
        if not pending:
            return
        try:
            mf.append(text for _, text in pending)
            written += len(pending)
            done.update(pending)
        except OSError as exc:  # no file without its line: drop the outputs whose lines are lost
            for out, _ in pending:
                (out_dir / out).unlink(missing_ok=True)
            control.fatal = control.fatal or f"could not write {manifest} ({exc})"
        pending.clear()

    with Appender(manifest) as mf, Appender(errors) as ef:
        for result in _results(spec, job, tasks, workers, executor, progress, len(plan.mine) - len(tasks), control,
                               out_dir / tasks_module.PARTS / f"{parts_prefix}.{lock.job_id}"):
            # Lines go out in groups (one write for up to MANIFEST_GROUP outputs: each append is a metadata update
            # of the file, which costs the kernel as much as creating an output); a job killed with SIGKILL loses
            # at most the lines of the last group, whose files --resume rewrites with the same bytes.
            pending.extend(result.lines)
            if len(pending) >= MANIFEST_GROUP or control.stopping or result.fatal is not None:
                flush()
            if result.error is not None:
                try:
                    ef.append([line(result.error)])
                    failed += 1
                except OSError as exc:  # the input is simply retried by --resume
                    control.fatal = control.fatal or f"could not write {errors} ({exc})"
            if result.fatal is not None and control.fatal is None:
                control.fatal = result.fatal
        flush()
    # Sorted, deduplicated final files: identical to those of an uninterrupted single-process run. On a full
    # disk the rewrite may fail: the appended files are complete and consistent as they are (resume sorts them).
    try:
        write_lines_atomic(manifest, sorted(done.values()))
        write_lines_atomic(errors, sorted(read_lines(errors)))
    except OSError as exc:
        control.fatal = control.fatal or f"could not rewrite {manifest} ({exc})"
    else:
        tasks_module.remove_parts(out_dir, parts_prefix)  # their lines are in the manifest now
    if executor is not None:  # temporary files of task attempts whose worker died
        _remove_stale_temps(out_dir, planned)
    return summary(written, failed)


def _results(spec: JobSpec, job: runner.Job, tasks, workers: int, executor: cf.Executor | None, progress: bool,
             done: int, control: runner.Control, parts: Path) -> Iterator[runner.Result]:
    """The results of ``tasks``: from this process or a local pool, or from tasks on ``executor``."""
    if executor is None:
        yield from runner.run(tasks, runner.Runner(job, spec.pipelines), workers, progress, done, control)
        return
    with runner.progress_bar(done + len(tasks), done, progress) as bar:
        yield from tasks_module.run_executor(executor, tasks, job, parts, bar, control)


def dry_run(in_path: str | os.PathLike, out_dir: str | os.PathLike, pipeline_or_config: Any, copies: int = 1,
            seed: int = 0, resume: bool = False, shard: tuple[int, int] = (0, 1), fmt: str = "same",
            sample_rate: int | None = None, extensions: Iterable[str] | None = None,
            on_clip: str = clipping.DEFAULT_POLICY, engine: str = "auto") -> DryRun:
    """Check a job without writing anything: the config builds, the inputs' headers read, and what would be
    written (counts and bytes). Same arguments as :func:`augment`; raises :class:`OfflineUsageError` where
    :func:`augment` would."""
    spec = JobSpec.create(in_path, out_dir, pipeline_or_config, copies=copies, seed=seed, shard=shard, fmt=fmt,
                          sample_rate=sample_rate, extensions=extensions, on_clip=on_clip, engine=engine)
    inputs, plan = _scan(spec)
    out_dir = spec.out_dir
    manifest = out_dir / manifest_name("manifest", shard)
    if manifest.exists() and not resume:
        raise _earlier_run(manifest, out_dir)
    _check_same_settings(out_dir / "run.json", spec.settings, resume)
    # counted, not listed: a dry run of many inputs x many copies needs no memory per output
    kept = plan.kept_counts(o for o in read_manifest(manifest) if (out_dir / o).is_file()) if resume else {}
    unreadable = [(row.get("input") or f"line {row.get('line')}", row["reason"]) for _, row in sorted(plan.bad.items())]
    in_bytes = out_bytes = outputs = 0
    for key, item in sorted(plan.items.items()):
        try:
            meta = io.info(item.source)
        except io.AudioFileError as exc:
            unreadable.append((str(item.fields["audio_filepath"]) if item.fields else key, exc.reason))
            continue
        size = item.source.stat().st_size
        in_bytes += size
        frames = meta.frames
        if item.duration is not None or item.offset:
            start = round(item.offset * meta.sample_rate)
            stop = frames if item.duration is None else start + round(item.duration * meta.sample_rate)
            frames = max(0, min(frames, stop) - start)
        rate = sample_rate or meta.sample_rate
        frames = -(-frames * rate // meta.sample_rate)
        todo = spec.copies - kept.get(key, 0)
        outputs += todo
        out_bytes += todo * _estimate(output_name(key, 0, spec.fmt), meta, frames, size)  # one container per input
    return DryRun(inputs=len(plan.mine), outputs=outputs, resumed=sum(kept.values()), unreadable=unreadable,
                  unsupported=plan.unsupported, skipped=plan.skipped, input_bytes=in_bytes, output_bytes=out_bytes)


_SAMPLE_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "ULAW": 1, "ALAW": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4,
                 "FLOAT": 4, "DOUBLE": 8}


def _estimate(out: str, meta: io.AudioInfo, frames: int, in_size: int) -> int:
    """Bytes of one output: exact for PCM containers; FLAC about 60 % of PCM; Ogg/MP3 as big as the input."""
    container = io.format_for_path(out)[0]
    subtype = output_subtype(container, meta.subtype)
    pcm = frames * meta.channels * _SAMPLE_BYTES.get(subtype, 2)
    if container == "FLAC":
        return int(0.6 * pcm)
    if container in ("OGG", "MP3"):
        return in_size if container == meta.format else pcm // 10
    return pcm + 44
