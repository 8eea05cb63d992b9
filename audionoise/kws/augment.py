"""Training-time augmentation for keyword spotting: the ``default`` pipeline and how it is built.

The default recipe (multi-condition training) draws, per example and in this order:

=================  ========================================================================
TimeShift          +-100 ms, zero-filled ("pad"), like the TensorFlow Speech Commands recipe
BackgroundNoise    recorded noise at SNR U(-5, 20) dB on 80% of the clips
ShortNoises        on 40% of the clips, 1-5 foreground events (20-500 ms windows of the same noise
                   folder, 2 ms fades) at U(-10, 10) dB over each event's own span: transients (clicks,
                   knocks, clatter, a door) on top of the background
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
    >>> [t["name"] for t in cfg["transforms"]][:4]
    ['TimeShift', 'BackgroundNoise', 'ShortNoises', 'WhiteNoise']
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from audionoise import assets
from audionoise.plan import apply_plan, augment, sample_plan
from audionoise.functional.warp import warp_spectrogram
from audionoise.transforms.warp import SpecWarp

__all__ = [
    "Augmentation",
    "SpecWarp",
    "build_augmentation",
    "default_pipeline_config",
    "generated_noise_dir",
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
            {"name": "ShortNoises", "noise": str(noise_dir), "min_snr_db": -10.0, "max_snr_db": 10.0,
             "sample_rate": int(sample_rate), "min_duration_s": 0.02, "max_duration_s": 0.5, "num_events": [1, 5],
             "fade_s": 0.002, "p": 0.4},
            {"name": "WhiteNoise", "min_snr_db": 0.0, "max_snr_db": 30.0, "p": 0.3, "bank_samples": 1 << 20},
            {"name": "SpecWarp", "max_freq_warp": 0.1, "max_time_warp": 0.15, "p": 0.8},
            {"name": "SpecTimeMask", "max_width": 10, "num_masks": 2},
            {"name": "SpecFreqMask", "max_width": 5, "num_masks": 2},
        ],
    }


def _has_audio(folder: Path) -> bool:
    from audionoise.io import AUDIO_EXTENSIONS

    return folder.is_dir() and any(p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS for p in folder.rglob("*"))


def generated_noise_dir() -> Path | None:
    """The default training-noise bank (:func:`audionoise.synth.noise_bank.ensure_training_noise`: nine families of
    procedural noise, built on first use in the user cache, under a minute), or ``None`` when its generator cannot
    run here (the ``[kws]`` extra's speech synthesiser is missing)."""
    try:
        from audionoise.synth.noise_bank import ensure_training_noise

        return ensure_training_noise()
    except ImportError as exc:  # MissingExtraError too
        import warnings

        warnings.warn(f"cannot generate the default training-noise bank ({exc}); the default augmentation falls back "
                      f"to the {len(list(BUNDLED_NOISE_DIR.iterdir()))} short noise clips shipped in the package",
                      stacklevel=2)
        return None


def resolve_noise_dir(noise_dir: str | os.PathLike | None, data_root: str | os.PathLike | None,
                      generate: bool = True) -> Path:
    """Noise folder of the default pipeline: ``noise_dir``, else ``data_root/_background_noise_``, else (with
    ``generate``) the generated training-noise bank (:func:`generated_noise_dir`), else the four noise clips
    bundled with the package (:func:`audionoise.assets.noise_dir`).

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
        if _has_audio(candidates[-1]):
            return candidates[-1]
    if generate:
        bank = generated_noise_dir()
        if bank is not None and _has_audio(bank):
            return bank
    candidates.append(BUNDLED_NOISE_DIR)
    if _has_audio(BUNDLED_NOISE_DIR):
        return BUNDLED_NOISE_DIR
    raise ValueError(f"the default augmentation needs background noise but none of {[str(c) for c in candidates]} "
                     f"holds audio; pass --noise-dir DIR (noise_dir) or --augment none")


def clean_rows(batch: int, share: float, generator: torch.Generator) -> Tensor:
    """A ``(batch,)`` bool mask with exactly ``round(share * batch)`` True rows, chosen by ``generator``.

    Example:
        >>> int(clean_rows(10, 0.3, torch.Generator().manual_seed(0)).sum())
        3
    """
    rows = torch.randperm(batch, generator=generator, device=generator.device)[: round(share * batch)]
    mask = torch.zeros(batch, dtype=torch.bool, device=generator.device)
    mask[rows] = True
    return mask


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

    def apply_waveform(self, x: Tensor, lengths: Tensor | None, generator: torch.Generator,
                       clean_share: float = 0.0) -> tuple[Tensor, Tensor | None]:
        """The waveform stage: ``(y, lengths)``, the lengths changed by length-changing transforms (speed
        perturbation: ``y`` is then zero-padded to the longest new length).

        ``round(clean_share * batch)`` rows (drawn from ``generator`` after the pipeline's plan) are left out of
        the plan: they come back as they are, with their own lengths.
        """
        if self.waveform is None or clean_share >= 1.0:
            return x, lengths
        plan = sample_plan(self.waveform, x, lengths, generator)
        if clean_share > 0.0:
            plan = plan.restrict(~clean_rows(x.shape[0], clean_share, generator))
        out = apply_plan(x, plan, lengths, record=False, owned=True)
        return out.audio, out.lengths

    def apply_spectrogram(self, spec: Tensor, frame_lengths: Tensor | None, generator: torch.Generator) -> Tensor:
        if self.spectrogram is None:
            return spec
        return augment(self.spectrogram, spec, frame_lengths, generator, record=False).audio


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
    from audionoise import Compose, load_pipeline, pipeline_config, split_stages  # lazy: light `import .kws`

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
    wave, spec = split_stages(pipeline)
    if not spec:
        return Augmentation(pipeline, None, config)
    return Augmentation(Compose(wave) if wave else None, Compose(spec), config)


def split_config(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a pipeline config dict into (waveform-only, spectrogram-only) configs, order kept.

    Like :func:`audionoise.split_stages` for modules, each registered transform's own ``spectrogram``
    declaration decides (:func:`audionoise.pipeline.entry_is_spectrogram`), so no list of names is kept here.

    Example:
        >>> wave, spec = split_config(default_pipeline_config("data/noise"))
        >>> [t["name"] for t in spec["transforms"]]
        ['SpecWarp', 'SpecTimeMask', 'SpecFreqMask']
    """
    from audionoise.pipeline import entry_is_spectrogram

    top = {k: v for k, v in config.items() if k != "transforms"}
    entries = config.get("transforms", [])
    spec_flags = [entry_is_spectrogram(e, f"transforms[{i}]") for i, e in enumerate(entries)]
    wave = [e for e, is_spec in zip(entries, spec_flags) if not is_spec]
    spec = [e for e, is_spec in zip(entries, spec_flags) if is_spec]
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
