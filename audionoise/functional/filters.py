"""Butterworth filters applied in the frequency domain, and mu-law / A-law companding.

Butterworth response (digital, by the bilinear transform pre-warped at the cut-off, the same filter as
``scipy.signal.butter(order, cutoff, fs=sample_rate)``): with ``r(f) = tan(pi f / sr) / tan(pi f_c / sr)`` and
the analog prototype poles ``p_k = exp(i pi (2k + N - 1) / (2N))``, ``k = 1..N``,

    H_low(f)  = 1 / prod_k (i r - p_k)                     |H_low|^2  = 1 / (1 + r^(2N))
    H_high(f) = (i r)^N / prod_k (1 - i r p_k)             |H_high|^2 = r^(2N) / (1 + r^(2N))

so the gain at the cut-off is -3.01 dB and the slope 6N dB per octave. A band pass is ``H_high(f_lo) H_low(f_hi)``.

The filter is applied as ``irfft(rfft(x, n) * H, n)[:T]`` with ``n >= T + settle`` (:func:`settle_samples`):
that is the causal IIR filter itself (same phase as ``scipy.signal.sosfilt``) up to the part of its impulse
response that lasts longer than ``settle`` samples, which is below ``exp(-30)`` of its peak. One FFT pair filters
a whole batch, each example with its own cut-off.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from audionoise.functional.rir import _convolve, preferred_fft_size

FILTER_KINDS = ("lowpass", "highpass", "bandpass")


def _ratio(cutoff_hz: Tensor, sample_rate: int, n_fft: int) -> Tensor:
    f = torch.arange(n_fft // 2 + 1, dtype=torch.float64, device=cutoff_hz.device) * (sample_rate / n_fft)
    warped = torch.tan(math.pi * f / sample_rate)  # finite at Nyquist (about 1.6e16): pi/2 is not exact
    return warped / torch.tan(math.pi * cutoff_hz.to(torch.float64) / sample_rate)[:, None]


def butterworth_response(kind: str, cutoff_hz: Tensor, sample_rate: int, order: int, n_fft: int) -> Tensor:
    """Complex frequency response ``(batch, n_fft // 2 + 1)`` of per-example Butterworth filters.

    Formed section by section in real arithmetic: a conjugate pole pair ``p, p*`` (``c = 2 Re p``) gives the low
    pass factor ``1 / (1 - r^2 - i c r)``, the real pole of an odd order ``1 / (1 + i r)``; the high pass is
    ``H_high(r) = conj(H_low(1 / r))``. Computed in ``cutoff_hz``'s precision (float64 -> complex128, else
    complex64); ``r`` is capped at 1e15 (beyond, the factors are 0 to float precision).

    Args:
        kind: ``"lowpass"`` or ``"highpass"`` (``cutoff_hz`` ``(batch,)``), or ``"bandpass"`` (``cutoff_hz``
            ``(batch, 2)``: low and high edges).
        cutoff_hz: cut-off frequencies in Hz, strictly between 0 and ``sample_rate / 2``.
        sample_rate: Hz.
        order: filter order N (per edge for a band pass).
        n_fft: FFT size the response is sampled for (bins ``k * sample_rate / n_fft``).

    Example:
        >>> h = butterworth_response("lowpass", torch.tensor([1000.0]), 16000, 4, 16)  # bins every 1 kHz
        >>> round(20 * math.log10(float(h[0, 1].abs())), 2)  # at the cut-off
        -3.01
    """
    if kind == "bandpass":
        return (butterworth_response("highpass", cutoff_hz[:, 0], sample_rate, order, n_fft)
                * butterworth_response("lowpass", cutoff_hz[:, 1], sample_rate, order, n_fft))
    if kind not in ("lowpass", "highpass"):
        raise ValueError(f"kind must be one of {list(FILTER_KINDS)}, got {kind!r}")
    dtype = torch.float64 if cutoff_hz.dtype == torch.float64 else torch.float32
    r = _ratio(cutoff_hz, sample_rate, n_fft).to(dtype)
    if kind == "highpass":
        hr, hi = _lowpass_parts(torch.reciprocal(r).clamp_(max=1e15), order)
        return torch.complex(hr, hi.neg_())
    return torch.complex(*_lowpass_parts(r.clamp_(max=1e15), order))


def _lowpass_parts(r: Tensor, order: int) -> tuple[Tensor, Tensor]:
    """Real and imaginary parts of the Butterworth low pass ``prod_sections`` at ratios ``r`` (no complex division)."""
    r2 = r * r
    one_r2 = 1.0 - r2
    hr = hi = None
    for k in range(1, order // 2 + 1):
        c = 2.0 * math.cos(math.pi * (2 * k + order - 1) / (2 * order))
        inv = torch.reciprocal(one_r2 * one_r2 + (c * c) * r2)  # 1 / |1 - r^2 - i c r|^2
        sr, si = one_r2 * inv, (c * r) * inv  # 1 / (1 - r^2 - i c r)
        hr, hi = (sr, si) if hr is None else (hr * sr - hi * si, hr * si + hi * sr)
    if order % 2:
        inv = torch.reciprocal(1.0 + r2)
        sr, si = inv, -r * inv  # 1 / (1 + i r)
        hr, hi = (sr, si) if hr is None else (hr * sr - hi * si, hr * si + hi * sr)
    return hr, hi


def settle_samples(min_cutoff_hz: float, order: int, sample_rate: int) -> int:
    """Samples after which a Butterworth impulse response of cut-off >= ``min_cutoff_hz`` is below e^-30.

    The slowest pole decays as ``exp(-2 pi f_c sin(pi / 2N) t)``; 30 time constants of it.
    """
    rate = 2.0 * math.pi * min_cutoff_hz * math.sin(math.pi / (2 * order))
    return int(math.ceil(30.0 / rate * sample_rate))


def fft_filter(x: Tensor, response_fn, settle: int) -> Tensor:
    """Filter ``x`` ``(batch, ..., T)`` with a per-example frequency response, keeping its length.

    ``response_fn(n_fft)`` returns the ``(batch, n_fft // 2 + 1)`` complex response for the FFT size chosen here
    (``n_fft = preferred_fft_size(T + settle)``). Differentiable in ``x``.
    """
    t = x.shape[-1]
    n = preferred_fft_size(t + settle)
    real = x.dtype if x.dtype == torch.float64 else torch.float32
    h = response_fn(n).to(x.device, torch.complex128 if real == torch.float64 else torch.complex64)
    return _convolve(x, lambda i, j: h[i:j], n, None, h.requires_grad)  # blocks of rows on CPU (see rir)


def _quantize(c: Tensor, levels: int) -> Tensor:
    """``c`` in [-1, 1] rounded to ``levels`` uniform steps (``floor(v + 0.5)``, like torchaudio's mu-law encoder);
    straight-through: the backward pass treats the rounding error as additive noise (gradient 1)."""
    scale = (levels - 1) / 2.0
    q = torch.floor((c + 1.0) * scale + 0.5) / scale - 1.0
    return c + (q - c).detach() if c.requires_grad and torch.is_grad_enabled() else q


def mu_law(x: Tensor, mu: int = 255) -> Tensor:
    """mu-law compand, quantize to ``mu + 1`` levels and expand (an 8-bit G.711 mu-law channel for mu = 255).

    ``c = sign(x) ln(1 + mu |x|) / ln(1 + mu)`` on ``x`` clipped to [-1, 1], quantized, then
    ``x' = sign(c) ((1 + mu)^|c| - 1) / mu``. Matches ``torchaudio.functional.mu_law_decoding(mu_law_encoding(x))``.

    Example:
        >>> mu_law(torch.tensor([0.0, 0.5, -1.0])).round(decimals=4)
        tensor([ 0.0006,  0.4897, -1.0000])
    """
    x = x.clamp(-1.0, 1.0)
    c = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    c = _quantize(c, mu + 1)
    return torch.sign(c) * torch.expm1(c.abs() * math.log1p(mu)) / mu


def a_law(x: Tensor, a: float = 87.6, levels: int = 256) -> Tensor:
    """A-law compand, quantize to ``levels`` levels and expand (8-bit G.711 A-law for the defaults).

    ``c = sign(x) A|x| / (1 + ln A)`` for ``|x| < 1/A``, else ``sign(x) (1 + ln(A|x|)) / (1 + ln A)``;
    the expansion is its inverse.

    Example:
        >>> a_law(torch.tensor([0.5, -1.0])).round(decimals=4)
        tensor([ 0.4971, -1.0000])
    """
    x = x.clamp(-1.0, 1.0)
    k = 1.0 + math.log(a)
    ax = x.abs()
    small = ax < 1.0 / a
    c = torch.sign(x) * torch.where(small, a * ax, 1.0 + torch.log(torch.clamp(a * ax, min=1.0))) / k
    c = _quantize(c, levels)
    ac = c.abs()
    lin = torch.where(ac < 1.0 / k, ac * k / a, torch.exp(torch.clamp(ac * k - 1.0, max=math.log(a))) / a)
    return torch.sign(c) * lin


#: sinc half-width (zero crossings) of the 8 kHz resampling: 16 keeps the response flat to 3.4 kHz (the
#: default 6 loses 2.5 dB there in the round trip)
TELEPHONE_SINC_WIDTH = 16


def telephone(x: Tensor, sample_rate: int, law: str = "mu", low_hz: float = 300.0, high_hz: float = 3400.0,
              order: int = 4) -> Tensor:
    """A narrow-band telephone channel: band pass ``low_hz``-``high_hz``, 8 kHz, 8-bit G.711 companding, back.

    ``x`` ``(batch, ..., T)`` at ``sample_rate`` (>= 8000 Hz) is band-limited by a Butterworth band pass (order
    ``order`` per edge, :func:`butterworth_response`), resampled to 8 kHz (``torchaudio.functional.resample``, sinc width 16),
    companded and quantized (:func:`mu_law` for ``law="mu"``, :func:`a_law` for ``"a"``), resampled back and cut
    to ``T`` samples. Samples beyond [-1, 1] saturate in the compander. Differentiable in ``x`` (the quantizer is
    straight-through).

    Example:
        >>> telephone(torch.randn(2, 16000) * 0.1, 16000).shape
        torch.Size([2, 16000])
    """
    import torchaudio.functional as AF

    if law not in ("mu", "a"):
        raise ValueError(f"law must be 'mu' or 'a' (G.711 mu-law or A-law), got {law!r}")
    t, dtype = x.shape[-1], x.dtype
    x = x if x.dtype == torch.float64 else x.float()  # float16/bfloat16: computed in float32, cast back
    edges = torch.tensor([[low_hz, high_hz]], dtype=x.dtype, device=x.device)
    y = fft_filter(x, lambda n: butterworth_response("bandpass", edges, sample_rate, order, n),
                   settle_samples(low_hz, order, sample_rate))
    if sample_rate != 8000:
        y = AF.resample(y, sample_rate, 8000, lowpass_filter_width=TELEPHONE_SINC_WIDTH)
    y = mu_law(y) if law == "mu" else a_law(y)
    if sample_rate != 8000:
        y = AF.resample(y, 8000, sample_rate, lowpass_filter_width=TELEPHONE_SINC_WIDTH)
        y = y[..., :t] if y.shape[-1] >= t else torch.nn.functional.pad(y, (0, t - y.shape[-1]))
    return y.to(dtype)
