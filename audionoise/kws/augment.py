"""Training-time augmentation for keyword spotting: the ``default`` pipeline and how it is built.

The default recipe (multi-condition training) draws, per example and in this order:

=================  ========================================================================
TimeShift          +-100 ms, zero-filled ("pad"), like the TensorFlow Speech Commands recipe
Gain               U(-6, 6) dB on half of the clips (level invariance)
BackgroundNoise    recorded noise at SNR U(-5, 20) dB on 80% of the clips
ColoredNoise       1/f^a noise, a ~ U(-1, 2) (blue..brown), SNR U(0, 30) dB on 30% of the clips
SpecTimeMask       2 masks of up to 10 frames (100 ms) on the log-Mel
SpecFreqMask       2 masks of up to 5 of the 40 Mel bins
=================  ========================================================================

Spectrogram transforms (those with ``spectrogram = True``) run after the log-Mel frontend; all others run
on the waveform batch, on the training device, from one explicit ``torch.Generator``.

Example:
    >>> cfg = default_pipeline_config("data/noise")
    >>> [t["name"] for t in cfg["transforms"]][:3]
    ['TimeShift', 'Gain', 'BackgroundNoise']
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "Augmentation",
    "build_augmentation",
    "default_pipeline_config",
    "resolve_noise_dir",
]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus")
#: repository folder of committed noise recordings, the last fallback of the default pipeline
BUNDLED_NOISE_DIR = Path(__file__).resolve().parents[2] / "data" / "noise"


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
            {"name": "Gain", "min_db": -6.0, "max_db": 6.0, "p": 0.5},
            {"name": "BackgroundNoise", "noise": str(noise_dir), "min_snr_db": -5.0, "max_snr_db": 20.0,
             "sample_rate": int(sample_rate), "p": 0.8},
            {"name": "ColoredNoise", "min_snr_db": 0.0, "max_snr_db": 30.0, "min_exponent": -1.0,
             "max_exponent": 2.0, "p": 0.3},
            {"name": "SpecTimeMask", "max_width": 10, "num_masks": 2},
            {"name": "SpecFreqMask", "max_width": 5, "num_masks": 2},
        ],
    }


def _has_audio(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix.lower() in AUDIO_SUFFIXES for p in folder.rglob("*") if p.is_file())


def resolve_noise_dir(noise_dir: str | os.PathLike | None, data_root: str | os.PathLike | None) -> Path:
    """Noise folder of the default pipeline: ``noise_dir``, else ``data_root/_background_noise_``, else the
    repository's ``data/noise``.

    Raises:
        ValueError: ``noise_dir`` is given but holds no audio, or no fallback holds any.
    """
    if noise_dir is not None:
        path = Path(noise_dir)
        if not _has_audio(path):
            raise ValueError(f"noise_dir {str(path)!r} holds no audio files ({', '.join(AUDIO_SUFFIXES)}); "
                             f"pass a folder of noise recordings")
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
