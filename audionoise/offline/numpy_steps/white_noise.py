"""``WhiteNoise`` in the NumPy engine: ``y = x + g n``, ``n ~ N(0, 1)`` per sample and channel (torch's ``randn``
words of the stream), ``g = sqrt(P_x / P_n) 10^(-snr/20)`` with the powers over every sample of the example
(:func:`audionoise.kernels.gains.gain_scalar`, float64), ``snr ~ U(min_snr_db, max_snr_db)``: the SNR of the
output is exactly ``snr``. Not with a pre-drawn noise bank (``bank_samples``) or ``snr_reference="active"``."""

from __future__ import annotations

import numpy as np

from audionoise.kernels.draws import coin, uniform
from audionoise.kernels.gains import gain_scalar
from audionoise.offline.numpy_steps._common import check_finite, gaussian, power, probability, value_range

INJECTOR = "WhiteNoise"
FIELDS = frozenset({"min_snr_db", "max_snr_db", "p", "snr_reference", "bank_samples", "bank_seed"})


def parse(params: dict, rate: int, base_dir, where: str):
    p, r = probability(params), value_range(params, "min_snr_db", "max_snr_db")
    if p is None or r is None or params.get("snr_reference", "full") != "full" or params.get("bank_samples", 0) != 0:
        return None
    return p, r


def apply(x: np.ndarray, step, stream, key: str):
    p, r = step
    u = stream.uniforms(1, 3)[0].tolist()
    applied, snr = coin(u[0], p), uniform(u[1], *r)
    noise = gaussian(stream, x.shape)
    g = 0.0
    if applied:
        ps = power(x)
        check_finite(ps, key)
        g = gain_scalar(ps, power(noise), snr)
    if g > 0:  # x + g n, formed in the noise's buffer (ours)
        noise *= np.float32(g)
        noise += x
    return (noise if g > 0 else x), {"transform": "WhiteNoise", "applied": applied, "snr_db": snr, "exponent": 0.0,
                                     "noise_added": g > 0}
