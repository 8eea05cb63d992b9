"""The public plan API: sample a whole pipeline into a frozen per-example plan, then apply it.

Every host (the library call, the offline runner, long files in blocks, the KWS trainer, ``datasets``) runs a
pipeline the same way::

    plan = sample_plan(pipeline, x, lengths, generator)   # draws everything random; applies nothing
    out = apply_plan(x, plan, lengths)                     # deterministic: Augmented(audio, lengths, records)

A :class:`Plan` is the list of leaf calls a real call makes, in call order, each with its frozen
:class:`~audionoise.transforms.base.Params` (the containers' coins and ``OneOf`` choices are already folded into
each leaf's ``applied`` mask). It holds per-example tensors, so plans of single examples concatenate into the plan
of a batch (:meth:`Plan.concat`) and a batch's plan splits into its examples (:meth:`Plan.select`).
``sample_plan`` consumes the generator exactly as the one-shot call ``pipeline(x, lengths, generator)`` does, and
``apply_plan(x, sample_plan(...))`` equals that call bit for bit (tested), because no injector draws randomness
while applying and no injector's draw reads the signal (only its shape and lengths).

Length-changing transforms (``changes_length``: ``SpeedPerturb``, ``TimeStretch``) declare
``output_lengths(params, lengths, time)``, so the transforms after them are sampled for the new lengths without
running the resampler. :func:`augment` and :func:`apply_plan` always return the same shape,
``Augmented(audio, lengths, records)``, whatever the pipeline holds (``lengths`` is the input's lengths when nothing
changed them, ``None`` only when none were given and nothing changed them).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from audionoise.transforms.base import Injector, Params, enter

__all__ = ["Augmented", "Plan", "PlanStep", "apply_plan", "augment", "plannable", "sample_plan"]

Records = list[list[dict[str, Any]]]


class Augmented(NamedTuple):
    """What every pipeline run returns: the audio, its lengths (new ones after a length-changing transform),
    and one record list per example (``None`` when records were not asked for)."""

    audio: Tensor
    lengths: Tensor | None
    records: Records | None


@dataclasses.dataclass(frozen=True)
class PlanStep:
    """One leaf call of a plan: the injector and its frozen per-example parameters."""

    transform: Injector
    params: Params


@dataclasses.dataclass(frozen=True)
class Plan:
    """A frozen per-example plan of a pipeline: its leaf calls in call order (see the module docstring)."""

    steps: tuple[PlanStep, ...]
    batch: int

    def select(self, index: int | slice | Tensor) -> "Plan":
        """The plan of a subset of the examples (an ``int`` keeps a batch axis of 1)."""
        steps = tuple(PlanStep(s.transform, s.params.select(index)) for s in self.steps)
        n = steps[0].params.applied.shape[0] if steps else _count(index, self.batch)
        return Plan(steps, n)

    def restrict(self, keep: Tensor) -> "Plan":
        """The same plan with every step disabled on the examples where ``keep`` is false."""
        steps = tuple(PlanStep(s.transform, dataclasses.replace(
            s.params, applied=s.params.applied & keep.to(s.params.applied.device))) for s in self.steps)
        return Plan(steps, self.batch)

    def to(self, device: torch.device | str) -> "Plan":
        return Plan(tuple(PlanStep(s.transform, s.params.to(device)) for s in self.steps), self.batch)

    @staticmethod
    def concat(plans: list["Plan"]) -> "Plan":
        """The plan of the stacked batch of several plans made by the same pipeline (same leaf calls)."""
        first = plans[0]
        for other in plans[1:]:
            if [s.transform for s in other.steps] != [s.transform for s in first.steps]:
                raise ValueError("Plan.concat: the plans come from different pipelines (different leaf calls)")
        if len(plans) == 1:
            return first
        steps = []
        for j, step in enumerate(first.steps):
            parts = [p.steps[j].params for p in plans]
            steps.append(PlanStep(step.transform, dataclasses.replace(
                step.params, **{f.name: torch.cat([getattr(q, f.name) for q in parts])
                                for f in dataclasses.fields(step.params)})))
        return Plan(tuple(steps), sum(p.batch for p in plans))

    def records(self) -> Records:
        """The drawn parameters as records (without what only applying measures, e.g. the reached SNR)."""
        out: Records = [[] for _ in range(self.batch)]
        for step in self.steps:
            for i, rec in enumerate(step.transform.records(step.params)):
                out[i].append(rec)
        return out


def _count(index: Any, batch: int) -> int:
    if isinstance(index, int):
        return 1
    return len(range(batch)[index]) if isinstance(index, slice) else int(torch.arange(batch)[index].numel())


def _spectrogram(pipeline: nn.Module) -> bool:
    return bool(getattr(pipeline, "spectrogram", False))


def plannable(obj: Any) -> bool:
    """Whether ``obj`` is an audionoise injector or pipeline (what the plan API runs)."""
    return hasattr(obj, "_plan")


def _check_pipeline(pipeline: Any) -> None:
    if not plannable(pipeline):
        raise TypeError(f"expected an audionoise injector or pipeline (Compose/OneOf/RandomApply), got "
                        f"{type(pipeline).__name__}")


def sample_plan(pipeline: nn.Module, x: Tensor, lengths: Tensor | None = None,
                generator: torch.Generator | None = None) -> Plan:
    """Draw the per-example plan ``pipeline(x, lengths, generator)`` would apply; nothing is applied.

    ``x`` only gives the shape, dtype and device (its values are never read). A ``(time,)`` input is one example.

    Example:
        >>> import audionoise as an
        >>> pipe = an.Compose([an.WhiteNoise(10, 10)])
        >>> plan = sample_plan(pipe, torch.zeros(2, 16000), generator=torch.Generator().manual_seed(0))
        >>> [s.transform.__class__.__name__ for s in plan.steps], plan.batch
        (['WhiteNoise'], 2)
    """
    _check_pipeline(pipeline)
    xb, _, lengths = enter(x, lengths, _spectrogram(pipeline), type(pipeline).__name__)
    return _sample(pipeline, xb, lengths, generator)


def _sample(pipeline: nn.Module, xb: Tensor, lengths: Tensor | None, generator: torch.Generator | None) -> Plan:
    calls: list[tuple[Injector, Params]] = []
    pipeline._plan(xb, lengths, generator, None, calls)
    return Plan(tuple(PlanStep(t, p) for t, p in calls), xb.shape[0])


def apply_plan(x: Tensor, plan: Plan, lengths: Tensor | None = None, *, record: bool = True,
               owned: bool = False) -> Augmented:
    """Apply a plan (deterministic): ``Augmented(audio, lengths, records)``.

    ``owned=True`` lets the steps consume the plan's buffers (e.g. mix into its noise tensors): pass it only for a
    plan nobody uses again. A ``(time,)`` input gives an unbatched ``audio`` and a 0-d ``lengths``.
    """
    spectrogram = any(s.transform.spectrogram for s in plan.steps)
    xb, single, lengths = enter(x, lengths, spectrogram, "apply_plan")
    if xb.shape[0] != plan.batch:
        raise ValueError(f"apply_plan: the plan is for {plan.batch} example(s) but x holds {xb.shape[0]}")
    y, lengths, records = _apply_steps(xb, plan, lengths, record, owned)
    if single:
        y = y[0]
        lengths = lengths[0] if lengths is not None else None
        records = records[:1] if records is not None else None
    return Augmented(y, lengths, records)


def direct(pipeline: nn.Module, x: Tensor, lengths: Tensor | None,
           generator: torch.Generator | None) -> tuple[Tensor, Tensor | None]:
    """``(y, lengths)`` of sample-then-apply on trusted batched input, without records: a top-level run of leaves
    (``Compose`` with ``p = 1``) calls each leaf's own ``forward`` shortcut where it has one (the per-item
    ``Dataset`` pattern pays no ``Params`` tensors), everything else goes through its plan. Bit-identical to
    ``apply_plan(x, sample_plan(...))`` with the same generator consumption: each shortcut is held to exactly that
    by the injector contract (tests/test_contract.py, tests/test_plan.py)."""
    run = getattr(pipeline, "_direct", None)
    out = run(x, lengths, generator) if run is not None else None
    if out is not None:
        return out
    if isinstance(pipeline, Injector) and not pipeline.changes_length:
        y = pipeline._fast_forward(x, lengths, generator)
        if y is not None:
            return y, lengths
    y, lengths, _ = _apply_steps(x, _sample(pipeline, x, lengths, generator), lengths, False, True)
    return y, lengths


def _apply_steps(x: Tensor, plan: Plan, lengths: Tensor | None, record: bool,
                 owned: bool) -> tuple[Tensor, Tensor | None, Records | None]:
    records: Records | None = [[] for _ in range(plan.batch)] if record else None
    for step in plan.steps:
        t = step.transform
        x, info = t._apply_params(x, step.params, lengths, owned)
        if t.changes_length:
            lengths = info["length"]
        if records is not None:
            for i, rec in enumerate(t.records(step.params, info)):
                records[i].append(rec)
    return x, lengths, records


def augment(pipeline: nn.Module, x: Tensor, lengths: Tensor | None = None,
            generator: torch.Generator | None = None, *, record: bool = True) -> Augmented:
    """Sample and apply in one go, with the one return shape ``Augmented(audio, lengths, records)``.

    Equals ``pipeline(x, lengths, generator)`` bit for bit (the audio part), whatever the pipeline holds.

    Example:
        >>> import audionoise as an
        >>> pipe = an.Compose([an.SpeedPerturb((1.1,), sample_rate=16000)])
        >>> out = augment(pipe, torch.randn(2, 16000), generator=torch.Generator().manual_seed(0))
        >>> out.audio.shape, out.lengths.tolist()
        (torch.Size([2, 14546]), [14546, 14546])
    """
    _check_pipeline(pipeline)
    xb, single, lengths = enter(x, lengths, _spectrogram(pipeline), type(pipeline).__name__)
    if record:
        y, new_lengths, records = _apply_steps(xb, _sample(pipeline, xb, lengths, generator), lengths, True, True)
    else:  # nothing to record: leaves may take their fast paths (the same draws and bits, see direct)
        (y, new_lengths), records = direct(pipeline, xb, lengths, generator), None
    if single:
        return Augmented(y[0], new_lengths[0] if new_lengths is not None else None, records)
    return Augmented(y, new_lengths, records)
