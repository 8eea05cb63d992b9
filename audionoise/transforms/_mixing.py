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
                     snr_reference: str) -> tuple[Tensor, dict[str, Tensor]]:
    """``x + g * noise`` per example with ``g`` from :func:`snr_gain`, and ``g = 0`` where not applied.

    ``noise`` must already be zero in the padding. Returns the mix and the record info
    ``{"noise_added": bool, "noise_rms": float}`` per example (``noise_added`` is false for a silent signal or an
    all-zero noise: the SNR is undefined there, so nothing is added).
    """
    g = snr_gain(x, noise, snr_db.to(x.device), lengths, snr_reference)
    g = torch.where(applied.to(x.device), g, torch.zeros_like(g))
    y = torch.addcmul(x, noise, per_example(g.to(x.dtype), noise))
    return y, {"noise_added": g > 0}
