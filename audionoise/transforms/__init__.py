"""Injectors: thin ``torch.nn.Module`` wrappers that sample random parameters and call the functional core."""

from audionoise.transforms.background import BackgroundNoise, BackgroundParams
from audionoise.transforms.noisebank import NoiseBank, NoiseBankWarning
from audionoise.transforms.base import REGISTRY, Injector, Params
from audionoise.transforms.basic import Gain, TimeShift
from audionoise.transforms.channel import BandPass, Codec, HighPass, LowPass, Telephone
from audionoise.transforms.level import Normalize
from audionoise.transforms.masks import SpecFreqMask, SpecTimeMask, TimeMask
from audionoise.transforms.noise import ColoredNoise, WhiteNoise
from audionoise.transforms.reverb import Reverb, RIRBank
from audionoise.transforms.short_noises import ShortNoises, ShortNoisesParams
from audionoise.transforms.speed import PitchShift, SpeedPerturb, TimeStretch
from audionoise.transforms.warp import SpecWarp
from audionoise.transforms.distortion import BitCrush, ClippingDistortion, PolarityInversion
from audionoise.transforms.eq import BandStop, PeakingEQ
from audionoise.transforms.loudness import LoudnessNormalize
from audionoise.transforms.mix import Mix
from audionoise.transforms.room import RoomSimulator

__all__ = ["REGISTRY", "BackgroundNoise", "BackgroundParams", "ColoredNoise", "Gain", "Injector", "NoiseBank",
           "NoiseBankWarning", "Params", "SpecFreqMask", "SpecTimeMask", "SpecWarp", "TimeMask", "TimeShift", "WhiteNoise",
           "BandPass", "Codec", "HighPass", "LowPass", "Normalize", "PitchShift", "RIRBank", "Reverb", "ShortNoises",
           "ShortNoisesParams", "SpeedPerturb", "Telephone", "TimeStretch",
           "BandStop", "BitCrush", "ClippingDistortion", "LoudnessNormalize", "Mix", "PeakingEQ", "PolarityInversion", "RoomSimulator"]
