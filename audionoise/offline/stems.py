"""Speech-enhancement stems: the noisy output, its aligned clean target and the noise stem (``augment --stems``).

A pipeline has stems when every *additive* injector (one that adds a signal independent of the input:
``WhiteNoise``, ``ColoredNoise``, ``BackgroundNoise``, ``ShortNoises``, ``Mix``; the class attribute
``adds_noise``) comes after every other transform. Then, for one call of the pipeline,

    clean = the signal entering the first additive injector   (the input after reverb, filters, gains, ...)
    noisy = the pipeline's output                             (bit for bit the output without stems)
    noise = noisy - clean                                      (all the additive injectors together)

so the clean target carries everything the pipeline did that is not additive noise (a reverberant room, a
telephone band, clipping or a codec before the noise: the target is the reverberant / band-limited / clipped
speech). A pipeline where something non-additive follows the noise (a filter or a mask over the noisy mix) has no
such decomposition: it is refused with one line.
"""

from __future__ import annotations

from typing import Any

from audionoise.offline.pipelines import OfflineUsageError


def leaves(pipeline: Any) -> list[Any]:
    """The leaf injectors of ``pipeline`` in call order (containers walked; a leaf's own submodules are not)."""
    from audionoise.transforms.base import Injector

    if isinstance(pipeline, Injector):
        return [pipeline]
    out = []
    for child in pipeline.children():
        out.extend(leaves(child) if not isinstance(child, Injector) else [child])
    return out


def check(pipeline: Any) -> None:
    """Raise :class:`OfflineUsageError` (one line) unless ``pipeline`` has stems (see the module docstring)."""
    seen = None
    for leaf in leaves(pipeline):
        name = type(leaf).__name__
        if getattr(leaf, "adds_noise", False):
            seen = seen or name
        elif seen is not None:
            raise OfflineUsageError(f"--stems: {name} comes after the additive noise ({seen}); a clean target and a "
                                    f"noise stem are defined only when every additive injector (WhiteNoise, "
                                    f"ColoredNoise, BackgroundNoise, ShortNoises, Mix) comes after all other "
                                    f"transforms")
    if seen is None:
        raise OfflineUsageError("--stems: the pipeline adds no noise (no WhiteNoise, ColoredNoise, BackgroundNoise, "
                                "ShortNoises or Mix), so there is no noise stem to write")


def augment_with_stems(pipeline: Any, x: Any, generator: Any) -> tuple[Any, Any, Any, list]:
    """``(noisy, clean, lengths, records)`` of one call ``pipeline(x, generator=generator)``; ``noisy`` is that
    call's output bit for bit, ``clean`` the signal entering the first additive injector (see :func:`check`).

    Example:
        >>> import torch, audionoise as an
        >>> pipe = an.Compose([an.Gain(-6, -6), an.WhiteNoise(10, 10)])
        >>> noisy, clean, _, _ = augment_with_stems(pipe, torch.ones(1, 100), torch.Generator().manual_seed(0))
        >>> float(clean[0, 0]), round(float(an.functional.snr_db(clean, noisy - clean)), 3)
        (0.5011872053146362, 10.0)
    """
    from audionoise.plan import Plan, _apply_steps, sample_plan

    plan = sample_plan(pipeline, x, None, generator)
    split = next((i for i, s in enumerate(plan.steps) if getattr(s.transform, "adds_noise", False)),
                 len(plan.steps))
    clean, lengths, first = _apply_steps(x, Plan(plan.steps[:split], plan.batch), None, True, True)
    noisy, lengths, second = _apply_steps(clean, Plan(plan.steps[split:], plan.batch), lengths, True, True)
    return noisy, clean, lengths, [a + b for a, b in zip(first, second)]


def stem_names(out_rel: str) -> tuple[str, str]:
    """``(clean, noise)`` names next to the output ``out_rel``: ``dir/x_aug0.wav`` -> ``dir/x_aug0_clean.wav``,
    ``dir/x_aug0_noise.wav``."""
    head, dot, ext = out_rel.rpartition(".")
    if not dot or "/" in ext:
        head, ext = out_rel, ""
    suffix = f".{ext}" if ext else ""
    return f"{head}_clean{suffix}", f"{head}_noise{suffix}"
