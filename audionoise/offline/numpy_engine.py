"""The NumPy engine of ``audionoise augment``: the common pipelines without importing torch.

``import torch`` costs 2-3 s of CPU, more than augmenting a thousand one-second clips. The pipelines most offline
jobs run (the quick flags, and configs of white noise, background noise, time masks and gain) need none of it, so
:func:`plan` recognises them in the config and :class:`NumpyPipeline` applies them with NumPy, one file at a
time. Any other config, or any option this engine does not implement, goes to the torch engine (which also words
the config errors), so no job changes meaning, only where it runs.

Same maths as the injectors (:mod:`audionoise.transforms`), per example: each injector that runs here has its
own module in :mod:`audionoise.offline.numpy_steps` (``WhiteNoise``, ``BackgroundNoise``, ``TimeMask``, ``Gain``
today), found by scanning that package, and declares it on its class (``numpy_step``); there is no list of
injector names in this engine. Each step is applied with its probability ``p``, in the config's order, with the
same records (``transform``, ``applied``, the drawn parameters, ``noise_added``, ...).

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

The noise bank is decoded in memory with libsndfile (:mod:`audionoise.offline.numpy_steps.background_noise`);
banks it cannot take exactly go to the torch engine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from audionoise.kernels.stream import TorchStream
from audionoise.offline.numpy_steps import steps
from audionoise.offline.numpy_steps._common import gaussian
from audionoise.offline.numpy_steps.background_noise import MAX_BANK_SAMPLES

__all__ = ["ENGINE", "MAX_BANK_SAMPLES", "NumpyPipeline", "gaussian", "plan"]

#: the name rows and run.json give this engine
ENGINE = "numpy"


def plan(config: dict, rate: int, base_dir: str | os.PathLike | None = None) -> "NumpyPipeline | None":
    """The NumPy pipeline for files of ``rate`` Hz, or ``None`` when the config needs the torch engine.

    ``None`` for anything this engine does not implement exactly as the injector does (transforms without a
    module in :mod:`audionoise.offline.numpy_steps`, containers other than the top-level list, a field the step
    does not implement, ``snr_reference="active"``, several background sources, faded masks, ...) and for
    anything doubtful (a value the injector would reject, a noise bank that needs resampling): the torch engine
    then runs the job, or reports the problem.
    """
    if not isinstance(config, dict) or set(config) - {"sample_rate", "transforms", "p"}:
        return None
    if config.get("p", 1.0) != 1.0 or not isinstance(config.get("transforms"), list) or not config["transforms"]:
        return None
    found = []
    for i, entry in enumerate(config["transforms"]):
        step = _step(entry, rate, base_dir, f"transforms[{i}]")
        if step is None:
            return None
        found.append(step)
    return NumpyPipeline(found, rate)


@dataclass
class _Step:
    module: ModuleType   # the injector's module in audionoise.offline.numpy_steps
    state: Any           # what its parse() returned


def _step(entry: Any, rate: int, base_dir, where: str) -> _Step | None:
    if not isinstance(entry, dict):
        return None
    module = steps().get(entry.get("name"))
    params = {k: v for k, v in entry.items() if k != "name"}
    if module is None or set(params) - module.FIELDS:
        return None
    state = module.parse(params, rate, base_dir, where)
    return None if state is None else _Step(module, state)


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
            y, rec = step.module.apply(y, step.state, stream, key)
            records.append(rec)
            if trace is not None:
                trace.append((before, y))
        return (y if y is not x else x.copy()), records
