"""Time masking of waveforms, and time/frequency masking of spectrograms (SpecAugment-style)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import Tensor

from audionoise.functional.masks import freq_mask, masked_copy, spec_time_mask
from audionoise.kernels.draws import coin, mask_intervals
from audionoise.transforms._arrays import is_float_audio
from audionoise.transforms._blocks import BlockStep
from audionoise.transforms.base import (Injector, Params, check_number, check_sample_rate, draw, like,
                                        tensor, uniform_rows)


@dataclasses.dataclass(frozen=True)
class MaskParams(Params):
    """``starts`` and ``widths``: ``(batch, num_masks)`` in samples, frames or bins."""

    starts: Tensor
    widths: Tensor


#: most masks per example (SpecAugment uses 1-10; each mask is a (batch, num_masks) row of parameters)
MAX_MASKS = 1000


def _check_count(num_masks: int) -> int:
    if not isinstance(num_masks, int) or isinstance(num_masks, bool) or num_masks < 1:
        raise ValueError(f"num_masks must be an integer >= 1, got {num_masks!r}")
    if num_masks > MAX_MASKS:
        raise ValueError(f"num_masks ({num_masks}) must be <= {MAX_MASKS} (masks per example; real recipes use "
                         "1-10)")
    return num_masks


def _check_width(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0 (frames or bins), got {value!r}")
    return value


def sample_masks(u: Any, num_masks: int, max_width: int, size: Tensor | int, p: float) -> MaskParams:
    """``num_masks`` intervals per example inside ``[0, size)`` from uniforms ``u`` ``(batch, 1 + 2 * num_masks)``.

    Widths are uniform integers in ``[0, min(max_width, size)]`` (inclusive) and starts uniform in
    ``[0, size - width]``, so a mask never leaves the valid region. ``size`` is an int or ``(batch,)``.
    """
    if isinstance(size, Tensor):
        size = like(u, size).reshape(-1, 1)
    starts, widths = mask_intervals(u[:, 1:1 + num_masks], u[:, 1 + num_masks:], max_width, size)
    return MaskParams(applied=tensor(u[:, 0] < p), starts=tensor(starts), widths=tensor(widths))


class _IntervalMask(Injector):
    """Shared sampling of the mask injectors: ``num_masks`` intervals of up to ``max_width`` inside ``_size``.

    Masks copy the input and overwrite intervals of it: they never create NaN/Inf and do not scan for them
    (values pass through unchanged outside the masks).
    """

    def _size(self, x: Tensor, lengths: Tensor | None) -> Tensor | int:
        """Valid extent of the masked axis: ``lengths`` per example, or the whole last axis."""
        return x.shape[-1] if lengths is None else lengths

    def _sample(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator | None) -> MaskParams:
        u = draw(x.shape[0], 1 + 2 * self.num_masks, generator)
        return sample_masks(u, self.num_masks, self.max_width, self._size(x, lengths), self.p)

    def _widths(self, params: Params, x: Tensor) -> Tensor:
        """Mask widths with zeros for the examples not applied."""
        return (params.widths * params.applied.view(-1, 1)).to(x.device)


class TimeMask(_IntervalMask):
    """Silence ``num_masks`` random intervals of a waveform, each up to ``max_width_s`` seconds long.

    Widths are uniform in ``[0, max_width]`` samples (inclusive), masks lie inside the valid samples only,
    independently per example. ``fade_s > 0`` ramps the gain linearly to zero over that many seconds inside each
    edge of a mask (avoids clicks). The gradient is 1 outside the masks and 0 inside.

    Example:
        >>> t = TimeMask(0.1, num_masks=2, sample_rate=16000)
        >>> y = t(torch.randn(4, 16000), generator=torch.Generator().manual_seed(0))
    """

    batchable = True
    numpy_step = "time_mask"

    def streams_in_blocks(self) -> bool:
        return type(self) is TimeMask and not self.fade_s

    def block_step(self, params, deferred, channels):
        return _MaskBlocks(params)

    def __init__(self, max_width_s: float, num_masks: int = 1, *, sample_rate: int, p: float = 1.0,
                 fade_s: float = 0.0) -> None:
        super().__init__(p)
        check_number("max_width_s", max_width_s, lo_bound=0.0)
        check_number("fade_s", fade_s, lo_bound=0.0)
        check_sample_rate(sample_rate)
        self.max_width_s, self.num_masks = float(max_width_s), _check_count(num_masks)
        self.sample_rate, self.fade_s = sample_rate, float(fade_s)
        self.max_width = int(round(self.max_width_s * self.sample_rate))
        self._fade = int(round(self.fade_s * self.sample_rate))

    def _apply_params(self, x, params, lengths, owned):
        return masked_copy(x, params.starts.to(x.device), self._widths(params, x), fade=self._fade), {}

    #: batches with at most this many masks in all take the scalar path of ``forward`` on CPU
    SCALAR_MASKS = 8

    def _fast_numpy(self, x, lengths, generator):
        """A NumPy clip or tiny batch (the per-item ``Dataset`` pattern of NumPy pipelines): the copy and the masks
        in NumPy, the uniforms from ``generator`` as in :meth:`_fast_forward` (same values, bit for bit)."""
        if not is_float_audio(x) or not 1 <= x.ndim <= 3:
            return None
        batch = 1 if x.ndim == 1 else x.shape[0]
        if batch * self.num_masks > self.SCALAR_MASKS or self._fade:
            return None
        rows = uniform_rows(batch, 1 + 2 * self.num_masks, generator)
        if rows is None:
            return None
        y = x.copy()
        self._mask_rows(y[None] if x.ndim == 1 else y, rows, [x.shape[-1]] * batch)
        return y

    def _fast_forward(self, x: Tensor, lengths: Tensor | None,
                      generator: torch.Generator | None) -> Tensor | None:
        """Tiny CPU batches (the per-item ``Dataset`` pattern): the parameters are never built as tensors.

        The same uniforms go through the same kernel as :func:`sample_masks` (:func:`~audionoise.kernels.draws.mask_intervals`) in Python scalars, and
        the intervals are written through a NumPy view, so a call costs a few microseconds instead of ~25. The
        result is bit-identical to ``apply_params(x, sample(x, lengths, generator), lengths)`` (tested).
        """
        m = self.num_masks
        batch = x.shape[0]
        if batch * m > self.SCALAR_MASKS or self._fade or not x.is_cpu or x.requires_grad or x.dtype == torch.bfloat16:
            return None
        rows = uniform_rows(batch, 1 + 2 * m, generator)
        if rows is None:  # not a CPU generator
            return None
        a = x.numpy().copy()  # NumPy's copy of a small array costs ~2/3 of torch's clone
        self._mask_rows(a, rows, [x.shape[-1]] * batch if lengths is None else lengths.tolist())
        return torch.from_numpy(a)

    def _mask_rows(self, a: np.ndarray, rows: list[list[float]], sizes: list[int]) -> None:
        """Zero, in place, the masks that the uniform ``rows`` (one per example) place in ``a`` ``(batch, ...,
        time)``, example ``i`` inside its first ``sizes[i]`` samples: the scalar form of :func:`sample_masks`."""
        m = self.num_masks
        for i, r in enumerate(rows):
            if coin(r[0], self.p):
                for k in range(1, m + 1):
                    s, w = mask_intervals(r[k], r[m + k], self.max_width, sizes[i])
                    if w > 0:
                        a[i, ..., s:s + w] = 0.0


class SpecTimeMask(_IntervalMask):
    """Fill ``num_masks`` random frame intervals of a spectrogram ``(..., freq, frames)`` with ``fill``.

    Widths uniform in ``[0, max_width]`` frames inclusive; masks stay inside the valid frames (``lengths``).
    """

    spectrogram = True

    def __init__(self, max_width: int, num_masks: int = 1, p: float = 1.0, fill: float = 0.0) -> None:
        super().__init__(p)
        self.max_width, self.num_masks = _check_width("max_width", max_width), _check_count(num_masks)
        self.fill = check_number("fill", fill)

    def _apply_params(self, x, params, lengths, owned):
        return spec_time_mask(x, params.starts.to(x.device), self._widths(params, x), fill=self.fill), {}


class SpecFreqMask(_IntervalMask):
    """Zero ``num_masks`` random bands of frequency bins of a spectrogram ``(..., freq, frames)``.

    Widths uniform in ``[0, max_width]`` bins inclusive, per example; padding frames (``lengths``) untouched.
    """

    spectrogram = True

    def __init__(self, max_width: int, num_masks: int = 1, p: float = 1.0) -> None:
        super().__init__(p)
        self.max_width, self.num_masks = _check_width("max_width", max_width), _check_count(num_masks)

    def _size(self, x: Tensor, lengths: Tensor | None) -> int:
        return x.shape[-2]  # every frequency bin

    def _apply_params(self, x, params, lengths, owned):
        return freq_mask(x, params.starts.to(x.device), self._widths(params, x), lengths=lengths), {}


class _MaskBlocks(BlockStep):
    """:class:`TimeMask` (no fades) block by block: the intervals of one example, cut at the block edges."""

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        widths = (params.widths * params.applied.view(-1, 1))[0].tolist()
        self.masks = [(s, w) for s, w in zip(params.starts[0].tolist(), widths) if w > 0]

    def __call__(self, x: Tensor, t0: int) -> Tensor:
        y = x.clone()
        for s, w in self.masks:
            a, b = max(s, t0), min(s + w, t0 + x.shape[-1])
            if a < b:
                y[..., a - t0:b - t0] = 0.0
        return y
