"""Speed, tempo and pitch: speed perturbation (batched resampling), time stretch and pitch shift (librosa)."""

from __future__ import annotations

import dataclasses
import warnings

import torch
from torch import Tensor

from audionoise.functional._checks import check_finite, expand_to, valid_mask
from audionoise.functional.speed import speed, speed_rates
from audionoise.transforms._host import map_rows, put_rows, refuse_grad, require_module, stack_rows
from audionoise.transforms.base import (
    Injector,
    Params,
    check_number,
    check_range,
    check_sample_rate,
    draw,
    like,
    scale_int,
    scale_uniform,
    tensor,
)


@dataclasses.dataclass(frozen=True)
class SpeedParams(Params):
    """``factor``: the speed factor per example (one of the injector's ``factors``)."""

    factor: Tensor


class SpeedPerturb(Injector):
    """Play each example faster or slower by a factor drawn uniformly from ``factors`` (tempo and pitch together).

    The Kaldi / torchaudio ``SpeedPerturbation`` recipe: resampling from ``round(factor * sample_rate)`` Hz to
    ``sample_rate`` Hz (:func:`audionoise.functional.speed.speed`), so a 1 kHz tone at factor 1.1 comes out at
    1.1 kHz and ``n`` samples become ``ceil(n / factor)``. Returns ``(y, new_lengths)``; ``y`` is zero-padded to the
    longest new length of the batch. Examples are resampled in one batched call per distinct factor, on CPU or GPU;
    differentiable in ``x``.

    Example:
        >>> t = SpeedPerturb((0.9, 1.1), sample_rate=16000)
        >>> y, lengths = t(torch.randn(3, 16000), generator=torch.Generator().manual_seed(0))
        >>> lengths.tolist()
        [14546, 17778, 17778]
    """

    changes_length = True

    def __init__(self, factors: tuple[float, ...] | list[float] = (0.9, 1.0, 1.1), *, sample_rate: int,
                 p: float = 1.0) -> None:
        super().__init__(p)
        check_sample_rate(sample_rate)
        factors = [factors] if isinstance(factors, (int, float)) else list(factors)
        if not factors:
            raise ValueError("factors must hold at least one speed factor, e.g. (0.9, 1.0, 1.1)")
        for f in factors:
            check_number("factors", f)
            if f <= 0:
                raise ValueError(f"factors must be > 0 (1.0 = unchanged), got {f}")
            speed_rates(float(f), sample_rate)
        self.factors, self.sample_rate = [float(f) for f in factors], sample_rate

    def _sample(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator | None) -> SpeedParams:
        u = draw(x.shape[0], 2, generator)
        index = scale_int(u[:, 1], len(self.factors) - 1)
        factor = like(u, torch.tensor(self.factors, dtype=torch.float64))[index]
        return SpeedParams(applied=tensor(u[:, 0] < self.p), factor=tensor(factor))

    def output_lengths(self, params, lengths, x):
        """``ceil(n * new / orig)`` for the applied examples (:func:`~audionoise.functional.speed.speed`)."""
        n = (torch.full((x.shape[0],), x.shape[-1], dtype=torch.long) if lengths is None else lengths.cpu())
        applied, factor = params.applied.cpu(), params.factor.cpu()
        for f in sorted(set(factor[applied].tolist())):
            orig, new = speed_rates(f, self.sample_rate)
            if orig != new:
                n = torch.where(applied & (factor == f), torch.div(n * new + orig - 1, orig, rounding_mode="floor"), n)
        return n.to(x.device) if lengths is None else n.to(lengths.device)

    def _apply_params(self, x, params, lengths, owned):
        check_finite(x)  # an FFT or a codec would spread one NaN over the whole example
        t = x.shape[-1]
        mask = valid_mask(lengths, t, x.device)
        dry = x if mask is None else x * expand_to(mask, x).to(x.dtype)
        n = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device) if lengths is None else lengths.to(x.device)
        applied = params.applied.to(x.device)
        factor = params.factor.to(x.device)
        parts = []
        for f in sorted(set(params.factor[params.applied].tolist())):
            orig, new = speed_rates(f, self.sample_rate)
            if orig == new:
                continue
            rows = torch.nonzero(applied & (factor == f)).flatten()
            y_f, n_f = speed(dry.index_select(0, rows), f, self.sample_rate, n.index_select(0, rows))
            parts.append((rows, y_f))
            n = n.index_copy(0, rows, n_f)
        width = int(n.max()) if n.numel() else t
        if not parts and width == t:
            return dry, {"length": n}
        y = dry.new_zeros(*dry.shape[:-1], width)
        y[..., : min(t, width)] = dry[..., :width]
        for rows, y_f in parts:  # the resampled rows replace theirs entirely (zero after their new length)
            w = min(y_f.shape[-1], width)
            y[rows, ..., :w] = y_f[..., :w]
            y[rows, ..., w:] = 0.0
        return y, {"length": n}


