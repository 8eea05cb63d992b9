"""Loudness normalisation to a target integrated loudness (ITU-R BS.1770-4, LUFS)."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from audionoise.functional._checks import check_finite, per_example
from audionoise.functional.loudness import loudness_batch
from audionoise.transforms.base import (Injector, Params, check_range, check_sample_rate, draw, scale_uniform,
                                        tensor)
from audionoise.transforms.distortion import keep_outside


@dataclasses.dataclass(frozen=True)
class LoudnessParams(Params):
    """``target_lufs`` (batch,): the integrated loudness each example is brought to."""

    target_lufs: Tensor


class LoudnessNormalize(Injector):
    """Scale each example so its integrated loudness (ITU-R BS.1770-4) is ``U(min_lufs, max_lufs)`` LUFS.

    The loudness ``L`` of the valid samples (all channels, BS.1770 channel weights) is measured by
    :func:`audionoise.functional.loudness.integrated_loudness` (K-weighting, 400 ms blocks with 75 % overlap,
    absolute -70 LUFS and relative -10 LU gates; a clip shorter than one 400 ms block is measured as one block over
    its whole length), and the example is multiplied by ``10^((target - L) / 20)``: measured again, it reads the
    target exactly (loudness is scale-invariant up to the gates). Silence, or an example with nothing above
    -70 LUFS, is left as it is (records: ``normalized: false``). Records give ``target_lufs``, the measured
    ``loudness_lufs`` and the ``gain_db`` applied. Nothing is limited: a loud target on a peaky clip can exceed full
    scale (the offline writer's clipping policy applies). Padding is never written; the gain is a constant of the
    augmentation (``dy/dx = gain``).

    Example:
        >>> t = LoudnessNormalize(-23.0, -23.0, sample_rate=16000)
        >>> y = t(0.1 * torch.randn(2, 16000))
    """

    def __init__(self, min_lufs: float = -31.0, max_lufs: float = -13.0, *, sample_rate: int,
                 p: float = 1.0) -> None:
        super().__init__(p)
        check_range("min_lufs", min_lufs, "max_lufs", max_lufs)
        self.min_lufs, self.max_lufs = float(min_lufs), float(max_lufs)
        self.sample_rate = check_sample_rate(sample_rate)

    def _sample(self, x, lengths, generator):
        u = draw(x.shape[0], 2, generator)
        return LoudnessParams(applied=tensor(u[:, 0] < self.p),
                              target_lufs=tensor(scale_uniform(u[:, 1], self.min_lufs, self.max_lufs)))

    def _apply_params(self, x, params, lengths, owned):
        check_finite(x)
        with torch.no_grad():
            measured = loudness_batch(x, self.sample_rate, lengths)
        target = params.target_lufs.to(measured.device, torch.float64)
        done = params.applied.to(measured.device) & torch.isfinite(measured)
        gain_db = torch.where(done, target - measured, torch.zeros_like(measured))
        gain = torch.pow(10.0, gain_db / 20.0)
        y = keep_outside(x, x * per_example(gain.to(x.device, x.dtype), x), done, lengths)
        return y, {"loudness_lufs": measured, "gain_db": gain_db, "normalized": done}
