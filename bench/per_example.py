"""Per-example speed (the ``Dataset.__getitem__`` pattern): one 1 s clip at 16 kHz per call, one torch thread.

Interleaved in one process against audiomentations 0.43 (the peer that works one example at a time):

* white noise at a random SNR: ``WhiteNoise(5, 20)`` vs ``AddGaussianSNR(5, 20)``;
* background noise from a folder of WAV files **of different lengths, one shorter than the clip** (0.6, 1.7, 3.1,
  4.4 and 7.9 s): ``BackgroundNoise(folder)`` vs ``AddBackgroundNoise(folder)``;
* waveform time mask: ``TimeMask(0.1 s)`` vs ``TimeMask(0.1 s, fade 0)``, called with a tensor and with the NumPy
  array audiomentations gets (NumPy in, NumPy out);
* the floor of a time mask in each world: an ``nn.Module`` that draws, copies a tensor and zeroes one slice, and one
  that draws from the ``torch.Generator`` and copies a NumPy array, vs a NumPy copy with one zeroed slice (the ratios
  cap what any time mask that is an ``nn.Module`` drawing from a ``torch.Generator`` can reach).

Ratios are audiomentations' time over audionoise's (> 1: audionoise faster), from the median and the minimum of
the interleaved samples. Run: ``python bench/per_example.py`` (``--repeats N``); prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved, machine_description  # noqa: E402

SR = 16000
LENGTHS_S = (0.6, 1.7, 3.1, 4.4, 7.9)


def _noise_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    folder = root / "noise"
    folder.mkdir()
    for i, seconds in enumerate(LENGTHS_S):
        n = int(seconds * SR)
        clip = np.cumsum(rng.standard_normal(n)) * 0.001 + 0.05 * rng.standard_normal(n)
        sf.write(folder / f"n{i}.wav", (clip / np.abs(clip).max() * 0.5).astype(np.float32), SR, subtype="PCM_16")
    return folder


class _Floor(torch.nn.Module):
    """The least an ``nn.Module`` time mask drawing from a ``torch.Generator`` can do per call: draw three uniforms,
    copy the input (a tensor through ``clone``, a NumPy array through ``copy``), zero one slice."""

    def __init__(self) -> None:
        super().__init__()
        self.buf = torch.empty(1, 3, dtype=torch.float64)

    def forward(self, x, lengths=None, generator=None):
        self.buf.uniform_(generator=generator).tolist()
        y = x.copy() if isinstance(x, np.ndarray) else x.clone()
        (y if isinstance(y, np.ndarray) else y.numpy())[..., 100:200] = 0.0
        return y


def _numpy_floor(x: np.ndarray) -> np.ndarray:
    y = x.copy()
    y[100:200] = 0.0
    return y


def cases(folder: Path) -> dict[str, dict[str, object]]:
    import audiomentations as am

    import audionoise as an

    x_t = 0.1 * torch.randn(1, SR, generator=torch.Generator().manual_seed(0))
    x_n = x_t[0].numpy().copy()
    g = torch.Generator().manual_seed(1)
    white, bg, mask = an.WhiteNoise(5.0, 20.0), an.BackgroundNoise(folder, 5.0, 20.0, sample_rate=SR), \
        an.TimeMask(0.1, sample_rate=SR)
    am_white = am.AddGaussianSNR(min_snr_db=5.0, max_snr_db=20.0, p=1.0)
    am_bg = am.AddBackgroundNoise(sounds_path=str(folder), min_snr_db=5.0, max_snr_db=20.0, p=1.0)
    floor = np_floor = _Floor()
    am_mask = am.TimeMask(min_band_part=0.0, max_band_part=0.1 * SR / SR, fade_duration=0.0, p=1.0)
    return {
        "white noise @ SNR": {"audionoise": lambda: white(x_t, generator=g),
                              "audiomentations": lambda: am_white(x_n, sample_rate=SR)},
        "background, folder of mixed lengths (one < clip)": {
            "audionoise": lambda: bg(x_t, generator=g), "audiomentations": lambda: am_bg(x_n, sample_rate=SR)},
        "waveform time mask": {"audionoise": lambda: mask(x_t, generator=g),
                               "audiomentations": lambda: am_mask(x_n, sample_rate=SR)},
        "waveform time mask, NumPy in/out": {"audionoise": lambda: mask(x_n, generator=g),
                                             "audiomentations": lambda: am_mask(x_n, sample_rate=SR)},
        # the floor of any torch-tensor time mask vs the floor of a NumPy one: one nn.Module call around one draw,
        # a copy and one zeroed slice (through a NumPy view), against a NumPy copy and one slice
        "floor: copy + one zeroed slice": {"audionoise": lambda: floor(x_t, generator=g),
                                           "audiomentations": lambda: _numpy_floor(x_n)},
        "floor, NumPy in/out: copy + one zeroed slice": {"audionoise": lambda: np_floor(x_n, generator=g),
                                                         "audiomentations": lambda: _numpy_floor(x_n)},
        "floor, NumPy in/out, against audiomentations' TimeMask": {
            "audionoise": lambda: np_floor(x_n, generator=g), "audiomentations": lambda: am_mask(x_n, sample_rate=SR)},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"),
                   help="Markdown file whose per-example section (between bench:per-example markers) is rewritten")
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = _noise_folder(Path(tmp))
        rows = []
        for row, impl in cases(folder).items():
            stats = interleaved(impl, repeats=args.repeats, warmup=3)
            a, b = stats["audionoise"], stats["audiomentations"]
            rows.append((row, a, b))
    machine = machine_description("cpu")
    lines = [f"Per example (the `Dataset.__getitem__` pattern): 1 x 1 s @ 16 kHz, 1 torch thread, interleaved calls; "
             f"`python bench/per_example.py` ({datetime.date.today()}, {machine.get('cpu', 'cpu')}, "
             f"load {os.getloadavg()[0]:.1f}). Median (inter-quartile range) ms per call; ratios = "
             "audiomentations' time / audionoise's (> 1: audionoise faster).", "",
             "| row | audionoise | audiomentations 0.43 | ratio of medians | ratio of minima |", "|---|---|---|---|---|"]
    for row, a, b in rows:
        lines.append(f"| {row} | {a.cell()} | {b.cell()} | {b.median / a.median:.2f}x | {b.min / a.min:.2f}x |")
    lines += ["", "The three floor rows are not audionoise: the least any time mask that is an `nn.Module` drawing "
              "from a `torch.Generator` can do (one module call that draws three uniforms, copies, and zeroes one "
              "slice; for a tensor, and for a NumPy array) against the least a bare NumPy function can (copy, zero "
              "one slice), and the NumPy one against audiomentations' `TimeMask` itself. Their ratios cap what such "
              "a time mask can reach against audiomentations' NumPy `TimeMask`, which draws from Python's global "
              "`random` state without a module call."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        _write_section(Path(args.output), text)
    return 0


def _write_section(path: Path, text: str) -> None:
    begin, end = "<!-- bench:per-example:begin -->", "<!-- bench:per-example:end -->"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{begin}\n## Per example vs audiomentations\n\n{text}\n{end}"
    if begin in old and end in old:
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
