"""Background noise from a bank of recordings: exact SNR or absolute level, capped gain, one or several sources."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from audionoise.functional._checks import check_finite, valid_mask
from audionoise.functional.snr import LN10_OVER_20, TINY_POWER, _power, active_mask, gain_for_snr, gain_numpy
from audionoise.kernels.gains import gain_scalar
from audionoise.transforms._bank_use import check_weight, pick, resolve_bank
from audionoise.transforms._mixing import LOW_PRECISION, check_snr_reference
from audionoise.kernels.draws import pick_clip, uniform
from audionoise.transforms._blocks import SnrBlockStep, reached_snr
from audionoise.transforms.base import (Injector, Params, check_number, check_range, draw, needs_grad, scale_int,
                                        scale_uniform, tensor, uniform_rows)
from audionoise.transforms.noisebank import NoiseBank, NoiseBankWarning

__all__ = ["BackgroundNoise", "BackgroundParams", "NoiseBank", "NoiseBankWarning"]


@dataclasses.dataclass(frozen=True)
class BackgroundParams(Params):
    """Per example: the target level, and which window of which clip each noise source is.

    ``snr_db`` (batch,): target SNR of the total noise (NaN in absolute-level mode); ``noise_level_dbfs``
    (batch,): target RMS of the total noise in dBFS (NaN in SNR mode); ``clip``, ``offset`` (samples) and
    ``source_db`` (relative level of each source, dB; ``-inf`` = source unused): ``(batch,)`` with one source,
    ``(batch, K)`` when ``num_sources`` allows up to ``K``.
    """

    snr_db: Tensor
    noise_level_dbfs: Tensor
    clip: Tensor
    offset: Tensor
    source_db: Tensor


class BackgroundNoise(Injector):
    """Mix random windows of recorded noise into each example at an exact SNR (or an absolute level).

    Per example: ``k`` sources (``num_sources``, default 1), each a clip drawn from the bank (uniformly by clip,
    or by duration with ``weight="duration"``) at a uniform random offset (clips shorter than the example loop,
    seamlessly: see :class:`NoiseBank`), at a relative level ``U(source_db)`` dB; their sum is then scaled so
    that the TOTAL noise has the target level exactly:

    * SNR mode (``min_snr_db``, ``max_snr_db``): ``snr ~ U(min, max)``, ``10*log10(P_s / P_n) == snr`` over the
      valid samples (or active speech, ``snr_reference="active"``). A silent example gets no noise.
    * Absolute mode (``noise_level_dbfs=(lo, hi)``): the noise RMS over the valid samples is
      ``U(lo, hi)`` dBFS (``20*log10(rms)``, 0 dBFS = RMS 1.0, a full-scale sine is -3.01 dBFS), whatever the
      signal: silent examples get noise too.

    ``max_gain_db`` caps the gain applied to the (summed) noise: where the cap binds, the noise is quieter than the
    target and the record says ``gain_capped: true`` with the SNR reached (``snr_db_actual``); elsewhere the target
    is met exactly. The same mono noise goes to every channel of an example; padding gets none.

    Args:
        noise: a folder, a text file of audio paths, a NeMo JSONL manifest (optional ``offset``/``duration``
            segments), an audio file, a glob pattern, a list of these (see :meth:`NoiseBank.from_source`), or a
            :class:`NoiseBank`.
        min_snr_db, max_snr_db: SNR range in dB (SNR mode).
        sample_rate: rate of the audio this is applied to (the bank is resampled to it); may be left out with a
            ``NoiseBank``.
        p: probability per example.
        snr_reference: ``"full"`` or ``"active"`` (see :func:`audionoise.functional.mix_at_snr`).
        cache_dir: where the decoded bank is cached (``None``: the user cache folder, ``False``: no cache).
        noise_level_dbfs: ``(lo, hi)`` noise RMS range in dBFS (absolute mode; instead of the SNR range).
        max_gain_db: largest gain (dB) applied to the noise, ``None`` = no cap.
        num_sources: sources per example: an int, or ``(lo, hi)`` for ``k ~ U{lo..hi}`` per example.
        source_db: ``(lo, hi)`` range of each source's level relative to the others, in dB (before the total is
            scaled); default ``(-6, 0)``. Unused with one source.
        weight: ``"clip"`` (every clip equally likely) or ``"duration"`` (clips in proportion to their length:
            every second of the corpus equally likely).
        crossfade_s, max_clips, max_clips_seed: passed to :meth:`NoiseBank.from_source` when building the bank
            (default cross-fade 0.01 s; ``max_clips`` keeps a fixed random subset of a huge corpus).

    Example:
        >>> bank = NoiseBank.from_tensors([torch.randn(4000)], sample_rate=16000)
        >>> t = BackgroundNoise(bank, 5.0, 5.0, sample_rate=16000)
        >>> y = t(torch.randn(2, 16000), generator=torch.Generator().manual_seed(0))
        >>> babble = BackgroundNoise(bank, 0.0, 10.0, num_sources=(2, 4), max_gain_db=20.0)
    """

    path_field = "noise"
    #: adds a signal independent of the input (offline --stems: the noise stem)
    adds_noise = True

    batchable = True
    numpy_step = "background_noise"

    def block_step(self, params, deferred, channels):
        return _BackgroundBlocks(params, self.bank)

    def streams_in_blocks(self) -> bool:
        """One source at an exact SNR only: level mode, gain caps and several sources run on the whole file."""
        return (type(self) is BackgroundNoise and self.snr_reference == "full" and tuple(self._k) == (1, 1)
                and self.max_gain_db is None and self.noise_level_dbfs is None)

    def __init__(self, noise: Any, min_snr_db: float | None = None, max_snr_db: float | None = None,
                 sample_rate: int | None = None, p: float = 1.0, snr_reference: str = "full",
                 cache_dir: Any = None, *, noise_level_dbfs: Any = None, max_gain_db: float | None = None,
                 num_sources: Any = 1, source_db: Any = (-6.0, 0.0), weight: str = "clip",
                 crossfade_s: float | None = None, max_clips: int | None = None, max_clips_seed: int = 0) -> None:
        super().__init__(p)
        self.min_snr_db, self.max_snr_db, self.noise_level_dbfs = _levels(min_snr_db, max_snr_db, noise_level_dbfs)
        self.snr_reference = check_snr_reference(snr_reference)
        self.max_gain_db = None if max_gain_db is None else check_number("max_gain_db", max_gain_db)
        self.num_sources, self._k = _sources(num_sources)
        self.source_db = _pair("source_db", source_db)
        self.weight = check_weight(weight)
        self.cache_dir = os.fspath(cache_dir) if isinstance(cache_dir, os.PathLike) else cache_dir  # configs: a str
        self.crossfade_s, self.max_clips = crossfade_s, max_clips
        self.max_clips_seed = max_clips_seed
        bank, sample_rate = resolve_bank(noise, sample_rate, "BackgroundNoise", cache_dir=cache_dir,
                                         crossfade_s=crossfade_s, max_clips=max_clips,
                                         max_clips_seed=self.max_clips_seed)
        self.bank = bank
        self.sample_rate = int(sample_rate)
        self._range = (self.min_snr_db, self.max_snr_db) if self.noise_level_dbfs is None else self.noise_level_dbfs
        self._sizes = bank.clip_lengths  # host copies for sampling (no device round trip, no module lookups)
        #: False runs the device (GPU) code paths on CPU tensors too (tests; no host loops or NumPy)
        self._host_paths = True
        self._cap = None if self.max_gain_db is None else 10.0 ** (self.max_gain_db / 20.0)
        self._ends = np.cumsum(bank.clip_lengths)

    @property
    def noise(self) -> Any:
        """What the bank was built from (a path or a list of paths), or the bank itself (which configs cannot hold)."""
        return self.bank if self.bank.source is None else self.bank.source

    # -- sampling -----------------------------------------------------------------------------------------------
    def _sample(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator | None) -> BackgroundParams:
        b, (k_lo, k_hi) = x.shape[0], self._k
        u = draw(b, 4 if k_hi == 1 else 3 + 3 * k_hi, generator)
        host = isinstance(u, np.ndarray)
        if host and b == 1 and k_hi == 1:
            return self._sample_one(*u[0].tolist())
        level = scale_uniform(u[:, 1], *self._range)
        if k_hi == 1:
            clip, offset = self._pick(u[:, 2], u[:, 3])
            source_db = np.zeros(b, np.float32) if host else torch.zeros(b, device=u.device)
        else:
            cols = u[:, 3:].reshape(b, k_hi, 3)
            clip, offset = self._pick(cols[..., 0], cols[..., 1])
            source_db = scale_uniform(cols[..., 2], *self.source_db)
            unused = (np.arange(k_hi) if host else torch.arange(k_hi, device=u.device))[None] >= (
                scale_int(u[:, 2], k_hi - k_lo) + k_lo)[:, None]
            source_db[unused] = -math.inf
        blank = np.full(b, np.nan, np.float32) if host else torch.full((b,), math.nan, device=u.device)
        snr, dbfs = (level, blank) if self.noise_level_dbfs is None else (blank, level)
        return BackgroundParams(applied=tensor(u[:, 0] < self.p), snr_db=tensor(snr), noise_level_dbfs=tensor(dbfs),
                                clip=tensor(clip), offset=tensor(offset), source_db=tensor(source_db))

    def _sample_one(self, u_applied: float, u_level: float, u_clip: float, u_offset: float) -> BackgroundParams:
        """:meth:`_sample` of one example with one source, in Python floats (the same IEEE operations as
        :func:`scale_uniform`/:func:`scale_int` on arrays: equal parameters from equal uniforms, a few us less)."""
        level = uniform(u_level, *self._range)
        clip, offset = pick_clip(u_clip, u_offset, self._sizes, self._ends, self.weight)
        blank = math.nan
        snr, dbfs = (level, blank) if self.noise_level_dbfs is None else (blank, level)
        return BackgroundParams(applied=torch.full((1,), u_applied < self.p), snr_db=torch.full((1,), snr),
                                noise_level_dbfs=torch.full((1,), dbfs), clip=torch.full((1,), clip),
                                offset=torch.full((1,), offset), source_db=torch.zeros(1))

    def _fast_forward(self, x: Tensor, lengths: Tensor | None,
                      generator: torch.Generator | None) -> Tensor | None:
        """One unpadded float32 example on the CPU, one source at an exact SNR (the per-item ``Dataset`` pattern):
        the draws, window, powers, gain and mix of :meth:`_sample` then :meth:`_apply_params`, bit for bit (tested),
        without building ``Params`` tensors or records."""
        if (x.shape[0] != 1 or lengths is not None or not x.is_cpu or x.dtype != torch.float32 or needs_grad(x)
                or self.snr_reference != "full" or self._k != (1, 1) or self.noise_level_dbfs is not None
                or not self._host_paths or not self.bank.data.is_cpu):
            return None
        rows = uniform_rows(1, 4, generator)
        if rows is None:  # not a CPU generator
            return None
        u_applied, u_level, u_clip, u_offset = rows[0]
        snr = uniform(u_level, *self._range)
        clip, offset = pick_clip(u_clip, u_offset, self._sizes, self._ends, self.weight)
        t = x.shape[-1]
        noise = self.bank.window(clip, offset, t)  # verified (a cached bank) and counted like windows()
        # the powers of _powers' host path, inline: calling it (lists, arrays) costs a fifth of this whole call
        xa, w = x.detach().numpy(), noise.numpy()[0]
        pn = float(np.dot(w, w)) / float(max(t, 1))
        channels = math.prod(x.shape[1:-1])
        ss = float(np.dot(xa[0], xa[0])) if x.dim() == 2 else sum(np.dot(c, c) for c in xa[0])
        ps = float(np.array([ss], np.float64)[0] / (float(max(t, 1)) * channels))
        if not math.isfinite(ps):
            check_finite(x)
        g, _ = self._gain_one(ps, pn, snr, u_applied < self.p)
        scale = torch.full((1,) * x.dim(), g, dtype=torch.float32)
        if x.dim() > 2:
            return torch.addcmul(x, noise.view(1, *([1] * (x.dim() - 2)), t), scale)
        return torch.addcmul(x, noise, scale, out=noise)

    def _pick(self, u_clip: Any, u_offset: Any) -> tuple[Any, Any]:
        """Clip indices and uniform offsets in them, from two uniform arrays (:func:`_bank_use.pick`)."""
        return pick(u_clip, u_offset, self._sizes, self._ends, self.weight)

    # -- applying -----------------------------------------------------------------------------------------------
    def _apply_params(self, x: Tensor, params: Params, lengths: Tensor | None,
                      owned: bool) -> tuple[Tensor, Mapping[str, Tensor]]:
        b, t = x.shape[0], x.shape[-1]
        host = x.is_cpu and self._host_paths
        noise = self._noise(params, b, t)
        if not (x.is_cpu and noise.is_cpu) and noise.device != x.device:
            noise = noise.to(x.device)
        if noise.dtype != x.dtype and x.dtype not in LOW_PRECISION:
            noise = noise.to(x.dtype)
        if lengths is not None:
            if host:
                for r, n in enumerate(lengths.tolist()):
                    if n < t:
                        noise[r].narrow(0, n, t - n).zero_()
            else:
                noise.mul_(valid_mask(lengths, t, x.device))
        ps, pn = self._powers(x.detach(), noise, lengths, host)
        target = params.snr_db if self.noise_level_dbfs is None else params.noise_level_dbfs
        if host:  # the gain is a constant of the augmentation (detached): a few scalars per example on the host
            if b == 1:  # one example: Python floats (the same IEEE operations as the batch formula)
                ps1 = float(ps[0])
                if not math.isfinite(ps1):
                    check_finite(x)  # names the bad values; huge finite values (power overflow) get no noise
                g1, c1 = self._gain_one(ps1, float(pn[0]), target.item(), bool(params.applied.item()))
                scale = torch.full((1,) * x.dim(), g1, dtype=torch.float32 if x.dtype in LOW_PRECISION else x.dtype)
                g, capped = [g1], [c1]
            else:
                if not np.isfinite(ps).all():
                    check_finite(x)
                g, capped = self._gains(ps, pn, _host(target).astype(np.float64), _host(params.applied))
                scale = torch.from_numpy(g if x.dtype == torch.float64 else g.astype(np.float32))
        else:  # tensors on the device: no host synchronisation
            if x.is_cpu and not bool(torch.isfinite(ps).all()):
                check_finite(x)
            g, capped = self._gains(ps, pn, target.to(ps.device).double(), params.applied.to(ps.device))
            scale = g if x.dtype == torch.float64 else g.float()
        info = _Info(g, capped, ps, pn)
        if x.dim() > 2:
            noise = noise.view(b, *([1] * (x.dim() - 2)), t)  # the same mono noise on every channel
        if scale.dim() != x.dim():
            scale = scale.view(b, *([1] * (x.dim() - 1)))
        if x.dtype in LOW_PRECISION:
            return (x.float() + scale * noise).to(x.dtype), info
        if noise.shape == x.shape and not needs_grad(x):
            return torch.addcmul(x, noise, scale, out=noise), info  # the windows are a fresh tensor of ours
        return torch.addcmul(x, noise, scale), info

    def _noise(self, params: BackgroundParams, b: int, t: int) -> Tensor:
        """``(batch, time)`` sum of every example's sources, each at its relative level (a fresh tensor)."""
        if params.clip.dim() == 1:
            return self.bank.windows(params.clip, params.offset, t)
        k = params.clip.shape[1]
        if not (self.bank.data.is_cpu and self._host_paths):  # every slot, unused ones weighted 0 (no host sync)
            dev = self.bank.data.device
            win = self.bank.windows(params.clip.reshape(-1), params.offset.reshape(-1), t).view(b, k, t)
            w = torch.pow(10.0, params.source_db.to(dev, torch.float64) / 20.0).to(win.dtype)
            return torch.bmm(w[:, None, :], win)[:, 0]
        db = params.source_db.cpu().numpy()
        rows, slots = np.nonzero(np.isfinite(db))
        ri, si = torch.from_numpy(rows), torch.from_numpy(slots)
        win = self.bank.windows(params.clip.cpu()[ri, si], params.offset.cpu()[ri, si], t)
        w = torch.from_numpy(np.power(10.0, db[rows, slots] / 20.0)).to(win.dtype)
        win.mul_(w[:, None])
        return torch.zeros(b, t, dtype=win.dtype).index_add_(0, ri, win)

    def _powers(self, x: Tensor, noise: Tensor, lengths: Tensor | None, host: bool) -> tuple[Any, Any]:
        """Signal and noise power per example over the SNR reference samples, float64 (``noise`` is 0 in the
        padding and the same on every channel). NumPy arrays on the host: one BLAS dot per row (the valid part),
        no mask pass over the batch; tensors otherwise."""
        b, t = x.shape[0], x.shape[-1]
        if x.dtype in LOW_PRECISION:
            x = x.float()
        if self.snr_reference == "active":
            mask = active_mask(x, lengths)
            ps, pn = _power(x, mask).double(), _power(noise, mask).double()
            return (ps.numpy(), pn.numpy()) if host else (ps, pn)
        channels = math.prod(x.shape[1:-1])
        if host:
            xa, pn = x.numpy(), np.array([np.dot(row, row) for row in noise.numpy()], np.float64)
            # the same arithmetic with or without lengths (a padded batch equals its examples one at a time)
            k = [t] * b if lengths is None else lengths.tolist()
            if x.dim() == 2:
                ss = [np.dot(row, row) for row in xa] if lengths is None else [
                    np.dot(xa[r, :m], xa[r, :m]) for r, m in enumerate(k)]
            else:  # channel by channel, then summed
                ss = [sum(np.dot(c, c) for c in xa[r, :, :m]) for r, m in enumerate(k)]
            n = float(max(t, 1)) if lengths is None else np.maximum(np.array(k, np.float64), 1.0)
            return np.array(ss, np.float64) / (n * channels), pn / n
        count = (torch.full((b,), t, device=x.device) if lengths is None else lengths).double().clamp_min(1)
        xm = x if lengths is None else x * _mask(x, lengths)
        ps = torch.linalg.vector_norm(xm.flatten(1), dim=1).double().square() / (count * channels)
        return ps, torch.linalg.vector_norm(noise, dim=1).double().square() / count

    def _gains(self, ps: Any, pn: Any, target: Any, applied: Any) -> tuple[Any, Any]:
        """Gain of each example's summed noise and whether the cap bound (float64 NumPy arrays or tensors).

        SNR mode: ``g = sqrt(ps / pn) * 10**(-snr/20)`` (:func:`audionoise.functional.snr.gain_numpy`, the
        formula of every SNR injector); absolute mode: ``g = 10**(level/20) / sqrt(pn)``. No noise (``g = 0``)
        where not applied or where the noise power is ~0 (<= 1e-30); in SNR mode also where the signal is
        silent. :meth:`_gain_one` is the same arithmetic for one example.
        """
        if isinstance(ps, np.ndarray):
            if self.noise_level_dbfs is None:
                g = gain_numpy(ps, pn, target)
            else:
                g = np.exp(target * LN10_OVER_20) / np.sqrt(np.maximum(pn, TINY_POWER))
                g = np.where((pn > TINY_POWER) & np.isfinite(g), g, 0.0)
            g = g * applied
            if self.max_gain_db is None:
                return g, np.zeros(g.shape, bool)
            capped = g > self._cap
            return np.where(capped, self._cap, g), capped
        if self.noise_level_dbfs is None:
            g = gain_for_snr(ps, pn, target)
        else:
            g = torch.exp(target * LN10_OVER_20) / torch.sqrt(pn.clamp_min(TINY_POWER))
            g = g.nan_to_num_(0.0, 0.0, 0.0).masked_fill_(pn <= TINY_POWER, 0.0)
        g = g * applied
        if self.max_gain_db is None:
            return g, torch.zeros_like(g, dtype=torch.bool)
        capped = g > self._cap
        return g.clamp(max=self._cap), capped

    def _gain_one(self, ps: float, pn: float, target: float, applied: bool) -> tuple[float, bool]:
        """:meth:`_gains` for one example in Python floats: the same function in SNR mode (the kernel
        :func:`~audionoise.kernels.gains.gain_scalar`, which the batch's ``gain_numpy`` runs row by row), so an
        example alone and in a batch gets bit-identical noise."""
        if not applied or not pn > TINY_POWER:
            return 0.0, False
        if self.noise_level_dbfs is None:
            g = gain_scalar(ps, pn, target)
        else:
            g = float(np.exp(np.array([target], np.float64) * LN10_OVER_20)[0]) / math.sqrt(pn)
        if not math.isfinite(g):
            return 0.0, False
        if self.max_gain_db is not None and g > self._cap:
            return self._cap, True
        return g, False

    # -- records ------------------------------------------------------------------------------------------------
    def records(self, params: Params, info: dict[str, Tensor] | None = None) -> list[dict]:
        rows = super().records(params, info)
        drop = "noise_level_dbfs" if self.noise_level_dbfs is None else "snr_db"
        used = torch.isfinite(params.source_db).reshape(len(rows), -1).sum(1).tolist()
        for row, k in zip(rows, used):
            del row[drop]
            if params.clip.dim() == 1:
                del row["source_db"]
                row["clip_name"] = self.bank.names[row["clip"]]
            else:
                for key in ("clip", "offset", "source_db"):
                    row[key] = row[key][:k]
                row["clip_name"] = [self.bank.names[c] for c in row["clip"]]
            if row.get("noise_added") is False or (info is None and not row["applied"]):
                for key in NOISE_FIELDS:  # no noise was mixed in: no clip to name (drawn, but unused)
                    if key in row:
                        row[key] = None
        return rows


