"""Delay estimation by cross-correlation (used to undo the delay a codec adds)."""

from __future__ import annotations

import torch
from torch import Tensor

from audionoise.functional.rir import fast_fft_size


def estimate_delay(reference: Tensor, delayed: Tensor, max_lag: int) -> int:
    """The lag ``d`` in ``[0, max_lag]`` that maximizes ``sum_t reference[..., t] * delayed[..., t + d]``.

    Both are ``(..., time)`` (channels summed); the cross-correlation is computed with one FFT. Returns 0 when
    either signal is all zero.

    Example:
        >>> x = torch.randn(1000, generator=torch.Generator().manual_seed(0))
        >>> estimate_delay(x, torch.cat([torch.zeros(37), x]), 100)
        37
    """
    # only lags 0..max_lag are needed: delayed[t + d] for t < len(reference), so the circular correlation of size
    # n >= len(reference) + max_lag of ``delayed`` cut to that length has no wrap-around on them
    span = reference.shape[-1] + max_lag
    n = fast_fft_size(span)
    r = torch.fft.rfft(reference.to(torch.float64), n=n)
    d = torch.fft.rfft(delayed[..., :span].to(torch.float64), n=n)
    cc = torch.fft.irfft(d * r.conj(), n=n).reshape(-1, n).sum(0)[: max_lag + 1]
    if not bool(cc.abs().max() > 0):
        return 0
    return int(cc.argmax())
