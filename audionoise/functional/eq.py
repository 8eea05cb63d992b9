"""Second-order (biquad) equaliser sections: a notch (band stop) and a peaking filter, per example.

The sections are the bilinear transforms of the analog prototypes (R. Bristow-Johnson's "Audio EQ cookbook"),
with ``w0 = 2 pi f0 / sr``, ``alpha = sin(w0) / (2 Q)`` and ``A = 10^(gain_db / 40)``::

    notch    H(s) = (s^2 + 1) / (s^2 + s / Q + 1)
             b = [1, -2 cos w0, 1]                    a = [1 + alpha, -2 cos w0, 1 - alpha]
    peaking  H(s) = (s^2 + s A / Q + 1) / (s^2 + s / (A Q) + 1)
             b = [1 + alpha A, -2 cos w0, 1 - alpha A]  a = [1 + alpha / A, -2 cos w0, 1 - alpha / A]

so ``|H(f0)| = 0`` for the notch and ``|H(f0)| = A^2`` (exactly ``gain_db``) for the peaking filter, and the gain
tends to 1 (0 dB) far from ``f0``. The notch's -3.01 dB edges ``f_lo, f_hi`` satisfy
``tan(pi f / sr) = Omega tan(pi f0 / sr)`` with ``Omega = sqrt(1 + 1 / (4 Q^2)) -+ 1 / (2 Q)`` (their pre-warped
bandwidth is ``f0 / Q``).

The sections run as the causal IIR filters themselves (:func:`biquad_filter`, exact to float rounding against
``scipy.signal.lfilter``), the whole batch in blocked matrix products, each example with its own coefficients.
An FFT product would need ``T + settle`` points, and a high-Q boost at 50 Hz takes tens of thousands of samples to
settle.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

EQ_KINDS = ("notch", "peaking")


def biquad_coefficients(kind: str, center_hz: Tensor, q: Tensor, gain_db: Tensor | None,
                        sample_rate: int) -> tuple[Tensor, Tensor]:
    """Cookbook coefficients ``(b, a)``, each ``(batch, 3)`` float64, of per-example notch or peaking sections.

    Example:
        >>> b, a = biquad_coefficients("notch", torch.tensor([4000.0]), torch.tensor([1.0]), None, 16000)
        >>> b.round(decimals=4), a.round(decimals=4)
        (tensor([[1., 0., 1.]], dtype=torch.float64), tensor([[1.5000, 0.0000, 0.5000]], dtype=torch.float64))
    """
    if kind not in EQ_KINDS:
        raise ValueError(f"kind must be one of {list(EQ_KINDS)}, got {kind!r}")
    w0 = 2.0 * math.pi * center_hz.double() / sample_rate
    alpha = torch.sin(w0) / (2.0 * q.double())
    c = -2.0 * torch.cos(w0)
    one = torch.ones_like(w0)
    if kind == "notch":
        return torch.stack([one, c, one], 1), torch.stack([1.0 + alpha, c, 1.0 - alpha], 1)
    amp = torch.pow(10.0, gain_db.double() / 40.0)
    return (torch.stack([1.0 + alpha * amp, c, 1.0 - alpha * amp], 1),
            torch.stack([1.0 + alpha / amp, c, 1.0 - alpha / amp], 1))


def biquad_filter(x: Tensor, b: Tensor, a: Tensor, block: int = 64) -> Tensor:
    """Filter each example of ``x`` ``(batch, ..., T)`` with its own biquad ``(b[i], a[i])`` (``(batch, 3)``, or
    ``(1, 3)``: one section for all):

        a0 y[t] = b0 x[t] + b1 x[t-1] + b2 x[t-2] - a1 y[t-1] - a2 y[t-2]      (zero initial state)

    the causal IIR filter itself (what ``scipy.signal.lfilter(b[i], a[i], x[i])`` computes), exact to float
    rounding, in batched tensor operations instead of a loop over samples (:func:`sos_filter` with one section).

    Example:
        >>> x = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
        >>> biquad_filter(x, torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[1.0, -0.5, 0.0]]))
        tensor([[1.0000, 0.5000, 0.2500, 0.1250]])
    """
    return sos_filter(x, [(b, a)], block)


def sos_filter(x: Tensor, sections: list[tuple[Tensor, Tensor]], block: int = 64) -> Tensor:
    """Filter ``x`` ``(batch, ..., T)`` through a cascade of biquads ``[(b, a), ...]`` (each ``(batch, 3)`` or
    ``(1, 3)``), exactly, the whole batch at once (``scipy.signal.sosfilt`` per example, to float rounding).

    The signal is cut into blocks of ``L = block`` samples and the cascade written in state-space form
    (transposed direct form II, ``N = 2 x sections`` state values): for one block,
    ``[y_block, s_out] = x_block @ [H | B] + s_in @ [O | M]``, with ``H`` the ``L x L`` Toeplitz matrix of the
    impulse response, ``B`` the state an input sample leaves at the end of the block, ``O`` the response to each
    unit state and ``M`` its propagation over ``L`` samples (for one section in closed form, for a cascade by
    simulating it over one block). One batched matrix product gives every block's leaving state from a zero start;
    the states entering the blocks follow ``s_(c+1) = e_c + M s_c`` (``T / L`` small steps); a second product of
    ``[x_block | s_in]`` with ``[H ; O]`` gives the output. Computed in float32 (float64 for float64 input);
    differentiable in ``x``.
    """
    shape, t = x.shape, x.shape[-1]
    if t == 0 or shape[0] == 0:
        return x.clone()
    batch = max(b.shape[0] for b, _ in sections)  # 1: one cascade shared by every row (plain matrix products)
    real = torch.float64 if x.dtype == torch.float64 else torch.float32
    size = max(1, min(block, t))
    chunks = -(-t // size)
    rows = x.reshape(batch, -1, t)
    k = rows.shape[1]
    h, leave, zi, m = _block_matrices(sections, batch, size)
    n = m.shape[-1]
    dev = x.device
    # H[j, i] = h[i - j] (0 for i < j): a strided view of [0]*(L-1) + h, flipped along j
    hp = torch.nn.functional.pad(torch.from_numpy(h), (size - 1, 0)).to(dev, real)
    outputs = hp.as_strided((batch, size, size), (hp.shape[1], 1, 1)).flip(1)
    state_cols = torch.from_numpy(leave).to(dev, real)  # (batch, L, N)
    m_t = torch.from_numpy(m).to(dev, real)
    # each block's L samples, then the N values of the state entering it: one product gives the whole output
    weights = torch.cat([outputs, torch.from_numpy(zi).to(dev, real)], 1)  # (batch, L + N, L)
    if torch.is_grad_enabled() and x.requires_grad:
        blocks = torch.nn.functional.pad(rows.to(real), (0, chunks * size - t)).reshape(batch, k * chunks, size)
        e = torch.bmm(blocks, state_cols).view(batch, k, chunks, n)  # the state each block leaves (from zero)
        ext = torch.cat([blocks, _BlockStates.apply(e, m_t).reshape(batch, k * chunks, n)], 2)
    else:  # the same values, written into one buffer (no padded copy, no concatenation)
        ext = torch.empty(batch, k, chunks, size + n, dtype=real, device=dev)
        whole = t // size
        if whole:
            ext[:, :, :whole, :size].copy_(rows[..., : whole * size].reshape(batch, k, whole, size))
        if whole < chunks:
            ext[:, :, -1, : t - whole * size].copy_(rows[..., whole * size:])
            ext[:, :, -1, t - whole * size: size].zero_()
        ext = ext.view(batch, k * chunks, size + n)
        e = torch.bmm(ext[..., :size], state_cols).view(batch, k, chunks, n)
        ext[..., size:] = _BlockStates.apply(e, m_t).reshape(batch, k * chunks, n)
    y = torch.bmm(ext, weights)
    y = y.view(batch, k, chunks * size)
    if chunks * size != t:
        y = y[..., :t]
    return y.reshape(shape).to(x.dtype)


class _BlockStates(torch.autograd.Function):
    """States entering each block: ``s_0 = 0``, ``s_(c+1) = e_c + M s_c`` for ``e`` ``(batch, k, blocks, N)`` and
    ``M`` ``(batch, N, N)``. A loop over blocks on ``(batch, k, N)`` arrays: NumPy on CPU (a few us a step,
    against several times that for tensor operations), tensors elsewhere; the backward pass is the adjoint
    recursion ``d_c = dS_(c+1) + M^T d_(c+1)`` run backwards."""

    @staticmethod
    def forward(ctx, e: Tensor, m: Tensor) -> Tensor:
        ctx.save_for_backward(m)
        return _scan(e, m, reverse=False)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (m,) = ctx.saved_tensors
        return _scan(grad.contiguous(), m.transpose(1, 2), reverse=True), None


def _scan(e: Tensor, m: Tensor, reverse: bool, cpu: bool | None = None) -> Tensor:
    """Forward: ``out[c] = sum_(c' < c) M^(c-1-c') e[c']``; reverse: ``out[c] = sum_(c' > c) M^(c'-1-c) e[c']``
    (the adjoint with ``M`` already transposed by the caller). ``cpu``: NumPy (default on CPU) or tensors."""
    chunks = e.shape[2]
    cpu = e.device.type == "cpu" if cpu is None else cpu
    ev = e.detach().numpy() if cpu else e.detach()
    mt = m.numpy().transpose(0, 2, 1) if cpu else m.transpose(1, 2)  # s @ M^T
    out = np.zeros(ev.shape, dtype=ev.dtype) if cpu else torch.zeros_like(ev)
    s = None
    order = range(chunks - 1, 0, -1) if reverse else range(chunks - 1)
    for c in order:
        src = ev[:, :, c]
        s = src + (s @ mt if s is not None else 0.0)
        out[:, :, c - 1 if reverse else c + 1] = s
    return torch.from_numpy(out) if cpu else out


def _block_matrices(sections: list[tuple[Tensor, Tensor]], batch: int,
                    size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(h, B, O, M)`` of :func:`sos_filter` for blocks of ``L = size`` samples, float64 NumPy:
    the impulse response ``h[0 .. L-1]`` ``(batch, L)``, the state an input sample at ``j`` leaves after the block
    ``B`` ``(batch, L, N)``, the response to each unit state ``O`` ``(batch, N, L)`` and the state propagation
    ``M`` ``(batch, N, N)`` (``s_out = M s_in``)."""
    coeffs = [(np.broadcast_to(b.detach().cpu().double().numpy(), (batch, 3)),
               np.broadcast_to(a.detach().cpu().double().numpy(), (batch, 3))) for b, a in sections]
    shared = all(b.shape[0] == 1 and a.shape[0] == 1 for b, a in sections)
    key = (size, tuple(v.tobytes() for pair in coeffs for v in pair)) if shared else None
    if key in _SHARED:  # a fixed filter met again (K-weighting): its matrices are computed once
        return _SHARED[key]
    out = _compute_matrices(coeffs, size)
    if key is not None:
        if len(_SHARED) > 32:
            _SHARED.clear()
        _SHARED[key] = out
    return out


