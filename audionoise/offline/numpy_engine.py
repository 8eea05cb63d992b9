"""The NumPy engine of ``audionoise augment``: the common pipelines without importing torch.

``import torch`` costs 2-3 s of CPU, more than augmenting a thousand one-second clips. The pipelines most offline
jobs run (the quick flags, and configs of white noise, background noise, time masks and gain) need none of it, so
:func:`plan` recognises them in the config and :class:`NumpyPipeline` applies them with NumPy, one file at a
time. Any other config, or any option this engine does not implement, goes to the torch engine (which also words
the config errors), so no job changes meaning, only where it runs.

Same maths as the injectors (:mod:`audionoise.transforms`), per example:

* ``WhiteNoise``: ``y = x + g n``, ``n ~ N(0, 1)`` per sample and channel, ``g = sqrt(P_x / P_n) 10^(-snr/20)``
  with the powers over every sample of the example (:func:`audionoise.functional.snr.gain_scalar`'s formula,
  in float64), ``snr ~ U(min_snr_db, max_snr_db)``: the SNR of the output is exactly ``snr``;
* ``BackgroundNoise``: a window of a clip of the bank (clip uniform, or by duration; offset uniform in the
  clip; clips loop with the bank's equal-power cross-fade, :func:`make_loopable`), the same window on every
  channel, at the exact SNR, the gain capped by ``max_gain_db``;
* ``TimeMask``: ``num_masks`` intervals set to 0, width uniform in ``[0, min(max_width, T)]``, start uniform
  in ``[0, T - width]``;
* ``Gain``: ``y = 10^(g/20) x``, ``g ~ U(min_db, max_db)``;

each applied with its probability ``p``, in the config's order, with the same records (``transform``,
``applied``, the drawn parameters, ``noise_added``, ...).

**Random numbers: the same as the torch engine.** Output ``k`` of input ``key`` draws from the stream of
``torch.Generator().manual_seed(output_seed(seed, key, k))``, reproduced without torch by
:class:`~audionoise.kernels.stream.TorchStream`, in the torch pipeline's order (the top-level ``Compose`` coin, then
each transform's uniforms, white noise's ``randn`` words), and turns the uniforms into parameters with the same
kernels (:mod:`audionoise.kernels.draws`). So ``--engine auto`` and ``--engine torch`` (and the library call
``pipeline(x[None], generator=torch.Generator().manual_seed(output_seed(seed, key, k)))``) give **the same
parameters and records** for every output (tested); the white noise's values equal torch's to float32 rounding
(torch's vectorised ``log``/``cos``/``sin`` may differ from NumPy's by 1-3 units in the last place), so outputs agree
to ~2e-6 and, in PCM files, to the quantisation step. Rows still say ``"engine": "numpy"``; ``run.json`` records the
engine setting and the stream (``numpy_stream``), so a resume never mixes outputs of another engine or of an
earlier NumPy engine (which drew from PCG64).

The noise bank is decoded in memory with libsndfile (no on-disk cache, which would need torch). Banks whose
files are not at the audio's sample rate (resampling is torchaudio's), larger than :data:`MAX_BANK_SAMPLES`, or
with an entry that fails to decode go to the torch engine, which resamples, caches and reports them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile as sf

from audionoise import io
from audionoise.kernels.gains import gain_scalar
from audionoise.kernels.loopable import DEFAULT_CROSSFADE_S, make_loopable
from audionoise.kernels.draws import coin, mask_intervals, pick_clip, uniform
from audionoise.kernels.stream import TorchStream
from audionoise.config_files import _resolve

__all__ = ["ENGINE", "MAX_BANK_SAMPLES", "NumpyPipeline", "gaussian", "plan"]

#: the name rows and run.json give this engine
ENGINE = "numpy"
#: larger noise banks go to the torch engine (memory-mapped on-disk cache): 30 min at 16 kHz
MAX_BANK_SAMPLES = 30 * 60 * 16000


# ---------------------------------------------------------------------------------------------- the config
def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _prob(entry: dict) -> float | None:
    p = entry.get("p", 1.0)
    return float(p) if _number(p) and 0.0 <= p <= 1.0 else None


def _snr_range(entry: dict, lo: str, hi: str) -> tuple[float, float] | None:
    a, b = entry.get(lo), entry.get(hi)
    return (float(a), float(b)) if _number(a) and _number(b) and a <= b else None


_FIELDS = {
    "WhiteNoise": {"min_snr_db", "max_snr_db", "p", "snr_reference", "bank_samples", "bank_seed"},
    "BackgroundNoise": {"noise", "min_snr_db", "max_snr_db", "sample_rate", "p", "snr_reference", "cache_dir",
                        "max_gain_db", "num_sources", "source_db", "weight", "crossfade_s"},
    "TimeMask": {"max_width_s", "num_masks", "sample_rate", "p", "fade_s"},
    "Gain": {"min_db", "max_db", "p"},
}


def plan(config: dict, rate: int, base_dir: str | os.PathLike | None = None) -> "NumpyPipeline | None":
    """The NumPy pipeline for files of ``rate`` Hz, or ``None`` when the config needs the torch engine.

    ``None`` for anything this engine does not implement exactly as the injector does (other transforms,
    containers other than the top-level list, ``snr_reference="active"``, several background sources, absolute
    noise levels, faded masks, ...) and for anything doubtful (a value the injector would reject, a noise bank
    that needs resampling): the torch engine then runs the job, or reports the problem.
    """
    if not isinstance(config, dict) or set(config) - {"sample_rate", "transforms", "p"}:
        return None
    if config.get("p", 1.0) != 1.0 or not isinstance(config.get("transforms"), list) or not config["transforms"]:
        return None
    steps = []
    for i, entry in enumerate(config["transforms"]):
        step = _step(entry, rate, base_dir, f"transforms[{i}]")
        if step is None:
            return None
        steps.append(step)
    return NumpyPipeline(steps, rate)


def _step(entry: Any, rate: int, base_dir, where: str) -> "_Step | None":
    if not isinstance(entry, dict):
        return None
    name = entry.get("name")
    fields = _FIELDS.get(name)
    params = {k: v for k, v in entry.items() if k != "name"}
    if fields is None or set(params) - fields:
        return None
    p = _prob(params)
    if p is None:
        return None
    if name == "Gain":
        r = _snr_range(params, "min_db", "max_db")
        return None if r is None else _Step(name, p, r)
    if name == "TimeMask":
        width, count = params.get("max_width_s"), params.get("num_masks", 1)
        if not (_number(width) and width >= 0 and isinstance(count, int) and not isinstance(count, bool)
                and count >= 1 and params.get("fade_s", 0.0) == 0.0):
            return None
        return _Step(name, p, (int(round(float(width) * rate)), count))
    r = _snr_range(params, "min_snr_db", "max_snr_db")
    if r is None or params.get("snr_reference", "full") != "full":
        return None
    if name == "WhiteNoise":
        return None if params.get("bank_samples", 0) != 0 else _Step(name, p, r)
    # BackgroundNoise: one source, SNR mode
    cap = params.get("max_gain_db")
    fade_s = params.get("crossfade_s")
    weight = params.get("weight", "clip")
    if (params.get("num_sources", 1) != 1 or weight not in ("clip", "duration")
            or not (cap is None or _number(cap)) or not (fade_s is None or (_number(fade_s) and fade_s >= 0))):
        return None
    bank = _bank(params.get("noise"), rate, DEFAULT_CROSSFADE_S if fade_s is None else float(fade_s), base_dir, where)
    if bank is None:
        return None
    return _Step(name, p, r, bank=bank, weight=weight, cap=None if cap is None else 10.0 ** (float(cap) / 20.0))


# ---------------------------------------------------------------------------------------------- noise bank
@dataclass
class _Bank:
    data: np.ndarray      # every clip back to back, loopable, mono float32
    starts: np.ndarray    # int64
    sizes: np.ndarray     # int64
    names: list[str]


def _bank(noise: Any, rate: int, crossfade_s: float, base_dir, where: str) -> _Bank | None:
    """Decode the bank as :meth:`NoiseBank.from_source` does (mono, loopable), or ``None`` (torch engine)."""
    from audionoise.corpora.noise_sources import collect

    field = "noise"
    try:
        if isinstance(noise, str):
            noise = _resolve(noise, base_dir, where, field)
        elif isinstance(noise, list) and noise and all(isinstance(v, str) for v in noise):
            noise = [_resolve(v, base_dir, where, field) for v in noise]
        else:
            return None
        entries, skipped = collect(noise, None)
    except (ValueError, OSError):
        return None
    if skipped or not entries:
        return None
    total = 0
    for e in entries:  # headers first: nothing is decoded for a bank this engine leaves to torch
        if os.path.splitext(e.path)[1].lower() in io.FFMPEG_EXTENSIONS:
            return None
        try:
            meta = sf.info(e.path)
        except (RuntimeError, TypeError, OSError):
            return None
        if int(meta.samplerate) != rate:
            return None
        total += int(meta.frames)
    if total > MAX_BANK_SAMPLES:
        return None
    fade = int(round(crossfade_s * rate))
    clips, names = [], []
    for e in entries:
        try:
            data, _ = io.load_array(e.path, offset=e.offset, duration=e.duration)
        except (ValueError, OSError):
            return None
        clip = data[0] if data.shape[0] == 1 else data.mean(axis=0, dtype=np.float32)
        if not clip.size or not np.abs(clip).max() > 0:
            return None  # the torch engine skips it with a warning
        clips.append(make_loopable(clip, max(0, min(fade, clip.shape[0] // 2))))
        names.append(e.name)
    sizes = np.array([c.shape[0] for c in clips], np.int64)
    return _Bank(np.concatenate(clips), np.cumsum(sizes) - sizes, sizes, names)


def window(bank: _Bank, clip: int, offset: int, length: int) -> np.ndarray:
    """Clip ``clip`` from ``offset`` on, ``length`` samples, looping (a fresh array)."""
    n, s = int(bank.sizes[clip]), int(bank.starts[clip])
    off = offset % n
    if off + length <= n:
        return bank.data[s + off:s + off + length].copy()
    reps = -(-(off + length) // n)
    return np.tile(bank.data[s:s + n], reps)[off:off + length]


# ---------------------------------------------------------------------------------------------- applying
@dataclass
class _Step:
    name: str
    p: float
    args: tuple
    bank: _Bank | None = None
    weight: str = "clip"
    cap: float | None = None


def _f32(v: float) -> float:
    return float(np.float32(v))


def _power(y: np.ndarray) -> float:
    """Mean square over every sample (float64 sums, one BLAS dot per channel)."""
    flat = y.reshape(-1)
    return float(np.dot(flat, flat)) / max(flat.shape[0], 1)


def _check_finite(ps: float, key: str) -> None:
    if not math.isfinite(ps):
        raise ValueError(f"{key}: the signal holds NaN/Inf or overflows float32 before the noise is added")


class NumpyPipeline:
    """The config's transforms, applied to one ``(channels, time)`` float32 example, drawing from a
    :class:`~audionoise.kernels.stream.TorchStream` in the torch pipeline's order."""

    def __init__(self, steps: list[_Step], rate: int) -> None:
        self.steps, self.rate = steps, rate

    def __call__(self, x: np.ndarray, stream: TorchStream | int, key: str = "",
                 trace: list | None = None) -> tuple[np.ndarray, list[dict]]:
        """``(y, records)``: the augmented copy (a new array; ``x`` is not modified) and one record per step.

        ``stream``: the output's stream, or its seed (``output_seed(seed, key, copy)``). ``trace``: a list that
        gets ``(input, output)`` of every step (no step modifies its input; the preview pages measure each noise
        step's SNR from them).
        """
        stream = TorchStream(stream) if isinstance(stream, int) else stream
        stream.uniforms(1, 1)  # the top-level Compose's coin (p = 1: always drawn, never changes anything)
        y, records = x, []
        for step in self.steps:
            before = y
            y, rec = getattr(self, "_" + step.name)(y, step, stream, key)
            records.append(rec)
            if trace is not None:
                trace.append((before, y))
        return (y if y is not x else x.copy()), records

    @staticmethod
    def _WhiteNoise(x, step, stream, key):
        u = stream.uniforms(1, 3)[0].tolist()
        applied, snr = coin(u[0], step.p), uniform(u[1], *step.args)
        noise = gaussian(stream, x.shape)
        g = 0.0
        if applied:
            ps = _power(x)
            _check_finite(ps, key)
            g = gain_scalar(ps, _power(noise), snr)
        if g > 0:  # x + g n, formed in the noise's buffer (ours)
            noise *= np.float32(g)
            noise += x
        return (noise if g > 0 else x), {"transform": "WhiteNoise", "applied": applied, "snr_db": snr, "exponent": 0.0,
                   "noise_added": g > 0}

    @staticmethod
    def _BackgroundNoise(x, step, stream, key):
        bank = step.bank
        u = stream.uniforms(1, 4)[0].tolist()
        applied, snr = coin(u[0], step.p), uniform(u[1], *step.args)
        clip, offset = pick_clip(u[2], u[3], bank.sizes, bank.starts + bank.sizes, step.weight)
        t = x.shape[-1]
        w = window(bank, clip, offset, t)
        ps = _power(x)
        pn = float(np.dot(w, w)) / max(t, 1)
        g, capped = 0.0, False
        if applied:
            _check_finite(ps, key)
            g = gain_scalar(ps, pn, snr)
            if step.cap is not None and g > step.cap:
                g, capped = step.cap, True
        y = x
        if g > 0:  # x + g w, in the window's buffer (ours) for mono; the same window on every channel
            w *= np.float32(g)
            if x.shape[0] == 1:
                w += x[0]
                y = w[None]
            else:
                y = x + w
        ratio = ps / (g * g * pn) if g > 0 else math.inf  # no noise added (a silent input included): null below
        actual = _f32(10.0 * math.log10(ratio)) if 0 < ratio < math.inf else ratio
        if g > 0:
            mixed = {"clip": clip, "offset": offset}
        else:  # no noise mixed in: the noise fields are null, as in BackgroundNoise.records
            mixed = {"clip": None, "offset": None}
        return y, {"transform": "BackgroundNoise", "applied": applied, "snr_db": snr, **mixed,
                   "noise_added": g > 0, "gain_capped": capped,
                   "snr_db_actual": actual if math.isfinite(actual) else None,
                   "clip_name": bank.names[clip] if g > 0 else None}

    @staticmethod
    def _TimeMask(x, step, stream, key):
        max_width, count = step.args
        u = stream.uniforms(1, 1 + 2 * count)[0]
        applied, t = coin(float(u[0]), step.p), x.shape[-1]
        starts, widths = mask_intervals(u[1:1 + count], u[1 + count:], max_width, t)
        starts, widths = starts.tolist(), widths.tolist()
        y = x
        if applied and any(widths):
            y = x.copy()
            for s, w in zip(starts, widths):
                y[..., s:s + w] = 0.0
        return y, {"transform": "TimeMask", "applied": applied, "starts": starts, "widths": widths}

    @staticmethod
    def _Gain(x, step, stream, key):
        u = stream.uniforms(1, 2)[0].tolist()
        applied, db = coin(u[0], step.p), uniform(u[1], *step.args)
        y = x * np.float32(10.0 ** (db / 20.0)) if applied else x
        return y, {"transform": "Gain", "applied": applied, "gain_db": db}


def gaussian(stream: TorchStream, shape: tuple[int, ...]) -> np.ndarray:
    """``torch.randn(shape)`` of the stream (:meth:`TorchStream.normals`); fewer than 16 values (which torch draws
    another way) come from 16 normals of the stream, so the parameters drawn after them may differ from torch's."""
    n = math.prod(shape)
    if n >= 16:
        return stream.normals(shape)
    return stream.normals((16,))[:n].reshape(shape).copy()
