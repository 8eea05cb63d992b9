"""The offline job as data: a frozen :class:`JobSpec`, checked once, its pipeline config read once.

A spec holds what decides the bytes of every output (the input, the output folder, the pipeline config, copies,
seed, shard, format, sample rate, extensions, clipping policy, engine); how the job runs (workers, a cluster,
resume, progress) is not part of it. :meth:`JobSpec.create` validates the options and folders and builds the
pipeline once (a bad config fails here, before any work); :attr:`JobSpec.settings` is the text of ``OUT/run.json``
and :meth:`JobSpec.worker_job` the part every worker needs (:class:`~audionoise.offline.runner.Job`: small and
picklable, so a worker on another machine rebuilds the pipeline from the config, see
:mod:`audionoise.offline.tasks`).

Example:
    >>> spec = JobSpec.create("clean/", "noisy/", {"transforms": [{"name": "WhiteNoise", "min_snr_db": 10,
    ...                       "max_snr_db": 20}]}, copies=2)  # doctest: +SKIP
    >>> spec.copies, spec.shard  # doctest: +SKIP
    (2, (0, 1))
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from audionoise import io
from audionoise.offline import clipping
from audionoise.offline.inputs import is_within
from audionoise.offline.pipelines import OfflineUsageError, Pipelines
from audionoise.offline.runner import Job

__all__ = ["FORMATS", "JobSpec"]

FORMATS = ("same", "wav", "flac")


@dataclass(frozen=True)
class JobSpec:
    """What an offline job writes; see :func:`audionoise.offline.augment` for the meaning of each field.

    Attributes:
        in_path: Folder, audio file or ``.jsonl`` manifest.
        out_dir: Output folder.
        pipelines: The job's pipelines (the config read once, or the given module; built per sample rate).
        copies, seed, shard, fmt, sample_rate, on_clip: As for :func:`~audionoise.offline.augment`.
        extensions: The extensions that count as audio (with their dot, lower case).
    """

    in_path: Path
    out_dir: Path
    pipelines: Pipelines = dataclasses.field(compare=False, repr=False)
    copies: int = 1
    seed: int = 0
    shard: tuple[int, int] = (0, 1)
    fmt: str = "same"
    sample_rate: int | None = None
    extensions: frozenset[str] = io.READABLE_EXTENSIONS
    on_clip: str = clipping.DEFAULT_POLICY
    stems: bool = False

    @classmethod
    def create(cls, in_path: str | os.PathLike, out_dir: str | os.PathLike, pipeline_or_config: Any,
               copies: int = 1, seed: int = 0, shard: tuple[int, int] = (0, 1), fmt: str = "same",
               sample_rate: int | None = None, extensions: Iterable[str] | None = None,
               on_clip: str = clipping.DEFAULT_POLICY, engine: str = "auto", stems: bool = False) -> "JobSpec":
        """Check every option and both paths, read the config and build its pipeline once.

        Raises:
            OfflineUsageError: one line naming the bad option, path or config field.
        """
        in_path, out_dir = Path(in_path), Path(out_dir)
        exts = _check_options(copies, shard, fmt, sample_rate, extensions, on_clip)
        check_paths(in_path, out_dir)
        if in_path.is_file() and in_path.suffix.lower() != ".jsonl" and in_path.suffix.lower() not in exts:
            raise OfflineUsageError(f"input {str(in_path)!r} is neither a folder, an audio file "
                                    f"({', '.join(sorted(e[1:] for e in exts))}) nor a .jsonl manifest")
        if not isinstance(seed, int) or isinstance(seed, bool):
            try:
                seed = int(seed)
            except (TypeError, ValueError):
                raise OfflineUsageError(f"seed ({seed!r}) must be an integer") from None
        pipelines = Pipelines(pipeline_or_config, engine)
        spec = cls(in_path, out_dir, pipelines, copies, int(seed), shard, fmt, sample_rate, exts, on_clip,
                   bool(stems))
        spec.settings  # noqa: B018  (a config that has no text form fails here, as before)
        pipelines.validate()
        if stems:  # refused with one line where the pipeline has no clean / noise decomposition
            from audionoise.offline import stems as stem_rules

            stem_rules.check(pipelines.module if pipelines.module is not None
                             else pipelines.get(int(pipelines.default_rate or sample_rate or 16000)))
        return spec

    @property
    def engine(self) -> str:
        return self.pipelines.engine

    @property
    def settings(self) -> str:
        """The settings that decide the bytes of every output, as the text of ``OUT/run.json`` (``engine``: which
        engine may run the config, :data:`audionoise.offline.pipelines.ENGINES`)."""
        pipelines = self.pipelines
        if pipelines.config is not None:
            pipe: Any = pipelines.config
        else:
            from audionoise.pipeline import pipeline_config

            try:
                pipe = pipeline_config(pipelines.module)
            except ValueError:  # e.g. an in-memory noise bank: no config form
                pipe = repr(pipelines.module)
        engine = pipelines.engine if pipelines.config is not None else "torch"
        extra = {"numpy_stream": "torch"} if engine == "auto" else {}  # the NumPy engine draws torch's stream (0.2+)
        if self.stems:
            extra["stems"] = True
        return json.dumps({"seed": self.seed, "format": self.fmt, "sample_rate": self.sample_rate,
                           "on_clip": self.on_clip, "pipeline": pipe, "engine": engine, **extra},
                          sort_keys=True, indent=1, ensure_ascii=False, default=str) + "\n"

    def worker_job(self, manifest_input: bool) -> Job:
        """What every worker needs to turn an item into its outputs (``manifest_input``: IN is a manifest)."""
        p = self.pipelines
        return Job(self.out_dir, self.out_dir.resolve(), self.seed, self.fmt, self.sample_rate, manifest_input,
                   self.on_clip, pipeline=p.config if p.config is not None else p.module, base_dir=p.base_dir,
                   engine=p.engine, token=hashlib.blake2b(self.settings.encode(), digest_size=8).hexdigest(),
                   stems=self.stems)


#: most copies per input of one job (a real job makes 1-100)
MAX_COPIES = 10_000


def _check_options(copies, shard, fmt, sample_rate, extensions, on_clip) -> frozenset[str]:
    if not isinstance(copies, int) or isinstance(copies, bool) or not 1 <= copies <= MAX_COPIES:
        raise OfflineUsageError(f"copies ({copies!r}) must be an integer from 1 to {MAX_COPIES}")
    if (not isinstance(shard, tuple) or len(shard) != 2 or not all(isinstance(v, int) for v in shard)
            or shard[1] < 1 or not 0 <= shard[0] < shard[1]):
        raise OfflineUsageError(f"shard ({shard!r}) must be (i, n) with 0 <= i < n, e.g. (0, 4)")
    if fmt not in FORMATS:
        raise OfflineUsageError(f"fmt ({fmt!r}) must be one of {', '.join(FORMATS)}")
    if sample_rate is not None and (not isinstance(sample_rate, int) or sample_rate <= 0):
        raise OfflineUsageError(f"sample_rate ({sample_rate!r}) must be a positive integer (Hz) or None")
    if on_clip not in clipping.POLICIES:
        raise OfflineUsageError(f"on_clip ({on_clip!r}) must be one of {', '.join(clipping.POLICIES)}")
    if extensions is None:
        return io.READABLE_EXTENSIONS
    exts = frozenset("." + e.lower().lstrip(".") for e in extensions)
    unknown = sorted(exts - io.READABLE_EXTENSIONS)
    if unknown or not exts:
        raise OfflineUsageError(f"extensions {unknown or '(none)'} not supported; choose from "
                                f"{', '.join(sorted(e.lstrip('.') for e in io.READABLE_EXTENSIONS))}")
    return exts


def check_paths(in_path: Path, out_dir: Path) -> None:
    """``OfflineUsageError`` unless ``in_path`` exists and ``out_dir`` can hold outputs without touching the input."""
    if not in_path.exists():
        raise OfflineUsageError(f"input {str(in_path)!r} does not exist; pass a folder of audio files, an audio "
                                "file or a .jsonl manifest")
    if out_dir.exists() and not out_dir.is_dir():
        raise OfflineUsageError(f"output folder {str(out_dir)!r} exists and is not a folder")
    real_in, real_out = in_path.resolve(), out_dir.resolve()
    if not in_path.is_dir():
        if is_within(real_in, real_out):
            raise OfflineUsageError(f"input {str(in_path)!r} lies inside the output folder {str(out_dir)!r}; "
                                    "choose an output folder that does not hold the input")
        return
    if is_within(real_out, real_in):
        where = "the input folder" if real_out == real_in else "inside the input folder"
        raise OfflineUsageError(f"output folder {str(out_dir)!r} is {where} {str(in_path)!r}; choose a folder "
                                "outside it (the input is never written to)")
    if is_within(real_in, real_out):
        raise OfflineUsageError(f"output folder {str(out_dir)!r} contains the input folder {str(in_path)!r}; "
                                "choose a separate folder so outputs can never land among the inputs")