_SHARED: dict = {}


def _compute_matrices(coeffs: list[tuple[np.ndarray, np.ndarray]], size: int):
    if len(coeffs) == 1:
        h, z2, g, m = _state_space(*coeffs[0][::-1], size)
        leave = np.stack([h[:, size:0:-1], z2], 2)  # z1 after the block: h[L - j]
        return np.ascontiguousarray(h[:, :size]), leave, g, m
    return _simulated(coeffs, size)


def _simulated(coeffs: list[tuple[np.ndarray, np.ndarray]], size: int):
    """The block matrices of a cascade by running it over one block: an impulse (its response and the state it
    leaves after each number of samples) and each unit state with no input (its response and final state)."""
    batch, n = coeffs[0][0].shape[0], 2 * len(coeffs)
    norm = [(b / a[:, :1], a / a[:, :1]) for b, a in coeffs]
    runs = n + 1  # run 0: the impulse from rest; run 1 + i: unit state i, no input
    z = np.zeros((batch, runs, n))
    z[:, 1:, :] = np.eye(n)
    out = np.zeros((batch, runs, size))
    states = np.zeros((batch, size + 1, n))  # the impulse run's state after 0 .. L samples
    for t in range(size):
        v = np.zeros((batch, runs))
        if t == 0:
            v[:, 0] = 1.0
        for s, (b, a) in enumerate(norm):
            y = b[:, 0:1] * v + z[:, :, 2 * s]
            z[:, :, 2 * s] = b[:, 1:2] * v - a[:, 1:2] * y + z[:, :, 2 * s + 1]
            z[:, :, 2 * s + 1] = b[:, 2:3] * v - a[:, 2:3] * y
            v = y
        out[:, :, t] = v
        states[:, t + 1] = z[:, 0]
    h = out[:, 0]
    leave = states[:, size:0:-1]  # an input at j leaves, after the block, the state of an impulse after L - j samples
    zi = out[:, 1:]
    m = z[:, 1:].transpose(0, 2, 1)  # column i: where unit state i goes
    return np.ascontiguousarray(h), np.ascontiguousarray(leave), np.ascontiguousarray(zi), np.ascontiguousarray(m)


