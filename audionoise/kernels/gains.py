"""The SNR gain of one example in Python floats, without torch (the torch injectors and the NumPy engine share it)."""

from __future__ import annotations

import math

#: noise power at or below this counts as silence: no gain (no noise) is applied
TINY_POWER = 1e-30
LN10_OVER_20 = math.log(10.0) / 20.0


def gain_scalar(ps: float, pn: float, snr_db: float) -> float:
    """:func:`gain_for_snr` for one example in Python floats (float64): ``sqrt(ps / pn) * 10**(-snr_db / 20)``,
    0 where ``pn`` is ~0 or the gain is not finite. Every CPU path computes its gains with this one function."""
    if not pn > TINY_POWER:
        return 0.0
    try:
        g = math.sqrt(ps / pn) * math.exp(snr_db * -LN10_OVER_20)
    except (OverflowError, ValueError):  # exp of a huge negative SNR; NaN powers
        return 0.0
    return g if math.isfinite(g) else 0.0
