"""Benchmark: the offline job on a cluster engine vs the local process pool, same machine, same run.

Builds ``--files`` speech-like 16 kHz mono clips of real utterance lengths (uniform 1-8 s, mean 4.5 s; PCM_16, 30
speakers' folders) and a background-noise folder, then runs ``audionoise.offline.augment`` with 2 copies of each
(white noise at SNR U(10, 30) dB, then background noise at SNR U(0, 20) dB) as separate processes, interleaved over
``--repeats`` rounds:

* ``local``: ``--backend local --workers W`` (the process pool);
* ``ray``: ``--backend ray --workers W`` (a local Ray cluster of W worker processes, started and stopped by the run);
* ``dask``: ``--backend dask --workers W`` (a Dask ``LocalCluster`` of W single-threaded processes).

Reported per backend (median over rounds; the ratios also from the best round of each, which on a shared machine
is the least disturbed one): the start-up (cluster start before the job; for ``local`` 0, its
pool starts inside the job), the job's own seconds, the end-to-end seconds (start-up + job + shutdown) and the
throughput in input files/s end to end and without start-up, with the ratio to ``local``. Every run's outputs and
manifest are checked byte-identical to the first ``local`` run. Target (issue 24): ray and dask >= 70 % of local
throughput, start-up included.

Usage:
    python bench/scale.py [--files 3000] [--workers 2] [--repeats 2] [--backends local,ray,dask]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
RATE = 16000

sys.path.insert(0, str(Path(__file__).resolve().parent))
from offline import PIPELINE  # noqa: E402 - white + background noise: the same job as bench/offline.py

ONE = """\
import json, sys, time
t0 = time.perf_counter()
from audionoise.offline import augment
from audionoise.offline.backends import executor
src, out, config, backend, workers = sys.argv[1:6]
t1 = time.perf_counter()
with executor(backend, int(workers)) as ex:
    t2 = time.perf_counter()
    s = augment(src, out, config, copies=2, workers=int(workers) if ex is None else 1, executor=ex, progress=False)
    t3 = time.perf_counter()
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "startup": t2 - t1, "job": t3 - t2, "shutdown": t4 - t3,
                  "written": s.written, "failed": s.failed, "inputs": s.inputs}))
"""


def speech_like(n: int, rng: np.random.Generator) -> np.ndarray:
    """Amplitude-modulated harmonics with pauses: a stand-in for an utterance of ``n`` samples."""
    t = np.arange(n) / RATE
    f0 = 100 + 100 * rng.random()
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
    env = np.clip(np.sin(2 * np.pi * (2 + 2 * rng.random()) * t + rng.random() * 6), 0, None)
    return (0.2 * env * x + 0.003 * rng.standard_normal(n)).astype(np.float32)


def build(root: Path, files: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    src = root / "in"
    for i in range(files):
        folder = src / f"spk{i % 30:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / f"utt{i:05d}.wav", speech_like(int(rng.integers(RATE, 8 * RATE)), rng), RATE,
                 subtype="PCM_16")
    noise = root / "noise"
    noise.mkdir()
    for j in range(6):
        sf.write(noise / f"n{j}.wav", (0.1 * rng.standard_normal(int(RATE * (3 + 4 * j)))).astype(np.float32), RATE)
    config = root / "pipeline.toml"
    config.write_text(PIPELINE.format(noise=noise))
    return src, config


def digest(out: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(out.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(out).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=3000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--backends", default="local,ray,dask")
    p.add_argument("--keep", default=None, help="build the inputs here (reused when present)")
    args = p.parse_args(argv)
    backends = args.backends.split(",")
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="an_scale_"))
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "pipeline.toml").exists():
        build(root, args.files)
    src, config = root / "in", root / "pipeline.toml"
    hours = sum(sf.info(f).frames for f in src.rglob("*.wav")) / RATE / 3600
    print(f"{args.files} inputs ({hours:.2f} h of audio) x 2 copies, {args.workers} workers, {os.cpu_count()} CPUs")
    env = {**os.environ, "PYTHONPATH": str(REPO), "AUDIONOISE_CACHE_DIR": str(root / "cache")}
    runs: dict[str, list[dict]] = {b: [] for b in backends}
    reference = None
    for r in range(args.repeats):
        for b in (backends if r % 2 == 0 else list(reversed(backends))):
            out = root / f"out_{b}"
            shutil.rmtree(out, ignore_errors=True)
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", ONE, str(src), str(out), str(config), b, str(args.workers)],
                                  env=env, capture_output=True, text=True)
            wall = time.perf_counter() - start
            if proc.returncode not in (0,):
                print(f"{b}: exit {proc.returncode}: {proc.stderr[-2000:]}")
                return 1
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            res["wall"] = wall
            d = digest(out)
            reference = reference or d
            res["identical"] = d == reference
            runs[b].append(res)
            shown = {k: round(v, 2) if isinstance(v, float) else v for k, v in res.items()}
            print(f"  round {r} {b}: {json.dumps(shown)}")
    print()
    print("| backend | start-up (s) | job (s) | end to end (s) | files/s end to end | files/s without start-up | "
          "vs local, end to end: median (best rounds) | vs local, job only: median (best) | identical bytes |")
    print("|---|---|---|---|---|---|---|---|---|")

    def stat(b: str, key: str, how) -> float:
        return how(r[key] for r in runs[b])

    for b in backends:
        m = {k: stat(b, k, statistics.median) for k in ("startup", "job", "wall")}
        ratios = "-"
        if "local" in runs:
            e2e = (stat("local", "wall", statistics.median) / m["wall"],
                   stat("local", "wall", min) / stat(b, "wall", min))
            job = (stat("local", "job", statistics.median) / m["job"], stat("local", "job", min) / stat(b, "job", min))
            ratios = f"{e2e[0]:.0%} ({e2e[1]:.0%}) | {job[0]:.0%} ({job[1]:.0%})"
        print(f"| {b} | {m['startup']:.1f} | {m['job']:.1f} | {m['wall']:.1f} | {args.files / m['wall']:.1f} | "
              f"{args.files / m['job']:.1f} | {ratios} | {all(r['identical'] for r in runs[b])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
