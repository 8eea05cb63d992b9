"""Time ShortNoises against BackgroundNoise (same bank, same batch) and audiomentations' AddShortNoises.

Usage::

    python bench/short_noises.py               # batch 16 x 4 s, 64 x 1 s and 1 x 1 s at 16 kHz, 1 thread
    python bench/short_noises.py --repeats 30

Prints a Markdown table (median and inter-quartile range in ms per call, and the ratio of minima to
BackgroundNoise measured in the same interleaved rounds). ``lengths`` are drawn U(25-100 %) of the batch length.
ShortNoises runs with its defaults (1-3 bursts of 0.1-0.5 s). The peer, AddShortNoises (per example, NumPy,
re-reading its sound files with an LRU cache), gets the same clips as WAV files and ``p=1``; its bursts are
spaced by its own rules, so it is a reference for cost, not the same work.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: sibling modules
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # and the audionoise checkout

import timing  # noqa: E402

import audionoise as an  # noqa: E402
from audionoise import io as aio  # noqa: E402

SR = 16000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    clips = [0.1 * torch.randn(5 * SR, generator=g) for _ in range(8)]
    bank = an.NoiseBank.from_tensors(clips, SR)
    background, short = an.BackgroundNoise(bank, 0, 20, sample_rate=SR), an.ShortNoises(bank, 0, 20, sample_rate=SR)
    with tempfile.TemporaryDirectory() as tmp:
        for i, c in enumerate(clips):
            aio.save(Path(tmp) / f"{i}.wav", c[None], SR, subtype="FLOAT")
        peer = None
        try:
            from audiomentations import AddShortNoises

            peer = AddShortNoises(tmp, min_snr_db=0, max_snr_db=20, min_time_between_sounds=0.1,
                                  max_time_between_sounds=0.5, p=1.0)
        except ImportError:
            pass
        print("| batch | BackgroundNoise | ShortNoises | ShortNoises / BackgroundNoise (min) | AddShortNoises (peer) |")
        print("|---|---|---|---|---|")
        for batch, seconds in ((16, 4), (64, 1), (1, 1)):
            x = 0.1 * torch.randn(batch, seconds * SR, generator=g)
            lengths = torch.randint(seconds * SR // 4, seconds * SR + 1, (batch,), generator=g)
            gens = {name: torch.Generator().manual_seed(1) for name in ("bg", "short")}
            cases = {"bg": lambda: background(x, lengths, gens["bg"]),
                     "short": lambda: short(x, lengths, gens["short"])}
            if peer is not None:
                rows = [x[b, :int(n)].numpy() for b, n in enumerate(lengths)]
                cases["peer"] = lambda: [peer(r, SR) for r in rows]
            stats = timing.interleaved(cases, repeats=args.repeats)
            ratio = stats["short"].min / stats["bg"].min
            other = stats["peer"].cell() if "peer" in stats else "not installed"
            print(f"| {batch} x {seconds} s | {stats['bg'].cell()} | {stats['short'].cell()} | {ratio:.2f} | {other} |")


if __name__ == "__main__":
    main()
