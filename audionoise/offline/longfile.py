"""Inputs too long to hold in memory, augmented in blocks with the result of a whole-file call.

An input of more than :data:`audionoise.offline.inputs.LONG_SAMPLES` samples (all channels) is never loaded
whole. Its outputs are made in blocks of :data:`BLOCK_FRAMES` frames read from the file, in ``1 + (number of SNR leaves)`` passes:

* the parameters are drawn exactly as the whole-file call ``pipe(x[None], generator=g)`` draws them (the plan
  API, :func:`audionoise.plan.sample_plan`, on a shape-only ``meta`` tensor); white noise is not drawn whole but
  streamed (:func:`audionoise.transforms._blocks.deferred_noise`): its block step regenerates, block by block,
  the very values ``torch.randn(shape, generator=g)`` gives (tested); each leaf applies itself block by block
  through the step it builds (:meth:`~audionoise.transforms.base.Injector.block_step`);
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

from typing import Iterator

import torch
from torch import Tensor, nn

from audionoise import io
from audionoise.offline import clipping
from audionoise.offline.batched import batchable
from audionoise.plan import sample_plan
from audionoise.transforms._blocks import STREAM_CHUNK, BlockStep, deferred_noise
from audionoise.transforms.base import Injector

__all__ = ["BLOCK_FRAMES", "augment_long", "streamable"]

#: frames per block read from the file (the noise streams regenerate in chunks of the same size)
BLOCK_FRAMES = STREAM_CHUNK


def streamable(pipe: nn.Module) -> bool:
    """Whether ``pipe`` can be applied in blocks: a batchable pipeline whose every leaf says it
    :meth:`~audionoise.transforms.base.Injector.streams_in_blocks` (white/background noise at an exact SNR with
    ``snr_reference="full"``, gains, masks without fades, in any Compose/OneOf/RandomApply)."""
    return batchable(pipe) and all(m.streams_in_blocks() for m in pipe.modules() if isinstance(m, Injector))


def _passes(source, start: int, stop: int, steps: list[BlockStep], upto: int) -> Iterator[tuple[int, Tensor]]:
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
    with deferred_noise() as noises:  # white noise records where it starts in the stream instead of being drawn
        plan = sample_plan(pipe, torch.empty(shape, device="meta"), None, generator)
    steps = [s.transform.block_step(s.params, noises.get(id(s.transform)), channels) for s in plan.steps]
    for j, step in enumerate(steps):
        if not step.needs_power:
            continue
        sumsq = 0.0
        for _, y in _passes(source, start, stop, steps, j):
            sumsq += float(y.double().square().sum())
        step.start()
        step.set_gain(sumsq / max(channels * frames, 1), step.noise_power(frames))
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
    for s, step in zip(plan.steps, steps):
        records.extend(s.transform.records(s.params, step.info))
    return records, frames, level
