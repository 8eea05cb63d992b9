"""What the injectors that draw from a :class:`NoiseBank` share (BackgroundNoise, ShortNoises): the ``noise``
argument turned into a bank, and the random choice of a clip and an offset in it per window."""

from __future__ import annotations

import os
import warnings
from typing import Any


from audionoise.kernels.draws import pick_clip
from audionoise.transforms.base import check_sample_rate
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


#: a clip and an offset in it from two uniforms: the kernel (:func:`audionoise.kernels.draws.pick_clip`)
pick = pick_clip
