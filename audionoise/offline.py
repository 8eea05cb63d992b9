"""Offline folder augmentation: write augmented copies of every audio file of a folder tree.

:func:`augment_folder` mirrors ``in_dir``'s tree under ``out_dir`` with ``copies`` augmented versions of each
audio file, named ``<stem>_aug<k><ext>``. It is built for folders of precious, messy recordings:

* **Deterministic.** Output ``k`` of input ``rel`` uses a ``torch.Generator`` seeded with
  ``output_seed(seed, rel, k)`` (a BLAKE2b hash), and all maths runs on one thread, so 1 worker, W workers,
  any ``shard`` split and an interrupted-then-resumed run give byte-identical files and manifests.
* **Safe.** Nothing in ``in_dir`` is opened for writing; ``out_dir`` may not be, contain or lie inside
  ``in_dir``; symlinks that resolve outside ``in_dir`` are reported, not followed; every output is written to a
  temporary file and renamed (:func:`audionoise.io.save`), so a killed job leaves no partial output.
* **Robust.** A file that cannot be read or augmented gives one line in ``errors.jsonl`` and the job goes on.
  Files without an audio extension, hidden files and hidden folders are skipped and counted.
* **Resumable, parallel, shardable.** ``resume=True`` keeps finished outputs (those with a manifest line),
  ``workers`` processes share the files, ``shard=(i, n)`` takes every n-th input of the sorted list.

``out_dir/manifest.jsonl`` holds one JSON line per output, sorted (``{"output", "input", "copy", "seed",
"sample_rate", "frames", "channels", "subtype", "clipped", "transforms"}``); ``out_dir/errors.jsonl`` one line
per failed input (``{"input", "reason"}``); ``out_dir/run.json`` the settings that decide the bytes (seed,
format, sample rate, pipeline config): a resume with other settings is refused. With ``n > 1`` shards the
JSONL names carry the shard (``manifest.shard-2-of-8.jsonl``) so that shards can share one ``out_dir``.

Example:
    >>> summary = augment_folder("clean/", "noisy/", "pipeline.toml", copies=2, workers=2)  # doctest: +SKIP
    >>> summary.written, summary.failed  # doctest: +SKIP
    (2000, 0)
"""

from __future__ import annotations

import concurrent.futures as cf
import copy as copy_module
import functools
import json
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from audionoise import io
from audionoise._fs import atomic_write, temp_target
from audionoise._seed import derive_seed
from audionoise.pipeline import load_pipeline, read_config
from audionoise.runtime import keep_freed_memory

__all__ = ["Summary", "OfflineUsageError", "augment_folder", "output_seed", "output_name", "output_subtype",
           "shard_of", "manifest_name"]

_FORMATS = ("same", "wav", "flac")
# Subtypes worth re-encoding as they are; others (ADPCM, GSM, ...) are lossy block codecs whose padding and
# noise would hurt the augmented audio: their outputs are written as 16-bit PCM instead.
_KEEP_SUBTYPES = {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW",
                  "VORBIS", "OPUS", "MPEG_LAYER_III"}


class OfflineUsageError(ValueError):
    """The job cannot start: bad folders, options or pipeline config (the CLI exits with status 2)."""


@dataclass(frozen=True)
class Summary:
    """What :func:`augment_folder` did.

    Attributes:
        inputs: Audio inputs in this shard (files with an audio extension, bad links included).
        written: Outputs written by this run.
        resumed: Outputs already complete from an earlier run (``resume=True``), kept as they were.
        failed: Inputs that gave an error line (unreadable, bad symlink, failed write, ...).
        skipped: Entries that are not audio by extension, plus symlinked folders (not descended).
        seconds: Wall time of the call.
        manifest: Path of the manifest JSONL file.
        errors: Path of the errors JSONL file.
    """

    inputs: int
    written: int
    resumed: int
    failed: int
    skipped: int
    seconds: float
    manifest: Path
    errors: Path

    @property
    def files_per_s(self) -> float:
        """Inputs handled (written, resumed or failed) per second of wall time."""
        return self.inputs / self.seconds if self.seconds > 0 else float("inf")

    @property
    def exit_status(self) -> int:
        """0 when every input succeeded, 1 when some failed (the rest is done)."""
        return 1 if self.failed else 0

    def __str__(self) -> str:
        return (f"{self.inputs} audio inputs: {self.written} outputs written, {self.resumed} already done, "
                f"{self.failed} inputs failed, {self.skipped} non-audio entries skipped; "
                f"{self.seconds:.2f} s, {self.files_per_s:.1f} files/s")


