"""A tiny Speech-Commands-layout data set for the keyword-spotting tests (made in a temp folder).

Each word is a distinct tone pattern: word ``k`` is a harmonic tone at ``220 * 2**(k/6)`` Hz with ``1 + k % 3``
syllable bursts. "Speakers" vary pitch (+-5%), level, onset and length, and a quiet noise floor is added.
Speakers ``s0..s3`` train, ``s4`` validates, ``s5`` tests. ``_background_noise_`` holds white and brown noise;
a separate ``noise_eval`` folder holds a different (hum + pink) noise.
"""

from __future__ import annotations

from pathlib import Path

import torch

from audionoise import io

WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "bed", "cat"]
SR = 16000


def _word(k: int, speaker: int, rep: int, g: torch.Generator) -> torch.Tensor:
    pitch = 1.0 + 0.1 * (torch.rand((), generator=g).item() - 0.5)
    f0 = 220.0 * 2.0 ** (k / 6.0) * pitch
    seconds = 0.3 + 0.15 * torch.rand((), generator=g).item()
    n = int(seconds * SR)
    t = torch.arange(n) / SR
    tone = sum(torch.sin(2 * torch.pi * h * f0 * t) / h for h in (1, 2, 3))
    bursts = 1 + k % 3
    env = torch.sin(torch.pi * t * bursts / seconds).abs() ** 0.5
    onset = int(0.1 * SR * torch.rand((), generator=g).item())
    level = 0.1 + 0.3 * torch.rand((), generator=g).item()
    x = torch.zeros(onset + n)
    x[onset:] = level * env * tone / 1.8
    return x + 1e-3 * torch.randn(x.shape, generator=g)


def make_tiny_speech_commands(root: Path, words: list[str] = WORDS, speakers: int = 6, reps: int = 1,
                              seed: int = 0) -> dict[str, Path]:
    """Write the tiny set under ``root``; return ``{"kws": root/"kws", "noise_eval": root/"noise_eval"}``."""
    g = torch.Generator().manual_seed(seed)
    kws = Path(root) / "kws"
    lists: dict[str, list[str]] = {"validation": [], "testing": []}
    for k, word in enumerate(words):
        (kws / word).mkdir(parents=True, exist_ok=True)
        for s in range(speakers):
            for r in range(reps):
                rel = f"{word}/s{s}abc_nohash_{r}.wav"
                io.save(kws / rel, _word(k, s, r, g)[None], SR)
                if s == speakers - 2:
                    lists["validation"].append(rel)
                elif s == speakers - 1:
                    lists["testing"].append(rel)
    (kws / "validation_list.txt").write_text("".join(f"{r}\n" for r in lists["validation"]))
    (kws / "testing_list.txt").write_text("".join(f"{r}\n" for r in lists["testing"]))
    bg = kws / "_background_noise_"
    bg.mkdir()
    white = 0.1 * torch.randn(2 * SR, generator=g)
    brown = torch.cumsum(torch.randn(2 * SR, generator=g), 0)
    brown = 0.1 * (brown - brown.mean()) / brown.std()
    io.save(bg / "white_noise.wav", white[None], SR)
    io.save(bg / "brown_noise.wav", brown[None], SR)
    ev = Path(root) / "noise_eval"
    ev.mkdir()
    t = torch.arange(3 * SR) / SR
    hum = 0.1 * torch.sin(2 * torch.pi * 50 * t) + 0.05 * torch.sin(2 * torch.pi * 150 * t)
    io.save(ev / "hum.wav", (hum + 0.02 * torch.randn(t.shape, generator=g))[None], SR)
    return {"kws": kws, "noise_eval": ev}
