"""NumPy arrays at the public entries: an injector or a pipeline called with a NumPy array returns NumPy arrays.

The array is viewed as a tensor without a copy (``torch.from_numpy``), goes through the same ``forward`` as a tensor
(same shapes rule: ``(time,)``, ``(batch, time)``, ``(batch, channels, time)``; same parameters for the same
generator, same records), and every tensor of the result comes back as an array (a view of the result's memory).
The input is never modified. ``lengths`` may be an array or a list too.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

def is_float_audio(x: np.ndarray) -> bool:
    """Whether a NumPy input has a dtype the injectors take (float32 or float64)."""
    return x.dtype.char in "fd"


def tensor_of(x: np.ndarray, who: str) -> Tensor:
    """``x`` as a tensor sharing its memory (a copy only for a read-only or negatively strided array)."""
    if not is_float_audio(x):
        raise ValueError(f"{who}: a NumPy input must be float32 or float64 audio, got dtype {x.dtype}; convert "
                         f"int16 PCM with x.astype(np.float32) / 32768")
    if not x.flags.writeable or any(s < 0 for s in x.strides):
        x = np.array(x)  # torch.from_numpy needs a writable array with positive strides (nothing writes to it)
    return torch.from_numpy(x)


def arrays_of(out: Any) -> Any:
    """Every tensor of a result (a tensor, or a tuple of tensors and records) as a NumPy array."""
    if isinstance(out, Tensor):
        return out.detach().cpu().numpy()  # a CPU tensor: a view of its memory
    if isinstance(out, tuple):
        return tuple(arrays_of(v) for v in out)
    return out


def numpy_call(forward: Callable, x: np.ndarray, lengths: Any, who: str, *args: Any) -> Any:
    """``forward(tensor_of(x), lengths, *args)`` with the result's tensors as NumPy arrays."""
    if lengths is not None and not isinstance(lengths, Tensor):
        lengths = torch.as_tensor(np.asarray(lengths))
    return arrays_of(forward(tensor_of(x, who), lengths, *args))
