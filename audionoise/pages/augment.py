"""One augmented copy for a page, exactly as ``audionoise augment`` makes it, plus each noise step's measured SNR.

Output ``k`` of input ``key`` uses the seed ``output_seed(seed, key, k)`` (:mod:`audionoise.offline.naming`) and
the engine ``augment`` would pick (:class:`audionoise.offline.pipelines.Pipelines`: the NumPy engine for the
configs it implements, torch otherwise, or torch always with ``engine="torch"``), so the copy on a page is the
file ``augment`` writes for that seed (before its integer-format clipping policy, which the page applies too).

The measured SNR of a noise step is ``10 log10(P(in) / P(out - in))`` over every sample of the example (all
channels), from the step's own input and output: the signal reaching that step, not the clean input, so steps
before it (gain, reverb) do not count as noise. The torch leaves' apply steps are wrapped for the call to see
their input and output; the NumPy engine reports them itself (``trace``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from audionoise.offline.naming import output_seed
from audionoise.offline.pipelines import Pipelines

__all__ = ["NOISE_TRANSFORMS", "augment_copy", "measured_snr_db"]

#: transforms whose records carry a target ``snr_db`` over the whole example (the measured SNR is comparable)
NOISE_TRANSFORMS = {"WhiteNoise", "ColoredNoise", "BackgroundNoise"}


def measured_snr_db(before: np.ndarray, after: np.ndarray) -> float | None:
    """``10 log10(sum(before^2) / sum((after - before)^2))`` in float64 (``None`` when not defined)."""
    if before.shape != after.shape:
        return None
    b = np.asarray(before, dtype=np.float64)
    noise = np.asarray(after, dtype=np.float64) - b
    ps, pn = float(np.dot(b.ravel(), b.ravel())), float(np.dot(noise.ravel(), noise.ravel()))
    if ps <= 0 or pn <= 0:
        return None
    return 10.0 * math.log10(ps / pn)


def _add_measured(records: list[dict[str, Any]], trace: list[tuple[np.ndarray, np.ndarray]]) -> list[dict]:
    """Copies of ``records`` with ``snr_db_measured`` on the applied noise steps (records and trace in step order)."""
    out = []
    for rec, (before, after) in zip(records, trace):
        rec = dict(rec)
        if (rec.get("transform") in NOISE_TRANSFORMS and rec.get("applied") and rec.get("noise_added", True)
                and isinstance(rec.get("snr_db"), (int, float))):
            measured = measured_snr_db(before, after)
            if measured is not None:
                rec["snr_db_measured"] = round(measured, 4)
        out.append(rec)
    return out + [dict(r) for r in records[len(trace):]]


@contextlib.contextmanager
def _traced(pipe, trace: list) -> Iterator[None]:
    """Within the block, every leaf of ``pipe`` appends ``(input, output)`` (NumPy, example 0) to ``trace``."""
    from audionoise.transforms.base import Injector

    leaves = [m for m in pipe.modules() if isinstance(m, Injector)]

    def wrap(leaf):
        method = type(leaf)._apply_params

        def apply_params(x, params, lengths, owned):
            before = x[0].detach().cpu().numpy().copy()
            y, info = method(leaf, x, params, lengths, owned)
            trace.append((before, y[0].detach().cpu().numpy()))
            return y, info
        return apply_params

    for leaf in leaves:
        leaf.__dict__["_apply_params"] = wrap(leaf)  # an instance attribute shadows the method
    try:
        yield
    finally:
        for leaf in leaves:
            leaf.__dict__.pop("_apply_params", None)


def augment_copy(pipelines: Pipelines, x: np.ndarray, rate: int, seed: int, key: str,
                 copy: int) -> tuple[np.ndarray, list[dict[str, Any]], str]:
    """``(y (channels, time) float32, records, engine)`` of output ``copy`` of input ``key``.

    ``x`` is the input ``(channels, time)`` float32 at ``rate`` Hz; ``records`` are the pipeline's, with
    ``snr_db_measured`` added to each applied noise step; ``engine`` is ``"numpy"`` or ``"torch"``.
    """
    s = output_seed(seed, key, copy)
    fast = pipelines.numpy(rate)
    trace: list[tuple[np.ndarray, np.ndarray]] = []
    if fast is not None:
        y, records = fast(x, s, key, trace=trace)
        return y, _add_measured(records, trace), "numpy"
    import torch

    pipe = _as_pipeline(pipelines.get(rate))
    with torch.no_grad(), _traced(pipe, trace):
        out = pipe(torch.from_numpy(np.ascontiguousarray(x))[None], generator=torch.Generator().manual_seed(s),
                   return_params=True)
    if len(out) == 3:  # a length-changing pipeline: (y, lengths, records)
        y, lengths, records = out
        y = y[..., :int(lengths[0])]
    else:
        y, records = out
    return y[0].numpy(), _add_measured(records[0], trace), "torch"


def _as_pipeline(module):
    """A lone injector wrapped in a ``Compose`` (only containers return records)."""
    from audionoise.pipeline import Compose
    from audionoise.transforms.base import Injector

    return Compose([module]) if isinstance(module, Injector) else module
