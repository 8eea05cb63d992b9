"""Room impulse responses and FFT convolution (pure functions; randomness only from a passed generator)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from audionoise.functional._checks import check_waveform

__all__ = ["fft_convolve", "room_impulse"]

#: ln(10**3): a 60 dB energy decay is exp(-2 * 6.91) in energy, exp(-6.91) in amplitude.
_LN_1000 = 3 * math.log(10.0)


def room_impulse(sample_rate: int, rt60_s: float, wet: float, generator: torch.Generator | None = None) -> Tensor:
    """A synthetic small-room impulse response: a unit direct path plus an exponentially decaying noise tail.

    ``h[0] = 1``; for ``1 <= n < N`` (``N = max(2, int(rt60_s * sample_rate))``),
    ``h[n] = c * w[n] * exp(-6.91 * n / (rt60_s * sample_rate))`` with ``w`` white Gaussian noise and ``c``
    chosen so the tail energy ``sum(h[1:]**2)`` is exactly ``wet`` (the amplitude falls by 60 dB over
    ``rt60_s``: the reverberation time RT60).

    Args:
        sample_rate: Samples per second.
        rt60_s: Reverberation time in seconds (> 0).
        wet: Energy of the reverberant tail relative to the direct sound (>= 0; 0 = dry).
        generator: Source of the tail's noise.

    Returns:
        ``(N,)`` float32.

    Example:
        >>> h = room_impulse(16000, 0.3, 0.2, torch.Generator().manual_seed(0))
        >>> float(h[0]), round(float(h[1:].pow(2).sum()), 3)
        (1.0, 0.2)
    """
    if not sample_rate > 0 or not rt60_s > 0 or not wet >= 0:
        raise ValueError(f"sample_rate ({sample_rate}) and rt60_s ({rt60_s}) must be > 0 and wet ({wet}) >= 0")
    n = max(2, int(rt60_s * sample_rate))
    decay = torch.exp(-_LN_1000 * torch.arange(1, n, dtype=torch.float32) / (rt60_s * sample_rate))
    tail = torch.randn(n - 1, generator=generator) * decay
    tail = tail * math.sqrt(wet / float(tail.pow(2).sum()))
    return torch.cat([torch.ones(1), tail])


def fft_convolve(x: Tensor, h: Tensor) -> Tensor:
    """Linear convolution of ``x (..., time)`` with the impulse response ``h (..., taps)``, cut to ``time`` samples.

    ``y[..., t] = sum_k h[..., k] * x[..., t - k]`` for ``0 <= t < time`` (causal: the output is as long as the
    input, the reverberant tail past the end is dropped). Leading axes broadcast. Computed with real FFTs of a
    power-of-2 size ``>= time + taps - 1``, so there is no circular wrap-around.

    Example:
        >>> [round(v, 4) for v in fft_convolve(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, 0.25])).tolist()]
        [0.5, 1.25, 2.0]
    """
    check_waveform(x)
    check_waveform(h, "h")
    time = x.shape[-1]
    n = 1 << max(0, x.shape[-1] + h.shape[-1] - 2).bit_length()
    y = torch.fft.irfft(torch.fft.rfft(x, n=n) * torch.fft.rfft(h, n=n), n=n)
    return y[..., :time]
