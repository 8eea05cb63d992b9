"""Uniforms -> parameters: each piece of draw maths written once, for every kind of array a host holds.

Each function takes uniforms in [0, 1) as a Python float (one example: the per-item fast paths), a NumPy array
(CPU draws: :func:`audionoise.transforms.base.draw`, the NumPy engine) or a tensor (GPU draws), and gives the same
values for the same uniforms in all three (the same IEEE operations; tested). The injectors, the NumPy offline
engine and the long-file path call these and nothing else to form their random parameters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["coin", "integer", "mask_intervals", "pick_clip", "uniform"]


def _tensor(a: Any) -> bool:
    return type(a).__module__.startswith("torch")


def coin(u: Any, p: float) -> Any:
    """Applied or not: ``u < p`` (``p = 1`` always, ``p = 0`` never)."""
    return u < p


def uniform(u: Any, low: float, high: float) -> Any:
    """float32 draws from ``U(low, high)``: ``float32(low + (high - low) * u)`` with the product in float64."""
    v = low + (high - low) * u
    if isinstance(v, float):
        return float(np.float32(v))
    return v.astype(np.float32) if isinstance(v, np.ndarray) else v.float()


def integer(u: Any, high: Any) -> Any:
    """Integers uniform in ``[0, high]`` inclusive: ``min(floor(u * (high + 1)), high)`` (``high`` broadcasts)."""
    if isinstance(u, float):
        return int(min(math.floor(u * (float(high) + 1.0)), high))
    if isinstance(u, np.ndarray):
        high = np.asarray(high, dtype=np.float64)
        return np.minimum(np.floor(u * (high + 1)), high).astype(np.int64)
    import torch  # a tensor came in: torch is loaded already

    high = torch.as_tensor(high, device=u.device, dtype=torch.float64)
    return torch.minimum((u * (high + 1)).floor(), high).long()


def pick_clip(u_clip: Any, u_offset: Any, sizes: np.ndarray, ends: np.ndarray, weight: str) -> tuple[Any, Any]:
    """A clip of a noise bank and an offset in it: ``(clip, offset)``.

    ``weight="clip"``: every clip equally likely; ``"duration"``: every sample of the corpus equally likely (the
    clip holding sample ``min(floor(u * total), total - 1)``). The offset is uniform in ``0 .. sizes[clip] - 1``.
    ``sizes``: the bank's clip lengths (host copy), ``ends = cumsum(sizes)``.
    """
    if weight == "clip":
        clip = integer(u_clip, sizes.shape[0] - 1)
    elif isinstance(u_clip, float):
        total = int(ends[-1])
        clip = int(np.searchsorted(ends, min(math.floor(u_clip * float(total)), total - 1), side="right"))
    elif isinstance(u_clip, np.ndarray):
        clip = np.searchsorted(ends, np.minimum(np.floor(u_clip * ends[-1]), ends[-1] - 1), side="right")
    else:
        import torch

        pos = torch.clamp((u_clip * float(ends[-1])).floor(), max=float(ends[-1] - 1)).long()
        clip = torch.searchsorted(torch.from_numpy(ends).to(u_clip.device), pos.contiguous(), right=True)
    if isinstance(u_offset, float):
        return clip, integer(u_offset, int(sizes[clip]) - 1)
    s = sizes if isinstance(u_offset, np.ndarray) else _on(sizes, u_offset)
    return clip, integer(u_offset, s[clip] - 1)


def _on(a: np.ndarray, like: Any) -> Any:
    import torch

    return torch.from_numpy(a).to(like.device)


def mask_intervals(u_widths: Any, u_starts: Any, max_width: int, size: Any) -> tuple[Any, Any]:
    """``(starts, widths)`` of masks inside ``[0, size)``: width uniform in ``[0, min(max_width, size)]``, start
    uniform in ``[0, size - width]`` (a mask never leaves the valid region). ``size``: an int, or one per row
    (an array shaped to broadcast against the uniforms)."""
    if type(size) is int or isinstance(size, np.integer):
        cap = size if size < max_width else max_width
    elif isinstance(size, np.ndarray):
        cap = size.clip(max=max_width)
    else:
        cap = size.clamp(max=max_width)
    widths = integer(u_widths, cap)
    return integer(u_starts, size - widths), widths
