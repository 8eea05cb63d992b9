"""Short foreground noise events (door slams, clicks, coughs): bursts from a noise bank at random times, each at an
exact SNR measured over its own span."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from audionoise.functional.bursts import burst_mix
from audionoise.transforms._bank_use import check_weight, pick, resolve_bank
from audionoise.transforms.base import (Injector, Params, check_number, check_range, draw, like, scale_int,
                                        scale_uniform, tensor)

__all__ = ["ShortNoises", "ShortNoisesParams"]


@dataclasses.dataclass(frozen=True)
class ShortNoisesParams(Params):
    """Per example and event slot, ``(batch, max_events)`` tensors.

    ``event``: whether the slot is one of the example's events (its other slots hold draws that are not used);
    ``clip`` and ``offset``: the noise window (bank clip index, first sample in the clip); ``start`` and
    ``duration``: the burst's span in the example, in samples; ``snr_db``: its target SNR over that span.
    """

    event: Tensor
    clip: Tensor
    offset: Tensor
    start: Tensor
    duration: Tensor
    snr_db: Tensor


class ShortNoises(Injector):
    """Add a few short bursts of recorded noise at random times, each at an exact SNR over its own span.

    Per example: ``k ~ U{num_events}`` events; each is a window of a clip drawn from the bank (uniformly by clip,
    or by duration with ``weight="duration"``) from a uniform random offset (short clips loop, see
    :class:`NoiseBank`), ``d ~ U{min_duration .. max_duration}`` samples long (at most the example's valid
    length), starting at a uniform sample ``0 .. valid - d`` (so it lies inside the valid samples), at
    ``snr ~ U(min_snr_db, max_snr_db)``. Raised-cosine fades of ``fade_s`` (at most half the burst) shape its
    edges.

    Each burst's gain makes ``10*log10(P_s / P_burst) == snr`` where both powers are measured over the burst's span
    only (all channels together; the faded edges are part of the span and count in the burst's power). Where the
    signal is silent over the span the whole example's power (valid samples) is used instead, and the record says
    ``"snr_reference": "example"``; a silent example gets no burst. Overlapping bursts (``overlap=True``) are each
    scaled against the clean signal and summed (each alone is exact; their sum is louder over the overlap);
    ``overlap=False`` never lets them overlap, so every burst's SNR holds in the output. Samples outside the
    bursts are returned unchanged, bit for bit; the same mono burst goes to every channel of an example.
    See :func:`audionoise.functional.bursts.add_bursts` for the maths.

    Args:
        noise: a folder, a text file of audio paths, a NeMo JSONL manifest, an audio file, a glob pattern, a list of
            these (see :meth:`NoiseBank.from_source`), or a :class:`NoiseBank`.
        min_snr_db, max_snr_db: SNR range of each burst over its span, dB.
        sample_rate: rate of the audio this is applied to (the bank is resampled to it); may be left out with a
            ``NoiseBank``.
        min_duration_s, max_duration_s: range of a burst's duration, seconds (rounded to samples).
        num_events: events per example: an int, or ``(lo, hi)`` for ``k ~ U{lo..hi}`` (``lo`` may be 0).
        fade_s: length of the raised-cosine fade in and out of each burst, seconds (0: hard edges).
        p: probability per example.
        overlap: ``True`` places every burst independently (bursts may overlap: each is scaled against the clean
            signal and they add up); ``False`` lays the bursts of an example out one after the other in a random
            order with random gaps, never overlapping (shortened in proportion where they do not fit).
        weight, cache_dir, crossfade_s, max_clips, max_clips_seed: as for :class:`BackgroundNoise`.

    Example:
        >>> from audionoise import NoiseBank
        >>> bank = NoiseBank.from_tensors([torch.randn(4000)], sample_rate=16000)
        >>> t = ShortNoises(bank, 0.0, 10.0, sample_rate=16000, num_events=(1, 3))
        >>> y = t(torch.randn(2, 16000), generator=torch.Generator().manual_seed(0))
    """

    path_field = "noise"
    #: adds a signal independent of the input (offline --stems: the noise stem)
    adds_noise = True

    def __init__(self, noise: Any, min_snr_db: float, max_snr_db: float, *, sample_rate: int | None = None,
                 min_duration_s: float = 0.1, max_duration_s: float = 0.5, num_events: Any = (1, 3),
                 fade_s: float = 0.005, p: float = 1.0, overlap: bool = True, weight: str = "clip",
                 cache_dir: Any = None, crossfade_s: float | None = None, max_clips: int | None = None,
                 max_clips_seed: int = 0) -> None:
        super().__init__(p)
        check_range("min_snr_db", min_snr_db, "max_snr_db", max_snr_db)
        check_range("min_duration_s", min_duration_s, "max_duration_s", max_duration_s, lo_bound=0.0)
        self.min_snr_db, self.max_snr_db = float(min_snr_db), float(max_snr_db)
        self.min_duration_s, self.max_duration_s = float(min_duration_s), float(max_duration_s)
        self.fade_s = check_number("fade_s", fade_s, lo_bound=0.0)
        self.num_events, self._k = _events(num_events)
        if not isinstance(overlap, bool):
            raise ValueError(f"overlap must be true (bursts placed independently) or false (never overlapping), "
                             f"got {overlap!r}")
        self.overlap = overlap
        self.weight = check_weight(weight)
        self.cache_dir = os.fspath(cache_dir) if isinstance(cache_dir, os.PathLike) else cache_dir  # configs: a str
        self.crossfade_s, self.max_clips, self.max_clips_seed = crossfade_s, max_clips, max_clips_seed
        self.bank, self.sample_rate = resolve_bank(noise, sample_rate, "ShortNoises", cache_dir=cache_dir,
                                                   crossfade_s=crossfade_s, max_clips=max_clips,
                                                   max_clips_seed=max_clips_seed)
        self._min_d = int(round(self.min_duration_s * self.sample_rate))
        self._max_d = int(round(self.max_duration_s * self.sample_rate))
        if self._max_d < 1:
            raise ValueError(f"max_duration_s ({max_duration_s}) is shorter than one sample at {self.sample_rate} "
                             f"Hz; give a burst duration of at least {1 / self.sample_rate:.2g} s")
        self._fade = int(round(self.fade_s * self.sample_rate))
        self._sizes = self.bank.clip_lengths  # host copies for sampling (no device round trip)
        self._ends = np.cumsum(self.bank.clip_lengths)
        #: False runs the device (GPU) code path on CPU tensors too (tests: no data-dependent host branch)
        self._host_paths = True

    @property
    def noise(self) -> Any:
        """What the bank was built from (a path or a list of paths), or the bank itself (which configs cannot hold)."""
        return self.bank if self.bank.source is None else self.bank.source

    # -- sampling -----------------------------------------------------------------------------------------------
    def _sample(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator | None) -> ShortNoisesParams:
        b, (k_lo, k_hi) = x.shape[0], self._k
        u = draw(b, 2 + 5 * k_hi, generator)
        host = isinstance(u, np.ndarray)
        cols = u[:, 2:].reshape(b, k_hi, 5)  # per slot: clip, offset, duration, start, snr
        count = scale_int(u[:, 1], k_hi - k_lo) + k_lo
        clip, offset = pick(cols[..., 0], cols[..., 1], self._sizes, self._ends, self.weight)
        valid = x.shape[-1] if lengths is None else like(u, lengths).reshape(b, 1)
        duration = (scale_int(cols[..., 2], self._max_d - self._min_d) + self._min_d).clip(max=valid)
        slots = np.arange(k_hi) if host else torch.arange(k_hi, device=u.device)
        drawn = slots[None] < count[:, None]
        if self.overlap:
            start = scale_int(cols[..., 3], valid - duration)
        else:
            start, duration = _pack(cols[..., 3], duration, drawn, valid)
        snr = scale_uniform(cols[..., 4], self.min_snr_db, self.max_snr_db)
        event = drawn & (duration > 0)
        return ShortNoisesParams(applied=tensor(u[:, 0] < self.p), event=tensor(event), clip=tensor(clip),
                                 offset=tensor(offset), start=tensor(start), duration=tensor(duration),
                                 snr_db=tensor(snr))

    # -- applying -----------------------------------------------------------------------------------------------
    def _apply_params(self, x: Tensor, params: Params, lengths: Tensor | None,
                      owned: bool) -> tuple[Tensor, dict[str, Tensor]]:
        """The bursts of ``params``; ``info``: ``gain`` (float64, 0 = nothing added), ``noise_added`` and
        ``span_silent`` (the example's power was the reference) per event slot, ``(batch, max_events)``."""
        b, t = x.shape[0], x.shape[-1]
        dev, x3 = x.device, x.reshape(b, -1, t)
        params = params.to(dev)
        on = params.event & params.applied[:, None]
        duration = params.duration * on  # 0 = no burst
        k = duration.shape[1]
        work = torch.float64 if x.dtype == torch.float64 else torch.float32
        if x.is_cpu and self._host_paths:  # the applied events only, placed one by one
            rows, slots = on.nonzero(as_tuple=True)
            dur = duration[rows, slots]
            d = int(dur.max()) if dur.numel() else 0
            win = self.bank.windows(params.clip[rows, slots], params.offset[rows, slots], d).to(dev, work)
            y, g_rows, silent_rows = burst_mix(x3, win, rows, params.start[rows, slots], dur,
                                               params.snr_db[rows, slots], lengths, self._fade, host=True)
            g = torch.zeros(b, k, dtype=torch.float64).index_put_((rows, slots), g_rows)
            silent = torch.zeros(b, k, dtype=torch.bool).index_put_((rows, slots), silent_rows)
        else:  # every slot, in slot-major rounds of the batch (no host synchronisation)
            d = min(self._max_d, t)

            def flat(v: Tensor) -> Tensor:
                return v.T.reshape(-1)

            win = self.bank.windows(flat(params.clip), flat(params.offset), d).to(dev, work)
            y, g, silent = burst_mix(x3, win, torch.arange(b, device=dev).repeat(k), flat(params.start),
                                     flat(duration), flat(params.snr_db), lengths, self._fade, host=False)
            g, silent = g.view(k, b).T, silent.view(k, b).T
        return y.view(x.shape), {"gain": g, "noise_added": g > 0, "span_silent": silent}

    # -- records ------------------------------------------------------------------------------------------------
    def records(self, params: Params, info: Mapping[str, Tensor] | None = None) -> list[dict[str, Any]]:
        """One dict per example: ``transform``, ``applied`` and ``events``, a list of ``{clip, clip_name, offset,
        start, duration, snr_db}`` (samples, dB), with ``noise_added`` and ``snr_reference`` (``"span"``, or
        ``"example"`` where the span was silent) when ``info`` from the apply step is given."""
        names = ("applied", "event", "clip", "offset", "start", "duration", "snr_db")
        cols = {n: getattr(params, n).detach().cpu().tolist() for n in names}
        extra = None if info is None else (info["noise_added"].cpu().tolist(), info["span_silent"].cpu().tolist())
        rows = []
        for i, applied in enumerate(cols["applied"]):
            events = []
            for s, on in enumerate(cols["event"][i]):
                if not (applied and on):
                    continue
                c = cols["clip"][i][s]
                e = {"clip": c, "clip_name": self.bank.names[c], "offset": cols["offset"][i][s],
                     "start": cols["start"][i][s], "duration": cols["duration"][i][s], "snr_db": cols["snr_db"][i][s]}
                if extra is not None:
                    e["noise_added"] = bool(extra[0][i][s])
                    e["snr_reference"] = "example" if extra[1][i][s] else "span"
                events.append(e)
            rows.append({"transform": type(self).__name__, "applied": bool(applied), "events": events})
        return rows


def _pack(u: Any, duration: Any, drawn: Any, valid: Any) -> tuple[Any, Any]:
    """Starts (and durations) of the drawn bursts of each example laid out without overlap, from uniforms ``u``.

    The drawn bursts are shortened in proportion (``floor(d * n / sum d)``) where they do not fit in the ``n``
    valid samples; the free samples ``n - sum d`` are split by one uniform point per burst (``U{0..free}``) and
    the bursts follow each other in the order of their points: every non-overlapping layout of the same
    durations is as likely. Slots not drawn keep their duration and get a start that fits it. NumPy arrays or
    tensors (``(batch, K)``; ``valid`` an int or ``(batch, 1)``)."""
    host = isinstance(u, np.ndarray)
    used = duration * drawn
    total = used.sum(1, keepdims=True) if host else used.sum(1, keepdim=True)
    if host:
        fit = np.minimum(1.0, valid / np.maximum(total, 1))
        used = np.floor(used * fit).astype(np.int64)
    else:
        fit = torch.clamp(valid / total.clamp_min(1), max=1.0)
        used = (used.double() * fit).floor().long()
    point = scale_int(u, valid - (used.sum(1, keepdims=True) if host else used.sum(1, keepdim=True)))
    if host:
        order = np.argsort(point, axis=1, kind="stable")
        d_sorted = np.take_along_axis(used, order, 1)
        start = np.empty_like(point)
        np.put_along_axis(start, order, np.take_along_axis(point, order, 1) + np.cumsum(d_sorted, 1) - d_sorted, 1)
        return np.where(drawn, start, np.minimum(start, valid - duration)), np.where(drawn, used, duration)
    order = torch.argsort(point, dim=1, stable=True)
    d_sorted = used.gather(1, order)
    start = torch.empty_like(point).scatter_(1, order, point.gather(1, order) + d_sorted.cumsum(1) - d_sorted)
    return torch.where(drawn, start, torch.minimum(start, valid - duration)), torch.where(drawn, used, duration)


#: most short noises (bursts) per example
MAX_EVENTS = 256


def _events(num_events: Any) -> tuple[Any, tuple[int, int]]:
    """``num_events`` as given (an int or a ``[lo, hi]`` list) and as ``(lo, hi)``, ``0 <= lo <= hi``, ``hi >= 1``."""
    pair = (num_events, num_events) if isinstance(num_events, int) else num_events
    ok = (isinstance(pair, (list, tuple)) and len(pair) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) for v in pair) and 0 <= pair[0] <= pair[1]
          and pair[1] >= 1)
    if not ok:
        raise ValueError(f"num_events must be an integer >= 1 or a (low, high) pair of integers with "
                         f"0 <= low <= high and high >= 1, got {num_events!r}")
    if pair[1] > MAX_EVENTS:
        raise ValueError(f"num_events ({num_events!r}) must be <= {MAX_EVENTS} (bursts per example, each a window "
                         "of its own)")
    lo, hi = int(pair[0]), int(pair[1])
    return (num_events if isinstance(num_events, int) else [lo, hi]), (lo, hi)