#: record fields that describe the noise mixed in: ``None`` (null) in the record of an example that got none
NOISE_FIELDS = ("clip", "offset", "clip_name", "source_db", "snr_db_actual")


class _Info(Mapping):
    """Apply-time record fields, turned into tensors only when a record is asked for (``forward`` never does):
    ``noise_added``, ``gain_capped`` and the SNR reached, ``snr_db_actual = 10*log10(ps / (g**2 * pn))``."""

    def __init__(self, g: Any, capped: Any, ps: Any, pn: Any) -> None:
        self._parts, self._fields = (g, capped, ps, pn), None

    def _get(self) -> dict[str, Tensor]:
        if self._fields is None:
            g, capped, ps, pn = (torch.from_numpy(v) if isinstance(v, np.ndarray) else v for v in self._parts)
            if isinstance(g, list):  # one example, kept as Python values until now
                g, capped = torch.tensor(g, dtype=torch.float64), torch.tensor(capped, dtype=torch.bool)
            self._fields = {"noise_added": g > 0, "gain_capped": capped,
                            # no noise added (g = 0, a silent input included): +inf, never 0/0 (records: null)
                            "snr_db_actual": torch.where(g > 0, 10.0 * torch.log10(ps / (g * g * pn)),
                                                         torch.full_like(g, float("inf"))).float()}
        return self._fields

    def __getitem__(self, key: str) -> Tensor:
        return self._get()[key]

    def __iter__(self):
        return iter(self._get())

    def __len__(self) -> int:
        return 3


