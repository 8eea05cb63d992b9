"""Room impulse responses: a synthetic exponential-decay model, FFT convolution, and RT60 measurement.

Synthetic RIR (the statistical model of a diffuse reverberant field, with a direct path):

    h[0] = 1                                          (direct path, unit gain)
    h[t] = g * n[t] * exp(-3 ln(10) t / (RT60 * sr))  for 1 <= t < L  (n: white Gaussian noise)

The amplitude envelope falls by 60 dB over RT60 seconds (energy ``exp(-6 ln(10) t / RT60)``), and ``g`` is chosen
so that the direct-to-reverberant ratio ``DRR = 10 log10(h[0]^2 / sum_{t>=1} h[t]^2)`` is exactly the target
on the drawn noise.

RT60 is measured the ISO 3382 way: Schroeder backward integration ``EDC(t) = sum_{tau >= t} h[tau]^2`` (in dB
re ``EDC(0)``), a least-squares line through the EDC between -5 and -25 dB (T20), extrapolated to 60 dB
(``RT60 = -60 / slope``, i.e. 3 x T20).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def synthetic_rir(rt60: Tensor, drr_db: Tensor, noise: Tensor, sample_rate: int) -> Tensor:
    """Exponentially decaying noise with a unit direct path, at the given RT60 and DRR (see the module docstring).

    Args:
        rt60: ``(batch,)`` reverberation times in seconds (> 0).
        drr_db: ``(batch,)`` direct-to-reverberant ratios in dB.
        noise: ``(batch, L)`` white noise (sample 0 is ignored: it is the direct path).
        sample_rate: Hz.

    Returns:
        ``(batch, L)`` impulse responses with the direct path at index 0 (float32 unless ``noise`` is float64).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> h = synthetic_rir(torch.tensor([0.5]), torch.tensor([0.0]), torch.randn(1, 8000, generator=g), 16000)
        >>> float(h[0, 0]), round(float(h[0, 1:].pow(2).sum()), 4)
        (1.0, 1.0)
    """
    length = noise.shape[-1]
    dtype = torch.float64 if noise.dtype == torch.float64 else torch.float32
    env = decay_envelope(rt60.to(noise.device), length, sample_rate, dtype)
    tail = noise.to(dtype) * env
    tail[:, 0] = 0.0
    energy = tail.pow(2).sum(-1, dtype=torch.float64).clamp_min(1e-30)
    gain = torch.sqrt(torch.pow(10.0, -drr_db.to(noise.device, torch.float64) / 10.0) / energy)
    h = tail * gain.to(dtype)[:, None]
    h[:, 0] = 1.0
    return h


def decay_envelope(rt60: Tensor, length: int, sample_rate: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``exp(-3 ln(10) t / RT60)`` for ``t = 0 .. length - 1`` samples, ``(batch, length)``.

    Formed as the outer product of a coarse and a fine exponential (``t = 128 i + j``), so it costs
    ``batch * (length / 128 + 128)`` exponentials instead of ``batch * length``.
    """
    block = 128
    rate = (3.0 * math.log(10.0) / (rt60.to(torch.float64).clamp_min(1e-6) * sample_rate))[:, None]
    fine = torch.exp(-rate * torch.arange(block, dtype=torch.float64, device=rt60.device))
    coarse = torch.exp(-rate * block * torch.arange(-(-length // block), dtype=torch.float64, device=rt60.device))
    env = (coarse.to(dtype)[:, :, None] * fine.to(dtype)[:, None, :]).reshape(rt60.shape[0], -1)
    return env[:, :length]


def fast_fft_size(n: int) -> int:
    """The smallest ``2^a 3^b 5^c >= n``: FFT sizes that pocketfft/cuFFT transform fastest."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def fft_convolve(x: Tensor, h: Tensor, offset: Tensor | None = None, max_offset: int | None = None,
                 n_fft: int | None = None) -> Tensor:
    """Per-example linear convolution ``y[b, ..., t] = sum_k h[b, k] x[b, ..., t + offset[b] - k]``, keeping ``x``'s length.

    The output is the full convolution ``x * h`` read from sample ``offset[b]`` on (0 when ``None``) for
    ``x.shape[-1]`` samples: with ``offset`` = the index of the direct path of ``h`` the direct sound stays where it
    was in ``x``. Taps of ``h`` beyond ``max(offset) + T`` cannot reach those samples and are dropped before the FFT,
    whose size is :func:`convolution_size` (or ``n_fft``, at least the full convolution's length). Differentiable in
    ``x`` and ``h``.

    Args:
        x: ``(batch, ..., T)`` signals (padding should be zero: it is convolved like signal), or one ``(T,)``.
        h: ``(batch, L)`` impulse responses (the same on every channel of an example), or one ``(L,)`` for all.
        offset: ``(batch,)`` integer read offsets (``< L``), or ``None``.
        max_offset: an upper bound of ``offset`` if known (saves reading it back from the GPU).
        n_fft: the FFT size (``>= T + L - 1`` after the drop above); default :func:`convolution_size`.

    Example:
        >>> x = torch.tensor([[1.0, 2.0, 3.0, 0.0]])
        >>> fft_convolve(x, torch.tensor([[0.0, 1.0, 0.5]]), torch.tensor([1])).round(decimals=4)
        tensor([[1.0000, 2.5000, 4.0000, 1.5000]])
    """
    return _fft_convolve(x, h, offset, max_offset, n_fft)


def _fft_convolve(x: Tensor, h: Tensor, offset: Tensor | None = None, max_offset: int | None = None,
                  n_fft: int | None = None, gain=None) -> Tensor:
    """:func:`fft_convolve`, each example's result scaled by ``gain`` (see :func:`_convolve`)."""
    if x.dim() == 1:  # one signal
        return _fft_convolve(x[None], h.reshape(1, -1), offset, max_offset, n_fft, gain)[0]
    if h.dim() == 1:  # one impulse response for every example
        h = h.expand(x.shape[0], -1)
    if offset is None or offset.numel() == 0:
        max_off = 0
    else:
        max_off = int(offset.max()) if max_offset is None else int(max_offset)
    h = h[:, : max_off + x.shape[-1]]
    full = x.shape[-1] + h.shape[-1] - 1
    n = convolution_size(x.shape[-1], h.shape[-1]) if n_fft is None else int(n_fft)
    if n < full:
        raise ValueError(f"n_fft={n} is shorter than the full convolution ({full} samples): it would wrap around")
    real = x.dtype if x.dtype == torch.float64 else torch.float32
    h = h.to(x.device, real)
    return _convolve(x, lambda i, j: torch.fft.rfft(h[i:j], n=n), n, offset, h.requires_grad, gain)


def convolution_size(time: int, taps: int) -> int:
    """The FFT size :func:`fft_convolve` uses for the full length ``time + taps - 1``: :func:`preferred_fft_size`."""
    return preferred_fft_size(time + taps - 1)


def preferred_fft_size(n: int) -> int:
    """The next power of two ``>= n`` when it is at most 12.5 % larger than :func:`fast_fft_size` ``(n)``, else that.

    Power-of-two transforms cost fewer operations per sample than the other ``2^a 3^b 5^c`` sizes in every FFT
    library (measured on MKL, batches of 16 rows: 4.4 ns a sample and row at 16384 and 32768 against 7.2 at 16000
    and 5.2 at 32000), so a slightly longer one is the faster choice.
    """
    smooth = fast_fft_size(n)
    pow2 = 1 << max(0, (n - 1).bit_length())
    return pow2 if 8 * pow2 <= 9 * smooth else smooth


#: rows (examples x channels) per FFT call on CPU with one torch thread: MKL transforms a batch of 32 or more rows
#: 1.5-2.5x slower per row than blocks of 16 (their buffers stay in the core's cache), measured for FFT sizes
#: 4096-131072 (docs/benchmarks); see :func:`cpu_block_rows` for more threads
CPU_FFT_ROWS = 16


def cpu_block_rows(n: int) -> int:
    """Rows per FFT call on CPU for FFT size ``n``: :data:`CPU_FFT_ROWS` with one torch thread; with more, MKL
    splits each call's rows over its threads, so a call gets ``2 * CPU_FFT_ROWS`` rows per thread (at most 2^21
    samples a block). Measured 2026-12-07, Reverb on 64 x 1 s (n = 32768), 2 threads, 40 interleaved rounds:
    median 14.5 / 13.5 ms with 64-row blocks against 17.2 / 16.3 ms with 16-row blocks (two runs); at one
    thread the block size made no difference. The result does not depend on the block size (each row is its own
    transform; tested)."""
    threads = torch.get_num_threads()
    rows = CPU_FFT_ROWS if threads <= 1 else 2 * CPU_FFT_ROWS * threads
    return max(1, min(rows, (1 << 21) // max(1, n)))


def convolve_spectrum(x: Tensor, h_spectrum: Tensor, n: int, offset: Tensor | None = None) -> Tensor:
    """:func:`fft_convolve` with the impulse responses given as ``rfft(h, n)`` ``(batch, n // 2 + 1)``.

    ``n`` must be at least ``T + taps - 1`` (:func:`convolution_size`) and ``offset + T <= n``.
    """
    return _convolve(x, lambda i, j: h_spectrum[i:j], n, offset, h_spectrum.requires_grad)


def _convolve(x: Tensor, spectra, n: int, offset: Tensor | None, spectra_grad: bool, gain=None) -> Tensor:
    """``irfft(rfft(x, n) * spectra(i, j), n)`` read from ``offset`` for ``T`` samples, for examples ``i:j``.

    ``gain(i, j, y)``, when given, returns a ``(j - i,)`` factor per example of the block's result ``y`` (e.g. a level
    correction), applied while the block is in cache. On CPU without autograd the batch goes through in blocks of
    :func:`cpu_block_rows` rows (one zero-padded input buffer, one output tensor: the same arithmetic per row as one
    call on the whole batch); on GPU, or when a gradient is needed, in one call.
    """
    real = x.dtype if x.dtype == torch.float64 else torch.float32
    b, t = x.shape[0], x.shape[-1]
    step = max(1, cpu_block_rows(n) // max(1, math.prod(x.shape[1:-1])))
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or spectra_grad)
    if x.device.type != "cpu" or needs_grad or b <= step:
        y = _convolve_rows(torch.nn.functional.pad(x.to(real), (0, n - t)), spectra(0, b), n, t, offset)
        if gain is not None:
            y = y * gain(0, b, y).to(real).view(b, *([1] * (y.dim() - 1)))
        return y.to(x.dtype)
    out = torch.empty(x.shape, dtype=real)
    padded = torch.zeros(step, *x.shape[1:-1], n, dtype=real)  # the zeros past T stay zero for every block
    for i in range(0, b, step):
        j = min(b, i + step)
        block = padded[: j - i]
        block[..., :t] = x[i:j]
        y = _convolve_rows(block, spectra(i, j), n, t, None if offset is None else offset[i:j])
        if gain is None:
            out[i:j] = y
        else:
            torch.mul(y, gain(i, j, y).to(real).view(j - i, *([1] * (y.dim() - 1))), out=out[i:j])
    return out.to(x.dtype)


def _convolve_rows(padded: Tensor, h_spectrum: Tensor, n: int, t: int, offset: Tensor | None) -> Tensor:
    """One FFT product of ``padded`` ``(rows, ..., n)`` (signal then zeros) with ``h_spectrum``, ``t`` samples out.

    ``h_spectrum`` is ``(rows, n // 2 + 1)``, or ``(table, rows)``: a ``(count, n // 2 + 1)`` table and the row of it
    each example uses (a list of ints).
    """
    spec = torch.fft.rfft(padded)
    if isinstance(h_spectrum, tuple):  # (table, rows): row r of the block uses table[rows[r]] (no gathered copy)
        table, rows = h_spectrum
        for r, k in enumerate(rows):
            spec[r].mul_(table[k])
    else:
        hs = h_spectrum.to(padded.device).view(h_spectrum.shape[0], *([1] * (padded.dim() - 2)),
                                               h_spectrum.shape[-1])
        if torch.is_grad_enabled() and hs.requires_grad:
            spec = spec * hs
        else:
            spec.mul_(hs)  # in place: one batch-sized complex buffer less (rfft's backward does not need its output)
    full = torch.fft.irfft(spec, n=n)
    if offset is None:
        return full[..., :t]
    index = offset.to(padded.device).view(-1, *([1] * (padded.dim() - 1))) + torch.arange(t, device=padded.device)
    return torch.gather(full, -1, index.expand(*padded.shape[:-1], t))


def direct_path_index(h: Tensor) -> Tensor:
    """Index of the direct path of each impulse response ``(..., L)``: its largest absolute tap."""
    return h.abs().argmax(-1)


def energy_decay_db(h: Tensor) -> Tensor:
    """Schroeder energy decay curve in dB re its start: ``10 log10(sum_{tau >= t} h^2 / sum h^2)``, ``(..., L)``."""
    e = h.to(torch.float64).pow(2).flip(-1).cumsum(-1).flip(-1)
    return 10.0 * torch.log10(e.clamp_min(1e-300) / e[..., :1].clamp_min(1e-300))


def rt60(h: Tensor, sample_rate: int, start_db: float = -5.0, stop_db: float = -25.0) -> Tensor:
    """Reverberation time of impulse responses ``(..., L)`` in seconds, from the Schroeder decay curve.

    A least-squares line is fitted to the energy decay curve where it lies between ``start_db`` and ``stop_db``
    (default T20: -5 to -25 dB) and extrapolated to a 60 dB decay: ``RT60 = -60 / slope``. Returns NaN where
    the curve never reaches ``stop_db`` (an impulse response too short to measure).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> h = synthetic_rir(torch.tensor([0.6]), torch.tensor([5.0]), torch.randn(1, 16000, generator=g), 16000)
        >>> abs(float(rt60(h, 16000)) - 0.6) < 0.06
        True
    """
    edc = energy_decay_db(h)
    t = torch.arange(edc.shape[-1], dtype=torch.float64, device=edc.device) / sample_rate
    inside = (edc <= start_db) & (edc >= stop_db)
    w = inside.to(torch.float64)
    n = w.sum(-1)
    mt = (w * t).sum(-1) / n.clamp_min(1)
    me = (w * edc).sum(-1) / n.clamp_min(1)
    cov = (w * (t - mt[..., None]) * (edc - me[..., None])).sum(-1)
    var = (w * (t - mt[..., None]).pow(2)).sum(-1)
    slope = cov / var.clamp_min(1e-300)
    reached = (edc <= stop_db).any(-1) & (n >= 2)
    return torch.where(reached, -60.0 / slope, torch.full_like(slope, float("nan")))


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
