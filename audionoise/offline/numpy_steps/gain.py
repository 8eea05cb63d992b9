"""``Gain`` in the NumPy engine: ``y = 10^(g/20) x``, ``g ~ U(min_db, max_db)``."""

from __future__ import annotations

import numpy as np

from audionoise.kernels.draws import coin, uniform
from audionoise.offline.numpy_steps._common import probability, value_range

INJECTOR = "Gain"
FIELDS = frozenset({"min_db", "max_db", "p"})


def parse(params: dict, rate: int, base_dir, where: str):
    p, r = probability(params), value_range(params, "min_db", "max_db")
    return None if p is None or r is None else (p, r)


def apply(x: np.ndarray, step, stream, key: str):
    p, r = step
    u = stream.uniforms(1, 2)[0].tolist()
    applied, db = coin(u[0], p), uniform(u[1], *r)
    y = x * np.float32(10.0 ** (db / 20.0)) if applied else x
    return y, {"transform": "Gain", "applied": applied, "gain_db": db}