def _state_space(a: np.ndarray, b: np.ndarray,
                 size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The block matrices of :func:`biquad_filter` for sections ``(b, a)`` (float64, CPU), blocks of ``L`` samples.

    With ``g`` the impulse response of ``1 / (1 + a1 z^-1 + a2 z^-2)`` (normalised ``a0 = 1``), the response to a
    state ``(z1, z2)`` is ``z1 g[k] + z2 g[k-1]`` and the impulse response is ``h[k] = b0 g[k] + b1 g[k-1] +
    b2 g[k-2]``; after a block, with no more input, ``z1 = y[L]`` and ``z2 = y[L+1] + a1 y[L]``.

    Returns:
        ``h[0 .. L]`` ``(batch, L + 1)``; the z2 column ``h[L+1-j] + a1 h[L-j]`` for input ``j < L``
        ``(batch, L)``; the zero-input responses ``(batch, 2, L)``; the propagation ``M`` ``(batch, 2, 2)``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64) / a[:, :1]
    a = a / a[:, :1]
    a1, a2 = a[:, 1], a[:, 2]
    g = np.zeros((a.shape[0], size + 4))  # g[k] at column k + 2 (g[-2] = g[-1] = 0)
    g[:, 2] = 1.0
    for j in range(3, size + 4):
        g[:, j] = -a1 * g[:, j - 1] - a2 * g[:, j - 2]
    h = b[:, 0:1] * g[:, 2:] + b[:, 1:2] * g[:, 1:-1] + b[:, 2:3] * g[:, :-2]  # h[0 .. L+1]
    z2 = (h[:, 2:size + 2] + a1[:, None] * h[:, 1:size + 1])[:, ::-1]
    zi = np.stack([g[:, 2:size + 2], g[:, 1:size + 1]], 1)
    gl, gl1, glm1 = g[:, size + 2], g[:, size + 3], g[:, size + 1]
    m = np.stack([np.stack([gl, glm1], 1), np.stack([gl1 + a1 * gl, gl + a1 * glm1], 1)], 1)
    return h[:, :size + 1], z2.copy(), zi, m


def biquad_response(b: Tensor, a: Tensor, freqs_hz: Tensor, sample_rate: int) -> Tensor:
    """Complex response ``(batch, len(freqs_hz))`` of sections ``(b, a)``:
    ``H = (b0 + b1 z^-1 + b2 z^-2) / (a0 + a1 z^-1 + a2 z^-2)`` at ``z = exp(2 pi i f / sr)``, complex128.

    Example:
        >>> b, a = biquad_coefficients("peaking", torch.tensor([1000.0]), torch.tensor([2.0]), torch.tensor([6.0]), 16000)
        >>> round(20 * math.log10(float(biquad_response(b, a, torch.tensor([1000.0]), 16000).abs())), 6)
        6.0
    """
    w = freqs_hz.double().to(b.device) * (2.0 * math.pi / sample_rate)
    z1 = torch.polar(torch.ones_like(w), -w)
    z2 = z1 * z1
    num = b[:, :1] + b[:, 1:2] * z1 + b[:, 2:3] * z2
    den = a[:, :1] + a[:, 1:2] * z1 + a[:, 2:3] * z2
    return num / den
