"""Signal power, SNR and mixing at an exact SNR.

One SNR definition is used everywhere in audionoise::

    SNR_dB = 10 * log10(P_s / P_n),   P = mean square over the valid samples of an example
                                       (all channels of the example together)

The first axis of a 2-D or 3-D tensor is the batch (``(batch, time)`` or ``(batch, channels, time)``); a 1-D
tensor is one example. ``lengths`` gives the valid samples per example: samples after it are padding, are not
measured, and never receive noise.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from audionoise.functional._checks import (PREFIX_TAG, as_batch, check_lengths, check_waveform, expand_to, per_example,
                                          valid_mask)

SNR_REFERENCES = ("full", "active")

#: Energy-VAD settings of ``snr_reference="active"``: frames of this many samples (25 ms at 16 kHz)...
VAD_FRAME = 400
#: ...are "active" when their mean square is within this many dB of the loudest frame of the example.
VAD_THRESHOLD_DB = 35.0

# TINY_POWER: noise power below it (about -300 dB re full scale) counts as "no noise" (scaling it would overflow)
from audionoise.kernels.gains import LN10_OVER_20, TINY_POWER, gain_scalar  # noqa: E402,F401 - torch-free home


def _power(x: Tensor, mask: Tensor | None) -> Tensor:
    """Mean square per example over the samples where ``mask`` (``(batch, time)``) is true (trusted input).

    float16/bfloat16 input is measured in float32 (a bf16 sum of 16000 squares is off by ~0.05 dB).
    """
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    b = x.shape[0]
    if mask is None:
        flat = x.reshape(b, -1)
        n = max(flat.shape[1], 1)
        if flat.device.type == "cpu" and not (flat.requires_grad and torch.is_grad_enabled()):
            # one BLAS dot per row through NumPy: ~1 us a row, against ~7 us for the three tensor ops below
            # at batch 1 (and half their time at batch 64)
            a = flat.detach().numpy()
            return torch.from_numpy(np.array([np.dot(row, row) for row in a], dtype=a.dtype) / n)
        return torch.linalg.vector_norm(flat, dim=1).square() / n
    lengths = getattr(mask, PREFIX_TAG, None)
    if lengths is not None and x.device.type == "cpu" and not (x.requires_grad and torch.is_grad_enabled()):
        return _prefix_power(x.detach().numpy(), lengths.tolist())
    m = expand_to(mask, x).expand_as(x).reshape(b, -1)
    total = (x.reshape(b, -1).square() * m).sum(1)
    return total / m.sum(1).clamp_min(1)


def _prefix_power(a: np.ndarray, lengths: list[int]) -> Tensor:
    """Mean square of each example over its first ``lengths[i]`` samples of every channel: one BLAS dot per row
    and channel over the valid samples only (a padded batch costs what its rows cost one by one; the masked
    tensor sum reads and multiplies the padding too: ~6x slower on 1-4 s clips padded to 4 s)."""
    rows = a.reshape(a.shape[0], -1, a.shape[-1])
    sums = np.array([sum(np.dot(c[:n], c[:n]) for c in row) for row, n in zip(rows, lengths)], dtype=a.dtype)
    counts = np.maximum(np.array(lengths, dtype=np.int64) * rows.shape[1], 1).astype(a.dtype)
    return torch.from_numpy(sums / counts)  # the unpadded rows' arithmetic (dots in the input's dtype)


def power(x: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Mean square of each example over its valid samples (all channels together).

    Args:
        x: ``(time,)``, ``(batch, time)`` or ``(batch, channels, time)``.
        lengths: optional ``(batch,)`` valid samples per example.

    Returns:
        ``(batch,)`` tensor (a 0-d tensor for 1-D input). An example with no valid sample has power 0.
    """
    check_waveform(x)
    xb, single = as_batch(x)
    lengths = check_lengths(lengths, xb.shape[0], xb.shape[-1])
    p = _power(xb, valid_mask(lengths, xb.shape[-1], xb.device))
    return p[0] if single else p


