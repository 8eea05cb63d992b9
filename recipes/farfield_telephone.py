"""Far-field + telephone augmentation for ASR-style training data, shown on the bundled clips.

Builds, from a config dict, the chain an ASR recipe applies to close-talk speech to make it sound like a distant
talker on a phone line, and runs it on every clip of ``--inputs`` (default: the example clips shipped in the package):

1. ``SpeedPerturb`` 0.9 / 1.0 / 1.1 (Kaldi-style; the lengths change and are threaded through the chain),
2. ``Reverb``: a synthetic room per example (RT60 0.3-0.9 s, DRR -3..10 dB), the direct path kept in place,
3. ``BackgroundNoise`` from ``--noise`` (default: the bundled ``data/noise``) at 5-20 dB re the (level-kept)
   reverberant speech,
4. one channel per example: G.711 ``Telephone`` (mu-law or A-law), GSM 6.10, or MP3 / Opus at a low bit rate,
5. ``Normalize`` to -1 dBFS peak (nothing clips when written).

Writes ``OUT/<clip>_aug<k>.wav`` (each at its new length), ``OUT/pipeline.toml`` (reload it with
``audionoise.load_pipeline``) and ``OUT/records.jsonl`` (one line per output with every drawn parameter), and
prints a table of what each copy got.

Usage::

    python recipes/farfield_telephone.py --out runs/farfield_telephone --copies 3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

try:
    import audionoise  # noqa: F401
except ImportError:  # running from a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audionoise import assets
from audionoise import io as aio
from audionoise import load_pipeline, save_pipeline
from audionoise.data import pad_collate

ROOT = Path(__file__).resolve().parents[1]
SR = 16000


def pipeline_config(noise: Path) -> dict:
    """The far-field + telephone chain as a pipeline config (what ``OUT/pipeline.toml`` holds)."""
    return {"sample_rate": SR, "transforms": [
        {"name": "SpeedPerturb", "factors": [0.9, 1.0, 1.1]},
        {"name": "Reverb", "min_rt60": 0.3, "max_rt60": 0.9, "min_drr_db": -3.0, "max_drr_db": 10.0},
        {"name": "BackgroundNoise", "noise": str(noise), "min_snr_db": 5.0, "max_snr_db": 20.0},
        {"name": "OneOf", "transforms": [
            {"name": "Telephone", "law": "mu"},
            {"name": "Telephone", "law": "a"},
            {"name": "Codec", "codecs": ["gsm"]},
            {"name": "Codec", "codecs": ["mp3", "opus"], "min_quality": 0.05, "max_quality": 0.25}]},
        {"name": "Normalize", "peak_db": -1.0},
    ]}


def summary(record: list[dict]) -> str:
    """One line of what a copy got, from its records."""
    by = {}
    for r in record:
        if r["applied"]:
            by.setdefault(r["transform"], r)
    channel = next((f"{r['transform']}({r.get('law') or r.get('codec')})" for name, r in by.items()
                    if name in ("Telephone", "Codec")), "-")
    return (f"speed {by['SpeedPerturb']['factor']:.1f}  RT60 {by['Reverb']['rt60']:.2f} s  "
            f"DRR {by['Reverb']['drr_db']:+5.1f} dB  SNR {by['BackgroundNoise']['snr_db']:5.1f} dB  {channel}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--inputs", default=str(assets.example_clip().parent), help="folder of speech clips "
                   "(default: the example clips shipped in the package)")
    p.add_argument("--noise", default=str(ROOT / "data" / "noise"), help="folder of background noise")
    p.add_argument("--out", default="runs/farfield_telephone")
    p.add_argument("--copies", type=int, default=3, help="augmented copies per clip")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pipe = load_pipeline(pipeline_config(Path(args.noise)))
    save_pipeline(pipe, out / "pipeline.toml")
    files = sorted(f for f in Path(args.inputs).iterdir() if f.suffix.lower() in aio.AUDIO_EXTENSIONS)
    if not files:
        raise SystemExit(f"no audio files in {args.inputs}")
    clips = [aio.load(f, sample_rate=SR, mono=True)[0] for f in files] * args.copies
    x, lengths = pad_collate(clips)
    y, new_lengths, records = pipe(x, lengths, torch.Generator().manual_seed(args.seed), return_params=True)
    with open(out / "records.jsonl", "w", encoding="utf-8") as fh:
        for i, (n, rec) in enumerate(zip(new_lengths.tolist(), records)):
            src, copy = files[i % len(files)], i // len(files)
            name = f"{src.stem}_aug{copy}.wav"
            aio.save(out / name, y[i, :n][None], SR)
            fh.write(json.dumps({"input": str(src), "output": name, "frames": n, "records": rec}) + "\n")
            print(f"{name:<16} {n / SR:5.2f} s  {summary(rec)}")
    print(f"wrote {len(records)} files, pipeline.toml and records.jsonl to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
