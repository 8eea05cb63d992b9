"""Shared apply step of the SNR-based injectors (white, coloured and background noise)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from audionoise.functional._checks import check_finite, per_example
from audionoise.functional.snr import SNR_REFERENCES, gain_for_snr, signal_mask, _power
from audionoise.transforms.base import needs_grad

#: dtypes whose powers, gains and sums are computed in float32 (then cast back), so the SNR stays exact
LOW_PRECISION = (torch.float16, torch.bfloat16)


def check_snr_reference(snr_reference: str) -> str:
    if snr_reference not in SNR_REFERENCES:
        raise ValueError(f"snr_reference must be one of {list(SNR_REFERENCES)}, got {snr_reference!r}")
    return snr_reference


def signal_power(x: Tensor, lengths: Tensor | None, snr_reference: str) -> tuple[Tensor, Tensor | None]:
    """Per-example power of ``x`` over the SNR reference samples, and the mask used (``None``: all samples).

    Also the NaN/Inf check of the noise injectors: the power is a sum over every sample, so it is finite whenever
    the input is (checked on CPU only; on GPU the check would sync with the host).
    """
    mask = signal_mask(x, lengths, snr_reference)
    ps = _power(x, mask)
    if ps.device.type == "cpu" and ps.numel() and not math.isfinite(float(ps.sum())):
        check_finite(x)  # names the bad values; huge finite values (power overflow) pass and get no noise
    return ps, mask


def add_scaled_noise(x: Tensor, noise: Tensor, snr_db: Tensor, applied: Tensor, lengths: Tensor | None,
                     snr_reference: str, owned: bool = False) -> tuple[Tensor, dict[str, Tensor]]:
    """``x + g * noise`` per example with ``g`` from :func:`gain_for_snr`, and ``g = 0`` where not applied.

    ``noise`` must already be zero in the padding; it may be float32 under a float16/bfloat16 ``x`` (powers,
    gains and the sum are then formed in float32 and the result cast back to ``x.dtype``). Returns the mix and
    the record info ``{"noise_added": bool}`` per example (false for a silent signal or an all-zero noise: the
    SNR is undefined there, so nothing is added).

    Autograd: the scaled noise is a constant of the augmentation (the gain, a function of the signal's power,
    is detached), so ``dy/dx`` is the identity; :func:`audionoise.functional.mix_at_snr` is the variant that
    differentiates through the gain. With nothing to differentiate, grad and no-grad calls give identical
    values (the gain is formed the same way in both). ``owned=True`` lets the mix be written into ``noise`` (which the caller must own)
    when nothing needs a gradient: one batch-sized allocation less per call.
    """
    with torch.no_grad():
        ps, mask = signal_power(x, lengths, snr_reference)
        pn = _power(noise, mask)
    g = gain_for_snr(ps, pn, snr_db.to(ps.device)) * applied.to(ps.device)
    info = {"noise_added": g > 0}
    if x.dtype in LOW_PRECISION:
        y = (x.float() + per_example(g.float(), noise) * noise.float()).to(x.dtype)
        return y, info
    scale = per_example(g.to(x.dtype), noise)
    if owned and noise.shape == x.shape and noise.dtype == x.dtype and not (needs_grad(x) or needs_grad(noise)):
        return torch.addcmul(x, noise, scale, out=noise), info
    return torch.addcmul(x, noise, scale), info
