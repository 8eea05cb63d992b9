"""Seed derivation: the one function that turns named parts into a seed, used everywhere in audionoise.

Seeds derived this way depend only on their parts, never on process, order, worker or Python's hash salt, so
offline outputs, training runs and evaluations are reproducible across machines and restarts.
"""

from __future__ import annotations

import hashlib

__all__ = ["derive_seed"]


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from ``parts``: ``BLAKE2b-64("\\0".join(str(p) for p in parts)) >> 1``.

    The digest is read little-endian and shifted right by one bit, so the seed fits a signed 64-bit integer
    (``torch.Generator.manual_seed`` and NumPy accept it). Parts are formatted with ``str``, so ``derive_seed(1)``
    and ``derive_seed("1")`` are equal; pass the parts in a fixed order with a name first, e.g.
    ``derive_seed(seed, "loader", epoch, rank)``.

    Example:
        >>> derive_seed(0, "a/b.wav", 1) == derive_seed(0, "a/b.wav", 1) != derive_seed(0, "a/b.wav", 0)
        True
        >>> 0 <= derive_seed("anything") < 2 ** 63
        True
    """
    text = "\0".join(str(p) for p in parts)
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1
