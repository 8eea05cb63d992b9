"""Argument checks shared by the functional core (no maths here)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

#: Attribute that :func:`audionoise.io.load` sets on the ``(channels, time)`` tensors it returns, so that a
#: multichannel file passed straight to an injector (which reads 2-D as a batch of mono clips) is an error.
from audionoise.io._tags import CHANNELS_FIRST_TAG  # noqa: E402,F401 - torch-free home (audionoise.io)


def check_waveform(x: Tensor, name: str = "x") -> None:
    """Raise ``ValueError`` unless ``x`` is a floating tensor with a time axis."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor (float32 audio), got dtype {x.dtype}; "
                         f"convert with x.float() / 32768 for int16 PCM")
    if x.dim() < 1:
        raise ValueError(f"{name} must have a time axis, got a 0-d tensor")


def check_finite(x: Tensor, name: str = "x") -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or Inf.

    Only CPU tensors are checked: on CUDA the check would force a host-device sync in the hot path. The sum of
    a tensor is finite whenever all its elements are (NaN and Inf propagate), so one cheap reduction clears the
    common case; only a non-finite sum (or an overflow of huge values) pays for the elementwise check.
    """
    if x.device.type != "cpu" or x.numel() == 0 or bool(torch.isfinite(x.sum())):
        return
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or Inf); clean or drop this input "
                         f"before augmenting")


def check_not_generator(lengths: Any, who: str) -> None:
    """``ValueError`` naming ``generator=`` when a ``torch.Generator`` came in the place of ``lengths`` (``t(x, g)``,
    the natural guess for the second positional argument of an injector or pipeline)."""
    if isinstance(lengths, torch.Generator):
        raise ValueError(f"{who}: the second positional argument is lengths, got a torch.Generator; pass the "
                         f"generator by keyword, t(x, generator=g), or after the lengths, t(x, lengths, g)")


def check_lengths(lengths: Tensor | None, batch: int, time: int, name: str = "lengths") -> Tensor | None:
    """Validate ``lengths`` (valid samples/frames per example) and return it as an int64 tensor."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(f"{name} must have shape ({batch},) (one entry per example), got {tuple(lengths.shape)}")
    if lengths.is_floating_point():
        raise ValueError(f"{name} must be an integer tensor, got dtype {lengths.dtype}")
    if lengths.device.type == "cpu" and lengths.numel() and (
            int(lengths.min()) < 0 or int(lengths.max()) > time):
        raise ValueError(f"{name} must lie in [0, {time}] (the time axis), got min {int(lengths.min())} "
                         f"max {int(lengths.max())}")
    return lengths.long()


def valid_mask(lengths: Tensor | None, time: int, device: torch.device) -> Tensor | None:
    """``(batch, time)`` boolean mask of valid samples, or ``None`` when every sample is valid."""
    if lengths is None:
        return None
    mask = torch.arange(time, device=device) < lengths.to(device)[:, None]
    setattr(mask, PREFIX_TAG, lengths)  # a prefix mask: powers over it may sum each row's first samples directly
    return mask


#: attribute of a :func:`valid_mask` result holding its ``lengths`` (each row is true on a prefix only)
PREFIX_TAG = "_audionoise_prefix_lengths"


def as_batch(x: Tensor) -> tuple[Tensor, bool]:
    """View a waveform as a batch: ``(time,)`` becomes ``(1, time)``. Returns the view and whether it was 1-D."""
    if x.dim() == 1:
        return x[None], True
    return x, False


def expand_to(mask: Tensor, x: Tensor) -> Tensor:
    """Broadcast a ``(batch, time)`` mask against ``x`` of shape ``(batch, ..., time)``."""
    return mask.view(mask.shape[0], *([1] * (x.dim() - 2)), mask.shape[-1])


def per_example(v: Tensor, x: Tensor) -> Tensor:
    """Reshape a ``(batch,)`` tensor to broadcast against ``x`` of shape ``(batch, ...)``."""
    return v.view(v.shape[0], *([1] * (x.dim() - 1)))
