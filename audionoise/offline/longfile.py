"""Inputs too long to hold in memory, augmented in blocks with the result of a whole-file call.

An input of more than :data:`audionoise.offline.inputs.LONG_SAMPLES` samples (all channels) is never loaded
whole. Its outputs are made in blocks of :data:`BLOCK_FRAMES` frames read from the file, in ``1 + (number of SNR leaves)`` passes:

* the parameters are drawn exactly as the whole-file call ``pipe(x[None], generator=g)`` draws them (the
  pipeline's own ``_run`` on a shape-only ``meta`` tensor, apply steps recorded: see
  :mod:`audionoise.offline.batched`); white noise is not drawn whole but streamed: :class:`_NoiseStream`
  regenerates, block by block, the very values ``torch.randn(shape, generator=g)`` gives (the CPU generator
  yields the same numbers when a call is split at multiples of 16 values; tested);
* a pass per SNR leaf accumulates the signal power at that leaf's input (the output of the leaves before it)
  and the noise power, which set its gain (the SNR is exact over the whole file);
* for an integer output under the ``normalize`` or ``error`` clipping policy (:mod:`audionoise.offline.clipping`),
  a measuring pass takes the output's peak ``max |y|`` (the same blocks, not written): the scale ``1 / peak`` is
  then applied while writing (or the input fails before anything is written);
* the last pass applies every leaf to each block and writes it (:class:`audionoise.io.AudioWriter`).

Background-noise windows are index arithmetic into the noise bank (``(offset + t) mod clip length``), masks are
intervals, gains constants: all continue across block boundaries, so the output equals the whole-file output up
to float rounding of the powers (block sums instead of one sum). Pipelines with other leaves (coloured noise,
shifts, faded masks, the ``active`` SNR reference), resampling and PyAV containers load the file whole.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from audionoise import io
from audionoise.functional.snr import gain_for_snr
from audionoise.offline import clipping
from audionoise.offline.batched import batchable
from audionoise.plan import sample_plan
from audionoise.transforms import BackgroundNoise, Gain, TimeMask, WhiteNoise
from audionoise.transforms.base import Injector, Params

__all__ = ["BLOCK_FRAMES", "augment_long", "streamable"]

#: frames per block (a multiple of 16: see :class:`_NoiseStream`)
BLOCK_FRAMES = 1 << 18


def streamable(pipe: nn.Module) -> bool:
    """Whether ``pipe`` can be applied in blocks: a batchable pipeline whose every leaf says it
    :meth:`~audionoise.transforms.base.Injector.streams_in_blocks` (white/background noise at an exact SNR with
    ``snr_reference="full"``, gains, masks without fades, in any Compose/OneOf/RandomApply)."""
    return batchable(pipe) and all(m.streams_in_blocks() for m in pipe.modules() if isinstance(m, Injector))


class _NoiseStream:
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
            size = _chunk(self.pos, max(BLOCK_FRAMES, -(-(n - have) // 16) * 16), self.n_total)
            if size <= 0:
                raise RuntimeError("noise stream read past the end of its noise")  # pragma: no cover - a bug
            part = torch.randn(size, generator=self.g)
            self.pos += size
            parts.append(part)
            have += size
        data = torch.cat(parts) if len(parts) > 1 else parts[0]
        self.buffer = data[n:]
        return data[:n]


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


def _white_noise_pass(shape: tuple[int, ...], generator: torch.Generator) -> dict[str, Any]:
    """Advance ``generator`` past ``torch.randn(shape)`` in blocks; keep the states the channel streams start
    from and the sum of squares (the noise power)."""
    channels, frames = shape[-2], shape[-1]
    n_total = channels * frames
    starts = [(c * frames) // 16 * 16 for c in range(channels)]
    states, sumsq, pos = {}, 0.0, 0
    bounds = sorted(set(starts + [n_total]))
    for a, b in zip(bounds, bounds[1:]):
        states[a] = generator.get_state()
        while pos < b:
            size = _chunk(pos, BLOCK_FRAMES, b)
            block = torch.randn(size, generator=generator)
            sumsq += float(torch.dot(block.double(), block.double()))
            pos += size
    return {"states": [states[a] for a in starts], "starts": starts, "n_total": n_total, "frames": frames,
            "power": sumsq / max(n_total, 1)}


@contextlib.contextmanager
def _streamed_white_noise(leaves: list[Injector], noises: dict[int, dict]) -> Iterator[None]:
    """Within the block, white-noise leaves draw their noise as :func:`_white_noise_pass` (a meta tensor comes
    back: the values are regenerated when applied)."""

    def streamer(leaf):
        def noise(shape, exponent, generator, device, applied):
            noises[id(leaf)] = _white_noise_pass(tuple(shape), generator)
            return torch.empty(shape, device="meta")
        return noise

    white = [leaf for leaf in leaves if type(leaf) is WhiteNoise]
    for leaf in white:
        leaf.__dict__["_noise"] = streamer(leaf)
    try:
        yield
    finally:
        for leaf in white:
            leaf.__dict__.pop("_noise", None)


class _Step:
    """One leaf call applied block by block."""

    def __init__(self, leaf: Injector, params: Params, noise: dict | None, channels: int) -> None:
        self.leaf, self.params, self.noise = leaf, params, noise
        self.gain: Tensor | None = None  # SNR leaves: set after their power pass
        self.info: dict[str, Tensor] = {}
        self.streams: list[_NoiseStream] = []
        self.snr = type(leaf) in (WhiteNoise, BackgroundNoise)
        if type(leaf) is Gain:
            db = torch.where(params.applied, params.gain_db, torch.zeros_like(params.gain_db))
            self.factor = torch.pow(10.0, db / 20.0).to(torch.float32).view(-1, 1, 1)
        if type(leaf) is TimeMask:
            widths = (params.widths * params.applied.view(-1, 1))[0].tolist()
            self.masks = [(s, w) for s, w in zip(params.starts[0].tolist(), widths) if w > 0]

    def start(self) -> None:
        """Rewind the noise streams to the beginning of the signal (one pass)."""
        if self.noise is not None:
            n = self.noise
            self.streams = [_NoiseStream(state, start, c * n["frames"], n["n_total"])
                            for c, (state, start) in enumerate(zip(n["states"], n["starts"]))]

    def noise_block(self, t0: int, length: int) -> Tensor:
        if type(self.leaf) is WhiteNoise:
            return torch.stack([s.take(length) for s in self.streams])[None]  # (1, channels, length)
        bank, p = self.leaf.bank, self.params
        clip = int(p.clip[0])
        start, n = int(bank.starts[clip]), int(bank.lengths[clip])
        index = (int(p.offset[0]) + torch.arange(t0, t0 + length)) % n + start
        bank.check_clips([clip])  # a cached bank's samples are verified on first read
        bank.note_read(4 * length)
        return bank.data.index_select(0, index).to(torch.float32).view(1, 1, length)

    def background_power(self, frames: int) -> float:
        """Mean square of the background window over the whole signal."""
        total = 0.0
        for t0 in range(0, frames, BLOCK_FRAMES):
            block = self.noise_block(t0, min(BLOCK_FRAMES, frames - t0)).double()
            total += float(block.square().sum())
        return total / max(frames, 1)

    def __call__(self, x: Tensor, t0: int) -> Tensor:
        kind = type(self.leaf)
        if self.snr:
            noise = self.noise_block(t0, x.shape[-1])
            return torch.addcmul(x, noise, self.gain.to(x.dtype).view(-1, 1, 1))
        if kind is Gain:
            return x * self.factor
        y = x.clone()
        for s, w in self.masks:
            a, b = max(s, t0), min(s + w, t0 + x.shape[-1])
            if a < b:
                y[..., a - t0:b - t0] = 0.0
        return y


def _passes(source, start: int, stop: int, steps: list[_Step], upto: int) -> Iterator[tuple[int, Tensor]]:
    """``(t0, block)``: the file's frames ``[start, stop)`` through ``steps[:upto]``, block by block."""
    for step in steps[:upto]:
        step.start()
    t0 = 0
    for block in io.read_blocks(source, BLOCK_FRAMES, start, stop):
        y = block[None]
        for step in steps[:upto]:
            y = step(y, t0)
        yield t0, y
        t0 += block.shape[-1]


