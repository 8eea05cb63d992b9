"""Speech-enhancement training data, DNS-Challenge style: noisy, clean and noise files at a list of SNRs.

From a folder of clean speech and a folder of noise recordings, writes a training and a validation set::

    OUT/train/<clean>/<speaker>/<file>_aug<k>.wav          the noisy mixture
    OUT/train/<clean>/<speaker>/<file>_aug<k>_clean.wav    its aligned clean target (the speech as it enters the noise)
    OUT/train/<clean>/<speaker>/<file>_aug<k>_noise.wav    the noise stem: noisy = clean + noise
    OUT/train/manifest.jsonl                       one line per mixture: audio_filepath, clean_filepath,
                                                   noise_filepath, duration and the drawn parameters (snr_db, clip_name)
    OUT/valid/...                                  the same for the held-out utterances

Each mixture takes one SNR from ``--snr`` (equally likely) and a random window of a random noise recording (looped
if shorter), scaled so the SNR over the utterance is exact (measured from the files it matches the record). With
``--rooms P`` a synthetic room (RT60 0.2-0.8 s) is applied to the speech first, with probability P: the clean
target is then the reverberant speech (what "clean" means: docs/offline.md, "Stems"). Every output
is reproducible from ``--seed`` and the file's name.

Usage::

    python recipes/enhancement_data.py --clean speech/ --noise noise/ --out enh/ --snr -5 0 5 10 15 20 --copies 2

The recipe is thin: it splits the clean files (every ``1/valid_fraction``-th file, sorted, goes to validation), writes
a pipeline config and calls :func:`audionoise.offline.augment` with ``stems=True`` twice.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from audionoise import io as aio
from audionoise.offline import augment


def pipeline_config(noise: Path, snrs: list[float], rooms: float, sample_rate: int) -> dict:
    """A room (optional) on the speech, then background noise at one of ``snrs`` (additive noise last: stems)."""
    transforms: list[dict] = []
    if rooms > 0:
        transforms.append({"name": "Reverb", "min_rt60": 0.2, "max_rt60": 0.8, "p": rooms})
    transforms.append({"name": "OneOf", "transforms": [
        {"name": "BackgroundNoise", "noise": str(noise), "min_snr_db": s, "max_snr_db": s} for s in snrs]})
    return {"sample_rate": sample_rate, "transforms": transforms}


def split(clean: Path, valid_fraction: float) -> tuple[list[Path], list[Path]]:
    """Sorted audio files of ``clean``: every ``round(1 / valid_fraction)``-th one is held out for validation."""
    files = sorted(p for p in clean.rglob("*") if p.is_file() and p.suffix.lower() in aio.READABLE_EXTENSIONS)
    if not files:
        raise SystemExit(f"enhancement_data: no audio files under {clean}")
    step = max(2, round(1.0 / valid_fraction)) if valid_fraction > 0 else 0
    valid = [p for i, p in enumerate(files) if step and i % step == step - 1]
    train = [p for p in files if p not in set(valid)]
    return train, valid


def write_manifest(files: list[Path], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for p in files:
            rel = os.path.relpath(p.resolve(), path.parent.resolve())  # outputs are named after it, ".." dropped
            f.write(json.dumps({"audio_filepath": rel, "duration": aio.info(p).duration}) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--clean", type=Path, required=True, help="folder of clean speech")
    ap.add_argument("--noise", type=Path, required=True, help="folder of noise recordings")
    ap.add_argument("--out", type=Path, required=True, help="output folder (train/ and valid/ inside)")
    ap.add_argument("--snr", type=float, nargs="+", default=[-5.0, 0.0, 5.0, 10.0, 15.0, 20.0], help="SNR levels, dB")
    ap.add_argument("--copies", type=int, default=1, help="mixtures per clean utterance")
    ap.add_argument("--valid-fraction", type=float, default=0.1, help="share of utterances held out")
    ap.add_argument("--rooms", type=float, default=0.0, help="probability of a synthetic room on the speech")
    ap.add_argument("--sample-rate", type=int, default=16000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    config = pipeline_config(args.noise.resolve(), args.snr, args.rooms, args.sample_rate)
    train, valid = split(args.clean, args.valid_fraction)
    lists = args.out / "lists"
    status = 0
    for name, files, seed in (("train", train, args.seed), ("valid", valid, args.seed + 1)):
        if not files:
            continue
        summary = augment(write_manifest(files, lists / f"{name}.jsonl"), args.out / name, config,
                          copies=args.copies, seed=seed, workers=args.workers, sample_rate=args.sample_rate,
                          fmt="wav", progress=not args.quiet, stems=True)
        print(f"{name}: {summary}")
        status = max(status, summary.exit_status)
    return status


if __name__ == "__main__":
    sys.exit(main())
