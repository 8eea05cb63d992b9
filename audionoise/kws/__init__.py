"""Keyword spotting: Speech Commands data, features, model, training, checkpoints, evaluation.

The bundled synthetic data set is made by :mod:`audionoise.synth` (the ``[kws]`` extra), not here.
"""

__all__ = ["SpeechCommands", "collate", "V2_12_WORDS"]
_LAZY_DATA = dict.fromkeys(__all__, "audionoise.kws.data")

# model, augmentation, training and evaluation: imported on first use (PEP 562), so the torch-free parts
# (``audionoise.kws.config``, read by ``audionoise train --help``) do not import torch
_LAZY = {
    **dict.fromkeys(["SpecWarp", "build_augmentation", "default_pipeline_config"], "audionoise.kws.augment"),
    "load_model": "audionoise.kws.checkpoint",
    **dict.fromkeys(["TrainConfig", "load_train_config"], "audionoise.kws.config"),
    **dict.fromkeys(["evaluate", "evaluate_run", "format_table"], "audionoise.kws.evaluate"),
    "LogMel": "audionoise.kws.features",
    **dict.fromkeys(["KeywordSpotter", "ModelConfig", "make_frontend"], "audionoise.kws.model"),
    "train": "audionoise.kws.train",
    **_LAZY_DATA,
}
__all__ += sorted(set(_LAZY) - set(__all__))


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'audionoise.kws' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
