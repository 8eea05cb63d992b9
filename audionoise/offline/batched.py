"""Batched augmentation of many files whose outputs are defined one file at a time.

Output ``k`` of input ``key`` is defined as ``pipe(x[None], generator=Generator().manual_seed(s))`` with its own
seed ``s`` (:func:`~audionoise.offline.naming.output_seed`), so that any worker, shard or resume gives the same
bytes. Running the pipeline once per file pays its fixed per-call costs (dozens of small tensor operations) for
every file; this module keeps the definition and pays them once per batch:

1. **Sample per example.** For each example the pipeline's own ``_run`` walks its tree with the example's
   generator while every leaf's apply step is replaced by "record the Params, change nothing"
   (:func:`sample_params`). The containers (Compose/OneOf/RandomApply) thus draw their coins and choices exactly as
   in a real call, and each leaf's Params come out with ``applied`` already restricted to the active examples.
   Leaves draw from the input's shape only (the leaves in :data:`BATCHABLE`), so drawing them before any apply
   gives the same values as the interleaved real call.
2. **Apply once.** The Params of each leaf are concatenated along the batch axis (they are dataclasses of
   per-example tensors) and the leaves applied in call order to the stacked batch (:func:`apply_batch`).

Only inputs of the same shape (channels, frames) are stacked: no padding, so every per-example reduction (the
signal and noise powers) runs over exactly the samples of a one-file call, row by row with the same kernel, and
the element-wise mixing is the same arithmetic: each output equals its one-file definition bit for bit (tested).
Pipelines with other leaves (or modules that are not audionoise pipelines) run one file at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Iterable, Iterator

import torch
from torch import Tensor, nn

from audionoise.pipeline import _Container
from audionoise.transforms import BackgroundNoise, ColoredNoise, Gain, TimeMask, TimeShift, WhiteNoise
from audionoise.transforms.base import Injector, Params

__all__ = ["BATCHABLE", "apply_batch", "batchable", "sample_many", "sample_params"]

#: Leaves whose parameters depend on the input's shape only and whose apply step is per example (exact in a batch).
BATCHABLE = (WhiteNoise, ColoredNoise, BackgroundNoise, TimeMask, Gain, TimeShift)


def batchable(pipe: nn.Module) -> bool:
    """Whether ``pipe`` is an audionoise pipeline (or injector) made only of :data:`BATCHABLE` leaves."""
    if isinstance(pipe, Injector):
        return type(pipe) in BATCHABLE
    if not isinstance(pipe, _Container):
        return False
    for m in pipe.modules():
        if isinstance(m, Injector) and type(m) not in BATCHABLE:
            return False
        if not isinstance(m, (Injector, _Container, nn.ModuleList)) and not _is_part_of_leaf(m, pipe):
            return False
    return True


def _is_part_of_leaf(module: nn.Module, pipe: nn.Module) -> bool:
    """A sub-module held by a leaf (e.g. BackgroundNoise's NoiseBank)."""
    return any(module is sub for leaf in pipe.modules() if isinstance(leaf, Injector)
               for sub in leaf.modules() if sub is not leaf)


@contextlib.contextmanager
def _recording(leaves: list[Injector], calls: list[tuple[Injector, Params]]) -> Iterator[None]:
    """Within the block, each leaf's apply step records ``(leaf, params)`` and returns its input unchanged."""

    def recorder(leaf):
        def apply_params(x, params, lengths, owned):
            calls.append((leaf, params))
            return x, {}
        return apply_params

    for leaf in leaves:
        leaf.__dict__["_apply_params"] = recorder(leaf)  # instance attribute: shadows the method
    try:
        yield
    finally:
        for leaf in leaves:
            leaf.__dict__.pop("_apply_params", None)


def leaves_of(pipe: nn.Module) -> list[Injector]:
    return [m for m in pipe.modules() if isinstance(m, Injector)]


def sample_params(pipe: nn.Module, x: Tensor, generator: torch.Generator,
                  leaves: list[Injector] | None = None) -> list[tuple[Injector, Params]]:
    """The ``(leaf, Params)`` of every leaf call, in call order, of ``pipe(x, generator=generator)``.

    ``x`` is one batched example ``(1, time)`` or ``(1, channels, time)``; nothing is applied. The generator
    ends in the state a real call leaves it in. ``leaves`` (``leaves_of(pipe)``) may be passed to save the walk.
    """
    leaves = leaves_of(pipe) if leaves is None else leaves
    calls: list[tuple[Injector, Params]] = []
    with _recording(leaves, calls):
        pipe._run(x, None, generator, None, False)
    return calls


def sample_many(pipe: nn.Module, examples: Iterable[tuple[Tensor, torch.Generator]],
                leaves: list[Injector] | None = None) -> list[list[tuple[Injector, Params]]]:
    """:func:`sample_params` of each ``(x, generator)``, with the leaves' apply steps replaced once for all."""
    leaves = leaves_of(pipe) if leaves is None else leaves
    calls: list[tuple[Injector, Params]] = []
    out = []
    with _recording(leaves, calls):
        for x, generator in examples:
            pipe._run(x, None, generator, None, False)
            out.append(calls[:])
            calls.clear()
    return out


def _concat(params: list[Params]) -> Params:
    first = params[0]
    if len(params) == 1:
        return first
    return dataclasses.replace(first, **{f.name: torch.cat([getattr(p, f.name) for p in params])
                                         for f in dataclasses.fields(first)})


def apply_batch(x: Tensor, per_example: list[list[tuple[Injector, Params]]]) -> tuple[Tensor, list[list[dict]]]:
    """Apply the sampled calls of each example to the stacked batch ``x`` (example ``i`` = row ``i``).

    Returns the augmented batch and one record list per example, as ``pipe(..., return_params=True)`` gives.
    """
    calls = per_example[0]
    for other in per_example[1:]:
        if [leaf for leaf, _ in other] != [leaf for leaf, _ in calls]:  # pragma: no cover - same tree, same calls
            raise RuntimeError("examples of one batch made different leaf calls")
    records: list[list[dict[str, Any]]] = [[] for _ in per_example]
    y = x
    for j, (leaf, _) in enumerate(calls):
        params = _concat([ex[j][1] for ex in per_example])
        y, info = leaf._apply_params(y, params, None, True)
        for i, rec in enumerate(leaf.records(params, info)):
            records[i].append(rec)
    return y, records