def _reached_snr(ps: Tensor, pn: Tensor, params: Params) -> Tensor:
    """``10*log10(ps / (g**2 * pn))`` with the gain formed in float64, as the whole-file call records it."""
    from audionoise.functional.snr import gain_numpy

    ps64, pn64 = ps.double().numpy(), pn.double().numpy()
    g = gain_numpy(ps64, pn64, params.snr_db.numpy()) * params.applied.numpy()
    with np.errstate(divide="ignore", invalid="ignore"):  # g = 0: no noise added, +inf as documented
        return torch.from_numpy(np.where(g > 0, 10.0 * np.log10(ps64 / (g * g * pn64)), np.inf)).float()


def augment_long(pipe: nn.Module, source, start: int, stop: int, channels: int, generator: torch.Generator,
                 writer: io.AudioWriter, on_clip: str = clipping.DEFAULT_POLICY,
                 name: str = "output") -> tuple[list[dict], int, dict]:
    """Augment frames ``[start, stop)`` of ``source`` in blocks, writing them to ``writer``.

    ``on_clip`` is the clipping policy (it acts on integer subtypes of ``writer`` only); ``name`` names the
    output in a :class:`~audionoise.offline.clipping.ClippingError`, raised before anything is written.
    Returns ``(records, frames, level)`` as the whole-file call and :func:`~audionoise.offline.clipping.limit`
    would give them (records of every leaf call; ``level``: the manifest's ``clipped`` and, when the output was
    scaled, ``normalized_db``).
    """
    frames = stop - start
    shape = (1, channels, frames)
    leaves = [m for m in pipe.modules() if isinstance(m, Injector)]
    noises: dict[int, dict] = {}
    with _streamed_white_noise(leaves, noises):
        plan = sample_plan(pipe, torch.empty(shape, device="meta"), None, generator)
    steps = [_Step(s.transform, s.params, noises.get(id(s.transform)), channels) for s in plan.steps]
    for j, step in enumerate(steps):
        if not step.snr:
            continue
        sumsq = 0.0
        for _, y in _passes(source, start, stop, steps, j):
            sumsq += float(y.double().square().sum())
        ps = torch.tensor([sumsq / max(channels * frames, 1)], dtype=torch.float32)
        pn_value = step.noise["power"] if step.noise is not None else step.background_power(frames)
        pn = torch.tensor([pn_value], dtype=torch.float32)
        g = gain_for_snr(ps, pn, step.params.snr_db) * step.params.applied.to(torch.float32)
        step.gain, step.info = g, {"noise_added": g > 0}
        if type(step.leaf) is BackgroundNoise:  # the record fields of the whole-file call (the cap never binds)
            step.info.update(gain_capped=torch.zeros_like(g, dtype=torch.bool),
                             snr_db_actual=_reached_snr(ps, pn, step.params))
    fixed = clipping.fixed_scale(writer.subtype)
    scale, level = None, {"clipped": 0}
    if fixed and on_clip in ("normalize", "error"):  # the peak is needed before the first block is written
        peak = 0.0
        for _, y in _passes(source, start, stop, steps, len(steps)):
            peak = max(peak, float(y.abs().amax()))
        scale, level = clipping.scale_for_peak(peak, writer.subtype, on_clip, name)
    clipped = 0
    for _, y in _passes(source, start, stop, steps, len(steps)):
        if scale is not None:
            y = y * scale.to(y.dtype)
        elif fixed and on_clip == "clip":
            clipped += int((y.abs() > 1.0).sum())
        writer.write(y[0])
    if fixed and on_clip == "clip":
        level = {"clipped": clipped}
    records = []
    for step in steps:
        records.extend(step.leaf.records(step.params, step.info))
    return records, frames, level
