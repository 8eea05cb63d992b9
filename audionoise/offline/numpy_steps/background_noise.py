"""``BackgroundNoise`` in the NumPy engine: a window of a clip of the bank (clip uniform, or by duration; offset
uniform in the clip; clips loop with the bank's equal-power cross-fade, :func:`~audionoise.kernels.loopable.
make_loopable`), the same window on every channel, at the exact SNR, the gain capped by ``max_gain_db``.

One source in SNR mode only. The bank is decoded in memory with libsndfile (no on-disk cache, which would need
torch); banks whose files are not at the audio's sample rate (resampling is torchaudio's), larger than
:data:`MAX_BANK_SAMPLES`, or with an entry that fails to decode go to the torch engine, which resamples, caches
and reports them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile as sf

from audionoise import io
from audionoise.config_files import _resolve
from audionoise.kernels.draws import coin, pick_clip, uniform
from audionoise.kernels.gains import gain_scalar
from audionoise.kernels.loopable import DEFAULT_CROSSFADE_S, make_loopable
from audionoise.offline.numpy_steps._common import (check_finite, f32, number, power, probability,
                                                    value_range)

INJECTOR = "BackgroundNoise"
FIELDS = frozenset({"noise", "min_snr_db", "max_snr_db", "sample_rate", "p", "snr_reference", "cache_dir",
                    "max_gain_db", "num_sources", "source_db", "weight", "crossfade_s"})
#: larger noise banks go to the torch engine (memory-mapped on-disk cache): 30 min at 16 kHz
MAX_BANK_SAMPLES = 30 * 60 * 16000


@dataclass
class Bank:
    """Every clip of a noise bank back to back (loopable, mono float32), with their starts, sizes and names."""

    data: np.ndarray
    starts: np.ndarray    # int64
    sizes: np.ndarray     # int64
    names: list[str]


@dataclass
class Step:
    p: float
    snr: tuple[float, float]
    bank: Bank
    weight: str
    cap: float | None


def parse(params: dict, rate: int, base_dir, where: str) -> Step | None:
    p, r = probability(params), value_range(params, "min_snr_db", "max_snr_db")
    if p is None or r is None or params.get("snr_reference", "full") != "full":
        return None
    cap, fade_s, weight = params.get("max_gain_db"), params.get("crossfade_s"), params.get("weight", "clip")
    if (params.get("num_sources", 1) != 1 or weight not in ("clip", "duration")
            or not (cap is None or number(cap)) or not (fade_s is None or (number(fade_s) and fade_s >= 0))):
        return None
    bank = decode_bank(params.get("noise"), rate, DEFAULT_CROSSFADE_S if fade_s is None else float(fade_s),
                       base_dir, where)
    if bank is None:
        return None
    return Step(p, r, bank, weight, None if cap is None else 10.0 ** (float(cap) / 20.0))


def decode_bank(noise: Any, rate: int, crossfade_s: float, base_dir, where: str) -> Bank | None:
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
    return Bank(np.concatenate(clips), np.cumsum(sizes) - sizes, sizes, names)


def window(bank: Bank, clip: int, offset: int, length: int) -> np.ndarray:
    """Clip ``clip`` from ``offset`` on, ``length`` samples, looping (a fresh array)."""
    n, s = int(bank.sizes[clip]), int(bank.starts[clip])
    off = offset % n
    if off + length <= n:
        return bank.data[s + off:s + off + length].copy()
    reps = -(-(off + length) // n)
    return np.tile(bank.data[s:s + n], reps)[off:off + length]


def apply(x: np.ndarray, step: Step, stream, key: str):
    bank = step.bank
    u = stream.uniforms(1, 4)[0].tolist()
    applied, snr = coin(u[0], step.p), uniform(u[1], *step.snr)
    clip, offset = pick_clip(u[2], u[3], bank.sizes, bank.starts + bank.sizes, step.weight)
    t = x.shape[-1]
    w = window(bank, clip, offset, t)
    ps = power(x)
    pn = float(np.dot(w, w)) / max(t, 1)
    g, capped = 0.0, False
    if applied:
        check_finite(ps, key)
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
    actual = f32(10.0 * math.log10(ratio)) if 0 < ratio < math.inf else ratio
    # no noise mixed in: the noise fields are null, as in BackgroundNoise.records
    mixed = {"clip": clip, "offset": offset} if g > 0 else {"clip": None, "offset": None}
    return y, {"transform": "BackgroundNoise", "applied": applied, "snr_db": snr, **mixed,
               "noise_added": g > 0, "gain_capped": capped,
               "snr_db_actual": actual if math.isfinite(actual) else None,
               "clip_name": bank.names[clip] if g > 0 else None}
