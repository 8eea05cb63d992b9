"""Statistics of accuracy measurements: Wilson score intervals and McNemar's exact test for paired classifiers.

Pure functions on counts, no torch.

Wilson interval of ``k`` successes in ``n`` trials at normal quantile ``z`` (1.959964 for 95%), with
``p = k / n``:

.. math::

    \\frac{p + z^2/(2n) \\pm z\\sqrt{p(1-p)/n + z^2/(4n^2)}}{1 + z^2/n}

McNemar's exact test compares two classifiers on the *same* examples: ``b`` = examples only the first gets
right, ``c`` = only the second. Under the null both are equally likely, so ``min(b, c) ~ Binomial(b + c, 1/2)``
and the two-sided p-value is ``min(1, 2 * P[X <= min(b, c)])``.

Example:
    >>> [round(v, 4) for v in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    >>> mcnemar_exact(0, 6)
    0.03125
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["Z95", "mcnemar_exact", "paired_counts", "wilson_interval"]

#: Two-sided 95% quantile of the standard normal distribution.
Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` for a proportion of ``k`` successes in ``n`` trials.

    ``n == 0`` gives ``(0.0, 1.0)`` (nothing is known).

    Raises:
        ValueError: ``k`` outside ``0..n`` or ``n < 0``.
    """
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    denom = 1 + z2 / n
    low = 0.0 if k == 0 else max(0.0, (centre - half) / denom)  # exact ends: rounding must not move them
    high = 1.0 if k == n else min(1.0, (centre + half) / denom)
    return low, high


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts ``b`` and ``c`` (1.0 when both are 0)."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2.0 * tail)


def paired_counts(first: Sequence[bool], second: Sequence[bool]) -> tuple[int, int]:
    """``(b, c)``: examples only ``first`` got right, and only ``second`` got right.

    Raises:
        ValueError: the sequences have different lengths (they must be the same examples in the same order).
    """
    if len(first) != len(second):
        raise ValueError(f"paired comparison needs the same examples: {len(first)} vs {len(second)} results")
    b = sum(1 for a, o in zip(first, second) if a and not o)
    c = sum(1 for a, o in zip(first, second) if o and not a)
    return b, c
