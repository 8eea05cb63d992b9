"""Equaliser sections with per-example parameters: a band-stop notch and a peaking filter."""

from __future__ import annotations

import dataclasses

from torch import Tensor

from audionoise.functional._checks import check_finite
from audionoise.functional.eq import biquad_coefficients, biquad_filter
from audionoise.transforms.base import (Injector, Params, check_range, check_sample_rate, draw,
                                        scale_uniform, tensor)
from audionoise.transforms.channel import check_band
from audionoise.transforms.distortion import keep_outside


def _log_uniform(u, low: float, high: float):
    return low * (high / low) ** u


def _check_positive_range(name_low: str, low: float, name_high: str, high: float) -> None:
    check_range(name_low, low, name_high, high)
    if low <= 0:
        raise ValueError(f"{name_low} ({low}) must be > 0")


def _check_center(low: float, high: float, sample_rate: int) -> None:
    check_band("min_center_hz", low, "max_center_hz", high, sample_rate)


@dataclasses.dataclass(frozen=True)
class NotchParams(Params):
    """``center_hz`` and ``q`` (batch,) per example."""

    center_hz: Tensor
    q: Tensor


@dataclasses.dataclass(frozen=True)
class EQParams(NotchParams):
    """``center_hz``, ``q`` and ``gain_db`` (batch,) per example."""

    gain_db: Tensor


class _Biquad(Injector):
    """Shared apply step: per-example biquad sections, the whole batch at once (:func:`biquad_filter`)."""

    kind = "notch"

    def _init_common(self, min_center_hz, max_center_hz, min_q, max_q, sample_rate) -> None:
        self.sample_rate = check_sample_rate(sample_rate)
        _check_center(min_center_hz, max_center_hz, sample_rate)
        _check_positive_range("min_q", min_q, "max_q", max_q)
        self.min_center_hz, self.max_center_hz = float(min_center_hz), float(max_center_hz)
        self.min_q, self.max_q = float(min_q), float(max_q)

    def _draw(self, x, generator, columns: int) -> tuple[dict, object]:
        """The fields every section draws (applied, centre, Q) and the uniforms (column 3 on: the subclass's)."""
        u = draw(x.shape[0], columns, generator)
        return dict(applied=tensor(u[:, 0] < self.p),
                    center_hz=tensor(_log_uniform(u[:, 1], self.min_center_hz, self.max_center_hz)),
                    q=tensor(_log_uniform(u[:, 2], self.min_q, self.max_q))), u

    def _apply_params(self, x, params, lengths, owned):
        check_finite(x)  # a recursive filter would spread one NaN over the rest of the example
        b, a = biquad_coefficients(self.kind, params.center_hz, params.q, getattr(params, "gain_db", None),
                                   self.sample_rate)
        y = biquad_filter(x, b, a)  # causal: the valid samples never see the padding after them
        return keep_outside(x, y, params.applied, lengths), {}


class BandStop(_Biquad):
    """A notch (band-stop biquad) at a per-example centre frequency: zero gain at ``f0``, 0 dB far from it.

    Per example ``f0`` is log-uniform in ``[min_center_hz, max_center_hz]`` and ``Q`` log-uniform in
    ``[min_q, max_q]``; the -3.01 dB bandwidth is ``f0 / Q`` (pre-warped; exact edges in
    :mod:`audionoise.functional.eq`). Cookbook notch ``H(s) = (s^2 + 1) / (s^2 + s / Q + 1)`` by the bilinear
    transform, run as the causal IIR filter itself, the whole batch at once.
    Padding is never written; differentiable in ``x``. Records: ``center_hz``, ``q``.

    Example:
        >>> t = BandStop(500, 2000, 1.0, 2.0, sample_rate=16000)
        >>> y = t(torch.randn(4, 16000), generator=torch.Generator().manual_seed(0))
    """

    kind = "notch"

    def __init__(self, min_center_hz: float = 200.0, max_center_hz: float = 4000.0, min_q: float = 0.5,
                 max_q: float = 2.0, *, sample_rate: int, p: float = 1.0) -> None:
        super().__init__(p)
        self._init_common(min_center_hz, max_center_hz, min_q, max_q, sample_rate)

    def _sample(self, x, lengths, generator):
        return NotchParams(**self._draw(x, generator, 3)[0])


class PeakingEQ(_Biquad):
    """A peaking equaliser: ``gain_db`` at a centre frequency ``f0`` (exactly), 0 dB far from it, bell width ``Q``.

    Per example ``f0`` log-uniform in ``[min_center_hz, max_center_hz]``, gain uniform in ``[min_gain_db,
    max_gain_db]`` (negative: a cut), ``Q`` log-uniform in ``[min_q, max_q]`` (the defaults are audiomentations'
    ``PeakingFilter``'s). Cookbook peaking section ``H(s) = (s^2 + s A / Q + 1) / (s^2 + s / (A Q) + 1)``,
    ``A = 10^(gain_db / 40)``, so ``|H(f0)| = A^2``; run as the causal IIR filter itself, the whole batch at
    once. Padding is never written; differentiable in ``x``. Records: ``center_hz``,
    ``q``, ``gain_db``.

    Example:
        >>> t = PeakingEQ(1000, 1000, 6.0, 6.0, sample_rate=16000)
        >>> y = t(torch.randn(4, 16000), generator=torch.Generator().manual_seed(0))
    """

    kind = "peaking"

    def __init__(self, min_center_hz: float = 50.0, max_center_hz: float = 7500.0, min_gain_db: float = -24.0,
                 max_gain_db: float = 24.0, min_q: float = 0.5, max_q: float = 5.0, *, sample_rate: int,
                 p: float = 1.0) -> None:
        super().__init__(p)
        check_range("min_gain_db", min_gain_db, "max_gain_db", max_gain_db)
        self.min_gain_db, self.max_gain_db = float(min_gain_db), float(max_gain_db)
        self._init_common(min_center_hz, max_center_hz, min_q, max_q, sample_rate)

    def _sample(self, x, lengths, generator):
        fields, u = self._draw(x, generator, 4)
        return EQParams(**fields, gain_db=tensor(scale_uniform(u[:, 3], self.min_gain_db, self.max_gain_db)))
