"""Reverberation: convolution with a synthetic or a measured room impulse response, on any device."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from audionoise.functional._checks import check_finite, expand_to, per_example, valid_mask
from audionoise.functional.rir import (
    _convolve,
    _fft_convolve,
    convolution_size,
    direct_path_index,
    rt60,
    synthetic_rir,
)
from audionoise.functional.snr import _power
from audionoise.transforms.base import (
    Injector,
    Params,
    check_range,
    check_sample_rate,
    draw,
    not_recorded,
    scale_int,
    scale_uniform,
    tensor,
)

NORMALIZE = ("energy", "direct")


def _energy_gain(p_dry: Tensor, mask: Tensor | None):
    """``gain(i, j, wet)``: ``sqrt(P_dry / P_wet)`` for examples ``i:j`` over their valid samples (1 where the
    reverberant result is silent), so the result keeps the input's power."""
    def gain(i: int, j: int, wet: Tensor) -> Tensor:
        p_wet = _power(wet, None if mask is None else mask[i:j])
        ok = p_wet > 0
        return torch.where(ok, torch.sqrt(p_dry[i:j] / torch.where(ok, p_wet, torch.ones_like(p_wet))),
                           torch.ones_like(p_wet))
    return gain


class RIRBank(nn.Module):
    """Measured room impulse responses, decoded and resampled once, aligned on their direct path.

    ``data`` is ``(count, L)`` (shorter responses zero-padded); response ``k`` has its direct path (largest
    absolute tap) at ``peak[k]`` and is scaled so that tap is exactly 1 (unit direct-path gain, polarity kept).
    Multichannel files contribute their first channel. An ``nn.Module``: ``.to(device)`` moves it.

    Example:
        >>> bank = RIRBank.from_tensors([torch.tensor([0.0, 0.5, 0.2, 0.1])], sample_rate=16000)
        >>> bank.data, bank.peak
        (tensor([[0.0000, 1.0000, 0.4000, 0.2000]]), tensor([1]))
    """

    def __init__(self, data: Tensor, peak: Tensor, lengths: Tensor, sample_rate: int, names: list[str],
                 source: Any = None, skipped: list[dict] | None = None) -> None:
        super().__init__()
        if len(names) == 0:
            raise ValueError(f"impulse-response bank from {source or 'tensors'} holds no usable (non-silent) "
                             f"response; add impulse-response files (wav, flac, ...) with signal in them")
        self.register_buffer("data", data, persistent=False)
        self.register_buffer("peak", peak.long(), persistent=False)
        self.register_buffer("lengths", lengths.long(), persistent=False)
        self.sample_rate, self.names, self.source = int(sample_rate), list(names), source
        self.skipped = list(skipped or [])
        self.max_peak = int(peak.max())
        self._spectra: dict[tuple, Tensor] = {}

    @classmethod
    def from_tensors(cls, rirs: Sequence[Tensor], sample_rate: int, names: list[str] | None = None,
                     source: Any = None) -> "RIRBank":
        """A bank from 1-D (or ``(channels, time)``: first channel) responses; empty/silent/non-finite ones are
        skipped (listed in ``skipped``)."""
        names = list(names) if names is not None else [f"rir{i}" for i in range(len(rirs))]
        kept, kept_names, skipped = [], [], []
        for name, h in zip(names, rirs):
            h = torch.as_tensor(h, dtype=torch.float32)
            h = h[0] if h.dim() == 2 else h.reshape(-1)
            reason = ("empty" if h.numel() == 0 else "non-finite samples" if not bool(torch.isfinite(h).all())
                      else "all-zero" if not bool(h.abs().max() > 0) else None)
            if reason:
                skipped.append({"rir": name, "reason": reason})
                continue
            kept.append(h)
            kept_names.append(name)
        length = max((h.numel() for h in kept), default=1)
        data = torch.zeros(len(kept), length)
        peaks = torch.zeros(len(kept), dtype=torch.long)
        for k, h in enumerate(kept):
            p = int(direct_path_index(h))
            data[k, : h.numel()] = h / h[p]
            peaks[k] = p
        return cls(data, peaks, torch.tensor([h.numel() for h in kept]), sample_rate, kept_names, source,
                   skipped)

    @classmethod
    def from_paths(cls, paths: str | os.PathLike | Sequence[str | os.PathLike], sample_rate: int) -> "RIRBank":
        """Decode impulse-response files once: a folder (searched recursively, sorted), a file, or a list of them."""
        from audionoise import io as aio

        items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not items:
            raise ValueError("rir: empty list of impulse-response files or folders")
        files: list[Path] = []
        for item in items:
            p = Path(item)
            if p.is_dir():
                found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in aio.AUDIO_EXTENSIONS)
                if not found:
                    raise ValueError(f"rir folder {str(p)!r} holds no audio file "
                                     f"(looked for {sorted(aio.AUDIO_EXTENSIONS)})")
                files.extend(found)
            elif p.is_file():
                files.append(p)
            else:
                raise ValueError(f"rir {str(p)!r} does not exist; pass a folder or files of impulse responses")
        rirs, names, skipped = [], [], []
        for f in files:
            try:
                rirs.append(aio.load(f, sample_rate=sample_rate)[0])
                names.append(str(f))
            except ValueError as exc:  # AudioFileError: report and go on
                skipped.append({"rir": str(f), "reason": str(exc)})
        bank = cls.from_tensors(rirs, sample_rate, names, source=[str(i) for i in items] if len(items) > 1
                                else str(items[0]))
        bank.skipped = skipped + bank.skipped
        return bank

    def __len__(self) -> int:
        return len(self.names)

    #: largest cache of response spectra kept per FFT size, in bytes (beyond: transformed per call)
    SPECTRUM_CACHE_BYTES = 256 * 2**20

    def spectra(self, index: Tensor, taps: int, n: int) -> Tensor:
        """Spectra of the responses ``index`` read from their direct path: ``rfft(h[:taps], n) * e^{2 pi i k p / n}``.

        The phase ramp shifts each response ``p = peak`` samples earlier (circularly), so ``irfft(X H)[:T]`` is the
        convolution read from the direct path on (:func:`audionoise.functional.rir.fft_convolve` with ``offset``)
        without a gather; ``n >= T + taps - 1`` keeps what wraps around out of the first ``T`` samples. The whole
        bank's spectra are cached per ``(taps, n)``, device and dtype when they fit in
        :attr:`SPECTRUM_CACHE_BYTES`, else computed for the selected responses only.
        """
        index = index.to(self.data.device)
        table = self.spectrum_table(taps, n)
        return self._aligned_spectra(index, taps, n) if table is None else table.index_select(0, index)

    def spectrum_table(self, taps: int, n: int) -> Tensor | None:
        """The cached ``(count, n // 2 + 1)`` spectra of the whole bank (see :meth:`spectra`), or ``None`` when they
        would exceed :attr:`SPECTRUM_CACHE_BYTES`."""
        if len(self) * (n // 2 + 1) * 8 > self.SPECTRUM_CACHE_BYTES:
            return None
        key = (taps, n, self.data.device, self.data.dtype)
        if key not in self._spectra:
            self._spectra = {key: self._aligned_spectra(None, taps, n)}
        return self._spectra[key]

    def _aligned_spectra(self, index: Tensor | None, taps: int, n: int) -> Tensor:
        data = self.data if index is None else self.data.index_select(0, index)
        peak = self.peak if index is None else self.peak.index_select(0, index)
        k = torch.arange(n // 2 + 1, device=data.device, dtype=torch.float64)
        ramp = torch.polar(torch.ones_like(k), 2.0 * torch.pi * k * peak.to(torch.float64)[:, None] / n)
        return (torch.fft.rfft(data[:, :taps].double(), n=n) * ramp).to(torch.complex64)

    def _apply(self, fn, recurse=True):  # noqa: D401 - nn.Module hook: drop cached spectra when moved/cast
        self._spectra = {}
        return super()._apply(fn, recurse)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_spectra"] = {}
        return state

    def rt60(self) -> Tensor:
        """Measured RT60 of each response (Schroeder, T20 x 3; NaN where too short to measure), seconds."""
        return rt60(self.data, self.sample_rate)


@dataclasses.dataclass(frozen=True)
class SyntheticReverbParams(Params):
    """``rt60`` (s) and ``drr_db`` per example, and the drawn impulse responses (not recorded)."""

    rt60: Tensor
    drr_db: Tensor
    rir: Tensor = not_recorded()


@dataclasses.dataclass(frozen=True)
class BankReverbParams(Params):
    """``rir``: index of the bank response per example."""

    rir: Tensor


class Reverb(Injector):
    """Convolve each example with a room impulse response; the output keeps the input's length and timing.

    With ``rir=None`` every example gets its own synthetic response (:func:`audionoise.functional.rir.
    synthetic_rir`: a unit direct path then exponentially decaying Gaussian noise) with ``RT60 ~ U(min_rt60,
    max_rt60)`` seconds and direct-to-reverberant ratio ``DRR ~ U(min_drr_db, max_drr_db)``; the response is
    ``ceil(max_rt60 * sample_rate)`` taps long (60 dB of decay at the longest RT60). Otherwise ``rir`` is a folder,
    a file or a list of them (decoded once into an :class:`RIRBank`), or an ``RIRBank``, and each example gets a
    uniformly drawn response of the bank.

    The direct path stays where it was in the input (a measured response is read from its direct-path tap, so its
    onset delay is compensated), the reverberant tail past the end of an example is cut, and padding after
    ``lengths`` is never written. The same response is used on every channel of an example. FFT convolution: one
    batched transform on CPU or GPU, differentiable in ``x``.

    Level (``normalize``): ``"energy"`` (default) scales the result to the input's power over the valid samples, so
    an SNR-based injector that follows measures the same speech power as on the dry signal: the SNR it sets is the
    SNR relative to the dry speech (and the same in relative to the reverberant speech, which has that power).
    ``"direct"`` keeps the direct path at unit gain: the reverberant speech is then louder than the dry one by
    about ``10 log10(1 + 10^(-DRR/10))`` dB, and a following SNR refers to the reverberant speech. To add noise that
    is itself reverberant (a noise source in the same room), put the noise injector before ``Reverb``.

    Example:
        >>> t = Reverb(min_rt60=0.3, max_rt60=0.6, sample_rate=16000)
        >>> y = t(torch.randn(2, 16000), generator=torch.Generator().manual_seed(0))
        >>> y.shape
        torch.Size([2, 16000])
    """

    path_field = "rir"

    def __init__(self, rir: Any = None, min_rt60: float = 0.2, max_rt60: float = 1.0, min_drr_db: float = -5.0,
                 max_drr_db: float = 10.0, *, sample_rate: int, normalize: str = "energy", p: float = 1.0) -> None:
        super().__init__(p)
        check_sample_rate(sample_rate)
        check_range("min_rt60", min_rt60, "max_rt60", max_rt60, lo_bound=0.0)
        if min_rt60 <= 0:
            raise ValueError(f"min_rt60 ({min_rt60}) must be > 0 seconds")
        check_range("min_drr_db", min_drr_db, "max_drr_db", max_drr_db)
        if normalize not in NORMALIZE:
            raise ValueError(f"normalize must be one of {list(NORMALIZE)}, got {normalize!r}")
        self.min_rt60, self.max_rt60 = float(min_rt60), float(max_rt60)
        self.min_drr_db, self.max_drr_db = float(min_drr_db), float(max_drr_db)
        self.sample_rate, self.normalize = sample_rate, normalize
        if rir is None or isinstance(rir, RIRBank):
            self.bank = rir
        elif isinstance(rir, (str, os.PathLike, list, tuple)):
            self.bank = RIRBank.from_paths(rir, sample_rate)
        else:
            raise ValueError(f"rir must be None (synthetic), a folder/file path, a list of them or an RIRBank, "
                             f"got {type(rir).__name__}")
        if self.bank is not None and self.bank.sample_rate != sample_rate:
            raise ValueError(f"RIRBank sample_rate ({self.bank.sample_rate}) differs from sample_rate "
                             f"({sample_rate}); build it with RIRBank.from_paths(path, {sample_rate})")
        self.rir_taps = int(-(-self.max_rt60 * sample_rate // 1))

    #: the settings of synthetic responses, which a bank of measured ones ignores
    SYNTHETIC_ONLY = ("min_rt60", "max_rt60", "min_drr_db", "max_drr_db")

    def config(self) -> dict[str, Any]:
        """Constructor arguments; with a bank of measured responses, without the synthetic-only settings (RT60 and
        DRR ranges), which it ignores: the repr and a saved config show only what is used."""
        config = super().config()
        if self.bank is not None:
            for name in self.SYNTHETIC_ONLY:
                del config[name]
        return config

    @property
    def rir(self) -> Any:
        """``None`` (synthetic), the paths the bank was built from, or the in-memory bank (configs cannot hold)."""
        if self.bank is None:
            return None
        return self.bank if self.bank.source is None else self.bank.source

    def _sample(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator | None) -> Params:
        if self.bank is not None:
            u = draw(x.shape[0], 2, generator)
            return BankReverbParams(applied=tensor(u[:, 0] < self.p), rir=tensor(scale_int(u[:, 1], len(self.bank) - 1)))
        u = draw(x.shape[0], 3, generator)
        device = generator.device if generator is not None else torch.device("cpu")
        noise = torch.randn(x.shape[0], self.rir_taps, generator=generator, device=device)
        rt = tensor(scale_uniform(u[:, 1], self.min_rt60, self.max_rt60))
        drr = tensor(scale_uniform(u[:, 2], self.min_drr_db, self.max_drr_db))
        return SyntheticReverbParams(applied=tensor(u[:, 0] < self.p), rt60=rt, drr_db=drr,
                                     rir=synthetic_rir(rt, drr, noise, self.sample_rate))

    def _apply_params(self, x, params, lengths, owned):
        mask = valid_mask(lengths, x.shape[-1], x.device)
        dry = x if mask is None else x * expand_to(mask, x).to(x.dtype)
        p_dry = _power(dry, mask) if self.normalize == "energy" else None
        if p_dry is None or p_dry.device.type != "cpu" or not bool(torch.isfinite(p_dry).all()):
            check_finite(x)  # an FFT would spread one NaN over the whole example (p_dry is finite when x is)
        gain = None if p_dry is None else _energy_gain(p_dry, mask)
        if isinstance(params, BankReverbParams):
            taps = min(self.bank.data.shape[-1], self.bank.max_peak + x.shape[-1])
            n = convolution_size(x.shape[-1], taps)
            index = params.rir.to(self.bank.data.device)
            # the bank's spectra are aligned on the direct path: no gather of the output
            table = self.bank.spectrum_table(taps, n) if dry.device.type == "cpu" else None
            if table is None:
                spectra = lambda i, j: self.bank.spectra(index[i:j], taps, n)  # noqa: E731
            else:  # each row multiplied by its table row in place: no gathered copy of the spectra
                rows = index.tolist()
                spectra = lambda i, j: (table, rows[i:j])  # noqa: E731
            wet = _convolve(dry, spectra, n, None, False, gain)
        else:
            wet = _fft_convolve(dry, params.rir, gain=gain)
        if mask is None and x.device.type == "cpu" and bool(params.applied.all()):
            return wet, {}  # every sample of every example is reverberant (reading the flags syncs only on GPU)
        use = per_example(params.applied.to(x.device), x)
        if mask is not None:
            use = use & expand_to(mask, x)
        return torch.where(use, wet, x), {}

    def records(self, params: Params, info: dict[str, Tensor] | None = None) -> list[dict]:
        rows = super().records(params, info)
        if self.bank is not None:
            for row in rows:
                row["rir_name"] = self.bank.names[row["rir"]]
        return rows
