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


def biquad_filter(x: Tensor, b: Tensor, a: Tensor, block: int = 128) -> Tensor:
    """Filter each example of ``x`` ``(batch, ..., T)`` with its own biquad ``(b[i], a[i])`` (``(batch, 3)``, or
    ``(1, 3)``: one section for all):

        a0 y[t] = b0 x[t] + b1 x[t-1] + b2 x[t-2] - a1 y[t-1] - a2 y[t-2]      (zero initial state)

    the causal IIR filter itself (what ``scipy.signal.lfilter(b[i], a[i], x[i])`` computes), exact to float
    rounding, in batched tensor operations instead of a loop over samples. The signal is cut into blocks of
    ``L = block`` samples and the filter written in state-space form (transposed direct form II, state
    ``s = (z1, z2)``): for one block, ``[y_block, s_out] = x_block @ H + s_in @ O``, with ``H`` the ``L x (L + 2)``
    Toeplitz matrix of the impulse response ``h`` (its last two columns give the state the block leaves) and ``O``
    the zero-input response ``(g[k], g[k-1])`` of ``1 / A(z)``. One batched matrix product does every block of the
    batch from a zero state; the states entering the blocks then follow ``s_(c+1) = e_c + M s_c`` (``M`` the
    2 x 2 zero-input propagation over ``L`` samples: ``T / L`` small products), and one more batched product adds
    their responses. Computed in float32 (float64 for float64 input); differentiable in ``x``.

    Example:
        >>> x = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
        >>> biquad_filter(x, torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[1.0, -0.5, 0.0]]))
        tensor([[1.0000, 0.5000, 0.2500, 0.1250]])
    """
    shape, t = x.shape, x.shape[-1]
    if t == 0 or shape[0] == 0:
        return x.clone()
    batch = b.shape[0]  # 1: one section shared by every row (a plain matrix product)
    real = torch.float64 if x.dtype == torch.float64 else torch.float32
    size = max(1, min(block, t))
    chunks = -(-t // size)
    rows = x.reshape(batch, -1, t)
    k = rows.shape[1]
    h, z2, g, m = _state_space(a.detach().cpu().double(), b.detach().cpu().double(), size)
    dev = x.device
    # H[j, i] = h[i - j] for the outputs (i < L) and z1 (i = L), 0 for i < j: a strided view of [0]*(L-1) + h,
    # flipped along j; the z2 column, h[L+1-j] + a1 h[L-j], is not Toeplitz
    hp = torch.nn.functional.pad(torch.from_numpy(h), (size - 1, 0)).to(dev, real)
    full = hp.as_strided((batch, size, size + 1), (hp.shape[1], 1, 1)).flip(1)
    outputs = full[:, :, :size]
    state_cols = torch.stack([full[:, :, size], torch.from_numpy(z2).to(dev, real)], 2)  # (batch, L, 2)
    zi = torch.from_numpy(g).to(dev, real)  # (batch, 2, L): responses to a unit z1 and a unit z2
    m_t = torch.from_numpy(m).to(dev, real)
    # each block's L samples, then the 2 values of the state entering it: one product gives the whole output
    weights = torch.cat([outputs, zi], 1)  # (batch, L + 2, L)
    if torch.is_grad_enabled() and x.requires_grad:
        blocks = torch.nn.functional.pad(rows.to(real), (0, chunks * size - t)).reshape(batch, k * chunks, size)
        e = torch.bmm(blocks, state_cols).view(batch, k, chunks, 2)  # the state each block leaves (from zero)
        ext = torch.cat([blocks, _BlockStates.apply(e, m_t).reshape(batch, k * chunks, 2)], 2)
    else:  # the same values, written into one buffer (no padded copy, no concatenation)
        ext = torch.empty(batch, k, chunks, size + 2, dtype=real, device=dev)
        whole = t // size
        if whole:
            ext[:, :, :whole, :size].copy_(rows[..., : whole * size].reshape(batch, k, whole, size))
        if whole < chunks:
            ext[:, :, -1, : t - whole * size].copy_(rows[..., whole * size:])
            ext[:, :, -1, t - whole * size: size].zero_()
        ext = ext.view(batch, k * chunks, size + 2)
        e = torch.bmm(ext[..., :size], state_cols).view(batch, k, chunks, 2)
        ext[..., size:] = _BlockStates.apply(e, m_t).reshape(batch, k * chunks, 2)
    y = torch.bmm(ext, weights)
    y = y.view(batch, k, chunks * size)
    if chunks * size != t:
        y = y[..., :t]
    return y.reshape(shape).to(x.dtype)


class _BlockStates(torch.autograd.Function):
    """States entering each block: ``s_0 = 0``, ``s_(c+1) = e_c + M s_c`` for ``e`` ``(batch, k, blocks, 2)`` and
    ``M`` ``(batch, 2, 2)``. A loop over blocks on ``(batch * k,)`` vectors: NumPy on CPU (about 1 us a step,
    against several for tensor operations), tensors elsewhere; the backward pass is the adjoint recursion
    ``d_c = dS_(c+1) + M^T d_(c+1)`` run backwards."""

    @staticmethod
    def forward(ctx, e: Tensor, m: Tensor) -> Tensor:
        ctx.save_for_backward(m)
        return _scan(e, m, reverse=False)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (m,) = ctx.saved_tensors
        return _scan(grad.contiguous(), m.transpose(1, 2), reverse=True), None


def _scan(e: Tensor, m: Tensor, reverse: bool) -> Tensor:
    """Forward: ``out[c] = sum_(c' < c) M^(c-1-c') e[c']``; reverse: ``out[c] = sum_(c' > c) M^(c'-1-c) e[c']``
    (the adjoint with ``M`` already transposed by the caller)."""
    batch, k, chunks, _ = e.shape
    cpu = e.device.type == "cpu"
    ev = e.detach().numpy() if cpu else e.detach()
    mm = m.numpy() if cpu else m
    out = np.zeros(ev.shape, dtype=ev.dtype) if cpu else torch.zeros_like(ev)
    m11, m12, m21, m22 = (mm[:, i, j][:, None] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
    s1 = s2 = 0.0
    order = range(chunks - 1, 0, -1) if reverse else range(chunks - 1)
    for c in order:
        src = ev[:, :, c]
        s1, s2 = src[..., 0] + m11 * s1 + m12 * s2, src[..., 1] + m21 * s1 + m22 * s2
        dst = c - 1 if reverse else c + 1
        out[:, :, dst, 0] = s1
        out[:, :, dst, 1] = s2
    return torch.from_numpy(out) if cpu else out


def _state_space(a: Tensor, b: Tensor,
                 size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The block matrices of :func:`biquad_filter` for sections ``(b, a)`` (float64, CPU), blocks of ``L`` samples.

    With ``g`` the impulse response of ``1 / (1 + a1 z^-1 + a2 z^-2)`` (normalised ``a0 = 1``), the response to a
    state ``(z1, z2)`` is ``z1 g[k] + z2 g[k-1]`` and the impulse response is ``h[k] = b0 g[k] + b1 g[k-1] +
    b2 g[k-2]``; after a block, with no more input, ``z1 = y[L]`` and ``z2 = y[L+1] + a1 y[L]``.

    Returns:
        ``h[0 .. L]`` ``(batch, L + 1)``; the z2 column ``h[L+1-j] + a1 h[L-j]`` for input ``j < L``
        ``(batch, L)``; the zero-input responses ``(batch, 2, L)``; the propagation ``M`` ``(batch, 2, 2)``.
    """
    a = a.numpy()
    b = b.numpy() / a[:, :1]
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
