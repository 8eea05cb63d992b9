"""Level maths: peak and RMS per example over valid samples, normalization gains, and the clipping policy.

``peak = max |x|`` and ``rms = sqrt(mean x^2)`` are taken over the valid samples of an example (all channels
together). Normalizing to ``peak_db`` multiplies the example by ``10^(peak_db / 20) / peak`` (to ``rms_db``:
``10^(rms_db / 20) / rms``), so the result hits the target exactly (dB re full scale 1.0).
"""

from __future__ import annotations

import torch
from torch import Tensor

from audionoise.kernels.loopable import CLIP_POLICIES
from audionoise.functional._checks import expand_to, valid_mask
from audionoise.functional.snr import _power

#: what to do with samples beyond full scale [-1, 1] (see :func:`handle_clipping`)


def peak(x: Tensor, lengths: Tensor | None = None) -> Tensor:
    """``max |x|`` per example of a batch ``(batch, ..., T)`` over its valid samples (0 for none)."""
    b = x.shape[0]
    a = x.abs()
    if lengths is not None:
        a = a * expand_to(valid_mask(lengths, x.shape[-1], x.device), a)
    return a.reshape(b, -1).amax(1) if a[0].numel() else torch.zeros(b, dtype=x.dtype, device=x.device)


def level(x: Tensor, lengths: Tensor | None, kind: str) -> Tensor:
    """``"peak"`` (``max |x|``) or ``"rms"`` (``sqrt(mean x^2)``) per example over valid samples, float32."""
    if kind == "peak":
        return peak(x, lengths).float()
    if kind == "rms":
        return _power(x, valid_mask(lengths, x.shape[-1], x.device)).float().sqrt()
    raise ValueError(f"kind must be 'peak' or 'rms', got {kind!r}")


def level_gain(x: Tensor, lengths: Tensor | None, peak_db: float | None = None,
               rms_db: float | None = None) -> tuple[Tensor, Tensor]:
    """Per-example gains ``(batch,)`` that bring the peak (or the RMS) of ``x`` to ``peak_db`` (``rms_db``) dBFS.

    Exactly one target must be given. Returns ``(gain, has_signal)``: an example with no signal (level 0) gets
    gain 1 and ``has_signal`` false. The gain depends on ``x`` and is differentiable (``max`` passes the gradient to
    the peak sample).

    Example:
        >>> level_gain(torch.tensor([[0.5, -0.25], [0.0, 0.0]]), None, peak_db=0.0)
        (tensor([2., 1.]), tensor([ True, False]))
    """
    if (peak_db is None) == (rms_db is None):
        raise ValueError("give exactly one of peak_db and rms_db")
    lvl = level(x, lengths, "peak" if peak_db is not None else "rms")
    target = 10.0 ** ((peak_db if peak_db is not None else rms_db) / 20.0)
    ok = lvl > 0
    return torch.where(ok, target / torch.where(ok, lvl, torch.ones_like(lvl)), torch.ones_like(lvl)), ok


def handle_clipping(x: Tensor, policy: str, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Apply a clipping policy to a batch ``(batch, ..., T)`` before it is written as fixed-point audio.

    ``"clip"``: clamp every sample to [-1, 1]; ``"normalize"``: scale each example whose peak (valid samples)
    exceeds 1 by ``1 / peak`` (its waveform keeps its shape, it gets quieter); ``"error"``: raise ``ValueError``
    if any example exceeds 1. Examples within full scale are returned unchanged in every policy.

    Returns:
        ``(y, over)``: the result and a ``(batch,)`` boolean tensor of the examples that exceeded full scale.

    Example:
        >>> y, over = handle_clipping(torch.tensor([[2.0, -1.0], [0.5, 0.1]]), "normalize")
        >>> y, over
        (tensor([[ 1.0000, -0.5000],
                [ 0.5000,  0.1000]]), tensor([ True, False]))
    """
    if policy not in CLIP_POLICIES:
        raise ValueError(f"clipping policy must be one of {list(CLIP_POLICIES)}, got {policy!r}")
    pk = peak(x, lengths)
    over = pk > 1.0
    if policy == "error":
        if bool(over.any()):
            worst = float(pk.max())
            raise ValueError(f"{int(over.sum())} example(s) exceed full scale (peak {worst:.3f} = "
                             f"{20 * torch.log10(torch.tensor(worst)).item():+.2f} dBFS); lower the gain, or choose the "
                             f"'clip' or 'normalize' policy")
        return x, over
    if policy == "clip":
        return x.clamp(-1.0, 1.0), over
    scale = torch.where(over, 1.0 / pk.clamp_min(1.0), torch.ones_like(pk))
    return x * scale.view(-1, *([1] * (x.dim() - 1))).to(x.dtype), over
