"""Adapters that run the peer libraries on the benchmark's batch, plus the torch-audiomentations shim.

Peers timed (versions pinned by the ``[bench]`` extra):

* **audiomentations 0.43** works on one numpy example at a time; its adapter loops over the
  rows of a ``(batch, time)`` float32 array (prepared once, so the torch -> numpy copy is not
  charged to it) and keeps the outputs in a list (no stacking is charged either).
* **torch-audiomentations 0.12** works on ``(batch, channels, time)`` tensors. It calls
  ``torchaudio.info`` (removed in torchaudio 2.9) and ``torchaudio.load`` (needs torchcodec and
  FFmpeg since 2.9), and only lists ``.wav`` files. :func:`shim_torch_audiomentations` swaps,
  inside that package only, the ``torchaudio`` name of its ``utils.io`` module for a small proxy
  whose ``info``/``load`` read with soundfile (``functional`` still points at torchaudio), and
  adds ``.ogg``/``.flac`` to the extensions its path filter accepts. The global ``torchaudio``
  module is left untouched.
* **torchaudio 2.11** functional equivalents are built in ``run.py`` directly from
  :mod:`torchaudio.functional` / :mod:`torchaudio.transforms`.

Example:
    >>> tam, note = load_torch_audiomentations()
    >>> tam is None or hasattr(tam, "AddBackgroundNoise")
    True
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile
import torch

from timing import timed_import

#: File name endings the shim lets torch-audiomentations pick up.
SHIM_EXTENSIONS = (".wav", ".ogg", ".flac")


def _sf_info(path) -> types.SimpleNamespace:
    """``torchaudio.info`` stand-in: the two fields torch-audiomentations reads."""
    info = soundfile.info(str(path))
    return types.SimpleNamespace(num_frames=info.frames, sample_rate=info.samplerate)


def _sf_load(path, frame_offset: int = 0, num_frames: int = -1):
    """``torchaudio.load`` stand-in: ``(channels, time)`` float32 tensor and the sample rate."""
    data, rate = soundfile.read(
        str(path), start=int(frame_offset), frames=int(num_frames), dtype="float32", always_2d=True
    )
    return torch.from_numpy(np.ascontiguousarray(data.T)), rate


def shim_torch_audiomentations(module) -> str:
    """Make torch-audiomentations 0.12 read audio on torchaudio >= 2.9; returns what was patched."""
    import torchaudio
    from torch_audiomentations.utils import file as tam_file
    from torch_audiomentations.utils import io as tam_io

    proxy = types.SimpleNamespace(info=_sf_info, load=_sf_load, functional=torchaudio.functional)
    tam_io.torchaudio = proxy
    tam_file.SUPPORTED_EXTENSIONS = SHIM_EXTENSIONS
    return (
        "shim: torch_audiomentations.utils.io.torchaudio -> soundfile-backed info/load proxy; "
        f"utils.file.SUPPORTED_EXTENSIONS -> {SHIM_EXTENSIONS} (noise files passed as a list)"
    )


def load_torch_audiomentations() -> tuple[object | None, str]:
    """Import and shim torch-audiomentations; ``(None, reason)`` when it cannot run here."""
    module, ms, error = timed_import("torch_audiomentations")
    if module is None:
        return None, f"import failed: {error}"
    try:
        note = shim_torch_audiomentations(module)
    except Exception as exc:  # report the failure in the table instead of crashing the run
        return None, f"shim failed: {type(exc).__name__}: {exc}"
    return module, f"import {ms:.0f} ms; {note}"


def numpy_loop(transform: Callable, batch: np.ndarray, sample_rate: int) -> list[np.ndarray]:
    """Apply a one-example numpy transform (audiomentations) to each row of a batch."""
    return [transform(samples=row, sample_rate=sample_rate) for row in batch]


def numpy_spec_loop(transform: Callable, specs: np.ndarray) -> list[np.ndarray]:
    """Apply a one-example spectrogram transform (audiomentations) to each ``(freq, frames)``."""
    return [transform(spec) for spec in specs]


def noise_files(folder: Path) -> list[str]:
    """Sorted audio files of a benchmark noise folder, as strings (what both peers accept)."""
    return sorted(str(p) for p in Path(folder).iterdir() if p.suffix.lower() in SHIM_EXTENSIONS)


def tam_call(transform, x3: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Call a torch-audiomentations transform built with ``output_type="dict"``."""
    return transform(x3, sample_rate=sample_rate).samples
