"""Additive white and coloured Gaussian noise at an exact per-example SNR."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from audionoise.functional._checks import expand_to, valid_mask
from audionoise.functional.noise import shape_noise
from audionoise.transforms._mixing import LOW_PRECISION, add_scaled_noise, check_snr_reference, mix_cpu
from audionoise.kernels.draws import uniform
from audionoise.transforms._blocks import NoiseStream, SnrBlockStep, deferred
from audionoise.transforms.base import (Injector, Params, check_range, draw, needs_grad, not_recorded, scale_uniform,
                                        tensor, uniform_rows)


@dataclasses.dataclass(frozen=True)
class NoiseParams(Params):
    """``snr_db`` (batch,), ``exponent`` (batch,), and the unit-power noise itself (not recorded)."""

    snr_db: Tensor
    exponent: Tensor
    noise: Tensor = not_recorded()


class ColoredNoise(Injector):
    """Add Gaussian noise with PSD ``1/f**exponent`` at a random SNR in ``[min_snr_db, max_snr_db]``.

    Per example: ``snr ~ U(min_snr_db, max_snr_db)``, ``exponent ~ U(min_exponent, max_exponent)`` (0 white,
    1 pink, 2 brown, -1 blue, -2 violet); the noise is scaled so the SNR (see :mod:`audionoise.functional.snr`)
    is exact. Each channel gets its own noise. The clean signal is never rescaled; padding gets no noise.
    Differentiable in ``x`` (the noise is a constant; the gain, which depends on the signal's power, is not
    detached). float16/bfloat16 inputs keep their dtype; powers and gains are computed in float32.

    Example:
        >>> t = ColoredNoise(10.0, 10.0, 1.0, 1.0)
        >>> x = torch.randn(2, 16000)
        >>> y = t(x, generator=torch.Generator().manual_seed(0))
    """

    #: adds a signal independent of the input (offline --stems: the noise stem)
    adds_noise = True

    batchable = True

    def __init__(self, min_snr_db: float, max_snr_db: float, min_exponent: float = 0.0, max_exponent: float = 0.0,
                 p: float = 1.0, snr_reference: str = "full") -> None:
        super().__init__(p)
        check_range("min_snr_db", min_snr_db, "max_snr_db", max_snr_db)
        check_range("min_exponent", min_exponent, "max_exponent", max_exponent)
        self.min_snr_db, self.max_snr_db = float(min_snr_db), float(max_snr_db)
        self.min_exponent, self.max_exponent = float(min_exponent), float(max_exponent)
        self.snr_reference = check_snr_reference(snr_reference)

    def _sample(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator | None) -> NoiseParams:
        u = draw(x.shape[0], 3, generator)
        applied = tensor(u[:, 0] < self.p)
        snr = tensor(scale_uniform(u[:, 1], self.min_snr_db, self.max_snr_db))
        exponent = tensor(scale_uniform(u[:, 2], self.min_exponent, self.max_exponent))
        device = generator.device if generator is not None else x.device
        noise = self._noise(x.shape, exponent, generator, device, applied).to(x.device)
        if x.dtype not in LOW_PRECISION:  # low precision: keep the float32 noise, mixed in float32
            noise = noise.to(x.dtype)
        if lengths is not None:
            noise.mul_(expand_to(valid_mask(lengths, x.shape[-1], x.device), noise))
        return NoiseParams(applied=applied, snr_db=snr, exponent=exponent, noise=noise)

    def _noise(self, shape: torch.Size, exponent: Tensor, generator: torch.Generator | None,
               device: torch.device, applied: Tensor) -> Tensor:
        """Unit-power coloured noise for the applied examples, zeros for the others.

        The white noise is always drawn for the whole batch, so the random stream never depends on ``p``. On CPU
        only the applied rows are shaped (the FFTs are most of the cost: ``p = 0.3`` does 30 % of them); on GPU all
        rows are (selecting rows would sync with the host, and the FFTs are cheap there).
        """
        white = torch.randn(shape, generator=generator, device=device)
        if self.min_exponent == self.max_exponent == 0.0:
            return white
        exp = exponent.to(device).view(-1, *([1] * (len(shape) - 2)))
        applied = applied.to(device)
        if white.device.type != "cpu" or bool(applied.all()):
            return shape_noise(white, exp)
        rows = torch.nonzero(applied).flatten()
        out = torch.zeros_like(white)
        if rows.numel():
            out.index_copy_(0, rows, shape_noise(white.index_select(0, rows), exp.index_select(0, rows)))
        return out

    def _fast_forward(self, x: Tensor, lengths: Tensor | None,
                      generator: torch.Generator | None) -> Tensor | None:
        """White noise on an unpadded CPU batch: the same draws and arithmetic as :meth:`_sample` then
        :func:`add_scaled_noise` (bit for bit, tested), without building the ``Params`` tensors."""
        if (self.min_exponent != 0.0 or self.max_exponent != 0.0 or getattr(self, "bank", None) is not None
                or lengths is not None or self.snr_reference != "full" or not x.is_cpu
                or x.dtype not in (torch.float32, torch.float64) or needs_grad(x)):
            return None
        rows = uniform_rows(x.shape[0], 3, generator)
        if rows is None:  # not a CPU generator
            return None
        noise = torch.randn(x.shape, generator=generator)
        if x.dtype != noise.dtype:
            noise = noise.to(x.dtype)
        snr = [uniform(r[1], self.min_snr_db, self.max_snr_db) for r in rows]
        return mix_cpu(x, noise, snr, [r[0] < self.p for r in rows])

    def _apply_params(self, x: Tensor, params: Params, lengths: Tensor | None,
                      owned: bool) -> tuple[Tensor, dict[str, Tensor]]:
        return add_scaled_noise(x, params.noise, params.snr_db, params.applied, lengths, self.snr_reference,
                                owned=owned)


class WhiteNoise(ColoredNoise):
    """Add white Gaussian noise at a random SNR in ``[min_snr_db, max_snr_db]`` dB (exact per example).

    ``snr_reference="active"`` measures the speech power on active frames only (energy VAD,
    :func:`audionoise.functional.active_mask`), so leading/trailing silence does not change the noise level.

    ``bank_samples > 0`` (opt-in speed-up) draws the noise as random windows of one pre-generated Gaussian
    buffer of that many samples (made once from ``bank_seed``) instead of fresh ``randn``: a gather instead of a
    Gaussian generator, several times faster on CPU. Windows of different examples may overlap, so noise is no
    longer independent across examples; choose a buffer much longer than a batch (e.g. 10 x batch x time).

    Example:
        >>> y = WhiteNoise(10.0, 10.0)(torch.ones(1, 16000), generator=torch.Generator().manual_seed(0))
        >>> round(float((y - 1).pow(2).mean().sqrt()), 4)
        0.3162
    """

    numpy_step = "white_noise"

    def streams_in_blocks(self) -> bool:
        return type(self) is WhiteNoise and not self.bank_samples and self.snr_reference == "full"

    def block_step(self, params, deferred, channels):
        return _WhiteBlocks(params, deferred)

    def __init__(self, min_snr_db: float, max_snr_db: float, p: float = 1.0, snr_reference: str = "full",
                 bank_samples: int = 0, bank_seed: int = 0) -> None:
        super().__init__(min_snr_db, max_snr_db, 0.0, 0.0, p=p, snr_reference=snr_reference)
        if not isinstance(bank_samples, int) or isinstance(bank_samples, bool) or bank_samples < 0:
            raise ValueError(f"bank_samples must be an integer >= 0 (0 = fresh noise every call), "
                             f"got {bank_samples!r}")
        self.bank_samples, self.bank_seed = bank_samples, int(bank_seed)
        self.bank = None
        if bank_samples:
            from audionoise.transforms.background import NoiseBank

            gauss = torch.randn(bank_samples, generator=torch.Generator().manual_seed(self.bank_seed))
            self.bank = NoiseBank.from_tensors([gauss], sample_rate=1, names=["gaussian"])

    def _noise(self, shape: torch.Size, exponent: Tensor, generator: torch.Generator | None,
               device: torch.device, applied: Tensor) -> Tensor:
        if self.bank is None:
            streamed = deferred(self, tuple(shape), generator)  # a long-file host regenerates it in blocks
            return streamed if streamed is not None else torch.randn(shape, generator=generator, device=device)
        rows = 1
        for s in shape[:-1]:
            rows *= s
        offset = torch.randint(0, self.bank_samples, (rows,), generator=generator, device=device)
        return self.bank.windows(torch.zeros_like(offset), offset, shape[-1]).view(shape)


class _WhiteBlocks(SnrBlockStep):
    """:class:`WhiteNoise` block by block: each channel's noise regenerated from where it starts in the stream."""

    def __init__(self, params: Params, noise: dict) -> None:
        super().__init__(params)
        self.noise = noise
        self.streams: list[NoiseStream] = []

    def start(self) -> None:
        n = self.noise
        self.streams = [NoiseStream(state, start, c * n["frames"], n["n_total"])
                        for c, (state, start) in enumerate(zip(n["states"], n["starts"]))]

    def noise_block(self, t0: int, length: int) -> Tensor:
        return torch.stack([s.take(length) for s in self.streams])[None]  # (1, channels, length)

    def noise_power(self, frames: int) -> float:
        return self.noise["power"]
