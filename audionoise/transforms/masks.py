"""Time masking of waveforms, and time/frequency masking of spectrograms (SpecAugment-style)."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from audionoise.functional.masks import freq_mask, spec_time_mask, time_mask
from audionoise.transforms.base import Injector, Params, bernoulli, check_number, check_sample_rate, randint


@dataclasses.dataclass(frozen=True)
class MaskParams(Params):
    """``starts`` and ``widths``: ``(batch, num_masks)`` in samples, frames or bins."""

    starts: Tensor
    widths: Tensor


def _check_count(num_masks: int) -> int:
    if not isinstance(num_masks, int) or isinstance(num_masks, bool) or num_masks < 1:
        raise ValueError(f"num_masks must be an integer >= 1, got {num_masks!r}")
    return num_masks


def _check_width(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0 (frames or bins), got {value!r}")
    return value


def sample_masks(batch: int, num_masks: int, max_width: int, size: Tensor, p: float,
                 generator: torch.Generator | None) -> MaskParams:
    """Draw ``num_masks`` intervals per example inside ``[0, size)``.

    Widths are uniform integers in ``[0, min(max_width, size)]`` (inclusive) and starts uniform in
    ``[0, size - width]``, so a mask never leaves the valid region. ``size`` is ``(batch,)``.
    """
    applied = bernoulli(batch, p, generator)
    size = size.to(applied.device).long().view(-1, 1).expand(batch, num_masks)
    widths = randint((batch, num_masks), size.clamp(max=max_width), generator)
    starts = randint((batch, num_masks), size - widths, generator)
    return MaskParams(applied=applied, starts=starts, widths=widths)


class _IntervalMask(Injector):
    """Shared sampling of the mask injectors: ``num_masks`` intervals of up to ``max_width`` inside ``_sizes``."""

    def _sizes(self, xb: Tensor, lengths: Tensor | None) -> Tensor:
        """Valid extent of the masked axis per example: ``lengths`` or the whole last axis."""
        if lengths is not None:
            return lengths
        return torch.full((xb.shape[0],), xb.shape[-1], dtype=torch.long)

    def sample(self, x: Tensor, lengths: Tensor | None = None,
               generator: torch.Generator | None = None) -> MaskParams:
        xb, _, lengths = self._prepare(x, lengths)
        return sample_masks(xb.shape[0], self.num_masks, self.max_width, self._sizes(xb, lengths), self.p, generator)


class TimeMask(_IntervalMask):
    """Silence ``num_masks`` random intervals of a waveform, each up to ``max_width_s`` seconds long.

    Widths are uniform in ``[0, max_width]`` samples (inclusive), masks lie inside the valid samples only,
    independently per example. ``fade_s > 0`` ramps the gain linearly to zero over that many seconds inside each
    edge of a mask (avoids clicks).

    Example:
        >>> t = TimeMask(0.1, num_masks=2, sample_rate=16000)
        >>> y = t(torch.randn(4, 16000), generator=torch.Generator().manual_seed(0))
    """

    def __init__(self, max_width_s: float, num_masks: int = 1, *, sample_rate: int, p: float = 1.0,
                 fade_s: float = 0.0) -> None:
        super().__init__(p)
        check_number("max_width_s", max_width_s, lo_bound=0.0)
        check_number("fade_s", fade_s, lo_bound=0.0)
        check_sample_rate(sample_rate)
        self.max_width_s, self.num_masks = float(max_width_s), _check_count(num_masks)
        self.sample_rate, self.fade_s = sample_rate, float(fade_s)

    @property
    def max_width(self) -> int:
        return int(round(self.max_width_s * self.sample_rate))

    def apply(self, x: Tensor, params: Params, lengths: Tensor | None = None) -> Tensor:
        xb, single, lengths = self._prepare(x, lengths, finite=False)
        widths = params.widths * params.applied.view(-1, 1)
        fade = int(round(self.fade_s * self.sample_rate))
        y = time_mask(xb, params.starts.to(xb.device), widths.to(xb.device), fade=fade)
        return y[0] if single else y


class SpecTimeMask(_IntervalMask):
    """Fill ``num_masks`` random frame intervals of a spectrogram ``(..., freq, frames)`` with ``fill``.

    Widths uniform in ``[0, max_width]`` frames inclusive; masks stay inside the valid frames (``lengths``).
    """

    spectrogram = True

    def __init__(self, max_width: int, num_masks: int = 1, p: float = 1.0, fill: float = 0.0) -> None:
        super().__init__(p)
        self.max_width, self.num_masks = _check_width("max_width", max_width), _check_count(num_masks)
        self.fill = check_number("fill", fill)

    def apply(self, x: Tensor, params: Params, lengths: Tensor | None = None) -> Tensor:
        xb, single, _ = self._prepare(x, lengths, finite=False)
        widths = params.widths * params.applied.view(-1, 1)
        y = spec_time_mask(xb, params.starts.to(xb.device), widths.to(xb.device), fill=self.fill)
        return y[0] if single else y


class SpecFreqMask(_IntervalMask):
    """Zero ``num_masks`` random bands of frequency bins of a spectrogram ``(..., freq, frames)``.

    Widths uniform in ``[0, max_width]`` bins inclusive, per example; padding frames (``lengths``) untouched.
    """

    spectrogram = True

    def __init__(self, max_width: int, num_masks: int = 1, p: float = 1.0) -> None:
        super().__init__(p)
        self.max_width, self.num_masks = _check_width("max_width", max_width), _check_count(num_masks)

    def _sizes(self, xb: Tensor, lengths: Tensor | None) -> Tensor:
        return torch.full((xb.shape[0],), xb.shape[-2], dtype=torch.long)  # every frequency bin

    def apply(self, x: Tensor, params: Params, lengths: Tensor | None = None) -> Tensor:
        xb, single, lengths = self._prepare(x, lengths, finite=False)
        widths = params.widths * params.applied.view(-1, 1)
        y = freq_mask(xb, params.starts.to(xb.device), widths.to(xb.device), lengths=lengths)
        return y[0] if single else y
