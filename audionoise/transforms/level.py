"""Level control: normalize each example to a peak or RMS level."""

from __future__ import annotations

import torch

from audionoise.functional._checks import check_finite, expand_to, per_example, valid_mask
from audionoise.functional.level import level_gain
from audionoise.transforms.base import Injector, Params, check_number, draw, tensor


class Normalize(Injector):
    """Scale each example so its peak (``peak_db``) or RMS (``rms_db``) over the valid samples hits a level exactly.

    Levels are dBFS (re full scale 1.0; all channels of an example together): ``y = x * 10^(L/20) / level(x)``
    (:func:`audionoise.functional.level.level_gain`). Give exactly one of ``peak_db`` and ``rms_db``. A silent
    example is left as it is (records: ``normalized: false``); records give the applied ``gain_db``. Padding is
    never written. Differentiable in ``x``.

    Example:
        >>> Normalize(peak_db=-6.0)(torch.tensor([[0.25, -0.1]]))
        tensor([[ 0.5012, -0.2005]])
    """

    def __init__(self, peak_db: float | None = None, rms_db: float | None = None, p: float = 1.0) -> None:
        super().__init__(p)
        if (peak_db is None) == (rms_db is None):
            raise ValueError(f"Normalize needs exactly one of peak_db and rms_db, got peak_db={peak_db!r}, "
                             f"rms_db={rms_db!r}")
        self.peak_db = None if peak_db is None else check_number("peak_db", peak_db)
        self.rms_db = None if rms_db is None else check_number("rms_db", rms_db)

    def _sample(self, x, lengths, generator):
        return Params(applied=tensor(draw(x.shape[0], 1, generator)[:, 0] < self.p))

    def _apply_params(self, x, params, lengths, owned):
        check_finite(x)  # an FFT or a codec would spread one NaN over the whole example
        g, has_signal = level_gain(x, lengths, self.peak_db, self.rms_db)
        done = params.applied.to(g.device) & has_signal
        g = torch.where(done, g, torch.ones_like(g))
        y = x * per_example(g.to(x.dtype), x)
        if lengths is not None:
            y = torch.where(expand_to(valid_mask(lengths, x.shape[-1], x.device), x), y, x)
        y = torch.where(per_example(done, x), y, x)  # not applied / silent: bit for bit the input
        return y, {"normalized": done, "gain_db": 20.0 * torch.log10(g)}