# ---------------------------------------------------------------------------------------------- pure helpers
def output_seed(seed: int, rel: str, copy: int) -> int:
    """Seed of output ``copy`` of input ``rel``: the first 63 bits of ``BLAKE2b(f"{seed}\\0{rel}\\0{copy}")``.

    Depends only on its arguments (not on the order of files, workers or shards).

    Example:
        >>> output_seed(0, "a/b.wav", 1) == output_seed(0, "a/b.wav", 1) != output_seed(0, "a/b.wav", 0)
        True
    """
    return derive_seed(int(seed), rel, int(copy))  # hashes exactly f"{seed}\0{rel}\0{copy}", as documented


def output_name(rel: str, copy: int, fmt: str = "same") -> str:
    """Relative output path of copy ``copy`` of ``rel``: ``dir/stem_aug<copy><ext>``.

    ``fmt="same"`` keeps the extension (and its case); ``"wav"``/``"flac"`` replace it.

    Example:
        >>> output_name("spk1/a.b.WAV", 2), output_name("x.ogg", 0, "flac")
        ('spk1/a.b_aug2.WAV', 'x_aug0.flac')
    """
    head, _, name = rel.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = "." + ext if fmt == "same" and dot else f".{fmt}" if fmt != "same" else ""
    return f"{head}/{stem}_aug{copy}{ext}" if head else f"{stem}_aug{copy}{ext}"


@functools.lru_cache(maxsize=None)
def output_subtype(container: str, in_subtype: str) -> str:
    """Subtype for an output in ``container`` made from an input stored as ``in_subtype``.

    The input's subtype is kept when the container can hold it (24-bit stays 24-bit); lossy block codecs
    (ADPCM, GSM) become PCM_16; float or 32-bit input going to FLAC becomes PCM_24 (FLAC's best); a lossy
    input (Vorbis, Opus, MP3) going to a PCM container becomes PCM_16.

    Example:
        >>> output_subtype("WAV", "PCM_24"), output_subtype("FLAC", "FLOAT"), output_subtype("WAV", "IMA_ADPCM")
        ('PCM_24', 'PCM_24', 'PCM_16')
    """
    if in_subtype in _KEEP_SUBTYPES and io.subtype_allowed(container, in_subtype):
        return in_subtype
    if container == "FLAC" and in_subtype in ("PCM_32", "FLOAT", "DOUBLE"):
        return "PCM_24"
    return io.default_subtype(container)


def shard_of(index: int, shard: tuple[int, int]) -> bool:
    """Whether item ``index`` of the sorted input list belongs to ``shard = (i, n)`` (round robin)."""
    return index % shard[1] == shard[0]


def manifest_name(kind: str, shard: tuple[int, int]) -> str:
    """``manifest.jsonl`` / ``errors.jsonl``, or ``manifest.shard-I-of-N.jsonl`` when sharded."""
    return f"{kind}.jsonl" if shard[1] == 1 else f"{kind}.shard-{shard[0]}-of-{shard[1]}.jsonl"


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


# ---------------------------------------------------------------------------------------------- scanning
@dataclass
class _Scan:
    inputs: list[str] = field(default_factory=list)        # audio files (relative posix paths)
    bad: dict[str, str] = field(default_factory=dict)       # rel -> reason (links out of IN, broken links)
    skipped: list[str] = field(default_factory=list)        # not audio, symlinked folders


