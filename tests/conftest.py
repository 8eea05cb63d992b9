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


def speech_like(batch: int, time: int, generator: torch.Generator, sr: int = 16000) -> torch.Tensor:
    """Amplitude-modulated harmonic tones: a deterministic stand-in for voiced speech."""
    t = torch.arange(time) / sr
    f0 = 100 + 100 * torch.rand(batch, 1, generator=generator)
    env = 0.5 + 0.5 * torch.sin(2 * torch.pi * 4 * t)
    x = sum(torch.sin(2 * torch.pi * k * f0 * t) / k for k in range(1, 6))
    return (0.3 * env * x).float()
