"""Short noise bursts added to a signal, each at an exact SNR measured over its own span (pure functions).

A burst ``k`` of example ``b`` covers the samples ``[s, s + d)`` (its span) and adds ``g * e[j] * w[j]`` there
(``w``: a noise window, ``e``: :func:`burst_envelope`, fades included). Its gain makes the SNR over the span, all
channels together, equal its target::

    P_s = sum_c sum_{t in span} x[b, c, t]**2 / (C * d)       P_w = sum_{j < d} (e[j] * w[j])**2 / d
    g   = sqrt(P_s / P_w) * 10**(-snr / 20)   =>   10*log10(P_s / P_{g e w}) == snr

The faded edges belong to the span and count in ``P_w``: the SNR is that of what is actually added. Where the
signal is silent over the span (``P_s <= 1e-30``) the power of the whole example (valid samples, all channels)
takes its place; where the whole example is silent too, nothing is added. Samples outside every span are returned
unchanged, bit for bit; bursts that overlap are each scaled against the clean signal and summed.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor

from audionoise.functional._checks import as_batch, check_finite, check_lengths, check_waveform
from audionoise.functional.snr import LN10_OVER_20, TINY_POWER, gain_scalar

__all__ = ["add_bursts", "burst_envelope"]

_LOW = (torch.float16, torch.bfloat16)


def burst_envelope(durations: Tensor, length: int, fade: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``(..., length)`` gain of bursts of ``durations`` samples: raised-cosine ramps at both ends, 0 after.

    With ``d`` a burst's duration and ``F = min(fade, d // 2)`` its ramp length::

        r(i)   = sin(pi/2 * (i + 1/2) / F)**2   for i < F,   1 otherwise
        env[j] = r(j) * r(d - 1 - j)            for j < d,   0 for j >= d

    Every sample of the burst gets a gain > 0 (the ramps are sampled at half-integer points), the ramps are
    symmetric and complementary (``r(i) + r(F - 1 - i) == 1``), and ``fade = 0`` gives a rectangular burst.

    Example:
        >>> [round(v, 4) for v in burst_envelope(torch.tensor(6), 8, 2).tolist()]
        [0.1464, 0.8536, 1.0, 1.0, 0.8536, 0.1464, 0.0, 0.0]
    """
    shape = tuple(durations.shape)
    d = durations.reshape(-1).long()
    env = torch.ones(d.shape[0], int(length), dtype=dtype, device=durations.device)
    _shape(env, d, int(fade), torch.arange(int(length), device=d.device) >= d[:, None])
    return env.view(*shape, int(length))


