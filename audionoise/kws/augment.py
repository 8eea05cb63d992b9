"""Training-time augmentation for keyword spotting: the ``default`` pipeline and how it is built.

The default recipe (multi-condition training) draws, per example and in this order:

=================  ========================================================================
TimeShift          +-100 ms, zero-filled ("pad"), like the TensorFlow Speech Commands recipe
BackgroundNoise    recorded noise at SNR U(-5, 20) dB on 80% of the clips
WhiteNoise         SNR U(0, 30) dB on 30% of the clips (sensor/hiss noise), random windows of a
                   pre-drawn 2^20-sample Gaussian bank (a gather instead of fresh randn: 1.5x cheaper)
SpecWarp           log-Mel stretched by U(0.9, 1.1) in frequency (vocal-tract length, VTLP) and
                   U(0.85, 1.15) in time (speaking rate) on 80% of the clips
SpecTimeMask       2 masks of up to 10 frames (100 ms) on the log-Mel
SpecFreqMask       2 masks of up to 5 of the 40 Mel bins
=================  ========================================================================

Spectrogram transforms (those with ``spectrogram = True``) run after the log-Mel frontend; all others run
on the waveform batch, on the training device, from one explicit ``torch.Generator``.

There is no ``Gain``: the frontend's per-utterance normalisation makes the features invariant to the input
level (a gain is a constant in the log domain, removed with the per-bin mean), and every noise is mixed at an
SNR relative to the speech, so a random gain would change nothing but the cost of a step.

Example:
    >>> cfg = default_pipeline_config("data/noise")
    >>> [t["name"] for t in cfg["transforms"]][:3]
    ['TimeShift', 'BackgroundNoise', 'WhiteNoise']
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audionoise import assets
from audionoise.transforms.base import Injector, Params, bernoulli, check_number, uniform

__all__ = [
    "Augmentation",
    "SpecWarp",
    "build_augmentation",
    "default_pipeline_config",
    "offline_training_set",
    "resolve_noise_dir",
    "split_config",
    "warp_spectrogram",
]

#: the noise clips shipped in the package (audionoise.assets), the last fallback of the default pipeline
BUNDLED_NOISE_DIR = assets.noise_dir()


def default_pipeline_config(noise_dir: str | os.PathLike, sample_rate: int = 16000) -> dict[str, Any]:
    """The ``default`` augmentation pipeline as a config dict (same schema as a pipeline TOML).

    Args:
        noise_dir: Folder of background-noise recordings for ``BackgroundNoise``.
        sample_rate: Sample rate of the training clips.
    """
    return {
        "sample_rate": int(sample_rate),
        "transforms": [
            {"name": "TimeShift", "max_shift_s": 0.1, "sample_rate": int(sample_rate), "mode": "pad"},
            {"name": "BackgroundNoise", "noise": str(noise_dir), "min_snr_db": -5.0, "max_snr_db": 20.0,
             "sample_rate": int(sample_rate), "p": 0.8},
            {"name": "WhiteNoise", "min_snr_db": 0.0, "max_snr_db": 30.0, "p": 0.3, "bank_samples": 1 << 20},
            {"name": "SpecWarp", "max_freq_warp": 0.1, "max_time_warp": 0.15, "p": 0.8},
            {"name": "SpecTimeMask", "max_width": 10, "num_masks": 2},
            {"name": "SpecFreqMask", "max_width": 5, "num_masks": 2},
        ],
    }


def warp_spectrogram(spec: Tensor, freq_scale: Tensor, time_scale: Tensor) -> Tensor:
    """Stretch each spectrogram ``(batch, freq, frames)`` along both axes, anchored at bin 0 and frame 0.

    Output bin ``f`` and frame ``t`` take the (bilinearly interpolated) input at ``f / freq_scale`` and
    ``t / time_scale``: a scale above 1 moves content to higher bins (a shorter vocal tract) or later frames
    (slower speech); what falls outside the input is 0 (the mean of normalised features).

    Example:
        >>> s = torch.arange(4.0).repeat(1, 2, 1)  # (1, 2, 4): frames 0 1 2 3
        >>> warp_spectrogram(s, torch.tensor([1.0]), torch.tensor([2.0]))[0, 0]
        tensor([0.0000, 0.5000, 1.0000, 1.5000])
    """
    b, f, t = spec.shape
    dev, dtype = spec.device, spec.dtype
    # normalised output coordinates in [-1, 1] (align_corners=True: -1 and 1 are the first/last bin centres)
    v = torch.linspace(-1.0, 1.0, f, device=dev, dtype=dtype) if f > 1 else torch.full((1,), -1.0, device=dev)
    u = torch.linspace(-1.0, 1.0, t, device=dev, dtype=dtype) if t > 1 else torch.full((1,), -1.0, device=dev)
    fs = freq_scale.to(dev, dtype).view(b, 1, 1)
    ts = time_scale.to(dev, dtype).view(b, 1, 1)
    y_in = (v.view(1, f, 1) + 1.0) / fs - 1.0
    x_in = (u.view(1, 1, t) + 1.0) / ts - 1.0
    grid = torch.stack(torch.broadcast_tensors(x_in, y_in), dim=-1)  # (b, f, t, 2) as (x=time, y=freq)
    out = F.grid_sample(spec.unsqueeze(1), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.squeeze(1)


@dataclass(frozen=True)
class WarpParams(Params):
    """``freq_scale`` and ``time_scale`` per example, ``(batch,)``."""

    freq_scale: Tensor
    time_scale: Tensor


class SpecWarp(Injector):
    """Random frequency and time stretch of a spectrogram ``(batch, freq, frames)`` (see :func:`warp_spectrogram`).

    Per example: ``freq_scale ~ U(1 - max_freq_warp, 1 + max_freq_warp)`` (vocal-tract length perturbation,
    VTLP) and ``time_scale ~ U(1 - max_time_warp, 1 + max_time_warp)`` (speaking rate). Examples not applied
    are returned bit for bit.

    Example:
        >>> t = SpecWarp(0.1, 0.15)
        >>> t(torch.randn(2, 40, 101), generator=torch.Generator().manual_seed(0)).shape
        torch.Size([2, 40, 101])
    """

    spectrogram = True

    def __init__(self, max_freq_warp: float = 0.1, max_time_warp: float = 0.15, p: float = 1.0) -> None:
        super().__init__(p)
        check_number("max_freq_warp", max_freq_warp, lo_bound=0.0)
        check_number("max_time_warp", max_time_warp, lo_bound=0.0)
        if max_freq_warp >= 1 or max_time_warp >= 1:
            raise ValueError(f"max_freq_warp ({max_freq_warp}) and max_time_warp ({max_time_warp}) must be < 1, "
                             f"e.g. 0.1")
        self.max_freq_warp, self.max_time_warp = float(max_freq_warp), float(max_time_warp)

    def sample(self, x: Tensor, lengths: Tensor | None = None,
               generator: torch.Generator | None = None) -> WarpParams:
        xb, _, _ = self._prepare(x, lengths)
        b = xb.shape[0]
        applied = bernoulli(b, self.p, generator)
        fs = uniform(b, 1.0 - self.max_freq_warp, 1.0 + self.max_freq_warp, generator)
        ts = uniform(b, 1.0 - self.max_time_warp, 1.0 + self.max_time_warp, generator)
        return WarpParams(applied=applied, freq_scale=fs, time_scale=ts)

    def apply(self, x: Tensor, params: Params, lengths: Tensor | None = None) -> Tensor:
        xb, single, _ = self._prepare(x, lengths)
        flat = xb.reshape(-1, *xb.shape[-2:])
        reps = flat.shape[0] // xb.shape[0]
        warped = warp_spectrogram(flat, params.freq_scale.repeat_interleave(reps),
                                  params.time_scale.repeat_interleave(reps)).reshape(xb.shape)
        keep = params.applied.to(xb.device).view(-1, *([1] * (xb.dim() - 1)))
        y = torch.where(keep, warped, xb)
        return y[0] if single else y


def _has_audio(folder: Path) -> bool:
    from audionoise.io import AUDIO_EXTENSIONS

    return folder.is_dir() and any(p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS for p in folder.rglob("*"))


def resolve_noise_dir(noise_dir: str | os.PathLike | None, data_root: str | os.PathLike | None) -> Path:
    """Noise folder of the default pipeline: ``noise_dir``, else ``data_root/_background_noise_``, else the
    noise clips bundled with the package (:func:`audionoise.assets.noise_dir`).

    Raises:
        ValueError: ``noise_dir`` is given but holds no audio, or no fallback holds any.
    """
    if noise_dir is not None:
        path = Path(noise_dir)
        if not _has_audio(path):
            raise ValueError(f"noise_dir {str(path)!r} holds no audio files (wav, flac, ogg, ...); pass a folder "
                             f"of noise recordings")
        return path
    candidates = []
    if data_root is not None:
        candidates.append(Path(data_root) / "_background_noise_")
    candidates.append(BUNDLED_NOISE_DIR)
    for path in candidates:
        if _has_audio(path):
            return path
    raise ValueError(f"the default augmentation needs background noise but none of {[str(c) for c in candidates]} "
                     f"holds audio; pass --noise-dir DIR (noise_dir) or --augment none")


@dataclass
class Augmentation:
    """The two stages of a training augmentation pipeline.

    Attributes:
        waveform: Module applied to the ``(batch, channels, time)`` waveform batch, or ``None``.
        spectrogram: Module applied to the ``(batch, freq, frames)`` log-Mel batch, or ``None``.
        config: The pipeline config it was built from (``None`` for no augmentation).
    """

    waveform: nn.Module | None
    spectrogram: nn.Module | None
    config: dict[str, Any] | None

    def to(self, device: torch.device | str) -> "Augmentation":
        for m in (self.waveform, self.spectrogram):
            if m is not None:
                m.to(device)
        return self

    @staticmethod
    def _call(module: nn.Module, x: Tensor, lengths: Tensor | None, generator: torch.Generator) -> Tensor:
        out = module(x, lengths=lengths, generator=generator)
        return out[0] if isinstance(out, tuple) else out

    def apply_waveform(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator) -> Tensor:
        return x if self.waveform is None else self._call(self.waveform, x, lengths, generator)

    def apply_spectrogram(self, spec: Tensor, frame_lengths: Tensor | None, generator: torch.Generator) -> Tensor:
        return spec if self.spectrogram is None else self._call(self.spectrogram, spec, frame_lengths, generator)


def _split(pipeline: nn.Module) -> tuple[list[nn.Module], list[nn.Module]]:
    """Top-level transforms of a pipeline, split into (waveform, spectrogram) stages, order kept."""
    children = list(getattr(pipeline, "transforms", [pipeline]))
    wave = [t for t in children if not getattr(t, "spectrogram", False)]
    spec = [t for t in children if getattr(t, "spectrogram", False)]
    for t in spec:
        inner = [m for m in t.modules() if m is not t and hasattr(m, "sample")]
        if inner and not all(getattr(m, "spectrogram", False) for m in inner):
            raise ValueError(f"{type(t).__name__} mixes waveform and spectrogram transforms; keep SpecTimeMask/"
                             f"SpecFreqMask in their own entries of the pipeline")
    if spec and getattr(pipeline, "p", 1.0) != 1.0:
        raise ValueError(f"a pipeline with spectrogram masks cannot have a top-level p ({pipeline.p}); set p on "
                         f"the transforms instead")
    return wave, spec


def build_augmentation(
    augment: str | os.PathLike | None,
    *,
    noise_dir: str | os.PathLike | None = None,
    data_root: str | os.PathLike | None = None,
    sample_rate: int = 16000,
) -> Augmentation:
    """Build the training augmentation from ``"default"``, ``"none"`` or a pipeline TOML path.

    Waveform transforms and spectrogram transforms (``SpecTimeMask``/``SpecFreqMask``) of the pipeline are
    split into two stages, each a ``Compose`` (``None`` when empty). A pipeline TOML whose ``sample_rate``
    differs from ``sample_rate`` is rejected.

    Example:
        >>> aug = build_augmentation("none")
        >>> aug.waveform is None and aug.spectrogram is None
        True
    """
    from audionoise import Compose, load_pipeline, pipeline_config  # lazy: keeps `import audionoise.kws` light

    if augment is None or str(augment) == "none":
        return Augmentation(None, None, None)
    if str(augment) == "default":
        pipeline = load_pipeline(default_pipeline_config(resolve_noise_dir(noise_dir, data_root), sample_rate))
    else:
        path = Path(augment)
        if not path.is_file():
            raise ValueError(f"augment {str(augment)!r} is neither 'default', 'none' nor an existing pipeline "
                             f"TOML file")
        pipeline = load_pipeline(path)
    rates = {int(m.sample_rate) for m in pipeline.modules() if hasattr(m, "sample_rate") and hasattr(m, "sample")}
    if rates - {int(sample_rate)}:
        raise ValueError(f"pipeline sample_rate {sorted(rates)} differs from the data's sample_rate ({sample_rate}); "
                         f"set sample_rate = {sample_rate} in {augment}")
    config = pipeline_config(pipeline)
    wave, spec = _split(pipeline)
    if not spec:
        return Augmentation(pipeline, None, config)
    return Augmentation(Compose(wave) if wave else None, Compose(spec), config)


SPECTROGRAM_TRANSFORMS = ("SpecTimeMask", "SpecFreqMask")


def split_config(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a pipeline config dict into (waveform-only, spectrogram-only) configs, order kept.

    Example:
        >>> wave, spec = split_config(default_pipeline_config("data/noise"))
        >>> [t["name"] for t in spec["transforms"]]
        ['SpecTimeMask', 'SpecFreqMask']
    """
    top = {k: v for k, v in config.items() if k != "transforms"}
    entries = config.get("transforms", [])
    wave = [t for t in entries if t.get("name") not in SPECTROGRAM_TRANSFORMS]
    spec = [t for t in entries if t.get("name") in SPECTROGRAM_TRANSFORMS]
    return {**top, "transforms": wave}, {**top, "transforms": spec}


