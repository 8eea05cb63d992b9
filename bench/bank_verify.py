"""Benchmark: what verifying the noise-bank cache adds to opening a 1-hour bank, and what the lazy block check
costs the first read of each clip.

Builds a synthetic 1-hour corpus (120 files x 30 s, 16 kHz float WAV, in a temporary folder), caches its bank,
then times in interleaved rounds (:func:`timing.interleaved`, one process) ``NoiseBank.from_source`` on the cached
bank with the checks of :mod:`audionoise.transforms._bank_cache` (metadata digest, size, token, lengths) against
the same call with the plain load of the previous cache version (metadata + map + sample count only). Then the
lazy check: the time :meth:`NoiseBank.check_clips` takes for every clip once (BLAKE2b + finiteness of every
block: the whole bank), against reading every clip once through :meth:`NoiseBank.windows` afterwards.

Usage::

    python bench/bank_verify.py            # prints the rows (about 30 s)
    python bench/bank_verify.py --minutes 10
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(1, str(REPO))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

from audionoise.transforms import _bank_cache as cache  # noqa: E402
from audionoise.transforms.noisebank import NoiseBank  # noqa: E402
from timing import interleaved  # noqa: E402

SR = 16000


def _plain_load(cache_dir, key, quiet=False):
    """The load of cache version 1: metadata, map, sample count; no digest, size, token or length checks."""
    npy, meta_path = cache.paths(cache_dir, key)
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    data = cache.open_memmap(npy)
    if meta.get("version") != cache.CACHE_VERSION or meta.get("key") != key or data.shape[0] != meta["samples"]:
        return None
    return data, meta, npy, None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = max(1, round(args.minutes * 2))
        rng = np.random.default_rng(0)
        (root / "noise").mkdir()
        for i in range(files):
            sf.write(root / "noise" / f"n{i:03d}.wav", (0.1 * rng.standard_normal(30 * SR)).astype(np.float32), SR,
                     subtype="FLOAT")
        source, cache_dir = str(root / "noise"), root / "cache"
        t0 = time.perf_counter()
        bank = NoiseBank.from_source(source, SR, cache_dir=cache_dir, progress=False)
        print(f"bank: {bank.duration_s / 3600:.2f} h, {bank.data.numel() * 4 / 1e6:.0f} MB, built in "
              f"{time.perf_counter() - t0:.2f} s")
        verified_load = cache.load

        def opened(load):
            def case():
                cache.load = load
                try:
                    return NoiseBank.from_source(source, SR, cache_dir=cache_dir, progress=False)
                finally:
                    cache.load = verified_load
            return case

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            stats = interleaved({"open, verified": opened(verified_load), "open, plain (v1 checks)":
                                 opened(_plain_load)}, repeats=args.repeats)
        for name, s in stats.items():
            print(f"{name:28s} min {s.min:7.3f} ms  median {s.median:7.3f} ms")
        v, p = stats["open, verified"], stats["open, plain (v1 checks)"]
        print(f"verification adds {100 * (v.min / p.min - 1):+.1f} % (min), {100 * (v.median / p.median - 1):+.1f} % "
              "(median) to opening")

        every = np.arange(len(bank))
        fresh = NoiseBank.from_source(source, SR, cache_dir=cache_dir, progress=False)
        t0 = time.perf_counter()
        fresh.check_clips(every)
        check_s = time.perf_counter() - t0
        clips, offsets = torch.tensor(every), torch.zeros(len(every), dtype=torch.long)
        t0 = time.perf_counter()
        for k in range(len(every)):
            fresh.windows(clips[k:k + 1], offsets[k:k + 1], 30 * SR)
        read_s = time.perf_counter() - t0
        print(f"lazy check of every clip once: {check_s:.3f} s ({check_s / (bank.data.numel() * 4 / 1e6) * 1e3:.2f} "
              f"ms per MB); reading every clip once afterwards: {read_s:.3f} s")


if __name__ == "__main__":
    main()
