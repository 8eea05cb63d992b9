"""Offline augmentation: write augmented copies of every input of a folder tree, an audio file or a manifest.

:func:`augment` writes ``copies`` augmented versions of each input under ``out_dir``, named
``<stem>_aug<k><ext>``. ``in_path`` is

* a **folder**: its tree is mirrored (``spk1/a.wav`` gives ``spk1/a_aug0.wav``);
* a **single audio file**: its outputs go straight into ``out_dir``;
* a **NeMo-style JSONL manifest** (``audio_filepath``, optional ``offset``/``duration`` in seconds, any other
  fields): each line is one input (a segment when it has an ``offset``), named under ``out_dir`` by a path
  that cannot leave it (:func:`~audionoise.offline.naming.safe_key`), and the output manifest keeps every
  field of the line, with ``audio_filepath`` (relative to ``out_dir``) and ``duration`` of the output and the
  augmentation record under ``"augmentation"``.

It is built for inputs that are precious and messy:

* **Deterministic.** Output ``k`` of input ``key`` uses a generator seeded with ``output_seed(seed, key, k)``
  (a BLAKE2b hash): a ``torch.Generator``, whose stream the NumPy engine reproduces for the pipelines it runs
  without importing torch (:mod:`audionoise.offline.numpy_engine`; ``engine="torch"`` turns it off), and all maths
  runs on one thread, so 1 worker, W workers, any ``shard`` split and an interrupted-then-resumed run give
  byte-identical files and manifests.
* **Safe.** Nothing in the input is opened for writing; ``out_dir`` may not be, contain or lie inside an input
  folder; symlinks that resolve outside the input folder are reported, not followed; every output is written to
  a temporary file and renamed (:func:`audionoise.io.save`), so a killed job leaves no partial output.
* **Robust.** A file that cannot be read or augmented gives one line in ``errors.jsonl`` and the job goes on.
  Files without an audio extension, hidden files and hidden folders are skipped and counted; audio in a
  container that needs PyAV (m4a, ...) without the ``audionoise[ffmpeg]`` extra is an error line that says so.
* **Stops cleanly.** A write error (disk full) or SIGINT/SIGTERM stops the job with the manifest consistent
  (every line has its file, every file its line); ``resume=True`` finishes it.
* **Resumable, parallel, shardable.** ``resume=True`` keeps finished outputs (those with a manifest line),
  ``workers`` processes share the files, ``shard=(i, n)`` takes every n-th input of the sorted list.

``out_dir/manifest.jsonl`` holds one JSON line per output, sorted, a NeMo manifest (``{"audio_filepath", "duration",
"output", "input", "copy", "seed",
"sample_rate", "frames", "channels", "subtype", "clipped", "transforms"}``, plus ``"converted_from"`` when a
read-only container was written as FLAC and ``"normalized_db"`` when an output beyond full scale was scaled
down: :mod:`audionoise.offline.clipping`); ``out_dir/errors.jsonl`` one line per failed input (``{"input",
"reason"}``); ``out_dir/run.json`` the settings that decide the bytes (seed, format, sample rate, clipping
policy, pipeline config): a resume with other settings is refused. With ``n > 1`` shards the JSONL names carry the shard
(``manifest.shard-2-of-8.jsonl``) so that shards can share one ``out_dir``. :func:`dry_run` checks a job and
counts what it would write, writing nothing.

Example:
    >>> summary = augment("clean/", "noisy/", "pipeline.toml", copies=2, workers=2)  # doctest: +SKIP
    >>> summary.written, summary.failed  # doctest: +SKIP
    (2000, 0)
"""

import sys

from audionoise.offline import runner
from audionoise.offline.job import (EXIT_FAILED, EXIT_OK, EXIT_USAGE, EXIT_WRITE, DryRun, Summary, augment,
                                    dry_run)
from audionoise.offline.lock import OutputBusy, lock_output
from audionoise.offline.naming import manifest_name, output_name, output_seed, output_subtype, safe_key, shard_of
from audionoise.offline.pipelines import OfflineUsageError, quick_config

#: The earlier name of :func:`augment` (which takes a folder, an audio file or a manifest).
augment_folder = augment
#: The earlier name of :mod:`audionoise.offline.runner` (``from audionoise.offline import engine`` keeps working).
engine = runner
sys.modules[f"{__name__}.engine"] = runner

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "EXIT_WRITE", "DryRun", "OfflineUsageError", "OutputBusy",
           "Summary", "augment", "augment_folder", "dry_run", "lock_output", "manifest_name", "output_name",
           "output_seed", "output_subtype", "quick_config", "safe_key", "shard_of"]
