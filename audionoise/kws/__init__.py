"""Keyword spotting: Speech Commands data, features, model, training, checkpoints, evaluation.

The bundled synthetic data set is made by :mod:`audionoise.synth` (the ``[kws]`` extra), not here.
"""

from audionoise.kws.data import V2_12_WORDS, SpeechCommands, collate

__all__ = ["SpeechCommands", "collate", "V2_12_WORDS"]

# model, augmentation, training and evaluation (importing augment also registers SpecWarp for pipeline TOMLs)
from audionoise.kws.augment import SpecWarp, build_augmentation, default_pipeline_config  # noqa: E402
from audionoise.kws.checkpoint import load_model  # noqa: E402
from audionoise.kws.config import TrainConfig, load_train_config  # noqa: E402
from audionoise.kws.evaluate import evaluate, evaluate_run, format_table  # noqa: E402
from audionoise.kws.features import LogMel  # noqa: E402
from audionoise.kws.model import KeywordSpotter, ModelConfig, make_frontend  # noqa: E402
from audionoise.kws.train import train  # noqa: E402

__all__ += ["KeywordSpotter", "LogMel", "ModelConfig", "SpecWarp", "TrainConfig", "build_augmentation",
            "default_pipeline_config", "evaluate", "evaluate_run", "format_table", "load_model",
            "load_train_config", "make_frontend", "train"]
