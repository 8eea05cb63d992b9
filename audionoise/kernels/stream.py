"""The random stream every engine draws from: a CPU ``torch.Generator``'s, reproduced in NumPy without torch.

``torch.Generator().manual_seed(s)`` is a 32-bit Mersenne Twister (MT19937) seeded by the classic
``init_genrand(s mod 2^32)``, which NumPy's ``MT19937`` gives through its legacy seeding. torch then forms

* a float64 uniform (``torch.rand(..., dtype=torch.float64)``) from two 32-bit words ``a, b`` (in stream order) as
  ``((a << 32 | b) mod 2^53) * 2^-53``;
* float32 normals (``torch.randn`` of ``n >= 16`` float32 values) from one word per value,
  ``u = (w mod 2^24) * 2^-24``, turned by Box-Muller 16 at a time: in each group of 16, value ``j < 8`` is
  ``sqrt(-2 ln(1 - u_j)) cos(2 pi u_{j+8})`` and value ``j + 8`` the same with ``sin``; when ``n`` is not a multiple
  of 16 the last 16 values are redone from 16 more words.

:class:`TorchStream` reproduces both: its uniforms are bit-identical to torch's, so parameters drawn from them are
identical in every engine; its normals consume exactly the words torch's do (so the draws after them stay aligned)
and equal torch's values to float32 rounding (torch's vectorised ``log``/``cos``/``sin`` may differ from NumPy's in
the last bit or two).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TorchStream", "normal_words"]

_MASK53 = np.uint64((1 << 53) - 1)
_TWO_PI = np.float32(2.0 * math.pi)


def normal_words(n: int) -> int:
    """How many 32-bit words CPU ``torch.randn`` of ``n >= 16`` float32 values consumes."""
    if n < 16:
        raise ValueError(f"normal draws need at least 16 values (torch draws fewer another way), got {n}")
    return n + (16 if n % 16 else 0)


class TorchStream:
    """The stream of ``torch.Generator().manual_seed(seed)`` (CPU) in NumPy.

    Example:
        >>> s = TorchStream(0)
        >>> round(float(s.uniforms(1, 1)[0, 0]), 6)   # torch.rand(1, 1, dtype=float64, generator=g) -> 0.970053
        0.970053
    """

    def __init__(self, seed: int) -> None:
        self.bits = np.random.MT19937(0)
        self.bits._legacy_seeding(int(seed) & 0xFFFFFFFF)

    def uniforms(self, rows: int, columns: int) -> np.ndarray:
        """``torch.rand(rows, columns, dtype=torch.float64, generator=g)`` as a NumPy array (bit-identical)."""
        n = rows * columns
        w = self.bits.random_raw(2 * n).astype(np.uint64).reshape(n, 2)
        v = ((w[:, 0] << np.uint64(32)) | w[:, 1]) & _MASK53
        return (v.astype(np.float64) * 2.0 ** -53).reshape(rows, columns)

    def skip_normals(self, n: int) -> None:
        """Advance past ``torch.randn(n)`` (``n >= 16``) without forming the values."""
        self.bits.random_raw(normal_words(n))

    def normals(self, shape: tuple[int, ...]) -> np.ndarray:
        """``torch.randn(shape, generator=g)`` (float32, ``numel >= 16``): the same words, the same Box-Muller."""
        n = math.prod(shape)
        words = self.bits.random_raw(normal_words(n))
        u = (words & 0xFFFFFF).astype(np.float32) * np.float32(2.0 ** -24)
        out = np.empty(n, np.float32)
        whole = n - n % 16
        _box_muller(u[:whole], out[:whole])
        if whole < n:  # torch redoes the last 16 values from 16 fresh words
            _box_muller(u[n:n + 16], out[n - 16:n])
        return out.reshape(shape)


def _box_muller(u: np.ndarray, out: np.ndarray) -> None:
    g = u.reshape(-1, 2, 8)
    radius = np.sqrt(np.float32(-2.0) * np.log(np.float32(1.0) - g[:, 0]))
    theta = _TWO_PI * g[:, 1]
    o = out.reshape(-1, 2, 8)
    np.multiply(radius, np.cos(theta), out=o[:, 0])
    np.multiply(radius, np.sin(theta), out=o[:, 1])
