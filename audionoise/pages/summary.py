"""What a pipeline draws: how often each transform fires and the values of its parameters, from records.

A *dry draw* samples the pipeline ``n`` times on a silent clip and keeps only the records: the distribution of
the plan itself, not of a few examples. The NumPy engine runs its pipeline (cheap; one seed per sample, as the
page's copies are made); the torch pipeline is sampled without applying its leaves, in batches. Silent clips get
no noise from the SNR-based transforms (the policy of :mod:`audionoise.functional.snr`), but their parameters are
drawn as for any clip, so the targets (``snr_db``, ...) follow the config exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audionoise.kernels.seeds import derive_seed

__all__ = ["Draws", "dry_draw", "summarize"]

#: record fields that are flags or names, not drawn numbers
_NOT_DRAWN = {"transform", "applied", "noise_added", "gain_capped", "snr_db_measured", "snr_db_actual"}


@dataclass
class Draws:
    """``n`` samples of a pipeline: ``fired[transform]`` = how many applied it, ``values["T.field"]`` = the drawn
    values of the applied ones (list fields contribute every element)."""

    n: int = 0
    fired: dict[str, int] = field(default_factory=dict)
    values: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "fired": self.fired, "values": self.values, "error": self.error}


def _numbers(v: Any) -> list[float] | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return [float(v)]
    if isinstance(v, list) and v and all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in v):
        return [float(e) for e in v]
    return None


def summarize(samples: list[list[dict[str, Any]]]) -> Draws:
    """:class:`Draws` of a list of record lists (one per augmented copy)."""
    out = Draws(n=len(samples))
    for records in samples:
        for rec in records:
            name = str(rec.get("transform"))
            out.fired.setdefault(name, 0)
            if not rec.get("applied"):
                continue
            out.fired[name] += 1
            for k, v in rec.items():
                nums = None if k in _NOT_DRAWN else _numbers(v)
                if nums is not None:
                    out.values.setdefault(f"{name}.{k}", []).extend(nums)
    return out


def dry_draw(pipelines, rate: int, channels: int, frames: int, n: int, seed: int) -> Draws:
    """Records of ``n`` copies of a silent ``(channels, frames)`` clip, copy ``i`` seeded with
    ``derive_seed(seed, "preview-dry-draw", i)``, on the engine ``augment`` would use (see
    :func:`audionoise.pages.augment.augment_copy`). A pipeline that fails on silence gives ``error``."""
    silent = np.zeros((channels, frames), np.float32)
    samples = []
    try:
        fast = pipelines.numpy(rate)
        if fast is not None:
            for i in range(n):
                samples.append(fast(silent, derive_seed(seed, "preview-dry-draw", i), "<dry draw>")[1])
        else:
            samples = _torch_draw(pipelines.get(rate), silent, n, seed)
    except Exception as exc:  # the examples still show; the page says why the summary is missing
        return Draws(error=f"the dry draw failed on a silent clip: {type(exc).__name__}: {exc}")
    return summarize(samples)


def _torch_draw(module, silent: np.ndarray, n: int, seed: int, chunk: int = 250) -> list[list[dict]]:
    """Records of ``n`` copies in batches of ``chunk`` (one generator for the draw: the same distribution).

    Only the plan is drawn: every leaf's apply step is replaced by "return the input" (as
    :mod:`audionoise.offline.batched` samples without applying), so a reverb or codec costs nothing here. The
    records then lack what only applying tells (``noise_added``, measured values)."""
    import torch

    from audionoise.pages.augment import _as_pipeline
    from audionoise.transforms.base import Injector

    pipe = _as_pipeline(module)
    leaves = [m for m in pipe.modules() if isinstance(m, Injector)]

    def identity(leaf):
        def apply_params(x, params, lengths, owned):
            if not leaf.changes_length:
                return x, {}
            full = torch.full((x.shape[0],), x.shape[-1], dtype=torch.long, device=x.device)
            return x, {"length": full if lengths is None else lengths}
        return apply_params

    g = torch.Generator().manual_seed(derive_seed(seed, "preview-dry-draw"))
    out: list[list[dict]] = []
    for leaf in leaves:
        leaf.__dict__["_apply_params"] = identity(leaf)  # an instance attribute shadows the method
    try:
        with torch.no_grad():
            for start in range(0, n, chunk):
                b = min(chunk, n - start)
                x = torch.from_numpy(silent).expand(b, *silent.shape).contiguous()
                x = x[:, 0] if silent.shape[0] == 1 else x
                out.extend(pipe(x, generator=g, return_params=True)[-1])
    finally:
        for leaf in leaves:
            leaf.__dict__.pop("_apply_params", None)
    return out
