"""Time and frequency stretching of spectrograms (VTLP-like warping), as a pure function."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def warp_spectrogram(spec: Tensor, freq_scale: Tensor, time_scale: Tensor) -> Tensor:
    """Stretch each spectrogram ``(batch, freq, frames)`` along both axes, anchored at bin 0 and frame 0.

    Output bin ``f`` and frame ``t`` take the (bilinearly interpolated) input at ``f / freq_scale`` and
    ``t / time_scale``: a scale above 1 moves content to higher bins (a shorter vocal tract) or later frames
    (slower speech); what falls outside the input is 0 (the mean of normalised features).

    Example:
        >>> s = torch.arange(4.0).repeat(1, 2, 1)  # (1, 2, 4): frames 0 1 2 3
        >>> warp_spectrogram(s, torch.tensor([1.0]), torch.tensor([2.0]))[0, 0]
        tensor([0.0000, 0.5000, 1.0000, 1.5000])
    """
    b, f, t = spec.shape
    dev, dtype = spec.device, spec.dtype
    # normalised output coordinates in [-1, 1] (align_corners=True: -1 and 1 are the first/last bin centres)
    v = torch.linspace(-1.0, 1.0, f, device=dev, dtype=dtype) if f > 1 else torch.full((1,), -1.0, device=dev)
    u = torch.linspace(-1.0, 1.0, t, device=dev, dtype=dtype) if t > 1 else torch.full((1,), -1.0, device=dev)
    fs = freq_scale.to(dev, dtype).view(b, 1, 1)
    ts = time_scale.to(dev, dtype).view(b, 1, 1)
    y_in = (v.view(1, f, 1) + 1.0) / fs - 1.0
    x_in = (u.view(1, 1, t) + 1.0) / ts - 1.0
    grid = torch.stack(torch.broadcast_tensors(x_in, y_in), dim=-1)  # (b, f, t, 2) as (x=time, y=freq)
    out = F.grid_sample(spec.unsqueeze(1), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.squeeze(1)
