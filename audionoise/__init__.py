"""audionoise: exact, batched, reproducible noise augmentation for speech audio.

Example:
    >>> import torch, audionoise
    >>> pipe = audionoise.Compose([audionoise.WhiteNoise(min_snr_db=10, max_snr_db=10)])
    >>> y, records = pipe(torch.randn(2, 16000), generator=torch.Generator().manual_seed(0), return_params=True)
    >>> records[0][0]["transform"]
    'WhiteNoise'
"""

from audionoise import functional
from audionoise.pipeline import (Compose, OneOf, RandomApply, load_pipeline, pipeline_config, save_pipeline,
                                 split_stages)
from audionoise.transforms import (BackgroundNoise, ColoredNoise, Gain, Injector, NoiseBank, NoiseBankWarning, Params,
                                   SpecFreqMask, SpecTimeMask, SpecWarp, TimeMask, TimeShift, WhiteNoise)

__version__ = "0.1.0"

__all__ = ["BackgroundNoise", "ColoredNoise", "Compose", "Gain", "Injector", "NoiseBank", "NoiseBankWarning", "OneOf",
           "Params", "RandomApply", "SpecFreqMask", "SpecTimeMask", "SpecWarp", "TimeMask", "TimeShift", "WhiteNoise",
           "functional", "load_pipeline", "pipeline_config", "save_pipeline", "split_stages"]
