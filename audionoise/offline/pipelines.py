"""The pipeline of an offline job: from a config (rebuilt per sample rate) or a module, or from quick flags."""

from __future__ import annotations

import copy as copy_module
import os
from pathlib import Path
from typing import Any

from audionoise.config_files import check_config_shape, read_config
from audionoise.offline import numpy_engine

__all__ = ["ENGINES", "OfflineUsageError", "Pipelines", "quick_config"]

#: ``"auto"``: the NumPy engine where it implements the config (:mod:`audionoise.offline.numpy_engine`), torch
#: elsewhere; ``"torch"``: always torch (outputs equal ``pipeline(x[None], generator=torch.Generator(...))``)
ENGINES = ("auto", "torch")


class OfflineUsageError(ValueError):
    """The job cannot start: bad inputs, folders, options or pipeline config (the CLI exits with status 2).

    The message names Python arguments (``resume=True``); ``cli``, when given, is the same message in command-line
    words (``--resume``), which ``audionoise augment`` prints instead."""

    def __init__(self, message: str, cli: str | None = None) -> None:
        super().__init__(message)
        self.cli = cli


def _snr_range(snr: float | tuple[float, ...] | list[float], flag: str) -> tuple[float, float]:
    """``(lo, hi)`` from one value (a fixed SNR) or two (a range)."""
    values = [snr] if isinstance(snr, (int, float)) else list(snr)
    if len(values) not in (1, 2):
        raise OfflineUsageError(f"{flag} takes one value (a fixed SNR in dB) or two (LO HI), got {len(values)}")
    return float(values[0]), float(values[-1])


def _noise_source(noise: str | os.PathLike | list) -> str | list[str]:
    from audionoise.corpora.noise_sources import absolute_sources

    try:
        return absolute_sources(noise, "--noise")
    except ValueError as exc:
        raise OfflineUsageError(str(exc)) from None


def quick_config(noise: str | os.PathLike | list | None = None, snr: float | tuple[float, ...] | None = None,
                 white_snr: float | tuple[float, ...] | None = None, time_mask: float | None = None) -> dict[str, Any]:
    """A pipeline config from the quick flags: background noise from ``noise`` at SNR U(snr), white noise at
    SNR U(white_snr), then one time mask up to ``time_mask`` seconds, in that order (each only when given).

    ``noise``: whatever :class:`~audionoise.BackgroundNoise` takes (a folder, an audio file, a glob pattern, a list
    file, a JSONL manifest, or a list of these). ``snr``/``white_snr``: ``(lo, hi)`` in dB, or one value (a fixed
    SNR: ``--snr 10``).

    Example:
        >>> quick_config(white_snr=(10, 30))
        {'transforms': [{'name': 'WhiteNoise', 'min_snr_db': 10.0, 'max_snr_db': 30.0}]}
        >>> quick_config(white_snr=[12])["transforms"][0]["max_snr_db"]
        12.0
    """
    if (noise is None) != (snr is None):
        raise OfflineUsageError("--noise SOURCE and --snr go together: background noise needs noise recordings and "
                                "an SNR (--snr DB, or --snr LO HI)")
    transforms: list[dict[str, Any]] = []
    if noise is not None:
        lo, hi = _snr_range(snr, "--snr")
        transforms.append({"name": "BackgroundNoise", "noise": _noise_source(noise), "min_snr_db": lo,
                           "max_snr_db": hi})
    if white_snr is not None:
        lo, hi = _snr_range(white_snr, "--white-snr")
        transforms.append({"name": "WhiteNoise", "min_snr_db": lo, "max_snr_db": hi})
    if time_mask is not None:
        transforms.append({"name": "TimeMask", "max_width_s": float(time_mask)})
    if not transforms:
        raise OfflineUsageError("no pipeline: pass --config PIPELINE.toml, or quick flags (--noise SOURCE --snr LO HI, "
                                "--white-snr LO HI, --time-mask MAX_S)")
    return {"transforms": transforms}


class Pipelines:
    """Builds (once per sample rate, lazily) the pipeline applied to files of that rate.

    From a config (TOML path or dict) a pipeline is built for each rate met, with every ``sample_rate`` set to
    that rate, so noise banks are resampled to the file's rate and the audio keeps its rate. A given module is
    used as is for files of its own rate (or of any rate if no part of it has a ``sample_rate``).
    """

    def __init__(self, pipeline_or_config: Any, engine: str = "auto", base_dir: Path | None = None) -> None:
        if engine not in ENGINES:
            raise OfflineUsageError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
        self.engine = engine
        self.module: Any = None  # an nn.Module
        self.config: dict | None = None
        self.base_dir: Path | None = base_dir  # relative paths of a config dict start here (a file's folder)
        self.cache: dict[int, Any] = {}
        self.numpy_cache: dict[int, Any] = {}
        if not isinstance(pipeline_or_config, (dict, str, os.PathLike)):  # a module: torch is imported already
            if not hasattr(pipeline_or_config, "modules"):
                raise OfflineUsageError(f"the pipeline must be a config file, a config dict or a pipeline module, "
                                        f"got {type(pipeline_or_config).__name__}")
            self.module = pipeline_or_config
            rates = {int(m.sample_rate) for m in self.module.modules() if hasattr(m, "sample_rate")}
            if len(rates) > 1:
                raise OfflineUsageError(f"pipeline mixes sample rates {sorted(rates)}; use one rate")
            self.module_rate = rates.pop() if rates else None
        else:
            if isinstance(pipeline_or_config, dict):
                try:
                    check_config_shape(pipeline_or_config)
                except ValueError as exc:
                    raise OfflineUsageError(str(exc)) from None
                self.config = copy_module.deepcopy(pipeline_or_config)
            else:
                try:
                    self.config = read_config(pipeline_or_config)
                except ValueError as exc:
                    raise OfflineUsageError(f"{exc} (--config)") from None
                self.base_dir = Path(pipeline_or_config).resolve().parent
            self.default_rate = self.config.get("sample_rate")

    def numpy(self, rate: int) -> "numpy_engine.NumpyPipeline | None":
        """The NumPy engine's pipeline for files of ``rate`` Hz, or ``None`` (the torch engine runs them)."""
        if rate not in self.numpy_cache:
            ok = self.engine == "auto" and self.config is not None
            self.numpy_cache[rate] = numpy_engine.plan(self.config, int(rate), self.base_dir) if ok else None
        return self.numpy_cache[rate]

    def get(self, rate: int) -> Any:
        """The torch pipeline (an ``nn.Module``) for files of ``rate`` Hz."""
        from audionoise.pipeline import load_pipeline

        if rate in self.cache:
            return self.cache[rate]
        if self.module is not None:
            if self.module_rate is not None and self.module_rate != rate:
                raise ValueError(f"file sample rate {rate} Hz differs from the pipeline's {self.module_rate} Hz; "
                                 "pass the pipeline as a config so it can be rebuilt per rate, or set "
                                 f"sample_rate={self.module_rate}")
            pipe = self.module
        else:
            try:  # the file's rate wins over any rate in the config
                pipe = load_pipeline(self.config, sample_rate=int(rate), base_dir=self.base_dir)
            except ValueError as exc:
                raise OfflineUsageError(f"pipeline config: {exc}") from None
        self.cache[rate] = pipe
        return pipe

    def validate(self) -> None:
        """Build the pipeline at the config's own rate (or 16 kHz) now, so a bad config fails before any work
        (torch's build words the errors; a config the NumPy engine takes is valid: nothing more to check)."""
        if self.module is None and self.numpy(int(self.default_rate or 16000)) is None:
            self.get(int(self.default_rate or 16000))
