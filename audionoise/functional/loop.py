"""Seamless looping of noise clips and circular windows cut from clips stored back to back (pure functions).

A bank of clips is one flat tensor ``data``; clip ``k`` is ``data[starts[k] : starts[k] + lengths[k]]``. The
window of clip ``k`` from ``offset`` on, ``length`` samples long, is (circular indexing, the clip repeats)::

    window[j] = data[starts[k] + (offset + j) mod lengths[k]],   j = 0 .. length - 1

:func:`make_loopable` prepares a clip so that this repetition has no seam: its tail is cross-faded into its head
(equal power), so the sample after its last one continues the recording instead of jumping back to its start.
"""

from __future__ import annotations


import numpy as np
import torch
from torch import Tensor

from audionoise.kernels import loopable as _loopable


def equal_power_fades(n: int, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """``(fade_in, fade_out)`` of ``n`` samples: ``sin(pi/2 * i/n)`` and ``cos(pi/2 * i/n)``, ``i = 0 .. n-1``.

    ``fade_in**2 + fade_out**2 == 1`` (equal power: the sum of two uncorrelated signals keeps its power through
    the fade); ``fade_in[0] == 0`` and ``fade_out[0] == 1`` exactly, so a fade starts on the outgoing signal.

    Example:
        >>> fi, fo = equal_power_fades(4)
        >>> [round(v, 4) for v in fi.tolist()], [round(v, 4) for v in fo.tolist()]
        ([0.0, 0.3827, 0.7071, 0.9239], [1.0, 0.9239, 0.7071, 0.3827])
    """
    fade_in, fade_out = _loopable.equal_power_fades(n)  # exact ends whatever the libm
    return torch.from_numpy(fade_in).to(dtype), torch.from_numpy(fade_out).to(dtype)


def loop_crossfade(n: int, crossfade: int) -> int:
    """Cross-fade length used for a clip of ``n`` samples when ``crossfade`` is asked: ``min(crossfade, n // 2)``."""
    return max(0, min(int(crossfade), n // 2))


def make_loopable(clip: Tensor, crossfade: int) -> Tensor:
    """A clip that loops without a seam: ``crossfade`` samples shorter, its tail cross-faded into its head.

    With ``n = len(clip)``, ``L = crossfade`` and ``m = n - L`` (the new length)::

        y[i] = fade_in[i] * clip[i] + fade_out[i] * clip[m + i]    for 0 <= i < L
        y[i] = clip[i]                                             for L <= i < m

    (:func:`equal_power_fades`). Played circularly, ``y[m - 1] = clip[m - 1]`` is followed by
    ``y[0] = clip[m]``: the recording's own next sample. The fade then moves from the tail's continuation back to
    the head, which ends on ``clip[L]`` as ``y[L]``. So the only steps are the clip's own steps plus the slow
    amplitude change of the fade (no click). ``L`` must be ``<= n // 2`` (see :func:`loop_crossfade`);
    ``L = 0`` returns the clip unchanged (a butt join).

    Example:
        >>> make_loopable(torch.arange(6.0), 2).tolist()
        [4.0, 1.0, 2.0, 3.0]
    """
    n = clip.shape[-1]
    if not 0 <= crossfade <= n // 2:
        raise ValueError(f"crossfade ({crossfade}) must lie in [0, {n // 2}] for a clip of {n} samples")
    if crossfade == 0:
        return clip.clone()
    m = n - crossfade
    fade_in, fade_out = equal_power_fades(crossfade, clip.dtype)
    y = clip[..., :m].clone()
    y[..., :crossfade] = clip[..., :crossfade] * fade_in.to(clip.device) + clip[..., m:] * fade_out.to(clip.device)
    return y


def loop_window(data: Tensor, start: int, n: int, offset: int, length: int) -> Tensor:
    """``(1, length)``: the one window of :func:`loop_windows` for a clip at ``data[start:start + n]`` (CPU)."""
    off = offset % n
    if off + length <= n:
        return data[start + off:start + off + length].clone()[None]
    out = torch.empty(1, length, dtype=data.dtype)
    _complete_wrapped(out[0], data, start, n, off, False)
    return out


def loop_windows(data: Tensor, starts: Tensor, lengths: Tensor, clip: Tensor, offset: Tensor,
                 length: int) -> Tensor:
    """``(batch, length)`` circular windows ``data[starts[k] + (offset + j) mod lengths[k]]`` (a fresh tensor).

    No copy of ``data`` is made (it may be a memory-mapped file): on CPU, windows that do not reach their clip's
    end are one ``index_select`` of rows of a strided view (a memory copy per row), and only windows that wrap are
    completed piece by piece (the clip's head, then doubling copies of the periodic part). On other devices one
    gather of computed indices does every window (no host synchronisation).

    Args:
        data: 1-D tensor of all clips back to back.
        starts, lengths: ``(clips,)`` int64: where each clip starts in ``data`` and how long it is (>= 1); for
            CPU ``data`` they may be NumPy arrays (host copies).
        clip: ``(batch,)`` int64 clip index per window.
        offset: ``(batch,)`` int64 start of each window in its clip (any integer >= 0; taken modulo the length).
        length: samples per window.

    Example:
        >>> data = torch.arange(10.0)  # clip 0 = 0..3, clip 1 = 4..9
        >>> loop_windows(data, torch.tensor([0, 4]), torch.tensor([4, 6]), torch.tensor([0, 1]),
        ...              torch.tensor([2, 5]), 7).tolist()
        [[2.0, 3.0, 0.0, 1.0, 2.0, 3.0, 0.0], [9.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]]
    """
    if data.device.type != "cpu":
        return _gather_windows(data, starts, lengths, clip.to(data.device), offset.to(data.device), length)
    if isinstance(starts, Tensor):
        starts, lengths = starts.numpy(), lengths.numpy()
    if clip.shape[0] == 1:  # one example (per-item augmentation in DataLoader workers): plain integers
        k = clip.item()
        return loop_window(data, int(starts[k]), int(lengths[k]), offset.item(), length)
    c = clip.numpy() if clip.device.type == "cpu" else clip.cpu().numpy()
    o = offset.numpy() if offset.device.type == "cpu" else offset.cpu().numpy()
    batch, total = c.shape[0], data.shape[0]
    s, n = starts[c], lengths[c]
    off = o % n
    first = s + off
    out = torch.empty(batch, length, dtype=data.dtype)
    if batch == 0 or length == 0:
        return out
    wraps = off + length > n
    if length <= total and not wraps.all():
        # every row as one contiguous run; a wrapping row is correct up to its clip's end (fixed below)
        safe = np.minimum(first, total - length)
        torch.index_select(data.unfold(0, length, 1), 0, torch.from_numpy(safe), out=out)
        head_done = safe == first
    else:
        head_done = np.zeros(batch, dtype=bool)
    rows = np.flatnonzero(wraps)
    if rows.size:
        flat = out.view(-1)
        for r, start, size, o, done in zip(rows.tolist(), s[rows].tolist(), n[rows].tolist(), off[rows].tolist(),
                                           head_done[rows].tolist()):
            _complete_wrapped(flat.narrow(0, r * length, length), data, start, size, o, done)
    return out


def _complete_wrapped(row: Tensor, data: Tensor, start: int, n: int, off: int, head_done: bool) -> None:
    """Fill ``row`` with clip ``data[start:start+n]`` circularly from ``off`` (its first ``n - off`` samples are
    already right when ``head_done``)."""
    length = row.shape[0]
    head = n - off  # samples up to the clip's end
    if not head_done:
        row.narrow(0, 0, head).copy_(data.narrow(0, start + off, head))
    k = min(n, length - head)
    row.narrow(0, head, k).copy_(data.narrow(0, start, k))
    pos = head + k
    while pos < length:  # row[head:pos] holds whole periods of the clip: double it
        k = min(pos - head, length - pos)
        row.narrow(0, pos, k).copy_(row.narrow(0, head, k))
        pos += k


def _gather_windows(data: Tensor, starts: Tensor, lengths: Tensor, clip: Tensor, offset: Tensor,
                    length: int) -> Tensor:
    n = lengths[clip][:, None]
    pos = torch.remainder(offset[:, None] + torch.arange(length, device=data.device), n)
    return data[pos + starts[clip][:, None]]
