"""What the injectors that draw from a :class:`NoiseBank` share (BackgroundNoise, ShortNoises): the ``noise``
argument turned into a bank, and the random choice of a clip and an offset in it per window."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch

from audionoise.transforms.base import check_sample_rate, scale_int
from audionoise.transforms.noisebank import DEFAULT_CROSSFADE_S, NoiseBank

#: how a clip is chosen: every clip equally likely, or every second of the corpus equally likely
WEIGHTS = ("clip", "duration")


def check_weight(weight: str) -> str:
    if weight not in WEIGHTS:
        raise ValueError(f"weight must be one of {list(WEIGHTS)}, got {weight!r}")
    return weight


def resolve_bank(noise: Any, sample_rate: int | None, who: str, *, cache_dir: Any, crossfade_s: float | None,
                 max_clips: int | None, max_clips_seed: int) -> tuple[NoiseBank, int]:
    """``(bank, sample_rate)`` for the ``noise`` argument of the injector ``who``: a :class:`NoiseBank` (its rate
    is the default ``sample_rate`` and must match a given one) or anything :meth:`NoiseBank.from_source` reads."""
    if isinstance(noise, NoiseBank):
        sample_rate = noise.sample_rate if sample_rate is None else sample_rate
        if noise.sample_rate != check_sample_rate(sample_rate):
            raise ValueError(f"NoiseBank sample_rate ({noise.sample_rate}) differs from sample_rate "
                             f"({sample_rate}); build the bank with NoiseBank.from_source(path, {sample_rate})")
        if crossfade_s is not None and round(crossfade_s * sample_rate) != noise.crossfade:
            raise ValueError(f"crossfade_s ({crossfade_s}) is set when the bank is built; this NoiseBank has a "
                             f"cross-fade of {noise.crossfade} samples: rebuild it with crossfade_s={crossfade_s}")
        return noise, int(sample_rate)
    if isinstance(noise, (str, os.PathLike, list, tuple)):
        if sample_rate is None:
            raise ValueError(f"sample_rate is required to build the noise bank (the rate of the audio this "
                             f"{who} is applied to)")
        with warnings.catch_warnings(record=True) as caught:  # re-raised below at the injector's caller
            warnings.simplefilter("always")
            bank = NoiseBank.from_source(noise, check_sample_rate(sample_rate), cache_dir=cache_dir,
                                         crossfade_s=DEFAULT_CROSSFADE_S if crossfade_s is None else crossfade_s,
                                         max_clips=max_clips, max_clips_seed=max_clips_seed)
        for w in caught:  # skipped clips, cache trouble: pointing at the line that built the injector
            warnings.warn(w.message, w.category, stacklevel=3)
        return bank, int(sample_rate)
    raise ValueError(f"noise must be a folder, list file, manifest, audio file or glob pattern (or a list of "
                     f"these) or a NoiseBank, got {type(noise).__name__}")


def pick(u_clip: Any, u_offset: Any, sizes: np.ndarray, ends: np.ndarray, weight: str) -> tuple[Any, Any]:
    """Clip indices (uniform by clip, or by duration) and uniform offsets in them, from two uniform arrays.

    ``u_clip``/``u_offset``: NumPy arrays or tensors of uniforms in [0, 1) (any shape); ``sizes``: the bank's clip
    lengths (host copy), ``ends = cumsum(sizes)``. Offsets are uniform in ``0 .. sizes[clip] - 1``.
    """
    cpu = isinstance(u_clip, np.ndarray)
    if weight == "clip":
        clip = scale_int(u_clip, sizes.shape[0] - 1)
    elif cpu:
        pos = np.minimum(np.floor(u_clip * ends[-1]), ends[-1] - 1)
        clip = np.searchsorted(ends, pos, side="right")
    else:
        e = torch.from_numpy(ends).to(u_clip.device)
        pos = torch.clamp((u_clip * float(ends[-1])).floor(), max=float(ends[-1] - 1)).long()
        clip = torch.searchsorted(e, pos.contiguous(), right=True)
    s = sizes if cpu else torch.from_numpy(sizes).to(u_clip.device)
    return clip, scale_int(u_offset, s[clip] - 1)
