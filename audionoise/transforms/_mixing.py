"""Shared apply step of the SNR-based injectors (white, coloured and background noise)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from audionoise.functional._checks import check_finite, per_example
from audionoise.functional.snr import SNR_REFERENCES, _power, gain_for_snr, gain_numpy, signal_mask
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


def _cpu_gains(x: Tensor, noise: Tensor, snr_db: Tensor, applied: Tensor) -> Tensor:
    """The gains of :func:`add_scaled_noise` for unpadded CPU batches, in one NumPy pass.

    Same formula as :func:`audionoise.functional.snr.gain_for_snr` (float64 maths on float32/float64 powers),
    with the powers as one BLAS dot per row: a per-example call spends ~5 us here against ~25 us as a dozen
    small tensor operations. Also the NaN/Inf check (a power is finite whenever its row is).
    """
    xa = x.detach().reshape(x.shape[0], -1).numpy()
    na = noise.detach().reshape(noise.shape[0], -1).numpy()
    ps = np.array([np.dot(r, r) for r in xa], dtype=np.float64) / max(xa.shape[1], 1)
    if not np.isfinite(ps).all():
        check_finite(x)
    pn = np.array([np.dot(r, r) for r in na], dtype=np.float64) / max(na.shape[1], 1)
    g = gain_numpy(ps, pn, snr_db.numpy()) * applied.numpy()
    return torch.from_numpy(g.astype(np.float32 if x.dtype != torch.float64 else np.float64))


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
    if x.device.type == "cpu" and lengths is None and snr_reference == "full" and x.dtype not in LOW_PRECISION:
        g = _cpu_gains(x, noise, snr_db, applied)
    else:
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
