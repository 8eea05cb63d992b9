"""Seamless loops of noise clips in NumPy (torch-free): the fades and the cross-fade of
:func:`audionoise.functional.loop.make_loopable`, for the offline NumPy engine."""

from __future__ import annotations

import math

import numpy as np


#: default seam cross-fade of looped noise clips (seconds), for every noise bank (torch and the NumPy engine)
DEFAULT_CROSSFADE_S = 0.01
#: what to do with an output beyond full scale: clip it, scale it down, or refuse (offline jobs and Normalize)
CLIP_POLICIES = ("clip", "normalize", "error")

def equal_power_fades(n: int) -> tuple[np.ndarray, np.ndarray]:
    """float64 ``(sin, cos)`` of ``pi/2 * i/n``, ``i = 0 .. n-1``, with exact ends (``fade_in[0] = 0``,
    ``fade_out[0] = 1`` whatever the libm)."""
    theta = np.arange(n, dtype=np.float64) * (math.pi / (2 * n)) if n else np.zeros(0)
    fade_in, fade_out = np.sin(theta), np.cos(theta)
    fade_in[:1], fade_out[:1] = 0.0, 1.0
    return fade_in, fade_out


def make_loopable(clip: np.ndarray, crossfade: int) -> np.ndarray:
    """:func:`audionoise.functional.loop.make_loopable` of a float32 1-D array (the same float32 operations)."""
    if crossfade == 0:
        return clip.copy()
    m = clip.shape[0] - crossfade
    fade_in, fade_out = (f.astype(clip.dtype) for f in equal_power_fades(crossfade))
    y = clip[:m].copy()
    y[:crossfade] = clip[:crossfade] * fade_in + clip[m:] * fade_out
    return y
