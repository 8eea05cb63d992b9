"""Benchmark: offline folder augmentation, end to end (process start to exit), against audiomentations.

Builds ~1,000 one-second 16 kHz clips and a background-noise folder, then times, as separate processes,
interleaved and repeated (minimum kept):

* ``audiomentations``: a loop over the same files (soundfile read -> ``Compose([AddGaussianSNR,
  AddBackgroundNoise])`` -> soundfile write to the mirrored path): what a user writes without audionoise;
* ``audionoise augment IN OUT --config pipeline.toml --workers W`` for W = 1 and 2.

Both pipelines: white noise at SNR U(10, 30) dB, then background noise at SNR U(0, 20) dB, p = 1.
Prints files/s per method and the ratios (targets: >= 2x audiomentations at 1 worker, >= 1.7x its own
1-worker speed at 2 workers), the CPU seconds each used (user + system, all processes: robust to other load
on the machine) and the in-process rate each reports (without interpreter start and imports) to show where
the time goes. Not part of pytest.

Usage:
    python bench/offline.py [--files 1000] [--repeats 3] [--noise wav16k|ogg44k] [--root DIR]
"""

from __future__ import annotations

import argparse
import os
import re
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

PIPELINE = """\
sample_rate = 16000

[[transforms]]
name = "WhiteNoise"
min_snr_db = 10.0
max_snr_db = 30.0

[[transforms]]
name = "BackgroundNoise"
noise = "{noise}"
min_snr_db = 0.0
max_snr_db = 20.0
"""

AUDIOMENTATIONS_LOOP = """\
import os, sys, time
from pathlib import Path
import numpy as np, soundfile as sf
from audiomentations import AddBackgroundNoise, AddGaussianSNR, Compose
src, dst, noise = (Path(a) for a in sys.argv[1:4])
aug = Compose([AddGaussianSNR(min_snr_db=10.0, max_snr_db=30.0, p=1.0),
               AddBackgroundNoise(sounds_path=str(noise), min_snr_db=0.0, max_snr_db=20.0, p=1.0)])
n, start = 0, time.perf_counter()
for path in sorted(src.rglob("*.wav")):
    x, sr = sf.read(path, dtype="float32")
    y = aug(samples=x, sample_rate=sr)
    out = dst / path.relative_to(src)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, y, sr, subtype="PCM_16")
    n += 1
seconds = time.perf_counter() - start
print(f"{n} files; {seconds:.2f} s, {n / seconds:.1f} files/s")
"""


def make_data(root: Path, files: int, noise_kind: str) -> tuple[Path, Path]:
    """``files`` speech-like 1 s 16 kHz PCM_16 clips in 20 folders, and 8 noise clips of 4 s."""
    rng = np.random.default_rng(0)
    clean, noise = root / "clean", root / "noise"
    t = np.arange(16000) / 16000
    for i in range(files):
        f0 = 100 + 100 * rng.random()
        env = 0.5 + 0.5 * np.sin(2 * np.pi * (2 + 3 * rng.random()) * t)
        x = 0.3 * env * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
        p = clean / f"speaker{i % 20:02d}" / f"utt{i:05d}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, x.astype(np.float32), 16000, subtype="PCM_16")
    noise.mkdir(parents=True, exist_ok=True)
    rate, ext = (44100, "ogg") if noise_kind == "ogg44k" else (16000, "wav")
    for k in range(8):
        n = rng.standard_normal(4 * rate).astype(np.float32)
        n = np.cumsum(n) if k % 2 else n  # some brown, some white
        n = 0.1 * n / np.abs(n).max()
        sf.write(noise / f"noise{k}.{ext}", n.astype(np.float32), rate)
    return clean, noise


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system, all its processes) and stdout of one run of ``cmd``."""
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds, _children_cpu() - cpu, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--noise", choices=("wav16k", "ogg44k"), default="wav16k")
    ap.add_argument("--root", type=Path, default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args()

    root = args.root or Path(tempfile.mkdtemp(prefix="bench_offline_"))
    root.mkdir(parents=True, exist_ok=True)
    clean, noise = make_data(root, args.files, args.noise)
    config = root / "pipeline.toml"
    config.write_text(PIPELINE.format(noise=noise.as_posix()))
    py = sys.executable
    methods = {
        "audiomentations loop": lambda out: [py, "-c", AUDIOMENTATIONS_LOOP, str(clean), str(out), str(noise)],
        "audionoise 1 worker": lambda out: [py, "-m", "audionoise", "augment", str(clean), str(out),
                                            "--config", str(config), "--workers", "1", "--no-progress"],
        "audionoise 2 workers": lambda out: [py, "-m", "audionoise", "augment", str(clean), str(out),
                                             "--config", str(config), "--workers", "2", "--no-progress"],
    }
    best: dict[str, float] = {}
    cpu_best: dict[str, float] = {}
    inner: dict[str, float] = {}
    for rep in range(args.repeats):
        for name, cmd in methods.items():
            out = root / "out"
            shutil.rmtree(out, ignore_errors=True)
            seconds, cpu, stdout = timed(cmd(out))
            best[name] = min(best.get(name, float("inf")), seconds)
            cpu_best[name] = min(cpu_best.get(name, float("inf")), cpu)
            m = re.search(r"([\d.]+) s, ([\d.]+) files/s", stdout)
            if m:
                inner[name] = max(inner.get(name, 0.0), float(m.group(2)))
            print(f"  run {rep + 1}: {name:22s} {seconds:6.2f} s wall {cpu:6.2f} s CPU", file=sys.stderr)
    shutil.rmtree(root / "out", ignore_errors=True)
    imports = {what: min(timed([py, "-c", f"import {what}"])[0] for _ in range(2))
               for what in ("torch", "audiomentations")}

    n = args.files
    rate = {k: n / v for k, v in best.items()}
    am, one, two = rate["audiomentations loop"], rate["audionoise 1 worker"], rate["audionoise 2 workers"]
    print(f"\noffline folder, {n} x 1 s 16 kHz PCM_16 clips, white + background noise ({args.noise} noise "
          f"folder), process start to exit, best of {args.repeats}")
    print("| method | wall s | files/s | vs audiomentations | CPU s | files per CPU s | in-process files/s |")
    print("|---|---|---|---|---|---|---|")
    for name, sec in best.items():
        print(f"| {name} | {sec:.2f} | {rate[name]:.0f} | {rate[name] / am:.2f}x | {cpu_best[name]:.2f} | "
              f"{n / cpu_best[name]:.0f} | {inner[name]:.0f} |")
    print(f"\n1 worker vs audiomentations: {one / am:.2f}x (target >= 2x)")
    print(f"2 workers vs 1 worker:       {two / one:.2f}x (target >= 1.7x)")
    print(", ".join(f"python -c 'import {k}': {v:.2f} s" for k, v in imports.items()))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    if args.root is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
