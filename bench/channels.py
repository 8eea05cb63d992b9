"""Benchmark the room / channel injectors against the peers, in one process and one run.

Usage::

    python bench/channels.py                 # CPU, batch 64 x 1 s at 16 kHz, 1 torch thread (about 1 min)
    python bench/channels.py --quick         # fewer repeats
    python bench/channels.py --device cuda   # audionoise on the GPU (the peers stay numpy/CPU)
    python bench/channels.py --no-write      # print only; default writes docs/benchmarks_channels.md

Rows (each implementation built once, then timed in interleaved rounds with :func:`timing.interleaved`):

* reverb from a folder of 8 impulse responses (1 s, 16 kHz WAV, onset delays of 0-5 ms): ``Reverb(folder)``
  against audiomentations' ``ApplyImpulseResponse`` (loop over the batch), torch-audiomentations'
  ``ApplyImpulseResponse`` (shimmed, see :mod:`peers`) and a hand-written lower bound (batched FFT product with
  the bank's spectra precomputed, gather of the direct-path-aligned window);
* synthetic reverb (RT60 0.2-1.0 s, drawn per example): ``Reverb()`` (no peer synthesises RIRs batched);
* MP3 round trip: ``Codec(("mp3",))`` (libsndfile/LAME in memory) against audiomentations' ``Mp3Compression``;
* speed perturbation 0.9/1.0/1.1 drawn per example: ``SpeedPerturb`` against ``torchaudio.functional.speed`` at
  1.1 on the whole batch (torchaudio's ``SpeedPerturbation`` draws one factor per call);
* low pass with a per-example cut-off in 1-4 kHz: ``LowPass`` against audiomentations' ``LowPassFilter`` and
  torch-audiomentations' ``LowPassFilter``.

A peer that cannot run here is reported with the reason instead of a time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import peers  # noqa: E402
from timing import interleaved, machine_description, timed_import  # noqa: E402

SR = 16000
RT60 = (0.3, 1.0)
MP3_QUALITY = (0.15, 0.35)  # libsndfile CBR line at 16 kHz: 8 + 152 q kbps = 31-61 kbps
MP3_KBPS = (32, 64)  # the same range for audiomentations' Mp3Compression


def speech_like(batch: int) -> torch.Tensor:
    """Noise with a 4 Hz syllable-like envelope and 200 ms of silence at each end (as bench/run.py)."""
    t = torch.arange(SR) / SR
    env = (0.5 + 0.5 * torch.sin(2 * torch.pi * 4.0 * t)).clamp_min(0.0)
    env[: SR // 5] = 0.0
    env[-SR // 5:] = 0.0
    return 0.15 * torch.randn(batch, SR, generator=torch.Generator().manual_seed(batch)) * env


def make_rir_folder(root: Path, count: int = 8) -> Path:
    """``count`` 1-s impulse responses (synthetic, RT60 0.3-1.0 s) with 0-5 ms of silence before the direct path."""
    from audionoise import functional as F
    from audionoise import io as aio

    folder = root / "rirs"
    folder.mkdir()
    g = torch.Generator().manual_seed(7)
    rt = torch.linspace(*RT60, count)
    h = F.synthetic_rir(rt, torch.full((count,), 3.0), torch.randn(count, SR, generator=g), SR)
    for i in range(count):
        delay = int(i * 0.005 * SR / max(count - 1, 1))
        aio.save(folder / f"rir_{i:02d}.wav", 0.5 * torch.cat([torch.zeros(delay), h[i]])[None, :SR], SR,
                 subtype="FLOAT")
    return folder


class LowerBoundReverb:
    """Hand-written batched reverb: the bank's spectra, shifted to the direct path (phase ramp), computed once;
    per call one rfft of the batch, a product with the drawn rows and an irfft (no level normalization)."""

    def __init__(self, folder: Path, t: int, device: torch.device) -> None:
        from audionoise import io as aio
        from audionoise.functional.rir import convolution_size

        rirs = [aio.load(p)[0][0] for p in sorted(folder.glob("*.wav"))]
        taps = max(r.numel() for r in rirs)
        bank = torch.zeros(len(rirs), taps)
        for k, r in enumerate(rirs):
            bank[k, : r.numel()] = r
        peak = bank.abs().argmax(1)
        self.n = convolution_size(t, taps)
        k = torch.arange(self.n // 2 + 1, dtype=torch.float64)
        ramp = torch.polar(torch.ones_like(k), 2 * torch.pi * k * peak.double()[:, None] / self.n)
        self.spec = (torch.fft.rfft(bank.double(), n=self.n) * ramp).to(torch.complex64).to(device)
        self.t = t

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        k = torch.randint(0, self.spec.shape[0], (x.shape[0],), generator=g, device=x.device)
        return torch.fft.irfft(torch.fft.rfft(x, n=self.n) * self.spec[k], n=self.n)[:, : self.t]


def build(x: torch.Tensor, folder: Path, device: torch.device, libs: dict) -> list[tuple[str, dict, dict]]:
    """Rows: (title, {implementation: factory of a zero-argument call}, {implementation: note})."""
    import audionoise as an

    am, tam = libs.get("audiomentations"), libs.get("torch_audiomentations")
    x_np = x.cpu().numpy().copy()
    x3 = x[:, None]

    def ours(make):
        def factory():
            t = make().to(device)
            g = torch.Generator(device=device).manual_seed(0)
            return lambda: t(x, generator=g)
        return factory

    def am_loop(make):
        if am is None:
            return None

        def factory():
            t = make()
            return lambda: peers.numpy_loop(t, x_np, SR)
        return factory

    def tam_call(make):
        if tam is None:
            return None

        def factory():
            t = make().to(device)
            return lambda: peers.tam_call(t, x3, SR)
        return factory

    def lower():
        lb = LowerBoundReverb(folder, x.shape[-1], device)
        g = torch.Generator(device=device).manual_seed(0)
        return lambda: lb(x, g)

    files = [str(p) for p in sorted(folder.glob("*.wav"))]
    rows = [
        ("reverb, folder of 8 measured-style RIRs (1 s WAV)",
         {"audionoise": ours(lambda: an.Reverb(str(folder), sample_rate=SR)), "lower bound": lambda: lower(),
          "audiomentations": am_loop(lambda: am.ApplyImpulseResponse(str(folder), p=1.0)),
          "torch-audiomentations": tam_call(lambda: tam.ApplyImpulseResponse(files, p=1.0, sample_rate=SR,
                                                                             output_type="dict"))},
         {"audionoise": "batched FFT, bank spectra cached, direct path aligned, energy kept",
          "lower bound": "rfft(x) * cached direct-path-aligned H, irfft"}),
        (f"reverb, synthetic RIR per example (RT60 {RT60[0]}-{RT60[1]} s)",
         {"audionoise": ours(lambda: an.Reverb(min_rt60=RT60[0], max_rt60=RT60[1], sample_rate=SR))},
         {"audionoise": "randn tail + envelope + 3 FFTs"}),
        (f"MP3 round trip {MP3_KBPS[0]}-{MP3_KBPS[1]} kbps",
         {"audionoise": ours(lambda: an.Codec(("mp3",), *MP3_QUALITY, sample_rate=SR)),
          "audiomentations": am_loop(lambda: am.Mp3Compression(*MP3_KBPS, p=1.0))},
         {"audionoise": "libsndfile (LAME / mpg123) in memory, delay removed by cross-correlation",
          "audiomentations": "Mp3Compression, default backend fast-mp3-augment"}),
        ("speed perturbation 0.9 / 1.0 / 1.1",
         {"audionoise": ours(lambda: an.SpeedPerturb((0.9, 1.0, 1.1), sample_rate=SR)),
          "torchaudio": lambda: _torchaudio_speed(x, device)},
         {"torchaudio": "functional.speed at 1.1 on the whole batch (its SpeedPerturbation draws one factor per "
                        "call, a no-op a third of the time); audionoise resamples 2/3 of the rows, each at its "
                        "own factor"}),
        ("low pass, per-example cut-off 1-4 kHz",
         {"audionoise": ours(lambda: an.LowPass(1000.0, 4000.0, sample_rate=SR)),
          "audiomentations": am_loop(lambda: am.LowPassFilter(1000.0, 4000.0, p=1.0)),
          "torch-audiomentations": tam_call(lambda: tam.LowPassFilter(1000.0, 4000.0, p=1.0, sample_rate=SR,
                                                                      output_type="dict"))},
         {"audionoise": "Butterworth order 4 (24 dB/oct) in the frequency domain",
          "audiomentations": "LowPassFilter (Butterworth, 12-24 dB/oct, per example)",
          "torch-audiomentations": "LowPassFilter (julius sinc)"}),
    ]
    return rows


def _torchaudio_speed(x: torch.Tensor, device: torch.device):
    import torchaudio.functional as AF

    return lambda: AF.speed(x, SR, 1.1)


def run_rows(rows, repeats: int, device: torch.device) -> list[dict]:
    results = []
    for title, makers, notes in rows:
        cases, status = {}, {}
        for name, make in makers.items():
            if make is None:
                status[name] = "not installed"
                continue
            try:
                call = make()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    call()
                cases[name] = call
            except Exception as exc:  # a peer that cannot run here: reported in the table
                status[name] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
                traceback.print_exc(limit=1, file=sys.stderr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stats = interleaved(cases, repeats=repeats, warmup=1, device=device, max_case_s=2.0) if cases else {}
        results.append({"title": title, "stats": stats, "status": status, "notes": notes})
    return results


def table(results: list[dict], info: dict) -> str:
    names = ["audionoise", "lower bound", "audiomentations", "torch-audiomentations", "torchaudio"]
    lines = [f"Measured {info['date']} on {info['cpu']}, torch threads {info['torch threads']}, torch "
             f"{info['torch']}, torchaudio {info['torchaudio']}" + (f", GPU {info['gpu']}" if "gpu" in info else "")
             + ". Batch 64 x 1 s at 16 kHz; median (IQR) ms; ratios compare minima (peer / audionoise above 1: "
               "audionoise faster).", "",
             "| row | " + " | ".join(names) + " | ratios |", "|---" * (len(names) + 2) + "|"]
    notes = []
    for r in results:
        cells = []
        for n in names:
            if n in r["stats"]:
                cells.append(r["stats"][n].cell())
            elif n in r["status"]:
                cells.append(r["status"][n].split(":")[0])
                notes.append(f"- {r['title']}, {n}: {r['status'][n]}")
            else:
                cells.append("—")
        ours = r["stats"].get("audionoise")
        ratios = [f"{n} {r['stats'][n].min / ours.min:.1f}x" for n in names[2:] if ours and n in r["stats"]]
        if ours and "lower bound" in r["stats"]:
            ratios.insert(0, f"audionoise / lower bound {ours.min / r['stats']['lower bound'].min:.2f}x")
        lines.append(f"| {r['title']} | " + " | ".join(cells) + " | " + ", ".join(ratios) + " |")
        notes.extend(f"- {r['title']}, {n}: {v}" for n, v in r["notes"].items())
    return "\n".join(lines + ["", *notes])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="5 repeats instead of 11")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: the peers are single-threaded, and on a shared 2-core machine "
                         "torch's thread pool under contention made every row 2-8x slower)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "docs" / "benchmarks_channels.md"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    libs = {"audiomentations": timed_import("audiomentations")[0]}
    libs["torch_audiomentations"], tam_note = peers.load_torch_audiomentations()
    print(f"torch-audiomentations: {tam_note}", file=sys.stderr)
    x = speech_like(64).to(device)
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_rir_folder(Path(tmp))
        results = run_rows(build(x, folder, device, libs), args.repeats or (5 if args.quick else 11), device)
    text = table(results, machine_description(device))
    print(text)
    if not args.no_write:
        out = Path(args.output)
        out.write_text(f"# Channel and room injectors: benchmarks ({device.type})\n\nWritten by "
                       f"`python bench/channels.py`.\n\n{text}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
