"""``audionoise demo``: augment a bundled speech clip at several SNRs and print the SNRs measured back."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="augment a bundled clip and print the measured SNRs",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description="Mix white, pink and background noise into a speech clip at exact SNRs, "
                                   "measure the SNR of each result, and write the augmented clips.")
    p.add_argument("--input", default=str(REPO / "data" / "examples" / "yes.wav"), help="speech clip to augment")
    p.add_argument("--noise", default=str(REPO / "data" / "noise"), help="folder of background noise clips")
    p.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0, 0.0], help="target SNRs in dB")
    p.add_argument("--out", default="demo_out", help="folder for the augmented clips")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import audionoise as an
    from audionoise import functional as F
    from audionoise import io as aio

    x, sr = aio.load(args.input, mono=True)
    injectors = {"white": lambda s: an.WhiteNoise(s, s),
                 "pink": lambda s: an.ColoredNoise(s, s, 1.0, 1.0),
                 "background": lambda s: an.BackgroundNoise(bank, s, s, sample_rate=sr)}
    bank = an.NoiseBank.from_folder(args.noise, sr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"input {args.input}: {x.shape[-1] / sr:.2f} s at {sr} Hz; noise bank: {len(bank)} clips "
          f"({bank.duration_s:.1f} s) from {args.noise}")
    print(f"{'noise':<12}{'target dB':>10}{'measured dB':>13}{'error dB':>10}  file")
    g = torch.Generator().manual_seed(args.seed)
    for name, make in injectors.items():
        for snr in args.snr:
            y = make(snr)(x, generator=g)
            measured = float(F.snr_db(x, y - x))
            path = out / f"{Path(args.input).stem}_{name}_{snr:+g}dB.wav"
            aio.save(path, y, sr, subtype="FLOAT")  # float: no clipping, the SNR holds in the file
            print(f"{name:<12}{snr:>10.2f}{measured:>13.4f}{measured - snr:>10.4f}  {path}")
    return 0
