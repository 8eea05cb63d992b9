"""A Ray Data building block: augment a ``ray.data.Dataset`` of manifest rows with ``map_batches``.

For users who already hold their corpus as a Ray dataset of NeMo-style rows (``audio_filepath``, optional
``offset``/``duration``, any other fields). :class:`AugmentRows` is a callable class: Ray builds it once per actor,
which builds the pipeline (noise bank through the on-disk cache) once; each call writes the batch's outputs
atomically under ``out_dir`` (named as ``audionoise augment MANIFEST OUT`` names them) and returns one row per
output: ``output`` (relative to ``out_dir``), ``manifest_line`` (the line ``audionoise augment`` writes for it:
the input's fields, the output's path and duration, the record under ``"augmentation"``) and ``error`` (``None``);
an input that fails gives one row with ``output`` ``None`` and the reason in ``error``. Each output depends only
on (seed, input path, copy), as in the offline job.

Example:
    >>> import ray.data  # doctest: +SKIP
    >>> ds = ray.data.read_json("train.jsonl")  # doctest: +SKIP
    >>> out = ds.map_batches(AugmentRows, fn_constructor_kwargs={"out_dir": "/shared/noisy",  # doctest: +SKIP
    ...     "pipeline_or_config": "pipeline.toml", "copies": 2}, concurrency=8, batch_size=64)
    >>> out.write_json("/shared/noisy/manifest-parts")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from audionoise.offline import clipping
from audionoise.offline.inputs import Item
from audionoise.offline.naming import safe_key
from audionoise.offline.pipelines import OfflineUsageError, Pipelines
from audionoise.offline.runner import Job, Runner, torch_single_threaded_if_imported

__all__ = ["AugmentRows"]


def _plain(value: Any) -> Any:
    """A NumPy scalar of a Ray batch as a Python value."""
    return value.item() if hasattr(value, "item") and getattr(value, "shape", None) == () else value


class AugmentRows:
    """``map_batches`` callable: manifest rows in, one row per output (or per failed input) out.

    Args:
        out_dir: Output folder on a file system every worker sees (created).
        pipeline_or_config: A config file or dict (built on each actor), or a pipeline module.
        copies, seed, fmt, sample_rate, on_clip, engine: As for :func:`audionoise.offline.augment`.
        root: Folder that relative ``audio_filepath`` values start from (default: the working directory).
    """

    def __init__(self, out_dir: str | os.PathLike, pipeline_or_config: Any, *, copies: int = 1, seed: int = 0,
                 fmt: str = "same", sample_rate: int | None = None, on_clip: str = clipping.DEFAULT_POLICY,
                 engine: str = "auto", root: str | os.PathLike | None = None) -> None:
        if not isinstance(copies, int) or copies < 1:
            raise OfflineUsageError(f"copies ({copies!r}) must be an integer >= 1")
        if fmt not in ("same", "wav", "flac"):
            raise OfflineUsageError(f"fmt ({fmt!r}) must be one of same, wav, flac")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        pipelines = Pipelines(pipeline_or_config, engine)
        pipelines.validate()
        self.copies, self.root = copies, Path(root) if root is not None else None
        job = Job(out, out.resolve(), int(seed), fmt, sample_rate, True, on_clip)
        self.runner = Runner(job, pipelines)

    def _item(self, row: dict[str, Any]) -> Item:
        audio = str(row["audio_filepath"])
        path = Path(audio)
        if not path.is_absolute() and self.root is not None:
            path = self.root / path
        offset = float(row.get("offset") or 0.0)
        duration = row.get("duration") if "offset" in row else None  # a duration alone is informative
        return Item(safe_key(audio), path, offset, None if duration is None else float(duration), row)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        if "audio_filepath" not in batch:
            raise ValueError(f"rows need an 'audio_filepath' column (columns: {', '.join(sorted(batch))})")
        columns = {k: list(v) for k, v in batch.items()}
        n = len(columns["audio_filepath"])
        rows = [{k: _plain(v[i]) for k, v in columns.items()} for i in range(n)]
        torch_single_threaded_if_imported()
        results = self.runner.process_items([(self._item(row), list(range(self.copies))) for row in rows])
        out: dict[str, list] = {"output": [], "manifest_line": [], "error": []}
        for result in results:
            for output, text in result.lines:
                out["output"].append(output)
                out["manifest_line"].append(text)
                out["error"].append(None)
            if result.error is not None:
                out["output"].append(None)
                out["manifest_line"].append(None)
                out["error"].append(json.dumps(result.error, sort_keys=True))
        return out
