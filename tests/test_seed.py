"""The one seed-derivation helper and the offline per-output seed built on it."""

import hashlib

from audionoise.kernels.seeds import derive_seed
from audionoise.offline import output_seed


def test_derive_seed_is_blake2b_of_the_nul_joined_parts():
    digest = hashlib.blake2b("3\0loader\0x".encode(), digest_size=8).digest()
    assert derive_seed(3, "loader", "x") == int.from_bytes(digest, "little") >> 1
    assert 0 <= derive_seed(3, "loader", "x") < 2 ** 63
    assert derive_seed(3, "loader", 0) != derive_seed(3, "loader", 1) != derive_seed(3, "augment", 1)
    assert output_seed(7, "x.wav", 2) == derive_seed(7, "x.wav", 2)  # its closed form: tests/test_offline.py
