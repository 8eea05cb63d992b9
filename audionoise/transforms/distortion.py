"""Sample-wise distortions: hard clipping, bit-depth reduction and polarity inversion."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from audionoise.functional._checks import check_finite, expand_to, per_example, valid_mask
from audionoise.functional.distortion import bit_crush, clip_threshold, clipped_fraction, hard_clip
from audionoise.transforms.base import Injector, Params, check_range, draw, scale_int, scale_uniform, tensor

#: the widest bit depth BitCrush accepts (float32 holds 24 bits of mantissa)
MAX_BITS = 24


def keep_outside(x: Tensor, y: Tensor, applied: Tensor, lengths: Tensor | None) -> Tensor:
    """``y`` on the valid samples of applied examples, ``x`` everywhere else (padding is never written).

    On CPU with every example applied and no padding, ``y`` itself (no extra pass over the batch).
    """
    if lengths is None and applied.device.type == "cpu" and bool(applied.all()):
        return y
    use = per_example(applied.to(x.device), x)
    if lengths is not None:
        use = use & expand_to(valid_mask(lengths, x.shape[-1], x.device), x)
    return torch.where(use, y, x)


@dataclasses.dataclass(frozen=True)
class PercentileClipParams(Params):
    """``percentile`` (batch,): the percentage of valid samples to clip."""

    percentile: Tensor


@dataclasses.dataclass(frozen=True)
class ThresholdClipParams(Params):
    """``threshold_db`` (batch,): the clipping level in dBFS."""

    threshold_db: Tensor


class ClippingDistortion(Injector):
    """Hard clipping ``y = min(max(x, -c), c)`` at a per-example threshold ``c``.

    Give the threshold either as a percentile (default: ``U(0, 40)`` %): the share of each example's valid samples
    (all channels together) that is clipped, ``c`` being the magnitude just below them
    (:func:`audionoise.functional.distortion.clip_threshold`; audiomentations' ``ClippingDistortion`` convention),
    or in dBFS: ``c = 10^(t / 20)`` with ``t ~ U(min_threshold_db, max_threshold_db)``. Records give the threshold
    ``c`` (linear) and the measured ``clipped_fraction`` of valid samples with ``|x| > c``. Padding is never
    written; differentiable in ``x`` (the threshold is a constant of the augmentation).

    Example:
        >>> t = ClippingDistortion(min_percentile=10, max_percentile=10)
        >>> y, rec = Compose([t])(torch.randn(2, 16000), generator=torch.Generator().manual_seed(0))
        >>> rec[0][0]["clipped_fraction"]
        0.1
    """

    batchable = True

    def __init__(self, min_percentile: float | None = None, max_percentile: float | None = None,
                 min_threshold_db: float | None = None, max_threshold_db: float | None = None,
                 p: float = 1.0) -> None:
        super().__init__(p)
        by_db = min_threshold_db is not None or max_threshold_db is not None
        by_percentile = min_percentile is not None or max_percentile is not None
        if by_db and by_percentile:
            raise ValueError("ClippingDistortion takes either min/max_percentile or min/max_threshold_db, not both")
        if by_db:
            if min_threshold_db is None or max_threshold_db is None:
                raise ValueError("give both min_threshold_db and max_threshold_db (dBFS, e.g. -20.0 and -3.0)")
            check_range("min_threshold_db", min_threshold_db, "max_threshold_db", max_threshold_db)
            min_threshold_db, max_threshold_db = float(min_threshold_db), float(max_threshold_db)
        else:
            min_percentile = 0.0 if min_percentile is None else min_percentile
            max_percentile = 40.0 if max_percentile is None else max_percentile
            check_range("min_percentile", min_percentile, "max_percentile", max_percentile, lo_bound=0.0)
            if max_percentile >= 100.0:
                raise ValueError(f"max_percentile ({max_percentile}) must be below 100 (the share of samples clipped)")
            min_percentile, max_percentile = float(min_percentile), float(max_percentile)
        self.min_percentile, self.max_percentile = min_percentile, max_percentile
        self.min_threshold_db, self.max_threshold_db = min_threshold_db, max_threshold_db

    def _sample(self, x, lengths, generator):
        u = draw(x.shape[0], 2, generator)
        applied = tensor(u[:, 0] < self.p)
        if self.min_threshold_db is not None:
            return ThresholdClipParams(applied=applied, threshold_db=tensor(
                scale_uniform(u[:, 1], self.min_threshold_db, self.max_threshold_db)))
        return PercentileClipParams(applied=applied, percentile=tensor(
            scale_uniform(u[:, 1], self.min_percentile, self.max_percentile)))

    def _apply_params(self, x, params, lengths, owned):
        check_finite(x)
        if isinstance(params, ThresholdClipParams):
            c = torch.pow(10.0, params.threshold_db.double() / 20.0).to(x.device, x.dtype)
        else:
            c = clip_threshold(x, params.percentile, lengths).to(x.device)
        applied = params.applied.to(x.device)
        y = keep_outside(x, hard_clip(x, c), params.applied, lengths)
        fraction = torch.where(applied, clipped_fraction(x, c, lengths), torch.zeros((), dtype=torch.float64, device=x.device))
        return y, {"threshold": c.float(), "clipped_fraction": fraction}


@dataclasses.dataclass(frozen=True)
class BitsParams(Params):
    """``bits`` (batch,) int64: the PCM bit depth per example."""

    bits: Tensor


class BitCrush(Injector):
    """Bit-depth reduction: each example quantised to ``B``-bit PCM, ``B`` uniform in ``[min_bits, max_bits]``.

    ``y = clamp(round(x 2^(B-1)), -2^(B-1), 2^(B-1) - 1) / 2^(B-1)`` (:func:`audionoise.functional.distortion.
    bit_crush`): at most ``2^B`` distinct values, a step of ``2^(1-B)``; samples beyond full scale saturate.
    Padding is never written; straight-through gradient. Like ``Gain``, NaN/Inf pass through (a sample-wise map
    cannot spread them).

    Example:
        >>> y = BitCrush(4, 4)(0.5 * torch.randn(1, 16000))
        >>> len(torch.unique(y)) <= 16
        True
    """

    batchable = True

    def __init__(self, min_bits: int, max_bits: int, p: float = 1.0) -> None:
        super().__init__(p)
        for name, v in (("min_bits", min_bits), ("max_bits", max_bits)):
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_BITS:
                raise ValueError(f"{name} must be an integer in [1, {MAX_BITS}] (bits per sample), got {v!r}")
        if min_bits > max_bits:
            raise ValueError(f"min_bits ({min_bits}) must be <= max_bits ({max_bits})")
        self.min_bits, self.max_bits = min_bits, max_bits

    def _sample(self, x, lengths, generator):
        u = draw(x.shape[0], 2, generator)
        return BitsParams(applied=tensor(u[:, 0] < self.p),
                          bits=tensor(self.min_bits + scale_int(u[:, 1], self.max_bits - self.min_bits)))

    def _apply_params(self, x, params, lengths, owned):
        return keep_outside(x, bit_crush(x, params.bits), params.applied, lengths), {}


class PolarityInversion(Injector):
    """Multiply each applied example by -1 (``y = -x``); padding is never written. Differentiable. Like ``Gain``,
    it passes NaN/Inf through instead of scanning for them (a sign flip cannot spread them).

    Example:
        >>> PolarityInversion()(torch.tensor([[0.5, -0.25]]))
        tensor([[-0.5000,  0.2500]])
    """

    batchable = True

    def _sample(self, x, lengths, generator):
        return Params(applied=tensor(draw(x.shape[0], 1, generator)[:, 0] < self.p))

    def _apply_params(self, x, params, lengths, owned):
        applied = params.applied.to(x.device)
        sign = per_example(1.0 - 2.0 * applied.to(x.dtype), x)
        y = x * sign
        if lengths is not None:
            y = torch.where(expand_to(valid_mask(lengths, x.shape[-1], x.device), x), y, x)
        return y, {}