def _link(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (copy when linking is impossible); keep an existing ``dst``."""
    if dst.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def offline_training_set(
    data: str | os.PathLike,
    out: str | os.PathLike,
    pipeline: str | os.PathLike | dict[str, Any],
    *,
    copies: int = 2,
    workers: int = 1,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Build ``out/kws``: a Speech-Commands-layout copy of ``data`` whose *training* clips are augmented offline.

    Training clips (those in neither split list) get ``copies`` augmented versions each, written by
    :func:`audionoise.offline.augment_folder` as ``<word>/<speaker>_nohash_<n>_aug<k>.wav`` (deterministic from
    ``seed``, resumable); the original clips, split lists and ``_background_noise_`` are hard-linked (copied
    where links are impossible), so validation and test clips stay clean and are never augmented. Calling it
    again finishes an interrupted build and skips what exists.

    Args:
        data: Speech-Commands-layout folder (read only).
        out: Output folder; ``out/kws`` is the new data root.
        pipeline: Waveform pipeline (TOML path or config dict); spectrogram masks are not allowed offline.
        copies: Augmented versions per training clip.
        workers: Processes for the offline augmentation.
        seed: Seed of the offline augmentation.
        progress: Show a progress bar.

    Returns:
        The new data root ``out/kws``.
    """
    from audionoise.kws.data import BACKGROUND_FOLDER
    from audionoise.offline import augment_folder

    data, out = Path(data), Path(out)
    lists = {}
    for name in ("validation_list.txt", "testing_list.txt"):
        if not (data / name).is_file():
            raise ValueError(f"{data / name} is missing; {str(data)!r} must be a Speech-Commands-layout folder")
        lists[name] = {line.strip() for line in (data / name).read_text().splitlines() if line.strip()}
    held_out = lists["validation_list.txt"] | lists["testing_list.txt"]
    root, staging = out / "kws", out / "staging"
    clips = sorted(p.relative_to(data).as_posix() for d in data.iterdir()
                   if d.is_dir() and not d.name.startswith(("_", ".")) for p in d.iterdir() if p.is_file())
    for rel in clips:
        if rel not in held_out:
            _link(data / rel, staging / rel)
    summary = augment_folder(staging, root, pipeline, copies=copies, workers=workers, seed=seed, resume=True,
                             progress=progress)
    if summary.failed:
        raise ValueError(f"offline augmentation failed for {summary.failed} clip(s); see {summary.errors}")
    for rel in clips:
        _link(data / rel, root / rel)
    for name in lists:
        _link(data / name, root / name)
    background = data / BACKGROUND_FOLDER
    if background.is_dir():
        for p in background.iterdir():
            if p.is_file():
                _link(p, root / BACKGROUND_FOLDER / p.name)
    shutil.rmtree(staging)
    return root