def _scan(in_dir: Path, extensions: frozenset[str]) -> _Scan:
    """Walk ``in_dir`` without following symlinked folders; classify every entry.

    Audio = a non-hidden file with one of ``extensions``; hidden files and folders (name starting with ".") are
    skipped, like other entries that are not audio.
    """
    real_in = in_dir.resolve()
    scan = _Scan()
    for folder, dirs, files in os.walk(in_dir, followlinks=False):
        base = Path(folder)
        for d in list(dirs):
            p = base / d
            if d.startswith("."):  # hidden folders (.git, .Trash, ...): not descended
                dirs.remove(d)
                scan.skipped.append(p.relative_to(in_dir).as_posix())
            elif p.is_symlink():
                rel = p.relative_to(in_dir).as_posix()
                target = p.resolve()
                if not _is_within(target, real_in):
                    scan.bad[rel] = (f"symlinked folder resolves outside the input folder (to {target}); "
                                     "not followed: copy the files into the input folder if you want them")
                else:
                    scan.skipped.append(rel)  # its files are processed under their real path
        for name in files:
            p = base / name
            rel = p.relative_to(in_dir).as_posix()
            if p.suffix.lower() not in extensions or name.startswith("."):  # "._x.wav": macOS metadata
                scan.skipped.append(rel)
                continue
            if p.is_symlink():
                target = p.resolve()
                if not _is_within(target, real_in):
                    scan.bad[rel] = (f"symlink resolves outside the input folder (to {target}); not followed: "
                                     "copy the file into the input folder if you want it")
                    continue
                if not target.exists():
                    scan.bad[rel] = f"broken symlink (to {target}); fix or remove it"
                    continue
            if not p.is_file():
                scan.bad[rel] = "not a regular file (FIFO, socket or device?); not read"
                continue
            scan.inputs.append(rel)
    scan.inputs.sort()
    return scan


# ---------------------------------------------------------------------------------------------- pipelines
class _Pipelines:
    """Builds (once per sample rate, lazily) the pipeline applied to files of that rate.

    From a config (TOML path or dict) a pipeline is built for each rate met, with every ``sample_rate`` set to
    that rate, so noise banks are resampled to the file's rate and the audio keeps its rate. A given module is
    used as is for files of its own rate (or of any rate if no part of it has a ``sample_rate``).
    """

    def __init__(self, pipeline_or_config: Any) -> None:
        self.module: nn.Module | None = None
        self.config: dict | None = None
        self.base_dir: Path | None = None
        self.cache: dict[int, nn.Module] = {}
        if isinstance(pipeline_or_config, nn.Module):
            self.module = pipeline_or_config
            rates = {int(m.sample_rate) for m in self.module.modules() if hasattr(m, "sample_rate")}
            if len(rates) > 1:
                raise OfflineUsageError(f"pipeline mixes sample rates {sorted(rates)}; use one rate")
            self.module_rate = rates.pop() if rates else None
        else:
            if isinstance(pipeline_or_config, dict):
                self.config = copy_module.deepcopy(pipeline_or_config)
            else:
                try:
                    self.config = read_config(pipeline_or_config)
                except ValueError as exc:
                    raise OfflineUsageError(f"{exc} (--config)") from None
                self.base_dir = Path(pipeline_or_config).resolve().parent
            self.default_rate = self.config.get("sample_rate")

    def get(self, rate: int) -> nn.Module:
        if rate in self.cache:
            return self.cache[rate]
        if self.module is not None:
            if self.module_rate is not None and self.module_rate != rate:
                raise ValueError(f"file sample rate {rate} Hz differs from the pipeline's {self.module_rate} Hz; "
                                 "pass the pipeline as a config so it can be rebuilt per rate, or set "
                                 f"sample_rate={self.module_rate}")
            pipe = self.module
        else:
            try:  # the file's rate wins over any rate in the config
                pipe = load_pipeline(self.config, sample_rate=int(rate), base_dir=self.base_dir)
            except ValueError as exc:
                raise OfflineUsageError(f"pipeline config: {exc}") from None
        self.cache[rate] = pipe
        return pipe

    def validate(self) -> None:
        """Build the pipeline at the config's own rate (or 16 kHz) now, so a bad config fails before any work."""
        if self.module is None:
            self.get(int(self.default_rate or 16000))


# ---------------------------------------------------------------------------------------------- the work
@dataclass(frozen=True)
class _Job:
    in_dir: Path
    out_dir: Path
    real_out: Path
    seed: int
    fmt: str
    sample_rate: int | None


_STATE: dict[str, Any] = {}


