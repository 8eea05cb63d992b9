"""Benchmark the effects every peer has (issue 26) against the peers, in one process and one run.

Usage::

    python bench/effects.py                 # CPU, batch 64 x 1 s at 16 kHz, 2 torch threads
    python bench/effects.py --quick         # fewer repeats
    python bench/effects.py --no-write      # print only; default rewrites the effects section of docs/benchmarks.md

Rows (each implementation built once, then timed in interleaved rounds with :func:`timing.interleaved`; the
peers' parameter ranges are matched to ours):

* clipping, 0-40 % of the samples: ``ClippingDistortion(0, 40)`` / audiomentations ``ClippingDistortion``;
* bit crushing to 5-10 bits: ``BitCrush(5, 10)`` / audiomentations ``BitCrush``;
* polarity inversion: ``PolarityInversion`` / audiomentations and torch-audiomentations ``PolarityInversion``;
* band stop, centre 200-4000 Hz: ``BandStop`` (a notch, Q 0.5-2) / audiomentations ``BandStopFilter``
  (Butterworth, bandwidth fraction 0.5-1.99, 12-24 dB/oct) / torch-audiomentations ``BandStopFilter`` (julius);
* peaking EQ, 50-7500 Hz, +-24 dB, Q 0.5-5: ``PeakingEQ`` / audiomentations ``PeakingFilter`` (same cookbook
  section);
* loudness to -31..-13 LUFS: ``LoudnessNormalize`` / audiomentations ``LoudnessNormalization`` (pyloudnorm) /
  pyloudnorm's meter + normalize per example;
* mixing another example of the batch at 0-20 dB SIR: ``Mix`` / torch-audiomentations ``Mix`` (its SNR mode).

A peer that cannot run here is reported with the reason instead of a time.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import peers  # noqa: E402
from channels import run_rows, speech_like  # noqa: E402
from timing import machine_description, timed_import  # noqa: E402

SR = 16000
MARK_BEGIN, MARK_END = "<!-- bench:effects:begin -->", "<!-- bench:effects:end -->"


def _pyloudnorm(x_np: np.ndarray):
    import pyloudnorm

    meter = pyloudnorm.Meter(SR)
    targets = np.random.default_rng(0).uniform(-31, -13, len(x_np))

    def call():
        return [pyloudnorm.normalize.loudness(row, meter.integrated_loudness(row), t)
                for row, t in zip(x_np, targets)]
    return call


def _tam_mix():
    """torch-audiomentations 0.12 has ``Mix`` but does not export it at the top level."""
    from torch_audiomentations.augmentations.mix import Mix

    return Mix


def build(x: torch.Tensor, libs: dict) -> list[tuple[str, dict, dict]]:
    """Rows: (title, {implementation: factory of a zero-argument call}, {implementation: note})."""
    import audionoise as an

    am, tam = libs.get("audiomentations"), libs.get("torch_audiomentations")
    x_np = x.cpu().numpy().copy()
    x3 = x[:, None]

    def ours(make):
        def factory():
            t = make()
            g = torch.Generator().manual_seed(0)
            return lambda: t(x, generator=g)
        return factory

    def am_loop(make):
        if am is None:
            return None
        return lambda: (lambda t: lambda: peers.numpy_loop(t, x_np, SR))(make())

    def tam_call(make):
        if tam is None:
            return None
        return lambda: (lambda t: lambda: peers.tam_call(t, x3, SR))(make())

    return [
        ("clipping, 0-40 % of the samples",
         {"audionoise": ours(lambda: an.ClippingDistortion(0, 40)),
          "audiomentations": am_loop(lambda: am.ClippingDistortion(0, 40, p=1.0))},
         {"audionoise": "per-example threshold by numpy.partition, clip fraction measured"}),
        ("bit crush, 5-10 bits",
         {"audionoise": ours(lambda: an.BitCrush(5, 10)),
          "audiomentations": am_loop(lambda: am.BitCrush(min_bit_depth=5, max_bit_depth=10, p=1.0))},
         {}),
        ("polarity inversion",
         {"audionoise": ours(lambda: an.PolarityInversion()),
          "audiomentations": am_loop(lambda: am.PolarityInversion(p=1.0)),
          "torch-audiomentations": tam_call(lambda: tam.PolarityInversion(p=1.0, sample_rate=SR,
                                                                          output_type="dict"))},
         {}),
        ("band stop, centre 200-4000 Hz",
         {"audionoise": ours(lambda: an.BandStop(200.0, 4000.0, 0.5, 2.0, sample_rate=SR)),
          "audiomentations": am_loop(lambda: am.BandStopFilter(200.0, 4000.0, p=1.0)),
          "torch-audiomentations": tam_call(lambda: tam.BandStopFilter(200.0, 4000.0, p=1.0, sample_rate=SR,
                                                                      output_type="dict"))},
         {"audionoise": "biquad notch (Q 0.5-2), exact IIR, batched",
          "audiomentations": "BandStopFilter: Butterworth 12-24 dB/oct, bandwidth fraction 0.5-1.99",
          "torch-audiomentations": "BandStopFilter: julius sinc filters"}),
        ("peaking EQ, 50-7500 Hz, -24..24 dB, Q 0.5-5",
         {"audionoise": ours(lambda: an.PeakingEQ(sample_rate=SR)),
          "audiomentations": am_loop(lambda: am.PeakingFilter(p=1.0))},
         {"audionoise": "cookbook peaking biquad, exact IIR, batched",
          "audiomentations": "PeakingFilter: the same cookbook section, per example"}),
        ("loudness to -31..-13 LUFS (BS.1770-4)",
         {"audionoise": ours(lambda: an.LoudnessNormalize(-31.0, -13.0, sample_rate=SR)),
          "audiomentations": am_loop(lambda: am.LoudnessNormalization(-31.0, -13.0, p=1.0)),
          "pyloudnorm": lambda: _pyloudnorm(x_np.astype(np.float64))},
         {"audiomentations": "LoudnessNormalization (the C++ `loudness` package, libebur128-style filters)",
          "pyloudnorm": "Meter.integrated_loudness + normalize.loudness per example (float64)"}),
        ("shoebox room, RT60 0.3-0.8 s",
         {"audionoise": ours(lambda: an.RoomSimulator(min_rt60=0.3, max_rt60=0.8, sample_rate=SR)),
          "audiomentations": am_loop(lambda: am.RoomSimulator(calculation_mode="rt60", min_target_rt60=0.3,
                                                               max_target_rt60=0.8, leave_length_unchanged=True,
                                                               p=1.0))},
         {"audionoise": "a bank of 16 rooms simulated once (pyroomacoustics), FFT convolution per batch",
          "audiomentations": "RoomSimulator: a room simulated per example (pyroomacoustics), then convolved"}),
        ("mix another example of the batch, 0-20 dB SIR",
         {"audionoise": ours(lambda: an.Mix(0.0, 20.0)),
          "torch-audiomentations": tam_call(lambda: _tam_mix()(min_snr_in_db=0.0, max_snr_in_db=20.0, p=1.0,
                                                                 sample_rate=SR, output_type="dict"))},
         {"torch-audiomentations": "Mix (SNR mode)"}),
    ]


NAMES = ["audionoise", "audiomentations", "torch-audiomentations", "pyloudnorm"]


def table(results: list[dict], info: dict) -> str:
    lines = [f"Measured {info['date']} on {info['cpu']}, torch threads {info['torch threads']}, torch "
             f"{info['torch']}. Batch 64 x 1 s at 16 kHz; median (IQR) ms per batch; *fastest peer / audionoise* "
             f"compares minima (above 1: audionoise faster).", "",
             "| effect | " + " | ".join(NAMES) + " | fastest peer / audionoise |", "|---" * (len(NAMES) + 2) + "|"]
    notes = []
    for r in results:
        cells = []
        for n in NAMES:
            if n in r["stats"]:
                cells.append(r["stats"][n].cell())
            elif n in r["status"]:
                cells.append(r["status"][n].split(":")[0])
                if r["status"][n] != "not installed":
                    notes.append(f"- {r['title']}, {n}: {r['status'][n]}")
            else:
                cells.append("—")
        ours = r["stats"].get("audionoise")
        timed = [(r["stats"][n].min, n) for n in NAMES[1:] if n in r["stats"]]
        peer = min(timed) if ours and timed else None
        ratio = f"{peer[0] / ours.min:.1f}x ({peer[1]})" if peer else "—"
        lines.append(f"| {r['title']} | " + " | ".join(cells) + f" | {ratio} |")
        notes.extend(f"- {r['title']}, {n}: {v}" for n, v in r["notes"].items())
    return "\n".join(lines + ["", *notes])


def write_section(path: Path, text: str) -> None:
    """Replace the effects section of ``path`` (between the markers), or append it."""
    doc = path.read_text(encoding="utf-8")
    note = ("Each new effect of issue 26 against the peers that have it, in one process, interleaved. The issue's "
            "setting is 2 torch threads; on a shared 2-core machine whose load average is above 2, torch's thread "
            "pool waits for cores the other processes hold and the 2-thread column can be several times slower "
            "than the 1-thread one (the peers are single-threaded NumPy/C): the load is printed with each table.")
    section = f"{MARK_BEGIN}\n## Effects (`bench/effects.py`)\n\n{note}\n\n{text}\n{MARK_END}"
    if MARK_BEGIN in doc:
        doc = re.sub(re.escape(MARK_BEGIN) + ".*?" + re.escape(MARK_END), lambda _: section, doc, flags=re.S)
    else:
        doc = doc.rstrip() + "\n\n" + section + "\n"
    path.write_text(doc, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 repeats instead of 15")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--threads", type=int, nargs="+", default=[2, 1],
                    help="torch thread counts, one table each (the issue's target is at 2)""")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"))
    args = ap.parse_args(argv)
    libs = {"audiomentations": timed_import("audiomentations")[0]}
    libs["torch_audiomentations"], tam_note = peers.load_torch_audiomentations()
    print(f"torch-audiomentations: {tam_note}", file=sys.stderr)
    x = speech_like(64)
    parts = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        load = os.getloadavg()[0]
        results = run_rows(build(x, libs), args.repeats or (5 if args.quick else 15), torch.device("cpu"))
        parts.append(f"### {threads} torch thread(s) (load average {load:.1f} -> {os.getloadavg()[0]:.1f})\n\n"
                     + table(results, machine_description(torch.device("cpu"))))
        print(parts[-1])
    text = "\n\n".join(parts)
    if not args.no_write:
        write_section(Path(args.output), text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
