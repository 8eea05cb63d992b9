"""Benchmark audionoise against its peers and a hand-written lower bound, in one process and one run.

Usage::

    python bench/run.py                 # full run on CPU, writes docs/benchmarks.md (0.5-1.5 min)
    python bench/run.py --quick         # fewer repeats, batch 64 only (10-40 s)
    python bench/run.py --device cuda   # GPU table (audiomentations stays on CPU: it is numpy)

For every operation and batch size (64 x 1 s and 1 x 1 s at 16 kHz) each implementation is built
once, warmed up, then timed in interleaved rounds (see :mod:`timing`); the table gives the median
and the inter-quartile range in milliseconds, ``audionoise / lower bound`` and
``peer / audionoise`` (above 1: audionoise is faster). The cost of building a fresh object and
calling it once (after imports) is reported separately, and so are import times.

The Markdown tables are printed and written to ``docs/benchmarks.md`` (only this device's section
is replaced, so the CPU and GPU tables can come from different machines).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: sibling modules
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # and the audionoise checkout

import lower_bounds as lb  # noqa: E402
import peers  # noqa: E402
from timing import Stats, first_call, interleaved, machine_description, timed_import  # noqa: E402

SR = 16000
SNR = (5.0, 20.0)  # dB, every SNR-based row
WAVE_MASK_S = 0.1  # waveform time mask: one mask up to 100 ms
SPEC_T, SPEC_F, SPEC_N = 20, 7, 2  # spectrogram masks: 2 x up to 20 frames, 2 x up to 7 of 40 bins
GAUSS_BANK_ROWS = 640  # opt-in white-noise buffer: 10 x a batch of 64 one-second rows

Maker = Callable[[], Callable[[], object]]


@dataclass
class Op:
    """One row of the table: an operation and, per implementation, a factory of a timed call."""

    key: str
    title: str
    makers: dict[str, Maker] = field(default_factory=dict)
    variants: dict[str, Maker] = field(default_factory=dict)  # extra lower-bound variants (best one wins)
    notes: dict[str, str] = field(default_factory=dict)


@dataclass
class Inputs:
    """The batch in every layout the implementations want, built once per batch size."""

    x: torch.Tensor  # (B, T) on device
    x3: torch.Tensor  # (B, 1, T) on device
    x_np: np.ndarray  # (B, T) float32 on host
    spec: torch.Tensor  # (B, 40, frames) log-Mel on device
    spec4: torch.Tensor  # (B, 1, 40, frames)
    spec_np: np.ndarray


def speech_like(batch: int, generator: torch.Generator) -> torch.Tensor:
    """Noise with a 4 Hz syllable-like envelope and 200 ms of silence at each end (RMS about 0.07)."""
    t = torch.arange(SR) / SR
    env = (0.5 + 0.5 * torch.sin(2 * torch.pi * 4.0 * t)).clamp_min(0.0)
    env[: SR // 5] = 0.0
    env[-SR // 5 :] = 0.0
    return 0.15 * torch.randn(batch, SR, generator=generator) * env


def make_inputs(batch: int, device: torch.device) -> Inputs:
    import torchaudio

    x = speech_like(batch, torch.Generator().manual_seed(batch))
    mel = torchaudio.transforms.MelSpectrogram(SR, n_fft=512, win_length=480, hop_length=160, n_mels=40)
    spec = torch.log(mel(x) + 1e-6)
    return Inputs(x.to(device), x[:, None].to(device), x.numpy().copy(), spec.to(device),
                  spec[:, None].to(device), spec.numpy().copy())


def make_noise_folders(root: Path, clips: int = 8, seconds: float = 5.0) -> dict[str, Path]:
    """Two folders of the same kind of noise: 16 kHz 16-bit WAV and 44.1 kHz Ogg Vorbis (ESC-50-like)."""
    from audionoise import io as aio

    g = torch.Generator().manual_seed(123)
    folders = {"wav16k": root / "noise_wav16k", "ogg44k": root / "noise_ogg44k"}
    for kind, folder in folders.items():
        folder.mkdir(parents=True)
        rate, ext = (16000, "wav") if kind == "wav16k" else (44100, "ogg")
        for i in range(clips):
            n = int(seconds * rate)
            noise = torch.cumsum(torch.randn(n, generator=g), 0)  # brown-ish, then high-passed a little
            noise = noise - torch.nn.functional.avg_pool1d(noise[None, None], 101, 1, 50, count_include_pad=False)[0, 0]
            noise = 0.3 * noise / noise.abs().max()
            aio.save(folder / f"noise_{i:02d}.{ext}", noise[None], rate)
    return folders


def gen(device: torch.device, seed: int = 0) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


# ---------------------------------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------------------------------
class Builder:
    """Builds the :class:`Op` rows for one batch; holds the libraries, inputs and noise folders."""

    def __init__(self, inp: Inputs, device: torch.device, libs: dict, folders: dict[str, Path],
                 banks: dict[str, lb.PreloadedBank]):
        self.inp, self.device, self.libs, self.folders, self.banks = inp, device, libs, folders, banks

    # -- helpers --------------------------------------------------------------------------------------------------
    def an(self, make_module: Callable[[], torch.nn.Module], spec: bool = False) -> Maker:
        x = self.inp.spec if spec else self.inp.x

        def make():
            t = make_module().to(self.device)
            g = gen(self.device)
            return lambda: t(x, generator=g)

        return make

    def am(self, make_transform: Callable[[], Callable]) -> Maker | None:
        if self.libs.get("audiomentations") is None:
            return None

        def make():
            t = make_transform()
            return lambda: peers.numpy_loop(t, self.inp.x_np, SR)

        return make

    def tam(self, make_transform: Callable[[], Callable]) -> Maker | None:
        if self.libs.get("torch_audiomentations") is None:
            return None

        def make():
            t = make_transform().to(self.device)
            return lambda: peers.tam_call(t, self.inp.x3, SR)

        return make

    def lower(self, fn: Callable[[torch.Generator], object]) -> Maker:
        def make():
            g = gen(self.device)
            return lambda: fn(g)

        return make

    # -- rows ---------------------------------------------------------------------------------------------------------
    def ops(self) -> list[Op]:
        return [self.white(), self.white_bank(), self.pink(), self.background("wav16k"), self.background("ogg44k"),
                self.time_mask(), self.spec_time(), self.spec_freq(), self.pipeline()]

    def white(self) -> Op:
        from audionoise.transforms import WhiteNoise

        am, tam, x = self.libs.get("audiomentations"), self.libs.get("torch_audiomentations"), self.inp.x
        op = Op("white", f"white noise @ SNR {SNR[0]:g}-{SNR[1]:g} dB")
        op.makers["audionoise"] = self.an(lambda: WhiteNoise(*SNR))
        op.makers["lower bound"] = self.lower(lambda g: lb.white_noise(x, *SNR, g))
        op.makers["audiomentations"] = self.am(lambda: am.AddGaussianSNR(*SNR, p=1.0))
        op.makers["torch-audiomentations"] = self.tam(lambda: tam.AddColoredNoise(
            *SNR, min_f_decay=0.0, max_f_decay=0.0, p=1.0, sample_rate=SR, output_type="dict"))
        op.notes["torch-audiomentations"] = "AddColoredNoise with f_decay 0"

        def ta_make():
            import torchaudio.functional as AF

            g = gen(self.device)
            return lambda: AF.add_noise(x, torch.randn(x.shape, generator=g, device=x.device),
                                        lb.uniform(x.shape[0], *SNR, g, x.device))

        op.makers["torchaudio"] = ta_make
        op.notes["torchaudio"] = "randn + functional.add_noise"
        return op

    def white_bank(self) -> Op:
        """WhiteNoise with the opt-in pre-generated Gaussian buffer (``bank_samples``): a gather, no randn."""
        from audionoise.transforms import WhiteNoise

        x, size = self.inp.x, GAUSS_BANK_ROWS * self.inp.x.shape[-1]
        op = Op("white_bank", f"white noise @ SNR, opt-in Gaussian bank ({GAUSS_BANK_ROWS} x 1 s)")

        def make_bank():
            gauss = torch.randn(size, generator=torch.Generator().manual_seed(0))
            return lb.PreloadedBank([gauss], x.shape[-1], self.device)

        bank = make_bank()
        op.makers["audionoise"] = self.an(lambda: WhiteNoise(*SNR, bank_samples=size))
        op.makers["lower bound"] = self.lower(lambda g: lb.background_noise(x, bank, *SNR, g))
        op.notes["lower bound"] = "random windows of a preloaded Gaussian buffer"
        return op

    def pink(self) -> Op:
        from audionoise.transforms import ColoredNoise

        am, tam, x = self.libs.get("audiomentations"), self.libs.get("torch_audiomentations"), self.inp.x
        op = Op("pink", "pink noise (1/f) @ SNR")
        op.makers["audionoise"] = self.an(lambda: ColoredNoise(*SNR, 1.0, 1.0))
        op.makers["lower bound"] = self.lower(lambda g: lb.colored_noise(x, *SNR, 1.0, g))
        op.makers["audiomentations"] = self.am(lambda: am.AddColorNoise(
            *SNR, min_f_decay=-3.01, max_f_decay=-3.01, p=1.0))
        op.makers["torch-audiomentations"] = self.tam(lambda: tam.AddColoredNoise(
            *SNR, min_f_decay=1.0, max_f_decay=1.0, p=1.0, sample_rate=SR, output_type="dict"))
        op.notes["torch-audiomentations"] = "1 s of noise tiled"
        return op

    def background(self, kind: str) -> Op:
        from audionoise.transforms import BackgroundNoise

        am, tam, x = self.libs.get("audiomentations"), self.libs.get("torch_audiomentations"), self.inp.x
        folder, bank = self.folders[kind], self.banks[kind]
        files = peers.noise_files(folder)
        label = "16 kHz WAV" if kind == "wav16k" else "44.1 kHz Ogg"
        op = Op(f"bg_{kind}", f"background @ SNR, folder of {label}")
        op.makers["audionoise"] = self.an(lambda: BackgroundNoise(str(folder), *SNR, sample_rate=SR))
        op.makers["lower bound"] = self.lower(lambda g: lb.background_noise(x, bank, *SNR, g))
        op.makers["audiomentations"] = self.am(lambda: am.AddBackgroundNoise(files, *SNR, p=1.0))
        op.makers["torch-audiomentations"] = self.tam(lambda: tam.AddBackgroundNoise(
            files, *SNR, p=1.0, sample_rate=SR, output_type="dict"))
        op.notes["torch-audiomentations"] = "re-reads files every call (shim)"

        def ta_make():
            import torchaudio.functional as AF

            g = gen(self.device)
            return lambda: AF.add_noise(x, bank.draw(x.shape[0], g), lb.uniform(x.shape[0], *SNR, g, x.device))

        op.makers["torchaudio"] = ta_make
        op.notes["torchaudio"] = "preloaded bank + functional.add_noise"
        return op

    def time_mask(self) -> Op:
        from audionoise.transforms import TimeMask

        am, x = self.libs.get("audiomentations"), self.inp.x
        width = int(WAVE_MASK_S * SR)
        op = Op("time_mask", f"waveform time mask (1 x <= {WAVE_MASK_S * 1000:g} ms)")
        op.makers["audionoise"] = self.an(lambda: TimeMask(WAVE_MASK_S, 1, sample_rate=SR))
        op.makers["lower bound"] = self.lower(lambda g: lb.time_mask_loop(x, width, g))
        op.variants["lower bound (vectorized)"] = self.lower(lambda g: lb.time_mask_vectorized(x, width, g))
        op.makers["audiomentations"] = self.am(lambda: am.TimeMask(0.0, WAVE_MASK_S, fade_duration=0.0, p=1.0))
        op.notes["audiomentations"] = "fade_duration=0"

        def ta_make():
            import torchaudio

            t = torchaudio.transforms.TimeMasking(width + 1, iid_masks=True)
            return lambda: t(self.inp.x3)

        op.makers["torchaudio"] = ta_make
        op.notes["torchaudio"] = "TimeMasking(iid_masks=True) on (B, 1, T)"
        return op

    def _spec_op(self, key: str, axis: int) -> Op:
        from audionoise.transforms import SpecFreqMask, SpecTimeMask

        spec, width = self.inp.spec, (SPEC_T if axis == -1 else SPEC_F)
        if axis == -1:
            op = Op(key, f"spectrogram time mask ({SPEC_N} x <= {SPEC_T} frames)")
            op.makers["audionoise"] = self.an(lambda: SpecTimeMask(SPEC_T, SPEC_N), spec=True)
        else:
            op = Op(key, f"spectrogram freq mask ({SPEC_N} x <= {SPEC_F} of 40 bins)")
            op.makers["audionoise"] = self.an(lambda: SpecFreqMask(SPEC_F, SPEC_N), spec=True)
        op.makers["lower bound"] = self.lower(lambda g: lb.spec_mask_vectorized(spec, width, SPEC_N, axis, g))
        op.variants["lower bound (loop)"] = self.lower(lambda g: lb.spec_mask_loop(spec, width, SPEC_N, axis, g))

        def ta_make():
            import torchaudio

            cls = torchaudio.transforms.TimeMasking if axis == -1 else torchaudio.transforms.FrequencyMasking
            t = cls(width + 1, iid_masks=True)

            def call():
                y = self.inp.spec4
                for _ in range(SPEC_N):
                    y = t(y)
                return y

            return call

        op.makers["torchaudio"] = ta_make
        op.notes["torchaudio"] = f"{cls_name(axis)}(iid_masks=True) x {SPEC_N}"
        am = self.libs.get("audiomentations")
        if axis == -2 and am is not None:

            def am_make():  # 0.43 still ships this module, but it no longer imports: reported as failed
                from audiomentations.spec_augmentations.spec_frequency_mask import SpecFrequencyMask

                ts = [SpecFrequencyMask(0.0, SPEC_F / 40, p=1.0) for _ in range(SPEC_N)]

                def call():
                    out = []
                    for s in self.inp.spec_np:
                        for t in ts:
                            s = t(s)
                        out.append(s)
                    return out

                return call

            op.makers["audiomentations"] = am_make
            op.notes["audiomentations"] = f"SpecFrequencyMask x {SPEC_N}"
        return op

    def spec_time(self) -> Op:
        return self._spec_op("spec_time", -1)

    def spec_freq(self) -> Op:
        return self._spec_op("spec_freq", -2)

    def pipeline(self) -> Op:
        """The waveform stage of ``audionoise train``'s default augmentation, in every library that has it.

        The stage is read from ``audionoise.kws.augment.default_pipeline_config`` (so the row follows the
        project's default); each waveform entry is mapped to the peers' equivalent and to a lower bound by
        :func:`peer_stage` and :func:`lower_stage`.
        """
        from audionoise.kws.augment import build_augmentation, default_pipeline_config

        am, tam, x = self.libs.get("audiomentations"), self.libs.get("torch_audiomentations"), self.inp.x
        folder = self.folders["wav16k"]
        entries = waveform_entries(default_pipeline_config(folder, SR))
        names = ", ".join(describe(e) for e in entries)
        op = Op("pipeline", f"default train pipeline, waveform stage: {names}")
        op.makers["audionoise"] = self.an(lambda: build_augmentation("default", noise_dir=folder).waveform)
        op.notes["audionoise"] = "kws.augment.build_augmentation('default').waveform, records off"
        gauss = {e["bank_samples"]: gaussian_bank(e["bank_samples"], x.shape[-1], self.device)
                 for e in entries if e["name"] == "WhiteNoise" and e.get("bank_samples")}
        bursts = {i: burst_bank(self.banks["wav16k"], e) for i, e in enumerate(entries) if e["name"] == "ShortNoises"}
        op.makers["lower bound"] = self.lower(lambda g: lower_stage(x, entries, self.banks["wav16k"], gauss, g,
                                                                    bursts))
        op.notes["lower bound"] = "p < 1: every row for shift/gain/background (same work), only the applied rows " \
                                  "for white/coloured noise and short noises on CPU; short noises: the mean count " \
                                  "of events at the mean duration, no fades"
        if any(e["name"] == "ShortNoises" for e in entries):
            op.notes["audiomentations"] = "AddShortNoises spaces its sounds by its own rules: a reference for cost, " \
                                          "not the same work"
        files = peers.noise_files(folder)
        for lib, module, impl in ((am, "am", "audiomentations"), (tam, "tam", "torch-audiomentations")):
            if lib is None:
                continue
            missing = [e["name"] for e in entries if peer_transform(module, lib, e, files) is None]
            if missing:
                op.notes[impl] = f"no equivalent of {', '.join(missing)}"
                continue
            if module == "am":
                op.makers[impl] = self.am(lambda lib=lib: lib.Compose(
                    [peer_transform("am", lib, e, files) for e in entries]))
            else:
                op.makers[impl] = self.tam(lambda lib=lib: lib.Compose(
                    [peer_transform("tam", lib, e, files) for e in entries], output_type="dict"))
        return op


def waveform_entries(config: dict) -> list[dict]:
    """The waveform transforms of a pipeline config (spectrogram ones run after the frontend)."""
    from audionoise.transforms import REGISTRY

    return [e for e in config["transforms"] if not getattr(REGISTRY.get(e["name"]), "spectrogram", True)]


def describe(entry: dict) -> str:
    p = entry.get("p", 1.0)
    return entry["name"] + ("" if p == 1.0 else f" p={p:g}")


def peer_transform(lib_name: str, lib, e: dict, files: list[str]):
    """The audiomentations (``"am"``) or torch-audiomentations (``"tam"``) equivalent of a config entry."""
    name, p = e["name"], e.get("p", 1.0)
    tam_kw = {"p": p, "sample_rate": SR, "output_type": "dict"}
    if name == "TimeShift":
        s, roll = e["max_shift_s"], e.get("mode", "roll") == "roll"
        if lib_name == "am":
            return lib.Shift(-s, s, shift_unit="seconds", rollover=roll, fade_duration=0.0, p=p)
        return lib.Shift(-s, s, shift_unit="seconds", rollover=roll, **tam_kw)
    if name == "Gain":
        if lib_name == "am":
            return lib.Gain(e["min_db"], e["max_db"], p=p)
        return lib.Gain(e["min_db"], e["max_db"], p=p, output_type="dict")
    if name == "BackgroundNoise":
        if lib_name == "am":
            return lib.AddBackgroundNoise(files, e["min_snr_db"], e["max_snr_db"], p=p)
        return lib.AddBackgroundNoise(files, e["min_snr_db"], e["max_snr_db"], **tam_kw)
    if name in ("WhiteNoise", "ColoredNoise"):
        lo, hi = (e.get("min_exponent", 0.0), e.get("max_exponent", 0.0)) if name == "ColoredNoise" else (0.0, 0.0)
        if lib_name == "am":
            if name == "WhiteNoise":
                return lib.AddGaussianSNR(e["min_snr_db"], e["max_snr_db"], p=p)
            return lib.AddColorNoise(e["min_snr_db"], e["max_snr_db"], min_f_decay=-3.0103 * hi,
                                     max_f_decay=-3.0103 * lo, p=p)
        return lib.AddColoredNoise(e["min_snr_db"], e["max_snr_db"], min_f_decay=lo, max_f_decay=hi, **tam_kw)
    if name == "ShortNoises" and lib_name == "am":
        return lib.AddShortNoises(files, min_snr_db=e["min_snr_db"], max_snr_db=e["max_snr_db"],
                                  min_time_between_sounds=e.get("min_duration_s", 0.1),
                                  max_time_between_sounds=e.get("max_duration_s", 0.5), p=p)
    return None


def gaussian_bank(samples: int, length: int, device: torch.device) -> lb.PreloadedBank:
    """A preloaded buffer of ``samples`` Gaussian values (what ``WhiteNoise(bank_samples=...)`` draws from)."""
    return lb.PreloadedBank([torch.randn(samples, generator=torch.Generator().manual_seed(0))], length, device)


def burst_bank(bank: lb.PreloadedBank, e: dict) -> lb.PreloadedBank:
    """The noise bank's clips in windows of a ``ShortNoises`` entry's mean burst duration."""
    d = int(round(0.5 * (e.get("min_duration_s", 0.1) + e.get("max_duration_s", 0.5)) * SR))
    sizes = (bank.spans + bank.length - 1).tolist()
    clips = [bank.bank[s:s + n] for s, n in zip(bank.starts.tolist(), sizes)]
    return lb.PreloadedBank(clips, d, bank.bank.device)


def lower_stage(x: torch.Tensor, entries: list[dict], bank: lb.PreloadedBank, gauss: dict[int, lb.PreloadedBank],
                g: torch.Generator, bursts: dict | None = None) -> torch.Tensor:
    """Lower bound of a waveform stage: the entries' arithmetic in order, on the rows they need.

    ``gauss`` maps ``bank_samples`` of a ``WhiteNoise`` entry to its preloaded Gaussian buffer, ``bursts`` the
    index of a ``ShortNoises`` entry to its bank in windows of the mean burst duration (:func:`burst_bank`).
    """
    for i, e in enumerate(entries):
        name = e["name"]
        if name == "TimeShift":
            shift = lb.time_shift_pad if e.get("mode", "roll") == "pad" else lb.time_shift_roll
            x = shift(x, int(round(e["max_shift_s"] * SR)), g)
        elif name == "Gain":
            x = lb.gain(x, e["min_db"], e["max_db"], g)
        elif name == "BackgroundNoise":
            x = lb.background_noise(x, bank, e["min_snr_db"], e["max_snr_db"], g)
        elif name in ("WhiteNoise", "ColoredNoise"):
            exponent = 0.5 * (e.get("min_exponent", 0.0) + e.get("max_exponent", 0.0))

            def noisy(rows: torch.Tensor) -> torch.Tensor:
                if name == "WhiteNoise" and e.get("bank_samples"):
                    return lb.background_noise(rows, gauss[e["bank_samples"]], e["min_snr_db"], e["max_snr_db"], g)
                if name == "WhiteNoise":
                    return lb.white_noise(rows, e["min_snr_db"], e["max_snr_db"], g)
                return lb.colored_noise(rows, e["min_snr_db"], e["max_snr_db"], exponent, g)

            x = lb.on_rows(x, e.get("p", 1.0), noisy, g)
        elif name == "ShortNoises":
            count = e.get("num_events", (1, 3))
            lo, hi = (count, count) if isinstance(count, int) else count
            events = max(1, round(0.5 * (lo + hi)))
            x = lb.on_rows(x, e.get("p", 1.0), lambda rows: lb.short_noises(
                rows, bursts[i], events, e["min_snr_db"], e["max_snr_db"], g), g)
        else:
            raise ValueError(f"no lower bound for {name}: add it to bench/run.py lower_stage")
    return x


def cls_name(axis: int) -> str:
    return "TimeMasking" if axis == -1 else "FrequencyMasking"


# ---------------------------------------------------------------------------------------------------------------
# KWS training step
# ---------------------------------------------------------------------------------------------------------------
def kws_cases(inp: Inputs, device: torch.device, folder: Path) -> tuple[dict[str, Maker], str]:
    """Makers for one training step and for the default augmentation of the same batch.

    The step mirrors ``audionoise.kws.train``: ``KeywordSpotter(ModelConfig(n_classes=12))`` (the training
    defaults), log-Mel frontend (``make_frontend``) + forward + cross-entropy with label smoothing 0.1 + backward +
    AdamW, bf16/fp16 autocast on CUDA. The augmentation is ``build_augmentation("default")``: its waveform stage on the batch,
    its spectrogram stage on the log-Mel of the batch.
    """
    from audionoise.kws.augment import build_augmentation, default_pipeline_config
    from audionoise.kws.model import KeywordSpotter, ModelConfig, init_weights, make_frontend

    config = ModelConfig(n_classes=12)
    spec_stage = [describe(e) for e in default_pipeline_config(folder, SR)["transforms"]
                  if e not in waveform_entries(default_pipeline_config(folder, SR))]
    label = (f"audionoise.kws KeywordSpotter ({config.arch}, width {config.width:g}, 12 classes); spectrogram stage "
             f"of the augmentation: {', '.join(spec_stage) or 'none'}")
    amp = None
    if device.type == "cuda":
        amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    labels = torch.randint(12, (inp.x.shape[0],), generator=torch.Generator().manual_seed(1)).to(device)
    x = inp.x

    def make_step():
        model = init_weights(KeywordSpotter(config), torch.Generator().manual_seed(0)).to(device).train()
        frontend = make_frontend(config).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

        def step():
            with torch.no_grad():
                features, _ = frontend(x)
            with torch.autocast(device_type=device.type, dtype=amp, enabled=amp is not None):
                loss = torch.nn.functional.cross_entropy(model(features).float(), labels, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss

        return step

    def make_aug():
        aug = build_augmentation("default", noise_dir=folder).to(device)
        with torch.no_grad():
            spec, frames = make_frontend(config).to(device)(x)
        g = gen(device)

        def augment():
            with torch.no_grad():
                return aug.apply_waveform(x, None, g)[0], aug.apply_spectrogram(spec, frames, g)

        return augment

    return {"training step": make_step, "augmentation": make_aug}, label


# ---------------------------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------------------------
PEERS = ("audiomentations", "torch-audiomentations", "torchaudio")
SHORT = {"audiomentations": "am", "torch-audiomentations": "tam", "torchaudio": "ta"}


def best_lower(op: Op, stats: dict, stat: str) -> tuple[Stats | None, str]:
    """The fastest lower-bound variant of a row (by ``stat``) and its label."""
    found = [(stats[(op.key, name)], name) for name in ["lower bound", *op.variants] if (op.key, name) in stats]
    if not found:
        return None, ""
    s, name = min(found, key=lambda item: getattr(item[0], stat))
    return s, ("" if name == "lower bound" else name.removeprefix("lower bound ").strip("()"))


def ratio(num: Stats | None, den: Stats | None, stat: str = "median") -> float | None:
    """``num / den`` of the given statistic (``median`` or ``min``); ``None`` if either is missing."""
    if num is None or den is None or getattr(den, stat) <= 0:
        return None
    return getattr(num, stat) / getattr(den, stat)


def fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}x" if r < 10 else f"{r:.0f}x"


def note_ref(notes: list[str], text: str) -> str:
    """`` [n]`` for ``text``, appending it to ``notes`` unless an identical note exists."""
    if text not in notes:
        notes.append(text)
    return f" [{notes.index(text) + 1}]"


def batch_table(res: dict, notes: list[str], stat: str) -> list[str]:
    """One Markdown table: ms per implementation, then the ratios of ``stat`` (median or min)."""
    stats, errors = res["stats"], res["errors"]
    head = ("| operation | audionoise | lower bound | " + " | ".join(PEERS) + " | an / lb | "
            + " | ".join(f"{SHORT[p]} / an" for p in PEERS) + " |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for op in res["ops"]:
        an = stats.get((op.key, "audionoise"))
        low, variant = best_lower(op, stats, stat)
        cells = []
        for impl in ("audionoise", "lower bound", *PEERS):
            s = low if impl == "lower bound" else stats.get((op.key, impl))
            if (op.key, impl) in errors:
                cells.append("failed" + note_ref(notes, f"{op.title} / {impl} failed: `{errors[(op.key, impl)]}`"))
            elif s is None:
                cells.append("—")
            else:
                mark = ""
                if impl == "lower bound" and variant:
                    mark = note_ref(notes, f"{op.title}: fastest lower bound is the {variant} variant")
                elif op.notes.get(impl):
                    mark = note_ref(notes, f"{op.title} / {impl}: {op.notes[impl]}")
                cells.append(s.cell() + mark)
        ratios = [fmt_ratio(ratio(an, low, stat))] + [fmt_ratio(ratio(stats.get((op.key, p)), an, stat))
                                                      for p in PEERS]
        lines.append(f"| {op.title} | " + " | ".join(cells + ratios) + " |")
    return lines


def first_call_table(res: dict) -> list[str]:
    impls = ("audionoise", "lower bound", *PEERS)
    lines = ["| operation | " + " | ".join(impls) + " |", "|---|" + "---|" * len(impls)]
    for op in res["ops"]:
        cells = [f"{res['first'][(op.key, i)]:.1f}" if (op.key, i) in res["first"] else "—" for i in impls]
        lines.append(f"| {op.title} | " + " | ".join(cells) + " |")
    return lines


def targets(res: dict, kws: dict, stat: str) -> list[str]:
    """The issue's CPU targets (batch 64): ratios of medians and of minima, pass/miss by ``stat``."""
    stats = res["stats"]
    ops = {op.key: op for op in res["ops"]}

    def r(key: str, impl: str, over_lb: bool) -> tuple[float | None, float | None]:
        if key not in ops:
            return None, None
        an = stats.get((key, "audionoise"))
        pair = (an, best_lower(ops[key], stats, stat)[0]) if over_lb else (stats.get((key, impl)), an)
        return ratio(*pair, stat="median"), ratio(*pair, stat="min")

    rows = [("white noise: audionoise / lower bound <= 1.3", r("white", "", True), 1.3, False),
            ("white noise: audiomentations / audionoise >= 3", r("white", "audiomentations", False), 3.0, True)]
    for kind, label in (("bg_wav16k", "16 kHz WAV"), ("bg_ogg44k", "44.1 kHz Ogg")):
        rows += [(f"background ({label}): audionoise / lower bound <= 1.5", r(kind, "", True), 1.5, False),
                 (f"background ({label}): audiomentations / audionoise >= 10", r(kind, "audiomentations", False),
                  10.0, True),
                 (f"background ({label}): torch-audiomentations / audionoise >= 20",
                  r(kind, "torch-audiomentations", False), 20.0, True)]
    rows.append(("waveform time mask: audionoise / lower bound <= 1.3", r("time_mask", "", True), 1.3, False))
    shares = tuple(None if v is None else 100 * v for v in (kws_share(kws, "median"), kws_share(kws, "min")))
    rows.append(("augmentation share of a KWS training step <= 5 %", shares, 5.0, False))
    lines = [f"| target | medians | minima | status ({'medians' if stat == 'median' else 'minima'}) |",
             "|---|---|---|---|"]
    for label, values, bound, at_least in rows:
        value = values[0] if stat == "median" else values[1]
        if value is None:
            lines.append(f"| {label} | — | — | not measured |")
            continue
        ok = value >= bound if at_least else value <= bound
        shown = [fmt_share(v / 100) if "share" in label else fmt_ratio(v) for v in values]
        lines.append(f"| {label} | {shown[0]} | {shown[1]} | {'met' if ok else 'MISSED'} |")
    slower = [f"{op.title} ({p})" for op in res["ops"] for p in PEERS
              if (v := ratio(stats.get((op.key, p)), stats.get((op.key, "audionoise")), stat)) is not None
              and v < 1.0]
    lines.append("")
    lines.append("Rows where a peer is faster than audionoise: " + ("; ".join(slower) if slower else "none") + ".")
    return lines


def kws_share(kws: dict, stat: str) -> float | None:
    """augmentation / (augmentation + training step), from the given statistic."""
    st = kws["stats"]
    if "augmentation" not in st or "training step" not in st:
        return None
    aug, step = getattr(st["augmentation"], stat), getattr(st["training step"], stat)
    return aug / (aug + step)


def fmt_share(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f} %"


def kws_table(kws: dict, batch: int) -> list[str]:
    st = kws["stats"]
    lines = [f"Model: {kws['model']}; batch {batch} x 1 s; step = log-Mel + forward + loss + backward + AdamW "
             "(as in `audionoise train`); augmentation = the default train augmentation: the waveform stage above "
             "on the batch + the spectrogram stage on its log-Mel. Share = augmentation / (augmentation + step).", "",
             "| training step, ms | augmentation, ms | share (medians) | share (minima) |", "|---|---|---|---|"]
    cells = [st[k].cell() if k in st else f"failed: {kws['errors'].get(k, '?')}"
             for k in ("training step", "augmentation")]
    lines.append(f"| {cells[0]} | {cells[1]} | {fmt_share(kws_share(kws, 'median'))} | "
                 f"{fmt_share(kws_share(kws, 'min'))} |")
    return lines


def render(results: dict, kws: dict, kws_batch: int, info: dict, lib_notes: dict, device: str,
           stat: str) -> str:
    """The device's Markdown section: machine, tables, targets, notes; ratios of ``stat``."""
    title = "CPU" if device == "cpu" else f"GPU ({info.get('gpu', device)})"
    out = [f"## {title}", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in info.items()]
    out += [f"| {k} | {v} |" for k, v in lib_notes.items()]
    notes: list[str] = []
    for batch, res in results.items():
        out += ["", f"### Batch {batch} x 1 s @ 16 kHz: median (inter-quartile range), ms per call; "
                    f"ratios of {'medians' if stat == 'median' else 'minima'}", ""]
        out += batch_table(res, notes, stat)
    first_batch = next(iter(results))
    if results[first_batch]["first"]:
        out += ["", f"### First call (fresh object + first call, batch {first_batch}, after imports), ms", ""]
        out += first_call_table(results[first_batch])
    out += ["", f"### Share of a KWS training step spent on augmentation ({title})", ""]
    out += kws_table(kws, kws_batch)
    if 64 in results:
        out += ["", f"### Targets (batch 64, {title}; the issue's targets are for CPU)", ""]
        out += targets(results[64], kws, stat)
    if notes:
        out += ["", "Notes:", ""] + [f"{i}. {n}" for i, n in enumerate(notes, 1)]
    return "\n".join(out) + "\n"


INTRO = """# Benchmarks

Generated by `python bench/run.py` (method and options: `bench/README.md`); each run rewrites the section
of its device between the `bench:` markers and keeps the others.

Each row does the same work in every column: a batch of 1 s clips at 16 kHz, SNR drawn per example in
5-20 dB, noise scaled to the exact SNR where the library does so. *lower bound* is the least hand-written
torch code that does the same arithmetic (`bench/lower_bounds.py`): no validation, no records, no `lengths`,
noise bank already decoded. Ratios: `an / lb` is audionoise's overhead over that bound (1.0 = none);
`am / an`, `tam / an`, `ta / an` are how many times slower audiomentations 0.43, torch-audiomentations 0.12
(run through a small compatibility shim) and the torchaudio equivalent are than audionoise (above 1:
audionoise is faster). Ratio columns compare minima unless the section says otherwise: other processes on a
shared machine only add time. Times move up to 2x between runs on shared machines: compare ratios from the
same run only.
"""


def update_doc(path: Path, device: str, section: str) -> None:
    """Replace this device's section of the Markdown file (between its markers), keeping the others."""
    begin, end = f"<!-- bench:{device}:begin -->", f"<!-- bench:{device}:end -->"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    sections = {}
    for dev in ["cpu", "cuda"] + re.findall(r"<!-- bench:([\w-]+):begin -->", old):  # other benchmarks' too
        b, e = f"<!-- bench:{dev}:begin -->", f"<!-- bench:{dev}:end -->"
        if b in old and e in old:
            sections[dev] = old[old.index(b): old.index(e) + len(e)]
    sections[device] = f"{begin}\n{section}{end}"
    body = INTRO + "\n" + "\n\n".join(sections.values()) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------------------------
def probe(make: Maker, device: torch.device, measure_first: bool = True
          ) -> tuple[Callable | None, float | None, str | None, float]:
    """Build the timed instance and call it once (errors surface here, not in the timed rounds).

    Returns ``(fn, first_call_ms, error, seconds of fn's first call)``; with ``measure_first`` a
    separate fresh instance is built and called first to measure the first-call cost.
    """
    try:
        ms = first_call(make, device) if measure_first else None
        fn = make()
        start = time.perf_counter()
        fn()
        return fn, ms, None, time.perf_counter() - start
    except Exception as exc:  # a broken case is reported in the table, the run goes on
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return None, None, detail[:200], 0.0


def run_batch(builder: Builder, args, device: torch.device, with_first_call: bool) -> dict:
    """Time every implementation of every op for one batch size, interleaved."""
    calls, first, errors, rows, known = {}, {}, {}, [], {}
    for op in builder.ops():
        rows.append(op)
        for impl, make in list(op.makers.items()) + list(op.variants.items()):
            if make is None:
                continue
            fn, ms, err, seconds = probe(make, device, with_first_call)
            if err is not None:
                errors[(op.key, impl)] = err
                continue
            calls[f"{op.key}|{impl}"] = fn
            known[f"{op.key}|{impl}"] = seconds
            if with_first_call:
                first[(op.key, impl)] = ms
    stats = interleaved(calls, repeats=args.repeats, warmup=args.warmup, device=device,
                        max_case_s=args.max_case_s, min_rounds=2 if args.quick else 3, known_s=known)
    table = {tuple(k.split("|", 1)): v for k, v in stats.items()}
    return {"ops": rows, "stats": table, "first": first, "errors": errors}


def run_kws(inp: Inputs, device: torch.device, folder: Path, args) -> dict:
    """Time a training step and the augmentation of the same batch, interleaved (no first-call probe)."""
    makers, label = kws_cases(inp, device, folder)
    calls, errors = {}, {}
    for name, make in makers.items():
        try:
            calls[name] = make()
        except Exception as exc:  # reported in the KWS table
            errors[name] = traceback.format_exception_only(type(exc), exc)[-1].strip()[:200]
    repeats = 2 if args.quick else max(3, args.repeats // 3)
    stats = interleaved(calls, repeats=repeats, warmup=1, device=device) if calls else {}
    return {"stats": stats, "errors": errors, "model": label}


def load_average() -> float:
    """1-minute load average (0.0 where the OS does not report it)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def load_libraries() -> tuple[dict, dict[str, str]]:
    """Import audionoise and the peers (timed); failures become notes in the report."""
    libs, notes = {}, {}
    for name in ("audionoise", "audiomentations"):
        module, ms, err = timed_import(name)
        libs[name] = module
        notes[name] = f"import {ms:.0f} ms" if err is None else f"import failed: {err}"
    module, note = peers.load_torch_audiomentations()
    libs["torch_audiomentations"], notes["torch_audiomentations"] = module, note
    return libs, notes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="few repeats, batch 64 only, short KWS timing")
    p.add_argument("--repeats", type=int, default=None, help="timed rounds per case (default 25, quick 5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed rounds before timing")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (batches above 1)")
    p.add_argument("--batch1-threads", type=int, default=1,
                   help="torch threads of the batch-1 rows: the per-item Dataset pattern runs in DataLoader workers, "
                        "which torch sets to 1 thread")
    p.add_argument("--batches", default=None, help="comma-separated batch sizes (default 64,1; quick 64)")
    p.add_argument("--max-case-s", type=float, default=2.0,
                   help="time budget per case: slow cases get fewer samples (at least 3)")
    p.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"),
                   help="Markdown file to update")
    p.add_argument("--no-write", action="store_true", help="print only, do not update --output")
    p.add_argument("--ratio-stat", choices=("min", "median"), default="min",
                   help="statistic the ratio columns compare: the minimum is the least disturbed sample on a "
                        "shared machine (other processes only ever add time); use median on a quiet machine")
    args = p.parse_args(argv)
    if args.repeats is None:
        args.repeats = 5 if args.quick else 25
    if args.quick:
        args.warmup = min(args.warmup, 1)
        args.max_case_s = min(args.max_case_s, 0.6)
    if args.batches is None:
        args.batches = "64" if args.quick else "64,1"
    args.batch_sizes = [int(b) for b in args.batches.split(",")]
    if args.repeats < 1 or args.warmup < 0:
        p.error(f"--repeats ({args.repeats}) must be >= 1 and --warmup ({args.warmup}) >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA device visible; run on a GPU machine or use --device cpu", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    from audionoise.runtime import keep_freed_memory

    keep_freed_memory()  # the same allocator settings for every library in this process
    warnings.simplefilter("ignore")  # peers warn on every call (resampling, deprecated output_type)
    random.seed(0)  # the peers draw from Python's and numpy's global RNGs; seeded here, in the benchmark only
    np.random.seed(0)
    start = time.perf_counter()
    load_start = load_average()
    libs, lib_notes = load_libraries()
    if libs["audionoise"] is None:
        print(f"cannot import audionoise: {lib_notes['audionoise']}", file=sys.stderr)
        return 1
    results = {}
    with tempfile.TemporaryDirectory(prefix="audionoise-bench-") as tmp:
        os.environ["AUDIONOISE_CACHE_DIR"] = os.path.join(tmp, "noisebank-cache")  # banks built here: not ~/.cache
        folders = make_noise_folders(Path(tmp))
        from audionoise import io as aio

        for batch in args.batch_sizes:
            inp = make_inputs(batch, device)
            banks = {k: lb.PreloadedBank([aio.load(p, sample_rate=SR, mono=True)[0] for p in
                                          map(Path, peers.noise_files(f))], SR, device) for k, f in folders.items()}
            builder = Builder(inp, device, libs, folders, banks)
            torch.set_num_threads(args.batch1_threads if batch == 1 else args.threads)
            first = batch == args.batch_sizes[0] and not args.quick
            results[batch] = run_batch(builder, args, device, with_first_call=first)
            print(f"batch {batch}: done at {time.perf_counter() - start:.0f} s", file=sys.stderr)
        torch.set_num_threads(args.threads)
        kws_batch = 64 if 64 in args.batch_sizes else args.batch_sizes[0]
        kws = run_kws(make_inputs(kws_batch, device), device, folders["wav16k"], args)
    elapsed = time.perf_counter() - start
    info = machine_description(device)
    info["run"] = (f"{'quick' if args.quick else 'full'}: {args.repeats} interleaved repeats, {args.warmup} warm-up, "
                   f"{elapsed:.0f} s wall; batch-1 rows at {args.batch1_threads} torch thread(s)")
    info["load average (1 min) at start / end"] = f"{load_start:.2f} / {load_average():.2f}"
    spare = (os.cpu_count() or 1) - args.threads  # cores left for other processes
    if load_start > max(0.5, spare + 0.5):
        info["warning"] = (f"other processes were running (load {load_start:.2f} on {os.cpu_count()} CPUs with "
                           f"{args.threads} torch threads): multi-threaded ops stall when a thread is descheduled, "
                           "so times are inflated and ratios noisy; re-run on a quiet machine or with fewer --threads")
    md = render(results, kws, kws_batch, info, lib_notes, device.type, args.ratio_stat)
    print(md)
    if not args.no_write:
        update_doc(Path(args.output), device.type, md)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