@dataclasses.dataclass(frozen=True)
class StretchParams(Params):
    rate: Tensor


@dataclasses.dataclass(frozen=True)
class PitchParams(Params):
    semitones: Tensor


def _librosa():
    from audionoise.runtime.extras import require

    return require("librosa", extra="pitch", purpose="PitchShift and TimeStretch")


class TimeStretch(Injector):
    """Change the tempo by ``rate ~ U(min_rate, max_rate)`` keeping the pitch (librosa's phase vocoder).

    ``rate > 1`` is faster: ``n`` samples become ``round(n / rate)``. Returns ``(y, new_lengths)`` like
    :class:`SpeedPerturb`. Runs ``librosa.effects.time_stretch`` on the CPU, one example at a time (its records
    say ``"backend": "librosa (CPU, per example)"``); not differentiable (an input that requires a gradient is
    refused). Needs the optional dependency librosa (``pip install 'audionoise[pitch]'``).
    """

    changes_length = True

    def __init__(self, min_rate: float = 0.9, max_rate: float = 1.1, *, sample_rate: int, p: float = 1.0) -> None:
        super().__init__(p)
        require_module("librosa", "TimeStretch", "pitch")
        check_range("min_rate", min_rate, "max_rate", max_rate)
        if min_rate <= 0:
            raise ValueError(f"min_rate ({min_rate}) must be > 0 (1.0 = unchanged)")
        self.min_rate, self.max_rate, self.sample_rate = float(min_rate), float(max_rate), check_sample_rate(sample_rate)

    def _sample(self, x, lengths, generator):
        u = draw(x.shape[0], 2, generator)
        return StretchParams(applied=tensor(u[:, 0] < self.p), rate=tensor(scale_uniform(u[:, 1], self.min_rate,
                                                                                           self.max_rate)))

    def _apply_params(self, x, params, lengths, owned):
        check_finite(x)  # an FFT or a codec would spread one NaN over the whole example
        refuse_grad(x, "TimeStretch")
        lib = _librosa()
        rates = params.rate.tolist()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="n_fft=")
            outs, n = map_rows(x, lengths, params.applied, lambda b, row: lib.effects.time_stretch(row, rate=rates[b]))
        y, new = stack_rows(x, outs, n)
        return y, {"length": new}

    def records(self, params, info=None):
        return [dict(r, backend="librosa (CPU, per example)") for r in super().records(params, info)]


class PitchShift(Injector):
    """Shift the pitch by ``s ~ U(min_semitones, max_semitones)`` semitones keeping the duration (librosa).

    Every frequency is multiplied by ``2^(s/12)`` (440 Hz + 2 semitones = 493.88 Hz); the length is kept. Runs
    ``librosa.effects.pitch_shift`` (phase-vocoder time stretch + resampling) on the CPU, one example at a time
    (records say ``"backend": "librosa (CPU, per example)"``); not differentiable (an input that requires a
    gradient is refused). Needs the optional dependency librosa (``pip install 'audionoise[pitch]'``).
    """

    def __init__(self, min_semitones: float = -2.0, max_semitones: float = 2.0, *, sample_rate: int,
                 p: float = 1.0) -> None:
        super().__init__(p)
        require_module("librosa", "PitchShift", "pitch")
        check_range("min_semitones", min_semitones, "max_semitones", max_semitones)
        self.min_semitones, self.max_semitones = float(min_semitones), float(max_semitones)
        self.sample_rate = check_sample_rate(sample_rate)

    def _sample(self, x, lengths, generator):
        u = draw(x.shape[0], 2, generator)
        return PitchParams(applied=tensor(u[:, 0] < self.p),
                           semitones=tensor(scale_uniform(u[:, 1], self.min_semitones, self.max_semitones)))

    def _apply_params(self, x, params, lengths, owned):
        check_finite(x)  # an FFT or a codec would spread one NaN over the whole example
        refuse_grad(x, "PitchShift")
        lib = _librosa()
        steps = params.semitones.tolist()

        def shift(b, row):
            return lib.effects.pitch_shift(row, sr=self.sample_rate, n_steps=steps[b])

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="n_fft=")
            outs, _ = map_rows(x, lengths, params.applied, shift)
        return put_rows(x, outs), {}

    def records(self, params, info=None):
        return [dict(r, backend="librosa (CPU, per example)") for r in super().records(params, info)]
