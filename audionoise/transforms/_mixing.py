"""Shared apply step of the SNR-based injectors (white, coloured and background noise)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from audionoise.functional._checks import check_finite, per_example
from audionoise.functional.snr import SNR_REFERENCES, _power, gain_for_snr, gain_scalar, signal_mask
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


def _rows(t: Tensor) -> np.ndarray:
    """A CPU tensor as a NumPy ``(batch, -1)`` view (a copy only if it is not contiguous)."""
    a = (t.detach() if t.requires_grad else t).numpy()
    return a.reshape(a.shape[0], -1)


def _cpu_gains(x: Tensor, noise: Tensor, snr_db: list[float], applied: list[bool]) -> Tensor:
    """The gains of :func:`add_scaled_noise` for unpadded CPU batches, in Python scalars.

    :func:`audionoise.functional.snr.gain_scalar` per row on float64 powers, each power one BLAS dot: a
    per-example call spends ~3 us here against ~25 us as a dozen small tensor operations. Also the NaN/Inf check
    (a power is finite whenever its row is).
    """
    xa, na = _rows(x), _rows(noise)
    n = max(xa.shape[1], 1)
    gains = []
    for r, q, snr, on in zip(xa, na, snr_db, applied):
        ps = float(np.dot(r, r)) / n
        if not math.isfinite(ps):
            check_finite(x)  # names the bad values; a huge finite row (power overflow) gets no noise
        gains.append(gain_scalar(ps, float(np.dot(q, q)) / n, snr) if on else 0.0)
    return torch.from_numpy(np.array(gains, dtype=np.float64 if x.dtype == torch.float64 else np.float32))


def mix_cpu(x: Tensor, noise: Tensor, snr_db: list[float], applied: list[bool]) -> Tensor:
    """:func:`add_scaled_noise` for an unpadded float32/float64 CPU batch that needs no gradient, with the
    parameters as Python lists: ``x + g * noise`` written into ``noise`` (which the caller owns)."""
    scale = per_example(_cpu_gains(x, noise, snr_db, applied), noise)
    return torch.addcmul(x, noise, scale, out=noise)


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
        g = _cpu_gains(x, noise, snr_db.tolist(), applied.tolist())
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
