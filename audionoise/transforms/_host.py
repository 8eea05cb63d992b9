"""Per-example processing on the host, for injectors that wrap CPU libraries (librosa, libsndfile's encoders).

Such injectors run one example at a time on its valid samples as a NumPy array and put the results back into a
tensor on the input's device. They are not differentiable (the libraries work on NumPy arrays), so an input that
requires a gradient is refused with an error instead of silently cutting the graph.
"""

from __future__ import annotations

import importlib.util
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from audionoise.transforms.base import needs_grad


def require_module(name: str, who: str, extra: str) -> None:
    """Raise ``ImportError`` with the install command unless ``name`` can be imported (checked, not imported)."""
    if importlib.util.find_spec(name) is None:
        from audionoise.runtime.extras import MissingExtraError

        raise MissingExtraError(f"{who} needs {name}, which is not installed; install it with "
                                f"pip install 'audionoise[{extra}]'", name=name)


def refuse_grad(x: Tensor, who: str) -> None:
    if needs_grad(x):
        raise ValueError(f"{who} runs a CPU library on NumPy arrays and is not differentiable, but its input "
                         f"requires a gradient; detach the input (x.detach()) or move {who} before the part of the "
                         f"pipeline that needs gradients")


def map_rows(x: Tensor, lengths: Tensor | None, applied: Tensor,
             fn: Callable[[int, np.ndarray], np.ndarray]) -> tuple[list[np.ndarray | None], list[int]]:
    """``fn(b, row)`` for every applied example ``b``, ``row`` = its valid samples ``(..., n_b)`` as float32 NumPy.

    Returns the outputs (``None`` for examples not applied) and the valid lengths ``n_b``.
    """
    host = x.detach().to("cpu", torch.float32).numpy()
    n = [x.shape[-1]] * x.shape[0] if lengths is None else lengths.tolist()
    flags = applied.tolist()
    outs = [fn(b, np.ascontiguousarray(host[b, ..., : n[b]])) if flags[b] and n[b] > 0 else None
            for b in range(x.shape[0])]
    return outs, n


def put_rows(x: Tensor, outs: list[np.ndarray | None]) -> Tensor:
    """``x`` with each non-``None`` output written over the start of its example (same lengths; padding kept)."""
    y = x.detach().clone()
    for b, out in enumerate(outs):
        if out is not None:
            y[b, ..., : out.shape[-1]] = torch.from_numpy(out).to(y.device, y.dtype)
    return y


def stack_rows(x: Tensor, outs: list[np.ndarray | None], n: list[int]) -> tuple[Tensor, Tensor]:
    """A new zero-padded batch of the outputs (examples not applied: their valid samples), and its lengths."""
    new = [out.shape[-1] if out is not None else n[b] for b, out in enumerate(outs)]
    width = max(new, default=0)
    y = torch.zeros(*x.shape[:-1], width, dtype=x.dtype, device=x.device)
    for b, out in enumerate(outs):
        if out is not None:
            y[b, ..., : new[b]] = torch.from_numpy(out).to(y.device, y.dtype)
        else:
            y[b, ..., : n[b]] = x[b, ..., : n[b]].detach()
    return y, torch.tensor(new, dtype=torch.long, device=x.device)
