"""Helpers the NumPy steps share: config value checks, powers, and torch's ``randn`` from a stream."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from audionoise.kernels.stream import TorchStream


def number(v: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def probability(params: dict) -> float | None:
    """The entry's ``p`` (default 1), or ``None`` when it is not a probability."""
    p = params.get("p", 1.0)
    return float(p) if number(p) and 0.0 <= p <= 1.0 else None


def value_range(params: dict, lo: str, hi: str) -> tuple[float, float] | None:
    """``(params[lo], params[hi])`` as floats, or ``None`` unless both are numbers with ``lo <= hi``."""
    a, b = params.get(lo), params.get(hi)
    return (float(a), float(b)) if number(a) and number(b) and a <= b else None


def f32(v: float) -> float:
    """``v`` rounded to float32 (what the torch records hold)."""
    return float(np.float32(v))


def power(y: np.ndarray) -> float:
    """Mean square over every sample (float64 sums, one BLAS dot)."""
    flat = y.reshape(-1)
    return float(np.dot(flat, flat)) / max(flat.shape[0], 1)


def check_finite(ps: float, key: str) -> None:
    if not math.isfinite(ps):
        raise ValueError(f"{key}: the signal holds NaN/Inf or overflows float32 before the noise is added")


def gaussian(stream: TorchStream, shape: tuple[int, ...]) -> np.ndarray:
    """``torch.randn(shape)`` of the stream (:meth:`TorchStream.normals`); fewer than 16 values (which torch draws
    another way) come from 16 normals of the stream, so the parameters drawn after them may differ from torch's."""
    n = math.prod(shape)
    if n >= 16:
        return stream.normals(shape)
    return stream.normals((16,))[:n].reshape(shape).copy()
