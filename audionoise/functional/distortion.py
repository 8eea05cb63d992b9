"""Sample-wise distortions: hard clipping at a per-example threshold and bit-depth reduction.

Hard clipping: ``y = min(max(x, -c), c)`` with a per-example threshold ``c >= 0``. The threshold can be given in
dBFS (``c = 10^(dB / 20)``) or as the percentile ``q`` of clipped samples: the ``m = floor(n q / 100)`` valid
samples of largest magnitude (all channels of an example together, ``n`` valid samples) are clipped, ``c`` being
the ``(m + 1)``-th largest magnitude (:func:`clip_threshold`); with distinct magnitudes exactly ``m`` samples
exceed ``c``. The clipped fraction is measured, never assumed (:func:`clipped_fraction`).

Bit crushing: B-bit PCM, ``y = clamp(round(x 2^(B-1)), -2^(B-1), 2^(B-1) - 1) / 2^(B-1)``: a step of
``2^(1-B)`` and at most ``2^B`` distinct output values in ``[-1, 1 - 2^(1-B)]`` (what writing the example as
B-bit PCM and reading it back gives).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from audionoise.functional._checks import expand_to, per_example, valid_mask


def _valid_counts(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Valid samples per example, all channels together, as int64 ``(batch,)``."""
    per_channel = x[0].numel() // max(x.shape[-1], 1) if x.shape[0] else 1
    if lengths is None:
        return torch.full((x.shape[0],), x[0].numel() if x.shape[0] else 0, dtype=torch.int64)
    return lengths.to("cpu", torch.int64) * per_channel


def clip_threshold(x: Tensor, percentile: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Per-example thresholds ``c`` that clip ``floor(n percentile / 100)`` samples of each example.

    ``c`` is the ``(m + 1)``-th largest ``|x|`` over the ``n`` valid samples of the example (all channels),
    ``m = floor(n percentile / 100)``: ``m = 0`` gives the peak (nothing clipped). An example with no valid
    sample gets 0. On CPU each example is one ``numpy.partition`` (linear time); elsewhere one batched sort.

    Args:
        x: ``(batch, time)`` or ``(batch, channels, time)``.
        percentile: ``(batch,)`` in ``[0, 100)``.
        lengths: optional ``(batch,)`` valid samples.

    Returns:
        ``(batch,)`` thresholds in ``x``'s dtype (no gradient: the threshold is a constant of the augmentation).

    Example:
        >>> clip_threshold(torch.tensor([[0.1, -0.4, 0.3, 0.2]]), torch.tensor([25.0]))
        tensor([0.3000])
    """
    b = x.shape[0]
    n = _valid_counts(x, lengths)
    m = torch.floor(n.double() * percentile.detach().cpu().double() / 100.0).long().clamp_max(n - 1).clamp_min(0)
    a = x.detach().abs()
    if x.device.type == "cpu":
        out = np.zeros(b, dtype=np.float64)
        arr = a.numpy() if a.dtype not in (torch.float16, torch.bfloat16) else a.float().numpy()
        valid = [x.shape[-1]] * b if lengths is None else lengths.tolist()
        for i, (ni, mi, t) in enumerate(zip(n.tolist(), m.tolist(), valid)):
            if ni == 0:
                continue
            row = arr[i][..., :t].reshape(-1)
            k = ni - mi - 1
            out[i] = np.partition(row, k)[k] if mi > 0 else row.max()
        return torch.from_numpy(out).to(x.dtype)
    return _sorted_threshold(a, n, m, lengths)


def _sorted_threshold(a: Tensor, n: Tensor, m: Tensor, lengths: Tensor | None) -> Tensor:
    """:func:`clip_threshold` by one batched sort of the magnitudes ``a`` (the path for GPUs)."""
    b = a.shape[0]
    flat = a.reshape(b, -1)
    mask = valid_mask(lengths, a.shape[-1], a.device)
    if mask is not None:
        flat = a.masked_fill(~expand_to(mask, a), -1.0).reshape(b, -1)
    ordered = torch.sort(flat, dim=1).values  # padding (-1) first, then the valid magnitudes ascending
    n_dev, m_dev = n.to(a.device), m.to(a.device)
    c = ordered.gather(1, (flat.shape[1] - 1 - m_dev).clamp_min(0)[:, None])[:, 0]
    return torch.where(n_dev > 0, c, torch.zeros_like(c))


def hard_clip(x: Tensor, threshold: Tensor) -> Tensor:
    """``min(max(x, -c), c)`` with ``c = threshold[b]`` per example (``threshold`` ``(batch,)``, ``>= 0``).

    Differentiable in ``x`` (gradient 1 inside ``[-c, c]``, 0 where clipped).

    Example:
        >>> hard_clip(torch.tensor([[0.5, -0.9, 0.1]]), torch.tensor([0.25]))
        tensor([[ 0.2500, -0.2500,  0.1000]])
    """
    c = per_example(threshold.to(x.device, x.dtype), x)
    return torch.minimum(torch.maximum(x, -c), c)


def clipped_fraction(x: Tensor, threshold: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Fraction of each example's valid samples with ``|x| > threshold`` (0 for an example with none), float64."""
    over = x.detach().abs() > per_example(threshold.to(x.device, x.dtype), x)
    mask = valid_mask(lengths, x.shape[-1], x.device)
    if mask is not None:
        over = over & expand_to(mask, over)
    count = over.reshape(x.shape[0], -1).sum(1)
    n = _valid_counts(x, lengths).to(x.device)
    return count.double() / n.clamp_min(1).double()


def bit_crush(x: Tensor, bits: Tensor) -> Tensor:
    """Quantise each example to ``bits[b]``-bit PCM (``bits`` ``(batch,)`` integers >= 1): see the module docstring.

    Samples beyond full scale saturate (as in a PCM file). Straight-through gradient: the backward pass treats the
    quantisation error as additive noise (gradient 1). NaN passes through (nothing spreads).

    Example:
        >>> bit_crush(torch.tensor([[0.3, -0.8, 1.0]]), torch.tensor([2]))
        tensor([[ 0.5000, -1.0000,  0.5000]])
    """
    if x.dtype in (torch.float16, torch.bfloat16):  # 2^15 steps do not fit their mantissa: quantise in float32
        return bit_crush(x.float(), bits).to(x.dtype)
    steps = torch.pow(2.0, bits.to(x.device, torch.float64) - 1.0)
    scale = per_example(steps.to(x.dtype), x)
    grad = x.requires_grad and torch.is_grad_enabled()
    q = x * scale
    if grad:
        q = torch.minimum(torch.maximum(torch.round(q), -scale), scale - 1.0) / scale
    else:  # the same operations in place: one buffer
        q.round_()
        if q.device.type == "cpu":  # scalar clamps on the rows that reach the limits: broadcast bounds cost 5x
            flat = q.view(q.shape[0], -1) if q.is_contiguous() else q.reshape(q.shape[0], -1)
            tops = steps.tolist()
            high, low = flat.amax(1).tolist(), flat.amin(1).tolist()
            for b, top in enumerate(tops):
                if high[b] > top - 1.0 or low[b] < -top:
                    q[b].clamp_(-top, top - 1.0)
        else:
            q.clamp_(-scale, scale - 1.0)
        q.mul_(torch.reciprocal(scale))  # a power of two: the reciprocal is exact
    return x + (q - x).detach() if grad else q
