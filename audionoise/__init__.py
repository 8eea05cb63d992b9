"""audionoise: exact, batched, reproducible noise augmentation for speech audio.

Example:
    >>> import torch, audionoise
    >>> pipe = audionoise.Compose([audionoise.WhiteNoise(min_snr_db=10, max_snr_db=10)])
    >>> y, records = pipe(torch.randn(2, 16000), generator=torch.Generator().manual_seed(0), return_params=True)
    >>> records[0][0]["transform"]
    'WhiteNoise'

The public names below are imported on first use (PEP 562), so ``import audionoise`` and ``audionoise --help``
do not pay for importing torch until something needs it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    **dict.fromkeys(["Compose", "OneOf", "RandomApply", "load_pipeline", "pipeline_config", "save_pipeline",
                     "split_stages"], "audionoise.pipeline"),
    **dict.fromkeys(["BackgroundNoise", "ColoredNoise", "Gain", "Injector", "NoiseBank", "NoiseBankWarning", "Params",
                     "SpecFreqMask",
                     "SpecTimeMask", "SpecWarp", "TimeMask", "TimeShift", "WhiteNoise",
                     "BandPass", "Codec", "HighPass", "LowPass", "Normalize", "PitchShift", "RIRBank", "Reverb",
                     "ShortNoises", "SpeedPerturb", "Telephone", "TimeStretch"], "audionoise.transforms"),
    **dict.fromkeys(["BandStop", "BitCrush", "ClippingDistortion", "LoudnessNormalize", "Mix", "PeakingEQ",
                     "PolarityInversion", "RoomSimulator"],
                    "audionoise.transforms"),
    "preview": "audionoise.pages",
}
_SUBMODULES = {"assets", "data", "functional", "io", "offline", "pages", "pipeline", "plan", "transforms"}

#: modules that moved into the layered folders (0.2): their old names still import, as the same module objects
MOVED = {
    "audionoise.grid": "audionoise.robustness.grid", "audionoise.evaluation": "audionoise.robustness.evaluation",
    "audionoise.stats": "audionoise.robustness.stats", "audionoise.speech_commands": "audionoise.corpora.speech_commands",
    "audionoise.scan": "audionoise.corpora.scan", "audionoise.cache": "audionoise.corpora.cache",
    "audionoise.progress": "audionoise.runtime.progress", "audionoise.extras": "audionoise.runtime.extras",
    "audionoise._wav": "audionoise.io._wav", "audionoise._ffmpeg": "audionoise.io._ffmpeg",
    "audionoise._tags": "audionoise.io._tags", "audionoise._fs": "audionoise.io.files",
    "audionoise._lock": "audionoise.io.lock", "audionoise._manifest": "audionoise.corpora.manifests",
    "audionoise._noise_sources": "audionoise.corpora.noise_sources", "audionoise._gains": "audionoise.kernels.gains",
    "audionoise._loopable": "audionoise.kernels.loopable", "audionoise._seed": "audionoise.kernels.seeds",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports a moved module's old name as its new module (``import audionoise.grid`` keeps working)."""

    def find_spec(self, name, path=None, target=None):
        if name not in MOVED:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):
        """Nothing to run: the module object is the new module, already imported."""


if not any(type(f).__name__ == "_MovedModules" for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())

__all__ = sorted(_EXPORTS) + ["functional"]

if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from audionoise import functional
    from audionoise.pipeline import (Compose, OneOf, RandomApply, load_pipeline, pipeline_config, save_pipeline,
                                     split_stages)
    from audionoise.transforms import (BackgroundNoise, ColoredNoise, Gain, Injector, NoiseBank, NoiseBankWarning,
                                       Params, SpecFreqMask, SpecTimeMask, SpecWarp, TimeMask, TimeShift, WhiteNoise)
    from audionoise.transforms import (BandPass, Codec, HighPass, LowPass, Normalize, PitchShift, Reverb, RIRBank,
                                       ShortNoises, SpeedPerturb, Telephone, TimeStretch)
    from audionoise.transforms import (BandStop, BitCrush, ClippingDistortion, LoudnessNormalize, Mix,
                                       PeakingEQ, PolarityInversion, RoomSimulator)
    from audionoise.pages import preview


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"audionoise.{name}")
    elif f"audionoise.{name}" in MOVED:
        value = importlib.import_module(MOVED[f"audionoise.{name}"])
    else:
        raise AttributeError(f"module 'audionoise' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | _SUBMODULES)
