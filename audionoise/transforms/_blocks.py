"""Running a plan over a signal too long to hold, block by block: what streaming injectors share.

An injector that :meth:`~audionoise.transforms.base.Injector.streams_in_blocks` builds a :class:`BlockStep` from its
frozen parameters (:meth:`~audionoise.transforms.base.Injector.block_step`); a host (the offline long-file path) runs
the steps over consecutive blocks. SNR steps need the power of the signal at their input over the whole signal and
the power of their noise: the host measures the first in a pass of its own and calls :meth:`SnrBlockStep.set_gain`.

White noise is never drawn whole: inside :func:`deferred_noise`, ``WhiteNoise`` records where its noise starts in
the generator's stream instead of generating it (:func:`white_noise_pass`), and :class:`NoiseStream` regenerates
the very values ``torch.randn(shape, generator=g)`` gives, block by block (the CPU generator yields the same numbers
when a call is split at multiples of 16 values; tested).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from audionoise.functional.snr import gain_for_snr, gain_numpy
from audionoise.transforms.base import Params

#: values per ``randn`` call when a noise stream is regenerated (a multiple of 16)
STREAM_CHUNK = 1 << 18

_DEFERRED = threading.local()


@contextlib.contextmanager
def deferred_noise(draw: Callable[[tuple[int, ...], torch.Generator], Any] | None = None) -> Iterator[dict]:
    """Within the block, ``WhiteNoise`` does not generate its noise: ``draw(shape, generator)`` (default
    :func:`white_noise_pass`, which consumes the generator exactly as ``torch.randn(shape)`` does) is called
    instead, its result kept in the yielded dict under ``id(leaf)``, and a meta tensor stands for the noise."""
    before = getattr(_DEFERRED, "state", None)
    results: dict[int, Any] = {}
    _DEFERRED.state = (draw or white_noise_pass, results)
    try:
        yield results
    finally:
        _DEFERRED.state = before


def deferred(leaf: Any, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor | None:
    """A meta tensor (the noise is recorded for streaming) inside :func:`deferred_noise`, else ``None``."""
    state = getattr(_DEFERRED, "state", None)
    if state is None:
        return None
    draw, results = state
    results[id(leaf)] = draw(tuple(shape), generator)
    return torch.empty(shape, device="meta")


def _chunk(pos: int, size: int, end: int) -> int:
    """Size of the next ``randn`` call from flat index ``pos`` (a multiple of 16) towards ``end``.

    CPU ``randn`` turns uniforms into normals 16 at a time and redoes the last 16 values of a call whose size is
    not a multiple of 16 (calls under 16 values take another path): a split call gives the values of one call
    when every piece is a multiple of 16 except the last, which must end at the end and be 16 values or more.
    """
    size = min(size, end - pos)
    if 0 < end - pos - size < 16:
        size = end - pos
    return size


def white_noise_pass(shape: tuple[int, ...], generator: torch.Generator) -> dict[str, Any]:
    """Advance ``generator`` past ``torch.randn(shape)`` in chunks; keep the states the channel streams start
    from and the sum of squares (the noise power)."""
    channels, frames = shape[-2], shape[-1]
    n_total = channels * frames
    starts = [(c * frames) // 16 * 16 for c in range(channels)]
    states, sumsq, pos = {}, 0.0, 0
    bounds = sorted(set(starts + [n_total]))
    for a, b in zip(bounds, bounds[1:]):
        states[a] = generator.get_state()
        while pos < b:
            size = _chunk(pos, STREAM_CHUNK, b)
            block = torch.randn(size, generator=generator)
            sumsq += float(torch.dot(block.double(), block.double()))
            pos += size
    return {"states": [states[a] for a in starts], "starts": starts, "n_total": n_total, "frames": frames,
            "power": sumsq / max(n_total, 1)}


class NoiseStream:
    """The values ``torch.randn(n_total, generator=g)`` gives from flat index ``first`` on, block by block.

    ``state`` is the generator's state at flat index ``start`` (a multiple of 16, ``start <= first``). Values are
    generated in calls whose sizes are multiples of 16, the last one ending at ``n_total`` and at least 16 long
    (:func:`_chunk`), which reproduces the single call exactly; the values between ``start`` and ``first`` are
    dropped.
    """

    def __init__(self, state: Tensor, start: int, first: int, n_total: int) -> None:
        self.g = torch.Generator()
        self.g.set_state(state)
        self.pos, self.n_total = start, n_total
        self.buffer = torch.empty(0)
        self.take(first - start)

    def take(self, n: int) -> Tensor:
        parts, have = [self.buffer], self.buffer.numel()
        while have < n:
            size = _chunk(self.pos, max(STREAM_CHUNK, -(-(n - have) // 16) * 16), self.n_total)
            if size <= 0:
                raise RuntimeError("noise stream read past the end of its noise")  # pragma: no cover - a bug
            part = torch.randn(size, generator=self.g)
            self.pos += size
            parts.append(part)
            have += size
        data = torch.cat(parts) if len(parts) > 1 else parts[0]
        self.buffer = data[n:]
        return data[:n]


class BlockStep:
    """One leaf call of a plan applied block by block (``x``: ``(1, channels, length)``, ``t0``: its first frame)."""

    #: whether the host must measure the signal power at this step's input first (then call ``set_gain``)
    needs_power = False

    def __init__(self, params: Params) -> None:
        self.params = params
        self.info: dict[str, Tensor] = {}

    def start(self) -> None:
        """Rewind to the beginning of the signal (a new pass)."""

    def __call__(self, x: Tensor, t0: int) -> Tensor:
        raise NotImplementedError


class SnrBlockStep(BlockStep):
    """Additive noise at an exact SNR over the whole signal: ``x + g * noise`` with ``g`` from the two powers."""

    needs_power = True

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.gain: Tensor | None = None

    def noise_block(self, t0: int, length: int) -> Tensor:
        raise NotImplementedError

    def noise_power(self, frames: int) -> float:
        """Mean square of the noise over the whole signal (``frames`` long)."""
        total = 0.0
        for t0 in range(0, frames, STREAM_CHUNK):
            total += float(self.noise_block(t0, min(STREAM_CHUNK, frames - t0)).double().square().sum())
        return total / max(frames, 1)

    def set_gain(self, ps: float, pn: float) -> None:
        """Fix the gain from the whole signal's power ``ps`` (at this step's input) and the noise power ``pn``."""
        ps_t, pn_t = torch.tensor([ps], dtype=torch.float32), torch.tensor([pn], dtype=torch.float32)
        g = gain_for_snr(ps_t, pn_t, self.params.snr_db) * self.params.applied.to(torch.float32)
        self.gain, self.info = g, {"noise_added": g > 0, **self.extra_info(ps_t, pn_t)}

    def extra_info(self, ps: Tensor, pn: Tensor) -> dict[str, Tensor]:
        """Record fields beyond ``noise_added`` that the whole-signal call gives (none by default)."""
        return {}

    def __call__(self, x: Tensor, t0: int) -> Tensor:
        return torch.addcmul(x, self.noise_block(t0, x.shape[-1]), self.gain.to(x.dtype).view(-1, 1, 1))


def reached_snr(ps: Tensor, pn: Tensor, params: Params) -> Tensor:
    """``10*log10(ps / (g**2 * pn))`` with the gain formed in float64, as the whole-signal call records it."""
    ps64, pn64 = ps.double().numpy(), pn.double().numpy()
    g = gain_numpy(ps64, pn64, params.snr_db.numpy()) * params.applied.numpy()
    with np.errstate(divide="ignore", invalid="ignore"):  # g = 0: no noise added (+inf; the record says null)
        return torch.from_numpy(np.where(g > 0, 10.0 * np.log10(ps64 / (g * g * pn64)), np.inf)).float()
