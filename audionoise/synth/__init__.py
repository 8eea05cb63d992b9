"""Bundled-data generator: synthetic keyword-spotting speech (espeak-ng voices) and procedural noises.

Not part of the augmentation core: speaking words needs the ``espeakng-loader`` wheel (GPL espeak-ng), installed
with the ``[kws]`` extra. It is imported only by ``audionoise make-data``, ``data/make_data.py`` and the recipes;
``import audionoise`` and ``import audionoise.kws`` never load it.

Modules:
    :mod:`~audionoise.synth.espeak`: ctypes binding to the espeak-ng library of ``espeakng-loader``.
    :mod:`~audionoise.synth.voices`: synthetic speakers, their recording channel, rendering words.
    :mod:`~audionoise.synth.noises`: procedural noise recordings (rain, engine, music, ...).
    :mod:`~audionoise.synth.noise_families`: the families of the default training-noise bank.
    :mod:`~audionoise.synth.noise_bank`: that bank on disk, generated on demand (:func:`ensure_training_noise`).
    :mod:`~audionoise.synth.bundle`: the data sets on disk (:func:`ensure_bundled_data`).

Example:
    >>> from audionoise.synth import ensure_bundled_data
    >>> paths = ensure_bundled_data("data/generated")  # doctest: +SKIP
"""

from audionoise.synth.bundle import (DATA_VERSION, DataSummary, bundled_data_current, ensure_bundled_data,
                                     generate_bundled_data, write_repo_bundle)

__all__ = ["DATA_VERSION", "DataSummary", "bundled_data_current", "ensure_bundled_data", "generate_bundled_data",
           "write_repo_bundle"]