def _host(t: Tensor) -> np.ndarray:
    return t.numpy() if t.device.type == "cpu" else t.cpu().numpy()


def _mask(x: Tensor, lengths: Tensor) -> Tensor:
    m = valid_mask(lengths, x.shape[-1], x.device)
    return m.view(m.shape[0], *([1] * (x.dim() - 2)), m.shape[-1]).to(x.dtype)


def _pair(name: str, value: Any) -> tuple[float, float]:
    """``(lo, hi)`` from a 2-sequence (or one number for both) of finite numbers with ``lo <= hi``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{name} must be a (low, high) pair of numbers, got {value!r}")
    check_range(f"{name}[0]", value[0], f"{name}[1]", value[1])
    return float(value[0]), float(value[1])


def _levels(min_snr_db: Any, max_snr_db: Any, noise_level_dbfs: Any) -> tuple[Any, Any, Any]:
    """SNR mode ``(min, max, None)`` or absolute mode ``(None, None, (lo, hi))``: exactly one of the two."""
    snr_given = min_snr_db is not None or max_snr_db is not None
    if noise_level_dbfs is not None:
        if snr_given:
            raise ValueError("give either min_snr_db/max_snr_db (noise at an SNR) or noise_level_dbfs (noise at an "
                             "absolute level), not both")
        return None, None, _pair("noise_level_dbfs", noise_level_dbfs)
    if min_snr_db is None or max_snr_db is None:
        raise ValueError("BackgroundNoise needs min_snr_db and max_snr_db (SNR range in dB), or noise_level_dbfs="
                         "(low, high) for an absolute noise level")
    check_range("min_snr_db", min_snr_db, "max_snr_db", max_snr_db)
    return float(min_snr_db), float(max_snr_db), None


#: most noise sources mixed into one example (each is a window as long as the example)
MAX_SOURCES = 64


def _sources(num_sources: Any) -> tuple[Any, tuple[int, int]]:
    """``num_sources`` as given (an int or a ``(lo, hi)`` list) and as ``(lo, hi)`` with ``1 <= lo <= hi``."""
    pair = (num_sources, num_sources) if isinstance(num_sources, int) else num_sources
    ok = (isinstance(pair, (list, tuple)) and len(pair) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) for v in pair) and 1 <= pair[0] <= pair[1])
    if not ok:
        raise ValueError(f"num_sources must be an integer >= 1 or a (low, high) pair of integers with "
                         f"1 <= low <= high, got {num_sources!r}")
    if pair[1] > MAX_SOURCES:
        raise ValueError(f"num_sources ({num_sources!r}) must be <= {MAX_SOURCES} (each source is a window as long "
                         "as the example; real mixtures use 1-4)")
    return (num_sources if isinstance(num_sources, int) else [int(pair[0]), int(pair[1])]), (int(pair[0]),
                                                                                             int(pair[1]))


class _BackgroundBlocks(SnrBlockStep):
    """:class:`BackgroundNoise` (one source, SNR mode) block by block: the window is index arithmetic into the bank
    (``(offset + t) mod clip length``), the same on every channel."""

    def __init__(self, params: Params, bank: NoiseBank) -> None:
        super().__init__(params)
        self.bank = bank

    def noise_block(self, t0: int, length: int) -> Tensor:
        bank, p = self.bank, self.params
        clip = int(p.clip[0])
        start, n = int(bank.starts[clip]), int(bank.lengths[clip])
        index = (int(p.offset[0]) + torch.arange(t0, t0 + length)) % n + start
        bank.check_clips([clip])  # a cached bank's samples are verified on first read
        bank.note_read(4 * length)
        return bank.data.index_select(0, index).to(torch.float32).view(1, 1, length)

    def extra_info(self, ps: Tensor, pn: Tensor) -> dict[str, Tensor]:
        """The record fields of the whole-signal call (the cap never binds: capped configs do not stream)."""
        return {"gain_capped": torch.zeros(1, dtype=torch.bool), "snr_db_actual": reached_snr(ps, pn, self.params)}
