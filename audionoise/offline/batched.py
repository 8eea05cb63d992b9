"""Batched augmentation of many files whose outputs are defined one file at a time.

Output ``k`` of input ``key`` is defined as ``pipe(x[None], generator=Generator().manual_seed(s))`` with its own
seed ``s`` (:func:`~audionoise.offline.naming.output_seed`), so that any worker, shard or resume gives the same
bytes. Running the pipeline once per file pays its fixed per-call costs (dozens of small tensor operations) for
every file; this module keeps the definition and pays them once per batch:

1. **Sample per example.** Each example's plan is drawn with its own generator by the public plan API
   (:func:`audionoise.plan.sample_plan`): the containers (Compose/OneOf/RandomApply) draw their coins and choices
   exactly as in a real call, and each leaf's Params come out with ``applied`` already restricted to the active
   examples.
2. **Apply once.** The plans are concatenated along the batch axis (:meth:`audionoise.plan.Plan.concat`: their
   Params are dataclasses of per-example tensors) and applied in call order to the stacked batch
   (:func:`audionoise.plan.apply_plan`); the runner does both.

Only inputs of the same shape (channels, frames) are stacked: no padding, so every per-example reduction (the
signal and noise powers) runs over exactly the samples of a one-file call, row by row with the same kernel, and
the element-wise mixing is the same arithmetic: each output equals its one-file definition bit for bit (tested).
Pipelines with other leaves (``batchable = False``) (or modules that are not audionoise pipelines) run one file at a time.
"""

from __future__ import annotations

from torch import nn

from audionoise.pipeline import _Container
from audionoise.transforms.base import Injector

__all__ = ["batchable"]


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
