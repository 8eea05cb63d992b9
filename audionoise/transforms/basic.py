"""Small helpers a pipeline needs: random gain and random time shift."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from audionoise.functional._checks import expand_to, per_example, valid_mask
from audionoise.transforms._blocks import BlockStep
from audionoise.transforms.base import (Injector, Params, check_number, check_range, check_sample_rate, draw,
                                        scale_int, scale_uniform, tensor)


@dataclasses.dataclass(frozen=True)
class GainParams(Params):
    gain_db: Tensor


class Gain(Injector):
    """Multiply each example by ``10**(g/20)`` with ``g ~ U(min_db, max_db)``.

    Example:
        >>> Gain(-6.0, -6.0)(torch.ones(1, 3))
        tensor([[0.5012, 0.5012, 0.5012]])
    """

    batchable = True
    numpy_step = "gain"

    def streams_in_blocks(self) -> bool:
        return type(self) is Gain

    def block_step(self, params, deferred, channels):
        return _GainBlocks(params)

    def __init__(self, min_db: float, max_db: float, p: float = 1.0) -> None:
        super().__init__(p)
        check_range("min_db", min_db, "max_db", max_db)
        self.min_db, self.max_db = float(min_db), float(max_db)

    def _sample(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator | None) -> GainParams:
        u = draw(x.shape[0], 2, generator)
        return GainParams(applied=tensor(u[:, 0] < self.p),
                          gain_db=tensor(scale_uniform(u[:, 1], self.min_db, self.max_db)))

    def _apply_params(self, x, params, lengths, owned):
        db = torch.where(params.applied, params.gain_db, torch.zeros_like(params.gain_db)).to(x.device)
        return x * per_example(torch.pow(10.0, db / 20.0).to(x.dtype), x), {}


def shift_rows(x: Tensor, shift: Tensor, mode: str) -> Tensor:
    """Shift each row of ``x`` ``(rows, time)`` by ``shift[row]`` samples (positive = later): ``y[t] = x[t - s]``.

    ``mode="roll"`` wraps around (``x[(t - s) mod T]``), ``"pad"`` shifts zeros in. The rows are extended once
    (``[x, x]`` for roll, ``m`` zeros on both sides for pad, ``m = max |s|``), the flat result is viewed as all its
    length-``T`` windows (``unfold``, no copy) and row ``r`` picks the window starting at
    ``r * T_ext + first[r]`` with one ``index_select``: two contiguous copies, no ``(rows, time)`` index tensor.
    On CUDA ``m = T`` (reading ``max |s|`` would sync with the host); shifts beyond ``T`` give zeros in pad mode.
    """
    rows, t = x.shape
    if mode == "roll":
        ext = torch.cat([x, x], dim=-1)
        first = torch.remainder(-shift, max(t, 1))
    else:
        m = t if x.device.type != "cpu" or shift.numel() == 0 else min(t, int(shift.abs().max()))
        shift = shift.clamp(-m, m)
        ext = torch.nn.functional.pad(x, (m, m))
        first = m - shift
    base = torch.arange(rows, device=x.device) * ext.shape[-1]
    return ext.reshape(-1).unfold(0, t, 1).index_select(0, base + first)


def _with_padding(x: Tensor, lengths: Tensor, source: Tensor | None) -> Tensor:
    """``x`` with its padding (samples from ``lengths`` on) set to zero, or to ``source``'s padding.

    On CPU a slice per example (a few microseconds each) beats a dense mask over the whole batch; on other
    devices the dense mask avoids a host sync.
    """
    if x.device.type != "cpu":
        valid = expand_to(valid_mask(lengths, x.shape[-1], x.device), x)
        return torch.where(valid, x, torch.zeros((), dtype=x.dtype) if source is None else source)
    y = x.clone() if source is None else x
    for b, n in enumerate(lengths.tolist()):
        if n < x.shape[-1]:
            if source is None:
                y[b, ..., n:] = 0.0
            else:
                y[b, ..., n:] = source[b, ..., n:]
    return y


@dataclasses.dataclass(frozen=True)
class ShiftParams(Params):
    shift: Tensor  # samples, positive = later in time


class TimeShift(Injector):
    """Shift each example in time by an integer number of samples in ``[-max_shift, max_shift]``.

    ``mode="roll"`` rotates the valid samples (what leaves one end re-enters at the other); ``mode="pad"`` fills
    the vacated samples with zeros and drops what leaves. Padding after ``lengths`` is never touched.

    Example:
        >>> t = TimeShift(0.1, sample_rate=16000, mode="pad")
        >>> y = t(torch.randn(2, 16000), generator=torch.Generator().manual_seed(0))
    """

    MODES = ("roll", "pad")

    batchable = True

    def __init__(self, max_shift_s: float, *, sample_rate: int, mode: str = "roll", p: float = 1.0) -> None:
        super().__init__(p)
        check_number("max_shift_s", max_shift_s, lo_bound=0.0)
        check_sample_rate(sample_rate)
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {list(self.MODES)}, got {mode!r}")
        self.max_shift_s, self.sample_rate, self.mode = float(max_shift_s), sample_rate, mode

    def _sample(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator | None) -> ShiftParams:
        u = draw(x.shape[0], 2, generator)
        m = int(round(self.max_shift_s * self.sample_rate))
        return ShiftParams(applied=tensor(u[:, 0] < self.p), shift=tensor(scale_int(u[:, 1], 2 * m) - m))

    def _apply_params(self, x, params, lengths, owned):
        return self._shift(x, params, lengths), {}

    def _shift(self, xb: Tensor, params: Params, lengths: Tensor | None) -> Tensor:
        t = xb.shape[-1]
        shift = torch.where(params.applied, params.shift, torch.zeros_like(params.shift)).to(xb.device)
        rows_shift = shift.repeat_interleave(xb[0].numel() // max(t, 1))
        if lengths is None:  # every sample valid: two contiguous copies instead of (batch, time) index maths
            return shift_rows(xb.reshape(-1, t), rows_shift, self.mode).view_as(xb)
        if self.mode == "pad":  # zero the padding so nothing shifts in from it, shift, then restore the padding
            y = shift_rows(_with_padding(xb, lengths, None).reshape(-1, t), rows_shift, "pad").view_as(xb)
            return _with_padding(y, lengths, xb)
        n = lengths.to(xb.device)
        pos = torch.arange(t, device=xb.device).expand(xb.shape[0], t)
        src = pos - shift[:, None]
        inside = pos < n[:, None]
        if self.mode == "roll":
            src = torch.remainder(src, n.clamp_min(1)[:, None])
            keep = inside
        else:
            keep = inside & (src >= 0) & (src < n[:, None])
        src = torch.where(keep, src, pos)  # outside: identity (padding untouched) or zeroed below
        y = torch.gather(xb, -1, expand_to(src, xb).expand_as(xb))
        zero = inside & ~keep
        return y.masked_fill(expand_to(zero, y), 0.0)


class _GainBlocks(BlockStep):
    """:class:`Gain` block by block: a constant factor."""

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        db = torch.where(params.applied, params.gain_db, torch.zeros_like(params.gain_db))
        self.factor = torch.pow(10.0, db / 20.0).to(torch.float32).view(-1, 1, 1)

    def __call__(self, x: Tensor, t0: int) -> Tensor:
        return x * self.factor
