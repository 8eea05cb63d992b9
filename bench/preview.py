"""Benchmark: ``audionoise preview`` end to end (process start to exit) and the size of the page it writes.

Builds 8 one-second 16 kHz clips (the bundled spoken words, trimmed or padded to 1 s, in quiet room noise), then
times, as separate processes, interleaved and repeated (minimum kept), in one run:

* ``audionoise --version`` (the interpreter's and the CLI's start-up: the floor of any command);
* ``audionoise preview IN OUT -n 8 --copies 2 --noise NOISE --snr 0 20`` (the quick flags: NumPy engine);
* the same with ``--engine torch`` (torch import and the torch pipeline);
* the same with a config the NumPy engine does not take (``Reverb`` + ``BackgroundNoise``: torch).

Targets (issue 25): the quick-flag page of 8 clips x 2 copies x 1 s in under 5 s with start-up, and the page with
its files under 3 MB. Also prints the CPU seconds of each (user + system: robust to other load on the machine).
Not part of pytest.

Usage:
    python bench/preview.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]

CONFIG = """\
sample_rate = 16000

[[transforms]]
name = "Reverb"
min_rt60 = 0.2
max_rt60 = 0.8
p = 0.5

[[transforms]]
name = "BackgroundNoise"
noise = "{noise}"
min_snr_db = 0.0
max_snr_db = 20.0
"""


def make_clips(folder: Path) -> None:
    """8 clips of exactly 1 s: the bundled words at several gains and offsets, on a quiet noise floor."""
    words = sorted((REPO / "audionoise" / "assets" / "examples").glob("*.wav"))
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(8):
        x, rate = sf.read(words[i % len(words)], dtype="float32")
        x = x if x.ndim == 1 else x.mean(axis=1)
        out = (0.002 * rng.standard_normal(16000)).astype(np.float32)
        start = int(rng.integers(0, 3000))
        part = x[: 16000 - start] * (0.5 + 0.1 * i)
        out[start:start + part.shape[0]] += part
        sf.write(folder / f"clip{i}.wav", out, 16000, subtype="PCM_16")


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system of the child) of one command, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=REPO)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-preview-"))
    try:
        clips, noise = work / "clips", REPO / "audionoise" / "assets" / "noise"
        make_clips(clips)
        config = work / "reverb.toml"
        config.write_text(CONFIG.format(noise=noise))
        cli = [sys.executable, "-m", "audionoise"]
        base = ["preview", str(clips), "-n", "8", "--copies", "2"]
        cases = {
            "start-up (audionoise --version)": lambda out: cli + ["--version"],
            "preview, quick flags (NumPy engine)": lambda out: cli + base[:2] + [str(out)] + base[2:] + [
                "--noise", str(noise), "--snr", "0", "20"],
            "preview, quick flags, --engine torch": lambda out: cli + base[:2] + [str(out)] + base[2:] + [
                "--noise", str(noise), "--snr", "0", "20", "--engine", "torch"],
            "preview, Reverb + BackgroundNoise (torch)": lambda out: cli + base[:2] + [str(out)] + base[2:] + [
                "--config", str(config)],
        }
        best: dict[str, tuple[float, float]] = {}
        sizes: dict[str, int] = {}
        for r in range(args.repeats):
            for name, make in cases.items():
                out = work / f"out{r}-{len(sizes)}"
                wall, cpu = timed(make(out))
                if name not in best or wall < best[name][0]:
                    best[name] = (wall, cpu)
                if out.exists():
                    sizes[name] = folder_bytes(out)
                    shutil.rmtree(out)
        print(f"audionoise preview, 8 clips x 2 copies x 1 s at 16 kHz; {os.cpu_count()} CPUs; "
              f"minimum of {args.repeats} interleaved runs")
        print(f"{'case':<44}{'wall s':>8}{'cpu s':>8}{'page MB':>9}")
        for name, (wall, cpu) in best.items():
            size = f"{sizes[name] / 1e6:9.2f}" if name in sizes else f"{'':>9}"
            print(f"{name:<44}{wall:8.2f}{cpu:8.2f}{size}")
        quick, quick_cpu = best["preview, quick flags (NumPy engine)"]
        load = os.getloadavg()[0]
        print(f"target: quick-flag page < 5 s ({'met' if quick < 5 else 'MISSED'}: {quick:.2f} s wall, "
              f"{quick_cpu:.2f} s CPU, load average {load:.1f} on {os.cpu_count()} CPUs: with other jobs running the "
              f"wall time is CPU time x (load / CPUs)); page < 3 MB "
              f"({'met' if sizes['preview, quick flags (NumPy engine)'] < 3e6 else 'MISSED'})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
