"""``audionoise.hf.Transform`` in a DataLoader vs the same pipeline called directly on the same padded batches.

Per epoch over an in-memory ``datasets.Dataset`` (arrays in Arrow):

* ``direct``: the padded batches ``(x, lengths)`` are built beforehand; the pipeline is called once per batch in
  this process (torch's default thread count) with one generator per batch: the augmentation cost alone;
* ``hf, 2 workers``: ``DataLoader(ds.with_transform(t), sampler=BatchSampler(..), batch_size=None, num_workers=2,
  persistent_workers=True)``: each worker reads a batch of rows from Arrow, augments each row from its own seed
  (rows of one shape in one batched call) and pads the batch; the epoch after a warm-up epoch is timed (worker
  start-up excluded).

Cases: ``kws`` (1 s clips, 90 % of them exactly 16000 samples, batch 64) and ``asr`` (1-4 s clips, every length
different, batch 16). Target (issue 24): ``hf / direct <= 1.2``.

    python bench/hf.py [--rounds 5] [--batches 16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

RATE = 16000
ROOT = Path(__file__).resolve().parents[1]


def _lengths(case: str, n: int, rng: np.random.Generator) -> list[int]:
    if case == "kws":
        return [RATE if rng.random() < 0.9 else int(rng.integers(RATE // 2, RATE)) for _ in range(n)]
    return [int(v) for v in rng.choice(np.arange(RATE, 4 * RATE), size=n, replace=False)]


def _pipe():
    import audionoise as an

    return an.Compose([an.BackgroundNoise(ROOT / "data" / "noise", 0, 20, sample_rate=RATE, p=0.8),
                       an.WhiteNoise(10, 30, p=0.5), an.Gain(-6, 6)])


def _pad(arrays: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([a.shape[-1] for a in arrays])
    x = torch.zeros(len(arrays), int(lengths.max()))
    for i, a in enumerate(arrays):
        x[i, :a.shape[-1]] = a
    return x, lengths


def _collate(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    return _pad([torch.from_numpy(np.asarray(a["array"], dtype=np.float32)) for a in batch["audio"]])


def main(argv=None) -> int:
    import datasets
    from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

    from audionoise.hf import Transform

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batches", type=int, default=16, help="batches per epoch")
    args = p.parse_args(argv)
    datasets.disable_progress_bars()
    print(f"torch {torch.__version__}, datasets {datasets.__version__}, {torch.get_num_threads()} threads in the "
          "main process")
    print("| case | rows x batch | direct (s/epoch) | hf, 2 workers (s/epoch) | hf / direct |")
    print("|---|---|---|---|---|")
    for case, batch in (("kws", 64), ("asr", 16)):
        rng = np.random.default_rng(0)
        n = batch * args.batches
        lengths = _lengths(case, n, rng)
        arrays = [(0.1 * rng.standard_normal(m)).astype(np.float32) for m in lengths]
        ds = datasets.Dataset.from_dict({"id": [f"utt{i}" for i in range(n)],
                                         "audio": [{"array": a, "sampling_rate": RATE} for a in arrays]})
        padded = [_pad([torch.from_numpy(a) for a in arrays[i:i + batch]]) for i in range(0, n, batch)]
        pipe = _pipe()
        t = Transform(_pipe(), seed=0, key_column="id")
        loader = DataLoader(ds.with_transform(t), sampler=BatchSampler(SequentialSampler(range(n)), batch, False),
                            batch_size=None, num_workers=2, persistent_workers=True, collate_fn=_collate)

        def direct():
            with torch.no_grad():
                for b, (x, lens) in enumerate(padded):
                    pipe(x, lens, torch.Generator().manual_seed(b))

        def hf():
            for _ in loader:
                pass

        times: dict[str, list[float]] = {"direct": [], "hf": []}
        hf()  # start the workers, warm up
        direct()
        for r in range(args.rounds):
            for name, fn in (("direct", direct), ("hf", hf)) if r % 2 == 0 else (("hf", hf), ("direct", direct)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        d, h = statistics.median(times["direct"]), statistics.median(times["hf"])
        print(f"| {case} | {n} x {batch} | {d:.3f} | {h:.3f} | {h / d:.2f} |")
        del loader
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
