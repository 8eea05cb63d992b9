"""Transmission channels: Butterworth band limits, the narrow-band telephone channel, and lossy codecs."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import Tensor

from audionoise import io as aio
from audionoise.functional._checks import check_finite, expand_to, per_example, valid_mask
from audionoise.functional.align import estimate_delay
from audionoise.functional.filters import butterworth_response, fft_filter, settle_samples, telephone
from audionoise.transforms._host import map_rows, put_rows, refuse_grad
from audionoise.transforms.base import (
    Injector,
    Params,
    check_number,
    check_range,
    check_sample_rate,
    draw,
    scale_int,
    scale_uniform,
    tensor,
)


def _keep_outside(x: Tensor, y: Tensor, applied: Tensor, lengths: Tensor | None) -> Tensor:
    """``y`` on the valid samples of applied examples, ``x`` everywhere else (padding is never written)."""
    use = per_example(applied.to(x.device), x)
    if lengths is not None:
        use = use & expand_to(valid_mask(lengths, x.shape[-1], x.device), x)
    return torch.where(use, y, x)


def _zero_padding(x: Tensor, lengths: Tensor | None) -> Tensor:
    return x if lengths is None else x * expand_to(valid_mask(lengths, x.shape[-1], x.device), x).to(x.dtype)


def _log_uniform(u, low: float, high: float):
    """Map uniforms in [0, 1) to ``low * (high / low) ** u`` (uniform on a log-frequency axis), float64."""
    return low * (high / low) ** u


def _check_order(order: int) -> int:
    if not isinstance(order, int) or isinstance(order, bool) or not 1 <= order <= 16:
        raise ValueError(f"order must be an integer in [1, 16] (6 dB/octave per order), got {order!r}")
    return order


def check_band(name_low: str, low: float, name_high: str, high: float, sample_rate: int) -> None:
    check_range(name_low, low, name_high, high)
    if low <= 0 or high >= sample_rate / 2:
        raise ValueError(f"{name_low}..{name_high} ({low}..{high} Hz) must lie strictly between 0 and the Nyquist "
                         f"frequency ({sample_rate / 2} Hz)")


@dataclasses.dataclass(frozen=True)
class CutoffParams(Params):
    """``cutoff_hz`` ``(batch,)`` (low/high pass) or ``(batch, 2)`` (band pass: low and high edges)."""

    cutoff_hz: Tensor


class _Butterworth(Injector):
    """Shared apply step: a per-example Butterworth response applied with one batched FFT pair."""

    kind = "lowpass"

    def _settle(self) -> int:
        return settle_samples(self._min_edge, self.order, self.sample_rate)

    def _apply_params(self, x, params, lengths, owned):
        check_finite(x)  # an FFT or a codec would spread one NaN over the whole example
        cut = params.cutoff_hz.to(x.device, torch.float64 if x.dtype == torch.float64 else torch.float32)
        y = fft_filter(_zero_padding(x, lengths),
                       lambda n: butterworth_response(self.kind, cut, self.sample_rate, self.order, n), self._settle())
        return _keep_outside(x, y, params.applied, lengths), {}


class LowPass(_Butterworth):
    """Butterworth low pass with a per-example cut-off ``f_c``, log-uniform in ``[min_cutoff_hz, max_cutoff_hz]``.

    ``|H(f)|^2 = 1 / (1 + r^(2N))`` with ``r = tan(pi f / sr) / tan(pi f_c / sr)`` (order N, -3.01 dB at the
    cut-off, 6N dB per octave above it): the causal digital Butterworth filter, phase included, applied in the
    frequency domain for the whole batch (:mod:`audionoise.functional.filters`). Differentiable in ``x``.

    Example:
        >>> y = LowPass(1000, 4000, sample_rate=16000)(torch.randn(4, 16000), generator=torch.Generator().manual_seed(0))
    """

    kind = "lowpass"

    def __init__(self, min_cutoff_hz: float, max_cutoff_hz: float, *, sample_rate: int, order: int = 4,
                 p: float = 1.0) -> None:
        super().__init__(p)
        self.sample_rate = check_sample_rate(sample_rate)
        check_band("min_cutoff_hz", min_cutoff_hz, "max_cutoff_hz", max_cutoff_hz, sample_rate)
        self.min_cutoff_hz, self.max_cutoff_hz = float(min_cutoff_hz), float(max_cutoff_hz)
        self.order = _check_order(order)
        self._min_edge = self.min_cutoff_hz

    def _sample(self, x, lengths, generator):
        u = draw(x.shape[0], 2, generator)
        return CutoffParams(applied=tensor(u[:, 0] < self.p),
                            cutoff_hz=tensor(_log_uniform(u[:, 1], self.min_cutoff_hz, self.max_cutoff_hz)))


class HighPass(LowPass):
    """Butterworth high pass, per-example cut-off log-uniform in ``[min_cutoff_hz, max_cutoff_hz]``.

    ``|H(f)|^2 = r^(2N) / (1 + r^(2N))`` (see :class:`LowPass`).
    """

    kind = "highpass"


class BandPass(_Butterworth):
    """Butterworth band pass: a high pass at ``f_lo`` then a low pass at ``f_hi`` (order ``order`` each).

    Per example ``f_lo`` is log-uniform in ``[min_low_hz, max_low_hz]`` and ``f_hi`` in ``[min_high_hz,
    max_high_hz]``; ``max_low_hz`` must lie below ``min_high_hz``.

    Example:
        >>> t = BandPass(200, 400, 3000, 4000, sample_rate=16000)
        >>> y = t(torch.randn(2, 16000), generator=torch.Generator().manual_seed(0))
    """

    kind = "bandpass"

    def __init__(self, min_low_hz: float, max_low_hz: float, min_high_hz: float, max_high_hz: float, *,
                 sample_rate: int, order: int = 4, p: float = 1.0) -> None:
        super().__init__(p)
        self.sample_rate = check_sample_rate(sample_rate)
        check_band("min_low_hz", min_low_hz, "max_low_hz", max_low_hz, sample_rate)
        check_band("min_high_hz", min_high_hz, "max_high_hz", max_high_hz, sample_rate)
        if max_low_hz >= min_high_hz:
            raise ValueError(f"max_low_hz ({max_low_hz}) must be below min_high_hz ({min_high_hz}): the low edge "
                             f"of the band must lie under the high edge")
        self.min_low_hz, self.max_low_hz = float(min_low_hz), float(max_low_hz)
        self.min_high_hz, self.max_high_hz = float(min_high_hz), float(max_high_hz)
        self.order = _check_order(order)
        self._min_edge = self.min_low_hz

    def _sample(self, x, lengths, generator):
        u = draw(x.shape[0], 3, generator)
        low = _log_uniform(u[:, 1], self.min_low_hz, self.max_low_hz)
        high = _log_uniform(u[:, 2], self.min_high_hz, self.max_high_hz)
        cut = np.stack([low, high], 1) if isinstance(low, np.ndarray) else torch.stack([low, high], 1)
        return CutoffParams(applied=tensor(u[:, 0] < self.p), cutoff_hz=tensor(cut))


class Telephone(Injector):
    """A narrow-band telephone line: 300-3400 Hz band pass, 8 kHz, 8-bit G.711 mu-law or A-law, back to the rate.

    :func:`audionoise.functional.filters.telephone`: a Butterworth band pass (order 4 per edge), resampling to
    8 kHz and back (``torchaudio.functional.resample``), and 8-bit companding (``law="mu"`` or ``"a"``); nothing
    of the signal above 4 kHz survives. The length is kept, padding is never written. Batched on CPU or GPU and
    differentiable in ``x`` (straight-through quantizer). ``sample_rate`` must be at least 8000 Hz.

    Example:
        >>> y = Telephone(sample_rate=16000)(0.1 * torch.randn(2, 16000))
    """

    def __init__(self, *, sample_rate: int, law: str = "mu", p: float = 1.0) -> None:
        super().__init__(p)
        self.sample_rate = check_sample_rate(sample_rate)
        if sample_rate < 8000:
            raise ValueError(f"Telephone needs sample_rate >= 8000 Hz (it resamples to 8 kHz), got {sample_rate}")
        if law not in ("mu", "a"):
            raise ValueError(f"law must be 'mu' (G.711 mu-law) or 'a' (A-law), got {law!r}")
        self.law = law

    def _sample(self, x, lengths, generator):
        return Params(applied=tensor(draw(x.shape[0], 1, generator)[:, 0] < self.p))

    def _apply_params(self, x, params, lengths, owned):
        check_finite(x)  # an FFT or a codec would spread one NaN over the whole example
        y = telephone(_zero_padding(x, lengths), self.sample_rate, self.law)
        return _keep_outside(x, y, params.applied, lengths), {}

    def records(self, params, info=None):
        return [dict(r, law=self.law) for r in super().records(params, info)]


@dataclasses.dataclass(frozen=True)
class CodecParams(Params):
    """``codec`` (index into the injector's ``codecs``) and ``quality`` in [0, 1] per example."""

    codec: Tensor
    quality: Tensor


class Codec(Injector):
    """Round-trip each example through a lossy codec in memory (libsndfile's encoders), keeping length and timing.

    Per example: a codec drawn uniformly from ``codecs`` (any of ``"mp3"``, ``"vorbis"``, ``"opus"``, ``"gsm"``)
    and ``quality ~ U(min_quality, max_quality)``, libsndfile's setting ``1 - compression_level`` (0 = smallest
    file; the bit rates it gives are in :func:`audionoise.io.codec_round_trip` and docs/injectors.md). Audio at a
    rate the codec does not encode is resampled to :func:`audionoise.io.codec_rate` and back (GSM: 8 kHz). The
    codec's delay is removed by cross-correlation with the input (lags up to ``max_delay_s``), so the output is
    aligned with the input and has its length. Records name the codec, the quality and the measured bit rate of
    the encoded stream (``kbps``, container included).

    CPU, one example at a time (libsndfile works on NumPy arrays); not differentiable (an input that requires a
    gradient is refused).

    Example:
        >>> t = Codec(("mp3", "opus"), 0.05, 0.3, sample_rate=16000)
        >>> y = t(0.1 * torch.randn(2, 16000), generator=torch.Generator().manual_seed(0))
    """

    def __init__(self, codecs: tuple[str, ...] | list[str] = ("mp3", "vorbis", "opus", "gsm"),
                 min_quality: float = 0.0, max_quality: float = 0.5, *, sample_rate: int, max_delay_s: float = 0.1,
                 p: float = 1.0) -> None:
        super().__init__(p)
        self.sample_rate = check_sample_rate(sample_rate)
        codecs = [codecs] if isinstance(codecs, str) else list(codecs)
        unknown = [c for c in codecs if c not in aio.CODECS]
        if not codecs or unknown:
            raise ValueError(f"codecs must be a non-empty list of {list(aio.CODECS)}, got {codecs}")
        check_range("min_quality", min_quality, "max_quality", max_quality, lo_bound=0.0)
        if max_quality > 1.0:
            raise ValueError(f"max_quality ({max_quality}) must be <= 1")
        self.codecs, self.min_quality, self.max_quality = codecs, float(min_quality), float(max_quality)
        self.max_delay_s = check_number("max_delay_s", max_delay_s, lo_bound=0.0)

    def _sample(self, x, lengths, generator):
        u = draw(x.shape[0], 3, generator)
        return CodecParams(applied=tensor(u[:, 0] < self.p), codec=tensor(scale_int(u[:, 1], len(self.codecs) - 1)),
                           quality=tensor(scale_uniform(u[:, 2], self.min_quality, self.max_quality)))

    def _apply_params(self, x, params, lengths, owned):
        check_finite(x)  # an FFT or a codec would spread one NaN over the whole example
        refuse_grad(x, "Codec")
        codecs, quality = params.codec.tolist(), params.quality.tolist()
        kbps = [0.0] * x.shape[0]

        def round_trip(b: int, row: np.ndarray) -> np.ndarray:
            name = self.codecs[codecs[b]]
            y, nbytes = _round_trip(row, self.sample_rate, name, quality[b], self.max_delay_s)
            kbps[b] = nbytes * 8.0 / (row.shape[-1] / self.sample_rate) / 1000.0
            return y

        outs, _ = map_rows(x, lengths, params.applied, round_trip)
        return put_rows(x, outs), {"kbps": torch.tensor(kbps)}

    def records(self, params, info=None):
        rows = super().records(params, info)
        for row in rows:
            row["codec"] = self.codecs[row["codec"]]
        return rows


def _round_trip(row: np.ndarray, sample_rate: int, codec: str, quality: float,
                max_delay_s: float) -> tuple[np.ndarray, int]:
    """One example ``(..., n)`` through ``codec`` at its rate, delay removed, back at ``sample_rate``, length n."""
    n = row.shape[-1]
    x = torch.from_numpy(row.reshape(-1, n))
    rate = aio.codec_rate(codec, sample_rate)
    import torchaudio.functional as AF  # here: importing torchaudio costs ~0.2 s (audionoise.offline start-up)

    xc = x if rate == sample_rate else AF.resample(x, sample_rate, rate)
    decoded, nbytes = aio.codec_round_trip(xc.numpy(), rate, codec, quality)
    y = torch.from_numpy(decoded)
    lag = estimate_delay(xc, y, min(int(math.ceil(max_delay_s * rate)), max(y.shape[-1] - 1, 0)))
    y = y[:, lag:]
    if rate != sample_rate:
        y = AF.resample(y, rate, sample_rate)
    y = y[:, :n] if y.shape[-1] >= n else torch.nn.functional.pad(y, (0, n - y.shape[-1]))
    return y.reshape(row.shape).numpy(), nbytes
