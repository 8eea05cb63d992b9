"""Keyword spotting: Speech Commands data, synthetic bundled data, model, training, evaluation."""

from audionoise.kws.data import V2_12_WORDS, SpeechCommands, collate
from audionoise.kws.synth import ensure_bundled_data

__all__ = ["SpeechCommands", "collate", "V2_12_WORDS", "ensure_bundled_data"]
