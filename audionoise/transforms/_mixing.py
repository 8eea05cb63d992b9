"""Shared apply step of the SNR-based injectors (white, coloured and background noise)."""

from __future__ import annotations

import torch
from torch import Tensor

from audionoise.functional._checks import per_example
from audionoise.functional.snr import SNR_REFERENCES, snr_gain


def check_snr_reference(snr_reference: str) -> str:
    if snr_reference not in SNR_REFERENCES:
        raise ValueError(f"snr_reference must be one of {list(SNR_REFERENCES)}, got {snr_reference!r}")
    return snr_reference


def add_scaled_noise(x: Tensor, noise: Tensor, snr_db: Tensor, applied: Tensor, lengths: Tensor | None,
                     snr_reference: str, reuse_noise: bool = False) -> tuple[Tensor, dict[str, Tensor]]:
    """``x + g * noise`` per example with ``g`` from :func:`snr_gain`, and ``g = 0`` where not applied.

    ``noise`` must already be zero in the padding. Returns the mix and the record info
    ``{"noise_added": bool, "noise_rms": float}`` per example (``noise_added`` is false for a silent signal or an
    all-zero noise: the SNR is undefined there, so nothing is added).

    ``reuse_noise=True`` writes the mix into ``noise`` (which the caller must own and not use again) when it has
    the shape and dtype of ``x``: one batch-sized allocation less per call, which on CPU also saves its page
    faults (~1000 per 4 MB when the allocator returns memory to the OS between calls).
    """
    g = snr_gain(x, noise, snr_db.to(x.device), lengths, snr_reference)
    g = torch.where(applied.to(x.device), g, torch.zeros_like(g))
    scale = per_example(g.to(x.dtype), noise)
    if reuse_noise and noise.shape == x.shape and noise.dtype == x.dtype and not noise.requires_grad:
        y = torch.addcmul(x, noise, scale, out=noise)
    else:
        y = torch.addcmul(x, noise, scale)
    return y, {"noise_added": g > 0}