def rms(x: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Root mean square per example over valid samples: ``sqrt(power(x, lengths))``.

    Example:
        >>> rms(torch.ones(2, 100))
        tensor([1., 1.])
    """
    return power(x, lengths).sqrt()


def snr_db(signal: Tensor, noise: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Measured SNR in dB per example: ``10*log10(P_signal / P_noise)`` over valid samples.

    ``+inf`` when the noise is all zero, ``-inf`` when the signal is.

    Example:
        >>> s = torch.ones(1, 16000); n = 0.316227766 * torch.ones(1, 16000)
        >>> snr_db(s, n).round()
        tensor([10.])
    """
    return 10.0 * torch.log10(power(signal, lengths)) - 10.0 * torch.log10(power(noise, lengths))


def active_mask(x: Tensor, lengths: Tensor | None = None, frame: int = VAD_FRAME,
                threshold_db: float = VAD_THRESHOLD_DB) -> Tensor:
    """Energy voice-activity mask: which samples belong to active (speech) frames.

    The valid part of each example is cut into non-overlapping frames of ``frame`` samples (the last one may be
    shorter). A frame is active when its mean square (over all channels) is at least
    ``max_frame_power * 10**(-threshold_db / 10)`` and above zero, where the maximum is taken over the frames of
    the same example. Adding or removing silence (or padding) around speech therefore leaves the active set
    unchanged. An all-silent example has no active sample.

    Args:
        x: ``(batch, time)`` or ``(batch, channels, time)`` (1-D is one example).
        lengths: optional ``(batch,)`` valid samples.
        frame: frame length in samples (default 400 = 25 ms at 16 kHz).
        threshold_db: how far below the loudest frame a frame still counts as active.

    Returns:
        Boolean ``(batch, time)`` mask (``(time,)`` for 1-D input).
    """
    check_waveform(x)
    xb, single = as_batch(x)
    b, t = xb.shape[0], xb.shape[-1]
    lengths = check_lengths(lengths, b, t)
    n_frames = max(math.ceil(t / frame), 1)
    pad = n_frames * frame - t
    energy = xb.reshape(b, -1, t).square().mean(1)  # (b, t), channels averaged
    mask = valid_mask(lengths, t, xb.device)
    if mask is not None:
        energy = energy * mask
        counts = torch.nn.functional.pad(mask.float(), (0, pad)).view(b, n_frames, frame).sum(-1)
    else:
        counts = torch.full((b, n_frames), float(frame), device=xb.device)
        counts[:, -1] = frame - pad
    frame_power = torch.nn.functional.pad(energy, (0, pad)).view(b, n_frames, frame).sum(-1) / counts.clamp_min(1)
    peak = frame_power.max(dim=1, keepdim=True).values
    active = (frame_power >= peak * 10.0 ** (-threshold_db / 10.0)) & (frame_power > 0) & (counts > 0)
    out = active.repeat_interleave(frame, dim=1)[:, :t]
    if mask is not None:
        out = out & mask
    return out[0] if single else out


def signal_mask(x: Tensor, lengths: Tensor | None, snr_reference: str) -> Tensor | None:
    """``(batch, time)`` mask of the samples the SNR is measured on (``None``: all of them; trusted input)."""
    if snr_reference == "active":
        return active_mask(x, lengths)
    return valid_mask(lengths, x.shape[-1], x.device)


def gain_for_snr(ps: Tensor, pn: Tensor, snr_db: Tensor | float) -> Tensor:
    """``g = sqrt(ps / pn) * 10**(-snr_db / 20)`` per example; 0 where ``ps == 0``, ``pn`` is ~0 or ``g`` is not
    finite. Formed in float64 (no overflow for any float32 powers) and returned in ``ps``'s dtype.

    On CPU, where no gradient is needed, the same formula runs on NumPy views of the ``(batch,)`` powers: a
    dozen scalar operations cost ~0.5 us each there against ~1-3 us as tensor operations.
    """
    snr = torch.as_tensor(snr_db, device=ps.device)
    grad = torch.is_grad_enabled() and (ps.requires_grad or pn.requires_grad)
    if ps.device.type == "cpu" and not grad:
        g = gain_numpy(ps.numpy().astype(np.float64), pn.numpy().astype(np.float64), snr.numpy())
        return torch.from_numpy(g.astype(np.float32 if ps.dtype != torch.float64 else np.float64))
    g = torch.sqrt(ps.double() / pn.double().clamp_min(TINY_POWER)) * torch.exp(snr.double() * -LN10_OVER_20)
    g = g.nan_to_num_(0.0, 0.0, 0.0).masked_fill_(pn <= TINY_POWER, 0.0)
    return g.to(ps.dtype)


def gain_numpy(ps: np.ndarray, pn: np.ndarray, snr_db: np.ndarray) -> np.ndarray:
    """:func:`gain_scalar` over ``(batch,)`` NumPy arrays (the CPU path), as float64.

    A Python loop on purpose: ~0.3 us an example, cheaper than a dozen NumPy calls for small batches and
    negligible next to any batched audio operation, and one formula for every batch size.
    """
    rows = zip(np.asarray(ps, np.float64).tolist(), np.asarray(pn, np.float64).tolist(),
               np.broadcast_to(np.asarray(snr_db, np.float64), np.shape(ps)).tolist())
    return np.array([gain_scalar(a, b, c) for a, b, c in rows], dtype=np.float64).reshape(np.shape(ps))


def snr_gain(signal: Tensor, noise: Tensor, snr_db: Tensor | float, lengths: Tensor | None = None,
             snr_reference: str = "full") -> Tensor:
    """Gain ``g`` per example such that ``signal`` and ``g * noise`` have SNR ``snr_db`` exactly.

    ``g = sqrt(P_s / (P_n * 10**(snr_db / 10)))`` with both powers measured over the same samples: the valid
    samples (``snr_reference="full"``) or the active-speech samples of the signal (``"active"``, see
    :func:`active_mask`). ``g = 0`` (no noise) when the signal is silent there or the noise is all zero.
    Powers are measured in float32 for float16/bfloat16 inputs.

    Returns:
        ``(batch,)`` gains (0-d for 1-D input).
    """
    if snr_reference not in SNR_REFERENCES:
        raise ValueError(f"snr_reference must be one of {SNR_REFERENCES}, got {snr_reference!r}")
    check_waveform(signal, "signal")
    check_waveform(noise, "noise")
    s, single = as_batch(signal)
    n, _ = as_batch(noise)
    if n.shape[0] != s.shape[0] or n.shape[-1] != s.shape[-1]:
        raise ValueError(f"noise shape {tuple(noise.shape)} must match signal shape {tuple(signal.shape)} "
                         f"in batch and time (channels may broadcast)")
    lengths = check_lengths(lengths, s.shape[0], s.shape[-1])
    mask = signal_mask(s, lengths, snr_reference)
    g = gain_for_snr(_power(s, mask), _power(n, mask), snr_db)
    return g[0] if single else g


def mix_at_snr(signal: Tensor, noise: Tensor, snr_db: Tensor | float, lengths: Tensor | None = None,
               snr_reference: str = "full") -> Tensor:
    """Return ``signal + g * noise`` with ``g`` chosen so that ``10*log10(P_s / P_{g*noise}) == snr_db``.

    The clean signal is never rescaled. Noise is zeroed in the padding (after ``lengths``), which does not count
    in either power. A silent signal or an all-zero noise gets no noise (``g = 0``). Gradients flow to both
    ``signal`` and ``noise``.

    Args:
        signal: ``(time,)``, ``(batch, time)`` or ``(batch, channels, time)``.
        noise: same batch and time as ``signal``; its channel axis may be 1 (broadcast).
        snr_db: target SNR, a float or a ``(batch,)`` tensor.
        lengths: optional ``(batch,)`` valid samples.
        snr_reference: ``"full"`` (all valid samples) or ``"active"`` (active speech only, :func:`active_mask`).

    Example:
        >>> y = mix_at_snr(torch.ones(1, 16000), torch.randn(1, 16000), 10.0)
        >>> float(rms(y - 1.0))  # doctest: +ELLIPSIS
        0.31622...
    """
    g = snr_gain(signal, noise, snr_db, lengths, snr_reference)
    s, single = as_batch(signal)
    n, _ = as_batch(noise)
    if lengths is not None:
        n = n * expand_to(valid_mask(lengths, s.shape[-1], s.device), n)
    y = (s + per_example(g.reshape(-1), n) * n).to(s.dtype)  # float16/bfloat16: summed in float32
    return y[0] if single else y