def _shape(w: Tensor, durations: Tensor, fade: int, outside: Tensor) -> None:
    """Multiply the ``(E, D)`` windows ``w`` in place by :func:`burst_envelope` of ``durations`` ``(E,)``;
    ``outside`` is ``arange(D) >= durations[:, None]``. Only the ramps' samples are evaluated."""
    w.masked_fill_(outside, 0.0)
    f = min(fade, w.shape[-1])
    if f <= 0:
        return
    d = durations[:, None]
    ramp = torch.clamp(d // 2, max=fade).double()  # (E, 1): F of each burst
    i = torch.arange(f, device=w.device)
    rise = torch.where(i < ramp, torch.sin((math.pi / 2) * (i + 0.5) / ramp.clamp_min(1.0)).square(), 1.0).to(w.dtype)
    w[..., :f] *= rise
    # the falling ramp r(d - 1 - j): sample j = d - 1 - i gets rise[i] (1 for i >= F: those products change nothing)
    w.scatter_reduce_(1, (d - 1 - i).clamp_(min=0), rise, "prod")


def add_bursts(x: Tensor, noise: Tensor, starts: Tensor, durations: Tensor, snr_db: Tensor | float,
               lengths: Tensor | None = None, fade: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Add ``K`` bursts per example, burst ``k`` of example ``b`` on ``[starts[b, k], starts[b, k] + durations[b, k])``
    scaled to ``snr_db[b, k]`` over that span (see the module docstring for the maths).

    Args:
        x: ``(time,)``, ``(batch, time)`` or ``(batch, channels, time)``; the same burst goes to every channel.
        noise: ``(batch, K, D)`` noise windows (``(K, D)`` for a 1-D ``x``); sample ``j < durations`` of a window,
            times :func:`burst_envelope`, lands on ``starts + j``; the samples from ``durations`` on are not used.
        starts, durations: ``(batch, K)`` integers (``(K,)`` for 1-D ``x``), ``0 <= durations <= D`` and
            ``starts + durations <= lengths`` (or the time axis); a duration of 0 is no burst.
        snr_db: target SNR of each burst over its span, a float or ``(batch, K)``.
        lengths: optional ``(batch,)`` valid samples (the fallback power of a silent span is measured on them).
        fade: raised-cosine ramp length in samples (see :func:`burst_envelope`; 0 = rectangular bursts).

    Returns:
        ``(y, gains, span_silent)``: ``y`` like ``x`` (float16/bfloat16 summed in float32 and cast back),
        ``gains`` ``(batch, K)`` float64 (0: nothing added), ``span_silent`` ``(batch, K)`` bool (the example's power
        was used). Gradients flow to ``x`` as the identity (the gains are constants of the augmentation).

    Example:
        >>> x = torch.ones(1, 100)
        >>> y, g, _ = add_bursts(x, torch.ones(1, 1, 10), torch.tensor([[40]]), torch.tensor([[10]]), 20.0)
        >>> round(float(g[0, 0]), 4), bool((y[0, :40] == 1).all() and (y[0, 50:] == 1).all())
        (0.1, True)
    """
    check_waveform(x)
    xb, single = as_batch(x)
    batch, t = xb.shape[0], xb.shape[-1]
    lengths = check_lengths(lengths, batch, t)
    noise, starts, durations = (v[None] if single else v for v in (noise, starts, durations))
    if noise.dim() != 3 or noise.shape[0] != batch or tuple(starts.shape) != tuple(noise.shape[:2]) \
            or tuple(durations.shape) != tuple(noise.shape[:2]):
        raise ValueError(f"noise must be (batch, K, D) = ({batch}, K, D) with starts and durations (batch, K); got "
                         f"noise {tuple(noise.shape)}, starts {tuple(starts.shape)}, durations "
                         f"{tuple(durations.shape)}")
    if starts.is_floating_point() or durations.is_floating_point():
        raise ValueError("starts and durations must be integer tensors (samples)")
    n = torch.full((batch,), t, device=xb.device) if lengths is None else lengths
    bad = (durations < 0) | (durations > noise.shape[-1]) | (starts < 0) | (starts + durations > n.to(
        starts.device)[:, None])
    if bool(bad.any()):
        b, k = (int(i) for i in bad.nonzero()[0])
        raise ValueError(f"burst {k} of example {b} (start {int(starts[b, k])}, duration {int(durations[b, k])}) "
                         f"must lie inside the {int(n[b])} valid samples and be at most D = {noise.shape[-1]} long")
    if not isinstance(fade, int) or isinstance(fade, bool) or fade < 0:
        raise ValueError(f"fade must be an integer number of samples >= 0, got {fade!r}")
    k, dev = noise.shape[1], xb.device

    def rows(v: Tensor) -> Tensor:  # (batch, K, ...) -> (K * batch, ...): slot-major rows, as burst_mix needs them
        return v.to(dev).transpose(0, 1).reshape(k * batch, *v.shape[2:])

    snr = torch.as_tensor(snr_db, dtype=torch.float64, device=dev).expand(noise.shape[:2])
    work = torch.float64 if xb.dtype == torch.float64 else torch.float32
    y, g, silent = burst_mix(xb.reshape(batch, -1, t), rows(noise.to(dev, work, copy=True)),
                             torch.arange(batch, device=dev).repeat(k), rows(starts.long()), rows(durations.long()),
                             rows(snr), lengths, fade, host=dev.type == "cpu")
    g, silent = g.view(k, batch).T, silent.view(k, batch).T
    y = y.view(xb.shape)
    return (y[0], g[0], silent[0]) if single else (y, g, silent)


def burst_mix(x: Tensor, noise: Tensor, example: Tensor, starts: Tensor, durations: Tensor, snr_db: Tensor,
              lengths: Tensor | None, fade: int = 0, host: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`add_bursts` on trusted input, one row per burst: ``x`` ``(batch, channels, time)``; ``noise``
    ``(E, D)`` (float32, float64 for a float64 ``x``; consumed: shaped and scaled in place); ``example``,
    ``starts``, ``durations``, ``snr_db`` ``(E,)``; every tensor on ``x``'s device, spans inside the valid samples.

    ``host=True`` (CPU tensors): burst by burst in Python scalars, one BLAS dot per span and channel, the gain of
    :func:`audionoise.functional.snr.gain_scalar`, with the NaN/Inf check of what is measured. ``host=False`` (GPU):
    nothing depends on the data, so nothing synchronises; the rows must then come in rounds of ``batch`` rows, row
    ``r`` for example ``r % batch`` (one burst per example and round: each round is one ``scatter_add_`` without
    repeated non-zero indices, so the result is deterministic). Returns ``(y, gains, span_silent)``, ``(E,)`` each.
    """
    b, c, t = x.shape
    e, d = noise.shape
    work = torch.float32 if x.dtype in _LOW else x.dtype
    y = x.to(work, copy=True, memory_format=torch.contiguous_format)
    valid = torch.full((b,), t, device=x.device) if lengths is None else lengths
    if e == 0 or d == 0 or t == 0:
        return y.to(x.dtype), torch.zeros(e, dtype=torch.float64, device=x.device), torch.zeros(
            e, dtype=torch.bool, device=x.device)
    mix = _host_mix if host else _device_mix
    g, silent = mix(y, x, noise, example, starts, durations, snr_db, valid, fade)
    return y.to(x.dtype), g, silent


def _host_mix(y: Tensor, x: Tensor, noise: Tensor, example: Tensor, starts: Tensor, durations: Tensor,
              snr_db: Tensor, valid: Tensor, fade: int) -> tuple[Tensor, Tensor]:
    """The CPU path of :func:`burst_mix`, burst by burst on NumPy views (~1 us an operation against a few for a
    tensor slice): every burst is measured on the clean ``y`` first, then added into its storage. The bursts are
    constants of the augmentation, so writing them through the detached view keeps ``dy/dx`` the identity."""
    c = y.shape[1]
    a, w = y.detach().numpy(), noise.numpy()
    rows = list(zip(example.tolist(), starts.tolist(), durations.tolist(), snr_db.tolist()))
    whole: dict[int, float] = {}
    gains, silent = [], []
    for r, (i, s, n, snr) in enumerate(rows):
        if n <= 0:
            gains.append(0.0)
            silent.append(False)
            continue
        f = min(fade, n // 2)
        if f:
            rise, fall = _ramps(f, w.dtype.str)
            w[r, :f] *= rise
            w[r, n - f:n] *= fall
        ps = sum(float(np.dot(ch, ch)) for ch in a[i, :, s:s + n]) / (c * n)
        quiet = ps <= TINY_POWER
        if quiet:  # the whole example's power (its valid samples)
            if i not in whole:
                m = int(valid[i])
                whole[i] = sum(float(np.dot(ch, ch)) for ch in a[i, :, :m]) / (c * max(m, 1))
            ps = whole[i]
        if not math.isfinite(ps):
            check_finite(x)  # names the bad values; huge finite values (power overflow) get no burst
        gains.append(gain_scalar(ps, float(np.dot(w[r, :n], w[r, :n])) / n, snr))
        silent.append(quiet)
    for r, ((i, s, n, _), gain) in enumerate(zip(rows, gains)):
        if gain > 0.0:
            burst = w[r, :n]
            burst *= w.dtype.type(gain)
            a[i, :, s:s + n] += burst
    return torch.tensor(gains, dtype=torch.float64), torch.tensor(silent, dtype=torch.bool)


@functools.lru_cache(maxsize=64)
def _ramps(f: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """The rising and falling ramps of :func:`burst_envelope` for a ramp of ``f`` samples, as NumPy ``dtype``
    (cached; read-only)."""
    rise = torch.sin((math.pi / 2) * (torch.arange(f, dtype=torch.float64) + 0.5) / f).square().numpy().astype(dtype)
    rise.flags.writeable = False
    fall = rise[::-1].copy()
    fall.flags.writeable = False
    return rise, fall


def _device_mix(y: Tensor, x: Tensor, noise: Tensor, example: Tensor, starts: Tensor, durations: Tensor,
                snr_db: Tensor, valid: Tensor, fade: int) -> tuple[Tensor, Tensor]:
    """The GPU path of :func:`burst_mix`: fixed shapes, prefix sums of the squares (float64, all channels) for
    the span powers (an exactly silent span gives exactly 0, the examples' powers come with them), one
    ``scatter_add_`` per round of ``batch`` rows."""
    b, c, t = y.shape
    e, d = noise.shape
    with torch.no_grad():
        j = torch.arange(d, device=y.device)
        outside = j >= durations[:, None]  # (e, d)
        _shape(noise, durations, fade, outside)
        count = durations.double().clamp_min(1.0)
        pn = torch.linalg.vector_norm(noise, dim=-1).double().square() / count
        sq = y.detach().double().square()
        cs = (sq.sum(1) if c > 1 else sq.view(b, t)).cumsum_(-1).view(-1)
        ps = (_upto(cs, t, example, starts + durations) - _upto(cs, t, example, starts)) / (c * count)
        silent = (ps <= TINY_POWER) & (durations > 0)
        whole = _upto(cs, t, torch.arange(b, device=y.device), valid) / (c * valid.double().clamp_min(1.0))
        ps = torch.where(silent, whole[example], ps)
        g = torch.sqrt(ps / pn.clamp_min(TINY_POWER)) * torch.exp(snr_db.double() * -LN10_OVER_20)
        g = g.nan_to_num_(0.0, 0.0, 0.0).masked_fill_((pn <= TINY_POWER) | (durations <= 0), 0.0)
        # x + (-0.0) == x for every x (also -0.0): past a burst's end the clamped indices leave the samples bit for bit
        vals = noise.mul_(g.to(noise.dtype)[:, None]).to(y.dtype).masked_fill_(outside, -0.0)
        idx = (starts[:, None] + j).clamp_(max=t - 1)
    for r in range(0, e, b):
        y.scatter_add_(2, idx[r:r + b, None, :].expand(b, c, d), vals[r:r + b, None, :].expand(b, c, d))
    return g, silent


def _upto(cs: Tensor, t: int, example: Tensor, i: Tensor) -> Tensor:
    """Sum of the first ``i`` squares of each row's example from the flat ``(batch * t,)`` prefix sums ``cs``."""
    return torch.where(i > 0, cs[example * t + (i - 1).clamp(min=0)], 0.0)
