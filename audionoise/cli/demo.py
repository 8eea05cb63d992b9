"""``audionoise demo``: augment a bundled speech clip at several SNRs and print the SNRs measured back."""

from __future__ import annotations

import argparse
from pathlib import Path

from audionoise.cli._common import HelpFormatter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="augment a bundled clip and print the measured SNRs",
                       formatter_class=HelpFormatter,
                       description="Mix white, pink and background noise into a speech clip at exact SNRs, "
                                   "measure the SNR of each result, and write the augmented clips.")
    p.add_argument("--input", help="speech clip to augment (default: the bundled yes.wav)")
    p.add_argument("--noise", help="folder of background noise clips (default: the bundled noise clips)")
    p.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0, 0.0], help="target SNRs in dB")
    p.add_argument("--out", default="demo_out", help="folder for the augmented clips")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    import audionoise as an
    from audionoise import assets
    from audionoise import functional as F
    from audionoise import io as aio

    clip = Path(args.input) if args.input else assets.example_clip("yes")
    noise = Path(args.noise) if args.noise else assets.noise_dir()
    x, sr = aio.load(clip, mono=True)
    injectors = {"white": lambda s: an.WhiteNoise(s, s),
                 "pink": lambda s: an.ColoredNoise(s, s, 1.0, 1.0),
                 "background": lambda s: an.BackgroundNoise(bank, s, s, sample_rate=sr)}
    bank = an.NoiseBank.from_folder(noise, sr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"input {clip}: {x.shape[-1] / sr:.2f} s at {sr} Hz; noise bank: {len(bank)} clips "
          f"({bank.duration_s:.1f} s) from {noise}")
    print(f"{'noise':<12}{'target dB':>10}{'measured dB':>13}{'error dB':>10}  file")
    g = torch.Generator().manual_seed(args.seed)
    for name, make in injectors.items():
        for snr in args.snr:
            y = make(snr)(x, generator=g)
            measured = float(F.snr_db(x, y - x))
            path = out / f"{clip.stem}_{name}_{snr:+g}dB.wav"
            aio.save(path, y, sr, subtype="FLOAT")  # float: no clipping, the SNR holds in the file
            print(f"{name:<12}{snr:>10.2f}{measured:>13.4f}{measured - snr:>10.4f}  {path}")
    return 0
