"""A deterministic stand-in for voiced speech, shared by the transform and SNR tests."""

import torch


def speech_like(batch: int, time: int, generator: torch.Generator, sr: int = 16000) -> torch.Tensor:
    """Amplitude-modulated harmonic tones: a deterministic stand-in for voiced speech."""
    t = torch.arange(time) / sr
    f0 = 100 + 100 * torch.rand(batch, 1, generator=generator)
    env = 0.5 + 0.5 * torch.sin(2 * torch.pi * 4 * t)
    x = sum(torch.sin(2 * torch.pi * k * f0 * t) / k for k in range(1, 6))
    return (0.3 * env * x).float()
