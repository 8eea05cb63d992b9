import os

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _noise_bank_cache(tmp_path_factory):
    """Noise banks built by the tests (default ``cache_dir``) go to a temporary folder, not ~/.cache."""
    os.environ["AUDIONOISE_CACHE_DIR"] = str(tmp_path_factory.mktemp("noisebank-cache"))


@pytest.fixture
def gen():
    """A fresh, seeded generator for each test."""
    return torch.Generator().manual_seed(1234)
