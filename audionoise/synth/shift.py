"""A deliberately shifted copy of a Speech-Commands-layout set: its test clips through a telephone channel.

Training and validation clips, split lists and ``_background_noise_`` are hard-linked (copied where links are
impossible); every clip listed in ``testing_list.txt`` is rewritten band-limited to 300-3400 Hz (two cascaded
biquad high-passes at 300 Hz and low-passes at 3400 Hz, the narrow-band telephone channel) and rescaled to its
original RMS. A model tuned on the original set never saw that channel, so the copy measures how robustness
survives a channel shift.

Example:
    >>> telephone_test_split("data/generated/kws", "data/phone/kws")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
import torchaudio.functional as AF

from audionoise import io

__all__ = ["telephone", "telephone_test_split"]


def telephone(x: torch.Tensor, sample_rate: int, low_hz: float = 300.0, high_hz: float = 3400.0) -> torch.Tensor:
    """Band-limit ``x`` ``(..., time)`` to ``[low_hz, high_hz]`` (4th-order each side), keeping its RMS."""
    y = x
    for _ in range(2):
        y = AF.highpass_biquad(y, sample_rate, low_hz)
        y = AF.lowpass_biquad(y, sample_rate, high_hz)
    scale = x.pow(2).mean().sqrt() / y.pow(2).mean().sqrt().clamp_min(1e-12)
    return y * scale


def telephone_test_split(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write ``dst``: ``src`` with its test clips through :func:`telephone` (see the module docstring)."""
    src, dst = Path(src), Path(dst)
    testing = {ln.strip() for ln in (src / "testing_list.txt").read_text().splitlines() if ln.strip()}
    for path in sorted(src.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(src).as_posix()
        target = dst / rel
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel in testing:
            x, sr = io.load(path)
            io.save(target, telephone(x, sr), sr, subtype="FLOAT")
        else:
            try:
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)
    return dst
