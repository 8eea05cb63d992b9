"""Random spectrogram warping: frequency stretch (vocal-tract length) and time stretch (speaking rate)."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from audionoise.functional.warp import warp_spectrogram
from audionoise.transforms.base import Injector, Params, check_number, draw, scale_uniform, tensor


@dataclasses.dataclass(frozen=True)
class WarpParams(Params):
    """``freq_scale`` and ``time_scale`` per example, ``(batch,)``."""

    freq_scale: Tensor
    time_scale: Tensor


class SpecWarp(Injector):
    """Random frequency and time stretch of a spectrogram ``(batch, freq, frames)`` (see :func:`warp_spectrogram`).

    Per example: ``freq_scale ~ U(1 - max_freq_warp, 1 + max_freq_warp)`` (vocal-tract length perturbation,
    VTLP) and ``time_scale ~ U(1 - max_time_warp, 1 + max_time_warp)`` (speaking rate). Examples not applied
    are returned bit for bit.

    Example:
        >>> t = SpecWarp(0.1, 0.15)
        >>> t(torch.randn(2, 40, 101), generator=torch.Generator().manual_seed(0)).shape
        torch.Size([2, 40, 101])
    """

    spectrogram = True

    def __init__(self, max_freq_warp: float = 0.1, max_time_warp: float = 0.15, p: float = 1.0) -> None:
        super().__init__(p)
        check_number("max_freq_warp", max_freq_warp, lo_bound=0.0)
        check_number("max_time_warp", max_time_warp, lo_bound=0.0)
        if max_freq_warp >= 1 or max_time_warp >= 1:
            raise ValueError(f"max_freq_warp ({max_freq_warp}) and max_time_warp ({max_time_warp}) must be < 1, "
                             f"e.g. 0.1")
        self.max_freq_warp, self.max_time_warp = float(max_freq_warp), float(max_time_warp)

    def _sample(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator | None) -> WarpParams:
        u = draw(x.shape[0], 3, generator)
        fs = scale_uniform(u[:, 1], 1.0 - self.max_freq_warp, 1.0 + self.max_freq_warp)
        ts = scale_uniform(u[:, 2], 1.0 - self.max_time_warp, 1.0 + self.max_time_warp)
        return WarpParams(applied=tensor(u[:, 0] < self.p), freq_scale=tensor(fs), time_scale=tensor(ts))

    def _apply_params(self, x, params, lengths, owned):
        xb = x
        flat = xb.reshape(-1, *xb.shape[-2:])
        reps = flat.shape[0] // xb.shape[0]
        warped = warp_spectrogram(flat, params.freq_scale.repeat_interleave(reps),
                                  params.time_scale.repeat_interleave(reps)).reshape(xb.shape)
        keep = params.applied.to(xb.device).view(-1, *([1] * (xb.dim() - 1)))
        return torch.where(keep, warped, xb), {}