def _init_worker(job: _Job, pipelines: _Pipelines, threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(threads)
    _STATE["job"], _STATE["pipelines"] = job, pipelines


def _error_reason(exc: BaseException) -> str:
    if isinstance(exc, io.AudioFileError):
        return exc.reason
    return f"{type(exc).__name__}: {exc}"


def _check_out_folder(folder: Path, real_out: Path) -> None:
    """Create ``folder`` and check that it really lies in the output folder (not behind a symlink)."""
    verified: set[Path] = _STATE.setdefault("verified", set())
    if folder in verified:
        return
    folder.mkdir(parents=True, exist_ok=True)
    if not _is_within(folder.resolve(), real_out):
        raise ValueError(f"output folder {folder} resolves outside the output folder (a symlink in OUT?); "
                         "not written")
    verified.add(folder)


def _process_input(rel: str, copies: list[int]) -> tuple[list[dict], dict | None]:
    """Augment one input into the given copies; return (manifest rows, error row or None)."""
    job: _Job = _STATE["job"]
    pipelines: _Pipelines = _STATE["pipelines"]
    rows: list[dict] = []
    try:
        x, rate, meta = io.load_with_info(job.in_dir / rel, sample_rate=job.sample_rate)
        pipe = pipelines.get(rate)
        for k in copies:
            out_rel = output_name(rel, k, job.fmt)
            dst = job.out_dir / out_rel
            _check_out_folder(dst.parent, job.real_out)
            container = io.format_for_path(dst)[0]
            subtype = output_subtype(container, meta.subtype)
            seed = output_seed(job.seed, rel, k)
            with torch.no_grad():
                y, records = pipe(x[None], generator=torch.Generator().manual_seed(seed), return_params=True)
            y = y[0]
            clipped = int((y.abs() > 1.0).sum()) if not subtype.endswith(("FLOAT", "DOUBLE")) else 0
            io.save(dst, y, rate, subtype=subtype)
            rows.append({"output": out_rel, "input": rel, "copy": k, "seed": seed, "sample_rate": rate,
                         "frames": int(y.shape[-1]), "channels": int(y.shape[0]), "subtype": subtype,
                         "clipped": clipped, "transforms": records[0]})
        return rows, None
    except Exception as exc:  # one bad file never stops the job
        return rows, {"input": rel, "reason": _error_reason(exc)}


def _process_chunk(chunk: list[tuple[str, list[int]]]) -> list[tuple[str, list[dict], dict | None]]:
    return [(rel, *_process_input(rel, copies)) for rel, copies in chunk]


# ---------------------------------------------------------------------------------------------- JSONL files
def _line(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(", ", ": ")) + "\n"


def _write_lines_atomic(path: Path, lines: Iterable[str]) -> None:
    atomic_write(path, lambda fh: fh.writelines(line.encode("utf-8") for line in lines))


def _read_manifest(path: Path) -> dict[str, str]:
    """output -> line, for every complete, parseable line (a line cut by a kill is ignored)."""
    kept: dict[str, str] = {}
    if not path.exists():
        return kept
    with open(path, encoding="utf-8", newline="\n") as fh:
        for line in fh:
            if not line.endswith("\n"):
                continue
            try:
                out = json.loads(line)["output"]
            except (ValueError, KeyError, TypeError):
                continue
            kept[out] = line
    return kept


def _remove_stale_temps(out_dir: Path, planned: set[str]) -> None:
    """Delete temporary files left by a killed run, only those of this job's own files (other shards may be
    writing theirs in the same folder)."""
    folders = {str(Path(p).parent) for p in planned}
    for folder in folders:
        d = out_dir / folder
        if not d.is_dir():
            continue
        for entry in os.scandir(d):
            target = temp_target(entry.name)
            if target is not None and (target if folder == "." else f"{folder}/{target}") in planned:
                os.unlink(entry.path)


# ---------------------------------------------------------------------------------------------- entry point
def _settings(pipelines: _Pipelines, seed: int, fmt: str, sample_rate: int | None) -> str:
    """The settings that decide the bytes of every output, as the text of ``OUT/run.json``."""
    if pipelines.config is not None:
        pipe: Any = pipelines.config
    else:
        from audionoise.pipeline import pipeline_config

        try:
            pipe = pipeline_config(pipelines.module)
        except ValueError:  # e.g. an in-memory noise bank: no config form
            pipe = repr(pipelines.module)
    return json.dumps({"seed": seed, "format": fmt, "sample_rate": sample_rate, "pipeline": pipe},
                      sort_keys=True, indent=1, ensure_ascii=False, default=str) + "\n"


def _check_same_settings(path: Path, settings: str, resume: bool) -> None:
    if not (resume and path.is_file()):
        return
    before = path.read_text(encoding="utf-8")
    if before != settings:
        old, new = json.loads(before), json.loads(settings)
        differ = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise OfflineUsageError(f"cannot resume: {path.parent} was made with other settings ({', '.join(differ)} "
                                f"differ, see {path}); resume with the same ones or choose a new output folder")


def _check_dirs(in_dir: Path, out_dir: Path) -> None:
    if not in_dir.exists():
        raise OfflineUsageError(f"input folder {str(in_dir)!r} does not exist; pass a folder of audio files")
    if not in_dir.is_dir():
        raise OfflineUsageError(f"input folder {str(in_dir)!r} is not a folder; pass a folder of audio files")
    real_in, real_out = in_dir.resolve(), out_dir.resolve()
    if _is_within(real_out, real_in):
        where = "the input folder" if real_out == real_in else "inside the input folder"
        raise OfflineUsageError(f"output folder {str(out_dir)!r} is {where} {str(in_dir)!r}; choose a folder "
                                "outside it (the input is never written to)")
    if _is_within(real_in, real_out):
        raise OfflineUsageError(f"output folder {str(out_dir)!r} contains the input folder {str(in_dir)!r}; "
                                "choose a separate folder so outputs can never land among the inputs")
    if out_dir.exists() and not out_dir.is_dir():
        raise OfflineUsageError(f"output folder {str(out_dir)!r} exists and is not a folder")


def _check_options(copies, workers, shard, fmt, sample_rate, extensions) -> frozenset[str]:
    if not isinstance(copies, int) or copies < 1:
        raise OfflineUsageError(f"copies ({copies!r}) must be an integer >= 1")
    if not isinstance(workers, int) or workers < 1:
        raise OfflineUsageError(f"workers ({workers!r}) must be an integer >= 1")
    if (not isinstance(shard, tuple) or len(shard) != 2 or not all(isinstance(v, int) for v in shard)
            or shard[1] < 1 or not 0 <= shard[0] < shard[1]):
        raise OfflineUsageError(f"shard ({shard!r}) must be (i, n) with 0 <= i < n, e.g. (0, 4)")
    if fmt not in _FORMATS:
        raise OfflineUsageError(f"fmt ({fmt!r}) must be one of {', '.join(_FORMATS)}")
    if sample_rate is not None and (not isinstance(sample_rate, int) or sample_rate <= 0):
        raise OfflineUsageError(f"sample_rate ({sample_rate!r}) must be a positive integer (Hz) or None")
    if extensions is None:
        return io.AUDIO_EXTENSIONS
    exts = frozenset("." + e.lower().lstrip(".") for e in extensions)
    unknown = sorted(exts - io.AUDIO_EXTENSIONS)
    if unknown or not exts:
        raise OfflineUsageError(f"extensions {unknown or '(none)'} not supported; choose from "
                                f"{', '.join(sorted(e.lstrip('.') for e in io.AUDIO_EXTENSIONS))}")
    return exts


def _plan(scan: _Scan, shard, copies, fmt) -> tuple[list[str], dict[str, str], dict[str, list[str]]]:
    """Inputs of this shard, failing entries of this shard, and planned outputs per good input."""
    every = sorted(scan.inputs + list(scan.bad))
    mine = [rel for i, rel in enumerate(every) if shard_of(i, shard)]
    mine_set = set(mine)
    bad = {rel: scan.bad[rel] for rel in mine if rel in scan.bad}
    # Output names may collide (a.wav + a.flac with fmt="wav"); check over all inputs, not just this shard.
    owner: dict[str, list[str]] = {}
    for rel in scan.inputs:
        for k in range(copies):
            owner.setdefault(output_name(rel, k, fmt), []).append(rel)
    for out, rels in owner.items():
        if len(rels) > 1:
            for rel in rels:
                if rel in mine_set:
                    bad[rel] = (f"output name {out!r} would be shared by {', '.join(sorted(rels))}; rename one of "
                                "them or use --format same")
    outputs = {rel: [output_name(rel, k, fmt) for k in range(copies)] for rel in mine if rel not in bad}
    return mine, bad, outputs


def augment_folder(in_dir: str | os.PathLike, out_dir: str | os.PathLike, pipeline_or_config: Any,
                   copies: int = 1, workers: int = 1, seed: int = 0, resume: bool = False,
                   shard: tuple[int, int] = (0, 1), fmt: str = "same", sample_rate: int | None = None,
                   extensions: Iterable[str] | None = None, progress: bool = True) -> Summary:
    """Write ``copies`` augmented versions of every audio file under ``in_dir`` to the same tree under ``out_dir``.

    Output ``k`` of input ``rel`` is ``pipeline(x[None], generator=Generator().manual_seed(s))[0]`` with
    ``s = output_seed(seed, rel, k)``, saved at the file's sample rate (or ``sample_rate``) with the file's channel
    count and, where the format allows, its subtype (integer formats clip to [-1, 1]; the manifest counts the
    clipped samples). See the module docstring for the guarantees and files written.

    Args:
        in_dir: Folder of inputs (read only).
        out_dir: Output folder (created); must not be, contain or lie inside ``in_dir``.
        pipeline_or_config: A TOML config path, a config dict (as for :func:`audionoise.load_pipeline`; a pipeline
            is built for each sample rate met) or a pipeline module (used for files of its own rate).
        copies: Augmented versions per input (``_aug0`` ... ``_aug{copies-1}``).
        workers: Processes; 1 runs in this process.
        seed: Run seed, mixed with each relative path and copy index.
        resume: Keep outputs that exist and have a manifest line; redo the rest; retry failed inputs.
        shard: ``(i, n)``: process inputs ``i, i+n, i+2n, ...`` of the sorted list.
        fmt: ``"same"`` (keep each file's format), ``"wav"`` or ``"flac"``.
        sample_rate: Resample every input to this rate first (``None`` keeps each file's rate).
        extensions: Which extensions count as audio (default :data:`audionoise.io.AUDIO_EXTENSIONS`).
        progress: Show a tqdm progress bar on stderr.

    Returns:
        A :class:`Summary`; ``summary.exit_status`` is 0 if every input succeeded, else 1.

    Raises:
        OfflineUsageError: bad folders, options or config, or ``out_dir`` holds a manifest and ``resume`` is false.
    """
    threads = torch.get_num_threads()
    # One thread everywhere: bit-identical results in every process, and no OpenMP hand-offs, which cost
    # milliseconds per small op on a busy machine. Parallelism comes from worker processes.
    torch.set_num_threads(1)
    try:
        return _augment_folder(in_dir, out_dir, pipeline_or_config, copies, workers, seed, resume, shard, fmt,
                               sample_rate, extensions, progress)
    finally:
        torch.set_num_threads(threads)


def _augment_folder(in_dir, out_dir, pipeline_or_config, copies, workers, seed, resume, shard, fmt, sample_rate,
                    extensions, progress) -> Summary:
    start = time.perf_counter()
    keep_freed_memory()  # workers fork from here and inherit it (audionoise.runtime)
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    exts = _check_options(copies, workers, shard, fmt, sample_rate, extensions)
    _check_dirs(in_dir, out_dir)
    pipelines = _Pipelines(pipeline_or_config)
    manifest = out_dir / manifest_name("manifest", shard)
    errors = out_dir / manifest_name("errors", shard)
    if manifest.exists() and not resume:
        raise OfflineUsageError(f"{manifest} exists: {out_dir} holds an earlier run; pass resume=True (--resume) "
                                "to finish it, or choose an empty output folder")
    settings = _settings(pipelines, int(seed), fmt, sample_rate)
    _check_same_settings(out_dir / "run.json", settings, resume)
    pipelines.validate()

    scan = _scan(in_dir, exts)
    mine, bad, outputs = _plan(scan, shard, copies, fmt)
    planned = {o for outs in outputs.values() for o in outs}
    out_dir.mkdir(parents=True, exist_ok=True)
    real_out = out_dir.resolve()
    _write_lines_atomic(out_dir / "run.json", [settings])
    kept = {o: line for o, line in _read_manifest(manifest).items() if o in planned and (out_dir / o).is_file()}
    own = {manifest.name, errors.name} | ({"run.json"} if shard[1] == 1 else set())
    _remove_stale_temps(out_dir, planned | own)
    _write_lines_atomic(manifest, [kept[o] for o in sorted(kept)])
    error_rows = [{"input": rel, "reason": bad[rel]} for rel in sorted(bad)]
    _write_lines_atomic(errors, [_line(r) for r in error_rows])

    tasks = [(rel, [k for k, o in enumerate(outs) if o not in kept]) for rel, outs in outputs.items()]
    tasks = [t for t in tasks if t[1]]
    job = _Job(in_dir, out_dir, real_out, int(seed), fmt, sample_rate)
    written = failed_inputs = 0
    with open(manifest, "a", encoding="utf-8", newline="\n") as mf, \
            open(errors, "a", encoding="utf-8", newline="\n") as ef:
        for rel, rows, err in _run(tasks, job, pipelines, workers, progress, len(mine) - len(tasks)):
            for row in rows:
                mf.write(_line(row))
            mf.flush()
            written += len(rows)
            if err is not None:
                ef.write(_line(err))
                ef.flush()
                failed_inputs += 1
    # Sorted, deduplicated final files: identical to those of an uninterrupted single-process run.
    _write_lines_atomic(manifest, sorted(_read_manifest(manifest).values()))
    _write_lines_atomic(errors, sorted(_read_lines(errors)))
    return Summary(inputs=len(mine), written=written, resumed=len(kept), failed=len(bad) + failed_inputs,
                   skipped=len(scan.skipped), seconds=time.perf_counter() - start, manifest=manifest,
                   errors=errors)


def _read_lines(path: Path) -> set[str]:
    with open(path, encoding="utf-8", newline="\n") as fh:
        return {line for line in fh if line.endswith("\n")}


def _progress_bar(total: int, initial: int, enabled: bool):
    from audionoise.progress import progress

    return progress(total=total, initial=initial, enabled=enabled, unit="file", desc="augment")


def _run(tasks, job: _Job, pipelines: _Pipelines, workers: int, progress: bool, done: int):
    """Yield ``(rel, rows, error)`` per input, in this process or in a pool of ``workers`` processes."""
    total = done + len(tasks)
    if workers == 1:
        _init_worker(job, pipelines, 1)
        try:
            with _progress_bar(total, done, progress) as bar:
                for rel, copies in tasks:
                    rows, err = _process_input(rel, copies)
                    bar.update(1)
                    yield rel, rows, err
        finally:
            _STATE.clear()
        return
    yield from _run_pool(tasks, job, pipelines, workers, progress, done, total)


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork shares the already-imported torch and the parent's pipeline (no 1.7 s re-import per worker); safe
    # because workers run torch single-threaded (as DataLoader workers do). Elsewhere: forkserver or spawn.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else methods[0])


def _run_pool(tasks, job, pipelines, workers, progress, done, total):
    chunk = max(1, min(8, len(tasks) // (workers * 8)))
    chunks = [tasks[i:i + chunk] for i in range(0, len(tasks), chunk)]
    pending = list(reversed(chunks))
    window = 2 * workers
    bar = None
    while pending:
        # Forked children inherit unflushed stdio buffers and flush them again on exit: flush first.
        sys.stdout.flush()
        sys.stderr.flush()
        pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(),
                                      initializer=_init_worker, initargs=(job, pipelines, 1))
        futures: dict[cf.Future, list] = {}
        try:
            while pending or futures:
                while pending and len(futures) < window:
                    c = pending.pop()
                    futures[pool.submit(_process_chunk, c)] = c
                if bar is None:  # after the workers started: no tqdm monitor thread exists at fork time
                    bar = _progress_bar(total, done, progress)
                finished, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
                for fut in finished:
                    results = fut.result()  # BrokenProcessPool if a worker died: handled below
                    del futures[fut]
                    for rel, rows, err in results:
                        bar.update(1)
                        yield rel, rows, err
        except cf.process.BrokenProcessPool:
            # A worker died (e.g. a decoder crashed): report the inputs in flight, go on with a fresh pool.
            for fut, c in futures.items():
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    results = fut.result()
                else:
                    results = [(rel, [], {"input": rel, "reason": "worker process died while processing this "
                                                                  "file or one sent with it (crash in a decoder?); "
                                                                  "retried by --resume"}) for rel, _ in c]
                for rel, rows, err in results:
                    bar.update(1)
                    yield rel, rows, err
            futures.clear()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    if bar is not None:
        bar.close()
