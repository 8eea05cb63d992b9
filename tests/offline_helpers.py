"""Helpers shared by the offline tests: a pipeline config with its noise folder, tone files, tree digests."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import soundfile as sf

CONFIG = """\
sample_rate = 16000

[[transforms]]
name = "WhiteNoise"
min_snr_db = 10.0
max_snr_db = 30.0

[[transforms]]
name = "BackgroundNoise"
noise = "noise"
min_snr_db = 0.0
max_snr_db = 20.0
p = 0.8
"""


def tree(root: Path) -> dict[str, str]:
    """rel path -> sha256 of content (files), 'link:<target>' (symlinks), 'dir' (folders)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                st = p.stat()
                out[rel] = f"{hashlib.sha256(p.read_bytes()).hexdigest()}:{st.st_mtime_ns}:{st.st_mode:o}"
    return out


def content(root: Path) -> dict[str, str]:
    """rel path -> sha256 of the bytes of every regular file under root."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def tone_files(root: Path, n: int, frames: int = 800) -> None:
    rng = np.random.default_rng(n)
    for i in range(n):
        p = root / f"spk{i % 7}" / f"utt {i:04d}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, (0.2 * rng.standard_normal(frames)).astype(np.float32), 16000, subtype="PCM_16")


def make_setup(root: Path) -> Path:
    """A pipeline config with its noise folder (16 kHz WAV + 44.1 kHz FLAC clip) under ``root``; its path."""
    rng = np.random.default_rng(0)
    (root / "cfg" / "noise" / "sub").mkdir(parents=True)
    sf.write(root / "cfg" / "noise" / "n1.wav", (0.1 * rng.standard_normal(8000)).astype(np.float32), 16000)
    sf.write(root / "cfg" / "noise" / "sub" / "n2.flac", (0.1 * rng.standard_normal(13230)).astype(np.float32),
             44100)
    config = root / "cfg" / "pipeline.toml"
    config.write_text(CONFIG)
    return config
