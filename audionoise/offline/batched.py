"""Batched augmentation of many files whose outputs are defined one file at a time.

Output ``k`` of input ``key`` is defined as ``pipe(x[None], generator=Generator().manual_seed(s))`` with its own
seed ``s`` (:func:`~audionoise.offline.naming.output_seed`), so that any worker, shard or resume gives the same
bytes. Running the pipeline once per file pays its fixed per-call costs (dozens of small tensor operations) for
every file; this module keeps the definition and pays them once per batch:

1. **Sample per example.** Each example's plan is drawn with its own generator by the public plan API
   (:func:`audionoise.plan.sample_plan`): the containers (Compose/OneOf/RandomApply) draw their coins and choices
   exactly as in a real call, and each leaf's Params come out with ``applied`` already restricted to the active
   examples.
2. **Apply once.** The Params of each leaf are concatenated along the batch axis (they are dataclasses of
   per-example tensors) and the leaves applied in call order to the stacked batch (:func:`apply_batch`).

Only inputs of the same shape (channels, frames) are stacked: no padding, so every per-example reduction (the
signal and noise powers) runs over exactly the samples of a one-file call, row by row with the same kernel, and
the element-wise mixing is the same arithmetic: each output equals its one-file definition bit for bit (tested).
Pipelines with other leaves (``batchable = False``) (or modules that are not audionoise pipelines) run one file at a time.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor, nn

from audionoise.pipeline import _Container
from audionoise.plan import Plan, PlanStep, apply_plan, sample_plan
from audionoise.transforms.base import Injector, Params

__all__ = ["apply_batch", "batchable", "sample_many", "sample_params"]

def batchable(pipe: nn.Module) -> bool:
    """Whether ``pipe`` is an audionoise pipeline (or injector) made only of leaves that declare ``batchable``."""
    if isinstance(pipe, Injector):
        return pipe.batchable
    if not isinstance(pipe, _Container):
        return False
    for m in pipe.modules():
        if isinstance(m, Injector) and not m.batchable:
            return False
        if not isinstance(m, (Injector, _Container, nn.ModuleList)) and not _is_part_of_leaf(m, pipe):
            return False
    return True


def _is_part_of_leaf(module: nn.Module, pipe: nn.Module) -> bool:
    """A sub-module held by a leaf (e.g. BackgroundNoise's NoiseBank)."""
    return any(module is sub for leaf in pipe.modules() if isinstance(leaf, Injector)
               for sub in leaf.modules() if sub is not leaf)


def leaves_of(pipe: nn.Module) -> list[Injector]:
    return [m for m in pipe.modules() if isinstance(m, Injector)]


def sample_params(pipe: nn.Module, x: Tensor, generator: torch.Generator,
                  leaves: list[Injector] | None = None) -> list[tuple[Injector, Params]]:
    """The ``(leaf, Params)`` of every leaf call, in call order, of ``pipe(x, generator=generator)``: the steps of
    :func:`audionoise.plan.sample_plan`. ``x`` is one batched example ``(1, time)`` or ``(1, channels, time)``."""
    return [(s.transform, s.params) for s in sample_plan(pipe, x, None, generator).steps]


def sample_many(pipe: nn.Module, examples: Iterable[tuple[Tensor, torch.Generator]],
                leaves: list[Injector] | None = None) -> list[list[tuple[Injector, Params]]]:
    """:func:`sample_params` of each ``(x, generator)``."""
    return [sample_params(pipe, x, generator) for x, generator in examples]


def apply_batch(x: Tensor, per_example: list[list[tuple[Injector, Params]]]) -> tuple[Tensor, list[list[dict]]]:
    """Apply the sampled calls of each example to the stacked batch ``x`` (example ``i`` = row ``i``): the
    concatenated plan (:meth:`audionoise.plan.Plan.concat`) applied once.

    Returns the augmented batch and one record list per example, as ``pipe(..., return_params=True)`` gives.
    """
    plans = [Plan(tuple(PlanStep(t, p) for t, p in ex), 1) for ex in per_example]
    out = apply_plan(x, Plan.concat(plans), None, owned=True)
    return out.audio, out.records
