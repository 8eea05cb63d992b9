"""``TimeMask`` in the NumPy engine: ``num_masks`` intervals set to 0, width uniform in ``[0, min(max_width, T)]``,
start uniform in ``[0, T - width]`` (:func:`audionoise.kernels.draws.mask_intervals`); hard edges only."""

from __future__ import annotations

from audionoise.kernels.draws import coin, mask_intervals
from audionoise.offline.numpy_steps._common import number, probability

INJECTOR = "TimeMask"
FIELDS = frozenset({"max_width_s", "num_masks", "sample_rate", "p", "fade_s"})


def parse(params: dict, rate: int, base_dir, where: str):
    p = probability(params)
    width, count = params.get("max_width_s"), params.get("num_masks", 1)
    if not (p is not None and number(width) and width >= 0 and isinstance(count, int)
            and not isinstance(count, bool) and count >= 1 and params.get("fade_s", 0.0) == 0.0):
        return None
    return p, int(round(float(width) * rate)), count


def apply(x, step, stream, key: str):
    p, max_width, count = step
    u = stream.uniforms(1, 1 + 2 * count)[0]
    applied, t = coin(float(u[0]), p), x.shape[-1]
    starts, widths = mask_intervals(u[1:1 + count], u[1 + count:], max_width, t)
    starts, widths = starts.tolist(), widths.tolist()
    y = x
    if applied and any(widths):
        y = x.copy()
        for s, w in zip(starts, widths):
            y[..., s:s + w] = 0.0
    return y, {"transform": "TimeMask", "applied": applied, "starts": starts, "widths": widths}
