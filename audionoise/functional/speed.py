"""Speed perturbation by resampling (tempo and pitch change together, like Kaldi's and torchaudio's).

Playing a signal ``factor`` times faster is resampling it from ``round(factor * sr)`` Hz to ``sr`` Hz: every
frequency is multiplied by ``factor`` and the duration divided by it, ``n' = ceil(n / factor)`` samples (exactly
``ceil(n * sr / round(factor * sr))``). The resampler is ``torchaudio.functional.resample`` (windowed sinc)
on the ratio reduced by the greatest common divisor.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def speed_rates(factor: float, sample_rate: int) -> tuple[int, int]:
    """The reduced ``(orig_freq, new_freq)`` pair that plays audio ``factor`` times faster.

    Example:
        >>> speed_rates(1.1, 16000)
        (11, 10)
    """
    source = int(round(factor * sample_rate))
    if source <= 0:
        raise ValueError(f"speed factor {factor} is too small for sample_rate {sample_rate}")
    g = math.gcd(source, sample_rate)
    return source // g, sample_rate // g


def speed(x: Tensor, factor: float, sample_rate: int, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Play ``x`` ``(batch, ..., T)`` ``factor`` times faster; returns ``(y, new_lengths)``.

    ``y`` has ``ceil(T * new / orig)`` samples; ``new_lengths[b] = ceil(lengths[b] * new / orig)`` (``lengths``
    defaults to ``T``) and ``y`` is zero after them. Padding of ``x`` should be zero (it is resampled like signal).
    Differentiable in ``x``.

    Example:
        >>> y, n = speed(torch.randn(2, 16000), 1.1, 16000)
        >>> y.shape, n.tolist()
        (torch.Size([2, 14546]), [14546, 14546])
    """
    orig, new = speed_rates(factor, sample_rate)
    n = (torch.full((x.shape[0],), x.shape[-1], dtype=torch.long, device=x.device) if lengths is None
         else lengths.to(x.device))
    if orig == new:
        return x, n
    import torchaudio.functional as AF  # here: importing torchaudio costs ~0.2 s (audionoise.offline start-up)

    y = AF.resample(x, orig, new)
    new_n = torch.div(n * new + orig - 1, orig, rounding_mode="floor")
    if lengths is not None:
        valid = torch.arange(y.shape[-1], device=x.device) < new_n[:, None]
        y = y * valid.view(valid.shape[0], *([1] * (y.dim() - 2)), valid.shape[-1]).to(y.dtype)
    return y, new_n
