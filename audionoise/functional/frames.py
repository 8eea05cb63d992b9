"""Sample lengths to spectrogram frame lengths (the ``lengths`` that spectrogram injectors take)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["frame_lengths"]


def frame_lengths(lengths: Tensor, hop_length: int, n_fft: int | None = None, center: bool = True) -> Tensor:
    """Number of STFT frames of each example's ``lengths`` valid samples: the frame ``lengths`` of the
    spectrogram injectors (``SpecTimeMask``, ``SpecFreqMask``, ``SpecWarp``) for a padded batch.

    The frames an STFT (``torch.stft``, ``torchaudio.transforms.Spectrogram``/``MelSpectrogram``) gives for the
    ``n`` valid samples alone: with ``center=True`` (torch's default) ``1 + n // hop_length``; with
    ``center=False`` ``1 + (n - n_fft) // hop_length``, and 0 when ``n < n_fft``. The padded batch has at least as
    many frames, so the result never exceeds its frame count.

    Args:
        lengths: Valid samples per example, an integer tensor ``(batch,)`` (or a list of ints).
        hop_length: Samples between frames (the STFT's ``hop_length``).
        n_fft: Window length in samples; needed with ``center=False`` only.
        center: Whether the STFT pads ``n_fft // 2`` samples on each side (torch's default).

    Example:
        >>> frame_lengths(torch.tensor([16000, 8000]), hop_length=160)
        tensor([101,  51])
        >>> frame_lengths(torch.tensor([16000, 300]), hop_length=160, n_fft=400, center=False)
        tensor([98,  0])
    """
    if isinstance(lengths, torch.Generator) or not isinstance(hop_length, int) or hop_length < 1:
        raise ValueError(f"frame_lengths(lengths, hop_length): hop_length must be a positive int, got {hop_length!r}")
    lengths = torch.as_tensor(lengths)
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be integers (valid samples per example), got dtype {lengths.dtype}")
    lengths = lengths.long()
    if center:
        return 1 + torch.div(lengths, hop_length, rounding_mode="floor")
    if not isinstance(n_fft, int) or n_fft < 1:
        raise ValueError(f"frame_lengths(..., center=False) needs n_fft (the window length in samples), got {n_fft!r}")
    frames = 1 + torch.div(lengths - n_fft, hop_length, rounding_mode="floor")
    return torch.where(lengths >= n_fft, frames, torch.zeros_like(frames))
