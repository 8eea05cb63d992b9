"""Masks: zero (or fill) intervals of time in waveforms and spectrograms, or bands of frequency bins."""

from __future__ import annotations

import torch
from torch import Tensor

from audionoise.functional._checks import as_batch, check_waveform, expand_to


def _interval_mask(starts: Tensor, widths: Tensor, size: int) -> Tensor:
    """``(batch, size)`` boolean mask, true inside any ``[start, start + width)`` of the example.

    ``starts`` and ``widths`` are ``(batch, num_masks)`` integer tensors.
    """
    pos = torch.arange(size, device=starts.device).view(1, 1, -1)
    s = starts.unsqueeze(-1)
    inside = (pos >= s) & (pos < s + widths.unsqueeze(-1))
    return inside.any(dim=1)


def _fade_gain(starts: Tensor, widths: Tensor, size: int, fade: int) -> Tensor:
    """``(batch, size)`` multiplier: 0 inside masks, linear ramps of ``fade`` samples at their inner edges."""
    pos = torch.arange(size, device=starts.device, dtype=torch.float32).view(1, 1, -1)
    s = starts.unsqueeze(-1).float()
    e = (starts + widths).unsqueeze(-1).float()
    depth = torch.minimum(pos - s + 1, e - pos)  # >= 1 inside the mask, <= 0 outside
    depth = torch.where(widths.unsqueeze(-1) > 0, depth, torch.zeros_like(depth))
    gain = (1.0 - depth / max(fade, 1)).clamp(0.0, 1.0)
    return gain.prod(dim=1)


def time_mask(x: Tensor, starts: Tensor, widths: Tensor, lengths: Tensor | None = None, fade: int = 0,
              fill: float = 0.0) -> Tensor:
    """Set ``x[b, ..., start:start+width]`` to ``fill`` for every mask of every example (a new tensor).

    Args:
        x: waveform ``(batch, time)`` / ``(batch, channels, time)`` or spectrogram ``(batch, ..., freq, frames)``
            (masks apply to the last axis); 1-D is one example.
        starts, widths: ``(batch,)`` or ``(batch, num_masks)`` integer tensors in samples (frames). Zero width
            masks nothing.
        lengths: optional ``(batch,)`` valid samples: masks are clipped to them, so padding is never written.
        fade: linear fade length in samples at each inner edge of a mask (0 = hard edges). Requires ``fill=0``.
        fill: value written inside the masks.

    Example:
        >>> time_mask(torch.ones(1, 6), torch.tensor([2]), torch.tensor([3]))
        tensor([[1., 1., 0., 0., 0., 1.]])
    """
    check_waveform(x)
    xb, single = as_batch(x)
    starts, widths = _as_masks(starts, widths, xb.shape[0])
    if lengths is not None:
        lengths = torch.as_tensor(lengths, device=starts.device).long()
        end = torch.minimum(starts + widths, lengths[:, None])
        widths = (end - starts).clamp_min(0)
    if fade > 0 and fill != 0.0:
        raise ValueError("fade > 0 needs fill == 0.0 (a fade is a gain ramp towards silence)")
    y = masked_copy(xb, starts, widths, fade, fill)
    return y[0] if single else y


def masked_copy(x: Tensor, starts: Tensor, widths: Tensor, fade: int = 0, fill: float = 0.0) -> Tensor:
    """:func:`time_mask` on trusted input: ``x`` batched, ``starts``/``widths`` ``(batch, num_masks)`` inside x.

    On CPU, without autograd, the copy is filled one interval at a time through a NumPy view (a slice
    assignment costs ~0.4 us there against ~2.5 us for a torch slice): per-example intervals beat a dense
    ``(batch, time)`` mask by ~3x. With autograd, or on other devices, a dense mask is used (no host sync).
    """
    if fade > 0:
        return x * expand_to(_fade_gain(starts, widths, x.shape[-1], fade).to(x.dtype), x)
    if x.device.type == "cpu" and not (x.requires_grad and torch.is_grad_enabled()) and x.dtype != torch.bfloat16:
        y = x.clone()
        a = y.numpy()
        for b, (s_row, w_row) in enumerate(zip(starts.tolist(), widths.tolist())):
            for s, w in zip(s_row, w_row):
                if w > 0:
                    a[b, ..., s:s + w] = fill
        return y
    return x.masked_fill(expand_to(_interval_mask(starts, widths, x.shape[-1]), x), fill)


def freq_mask(spec: Tensor, starts: Tensor, widths: Tensor, fill: float = 0.0,
              lengths: Tensor | None = None) -> Tensor:
    """Set frequency bins ``[start, start+width)`` of a spectrogram ``(batch, ..., freq, frames)`` to ``fill``.

    With ``lengths`` (valid frames per example) the padding frames are left untouched.

    Example:
        >>> freq_mask(torch.ones(1, 4, 2), torch.tensor([1]), torch.tensor([2]))[0, :, 0]
        tensor([1., 0., 0., 1.])
    """
    xb, starts, widths = _spec_batch(spec, starts, widths)
    band = _interval_mask(starts, widths, xb.shape[-2])  # (batch, freq)
    band = band.view(band.shape[0], *([1] * (xb.dim() - 3)), band.shape[-1], 1)
    if lengths is not None:
        frames = torch.arange(xb.shape[-1], device=xb.device) < lengths.to(xb.device).view(-1, 1)
        band = band & frames.view(frames.shape[0], *([1] * (xb.dim() - 2)), frames.shape[-1])
    y = xb.masked_fill(band, fill)
    return y if spec.dim() > 2 else y[0]


def spec_time_mask(spec: Tensor, starts: Tensor, widths: Tensor, fill: float = 0.0) -> Tensor:
    """Set frames ``[start, start+width)`` of a spectrogram ``(batch, ..., freq, frames)`` to ``fill``."""
    xb, starts, widths = _spec_batch(spec, starts, widths)
    frames = _interval_mask(starts, widths, xb.shape[-1])  # (batch, frames)
    frames = frames.view(frames.shape[0], *([1] * (xb.dim() - 2)), frames.shape[-1])
    y = xb.masked_fill(frames, fill)
    return y if spec.dim() > 2 else y[0]


def _spec_batch(spec: Tensor, starts: Tensor, widths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Validate a spectrogram; return it with a batch axis, and the masks as ``(batch, num_masks)``."""
    check_waveform(spec, "spec")
    if spec.dim() < 2:
        raise ValueError(f"spec must be (..., freq, frames), got shape {tuple(spec.shape)}")
    xb = spec if spec.dim() > 2 else spec[None]
    return (xb, *_as_masks(starts, widths, xb.shape[0]))


def _as_masks(starts: Tensor, widths: Tensor, batch: int) -> tuple[Tensor, Tensor]:
    starts = torch.as_tensor(starts).long()
    widths = torch.as_tensor(widths).long()
    if starts.dim() == 0:
        starts, widths = starts.view(1, 1), widths.view(1, 1)
    if starts.dim() == 1:
        starts, widths = starts[:, None], widths[:, None]
    if starts.shape != widths.shape or starts.shape[0] != batch:
        raise ValueError(f"starts {tuple(starts.shape)} and widths {tuple(widths.shape)} must both be "
                         f"({batch},) or ({batch}, num_masks)")
    return starts, widths
