"""Noisy test sets for any task: every input clip at every SNR with every (or one drawn) noise type.

:func:`make_grid` writes, for every clip of ``inp`` (a folder, one audio file or a NeMo-style JSONL manifest),
``clip + g * noise_window`` at every SNR of ``snrs`` (:func:`audionoise.functional.mix_at_snr` over the whole
clip, all channels together), so

* the SNR is exact over the clip: ``10*log10(P_clip / P_{g n}) == snr`` (the clean clip is never rescaled),
* a clip meets the **same** noise window at every SNR (only ``g`` changes), chosen from ``(seed, clip key)``
  alone: with one drawn noise per clip it is the window :func:`audionoise.robustness.evaluation.noise_choice` gives, i.e.
  the one ``audionoise evaluate`` uses with the same seed; with ``per_noise`` every noise clip of the folder is
  used, each at an offset drawn from ``(seed, clip key, noise clip name)``,
* outputs are float WAV by default (``subtype="FLOAT"``), so nothing clips at low SNR.

Layout: ``OUT/snr_<snr>/<relative path>.wav`` (``OUT/snr_<snr>/<noise stem>/<relative path>.wav`` with
``per_noise``), ``OUT/manifest.jsonl`` (one row per output: ``audio_filepath`` relative to ``OUT``, ``source``,
``noise``, ``noise_offset`` (seconds into the noise clip), ``snr_db``, ``duration``, plus every
field of the input manifest's line except its ``audio_filepath``/``offset``/``duration``, kept as
``source_offset``/``source_duration``), ``OUT/errors.jsonl`` (inputs that could not be read) and ``OUT/grid.json``
(the settings). ``noise_offset`` is not called ``offset``: in a NeMo manifest ``offset`` is where to start
reading ``audio_filepath``, and :class:`audionoise.data.AudioManifest` reads ``OUT/manifest.jsonl`` as is.

Deterministic (same inputs and settings give the same bytes) and resumable (``resume=True`` keeps outputs that
exist: each was written atomically, so it is complete); a resume with other settings is refused.

Example:
    >>> summary = make_grid("test/", "test_noisy/", "noise/", snrs=[20, 10, 0, -5])  # doctest: +SKIP
    >>> summary["written"]  # doctest: +SKIP
    400
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from audionoise.runtime.progress import progress as progress_bar

from audionoise import io
from audionoise.io.files import atomic_write
from audionoise.kernels.seeds import derive_seed
from audionoise.robustness.evaluation import condition_names, noise_choice
from audionoise.functional import mix_at_snr

__all__ = ["GridUsageError", "grid_inputs", "make_grid"]

_MANIFEST_SUFFIXES = (".jsonl", ".json")
_OWN_FIELDS = ("audio_filepath", "source", "noise", "noise_offset", "snr_db", "duration")


class GridUsageError(ValueError):
    """A problem with the arguments (missing input, output inside the input, changed settings on resume)."""


def _noise(noise: Any) -> str | list[str]:
    """The noise source(s), absolute (anything :class:`~audionoise.BackgroundNoise` takes); a usage error when one
    does not exist."""
    from audionoise.corpora.noise_sources import absolute_sources

    try:
        return absolute_sources(noise, "noise")
    except ValueError as exc:
        raise GridUsageError(str(exc)) from None


def grid_inputs(inp: str | os.PathLike) -> list[dict[str, Any]]:
    """The clips of ``inp``: ``[{"key", "path", "offset", "duration", "fields", "rel"}]`` in a fixed order.

    A folder gives its audio files (sorted relative paths, hidden files skipped), a file with an audio
    extension gives itself, a ``.jsonl``/``.json`` file gives its lines, read as
    :class:`audionoise.data.AudioManifest` reads them (the segment rule of :mod:`audionoise.corpora.manifests`: a line
    with ``offset`` is a segment, a ``duration`` alone is informative); segments and lines that share a path get
    ``_<line>`` in their output name.
    """
    from audionoise.io.files import _scan_folder
    from audionoise.data import read_manifest

    inp = Path(inp)
    if inp.is_dir():
        rels = _scan_folder(inp, frozenset(io.AUDIO_EXTENSIONS))
        return [{"key": rel, "rel": rel, "path": inp / rel, "offset": 0.0, "duration": None, "fields": {}}
                for rel in rels]
    if not inp.is_file():
        raise GridUsageError(f"input {str(inp)!r} does not exist; pass a folder, an audio file or a JSONL manifest")
    if inp.suffix.lower() in _MANIFEST_SUFFIXES:
        lines = read_manifest(inp)
        rels = [Path(line.audio).as_posix().lstrip("/") for line in lines]
        shared = Counter(rels)
        rows = []
        for line, rel in zip(lines, rels):
            key = line.audio + (f"@{line.offset:g}" if line.offset else "")
            if line.offset or line.duration is not None or shared[rel] > 1:  # segments, duplicates of one file
                rel = f"{Path(rel).with_suffix('')}_{line.line}{Path(rel).suffix}"
            rows.append({"key": key, "rel": rel, "path": line.path, "offset": line.offset,
                         "duration": line.duration, "fields": line.fields})
        return rows
    if inp.suffix.lower() in io.AUDIO_EXTENSIONS:
        return [{"key": inp.name, "rel": inp.name, "path": inp, "offset": 0.0, "duration": None, "fields": {}}]
    raise GridUsageError(f"input {str(inp)!r} is neither a folder, an audio file ({', '.join(sorted(io.AUDIO_EXTENSIONS))}) "
                         f"nor a JSONL manifest")


def _output_rel(rel: str, snr: str, noise: str | None) -> str:
    rel = Path(rel.replace("..", "_")).with_suffix(".wav").as_posix()
    return f"snr_{snr}/{noise}/{rel}" if noise is not None else f"snr_{snr}/{rel}"


def _windows(bank, key: str, per_noise: bool, seed: int) -> list[tuple[int, int]]:
    """``[(noise clip, offset)]`` of one input clip: one drawn, or one per noise clip."""
    if not per_noise:
        clips, offsets = noise_choice(bank, [key], seed)
        return [(int(clips[0]), int(offsets[0]))]
    out = []
    for k, name in enumerate(bank.names):
        g = torch.Generator().manual_seed(derive_seed(seed, "grid-noise", key, name))
        out.append((k, int(torch.randint(int(bank.lengths[k]), (), generator=g))))
    return out


def _settings(noise, snrs, seed, per_noise, subtype, sample_rate) -> dict[str, Any]:
    return {"noise": noise, "snr_db": list(snrs), "seed": seed, "per_noise": per_noise,
            "subtype": subtype, "sample_rate": sample_rate}


def make_grid(
    inp: str | os.PathLike,
    out: str | os.PathLike,
    noise: str | os.PathLike | list,
    snrs: Sequence[float],
    *,
    seed: int = 0,
    per_noise: bool = False,
    sample_rate: int | None = None,
    subtype: str = "FLOAT",
    resume: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Write the noisy grid of ``inp`` under ``out`` (see the module docstring).

    Args:
        inp: Folder, audio file or JSONL manifest of clean clips (read only).
        out: Output folder (created; must not be inside a folder ``inp``).
        noise: Noise recordings: anything :class:`~audionoise.BackgroundNoise` takes (a folder, an audio file, a
            glob pattern, a list file, a JSONL manifest, or a list of these).
        snrs: SNRs in dB.
        seed: Seed of the noise choice.
        per_noise: Every noise clip for every input (else one drawn per input).
        sample_rate: Resample inputs (and noise) to this rate; ``None`` keeps each input's rate.
        subtype: WAV subtype of the outputs (``"FLOAT"``; ``"PCM_16"``/``"PCM_24"`` clip values beyond +-1).
        resume: Keep existing outputs of an earlier run with the same settings.
        progress: Show a progress bar.

    Returns:
        ``{"inputs", "written", "kept", "failed", "manifest", "errors"}``.

    Raises:
        GridUsageError: bad arguments, or ``out`` holds a grid and ``resume`` is false or its settings differ.
    """
    from audionoise import NoiseBank

    if not snrs:
        raise GridUsageError("snrs is empty; give at least one SNR in dB, e.g. --snr 20 10 0 -5")
    snrs = [float(s) for s in snrs]
    names = condition_names(snrs)
    if len(set(names)) != len(names):
        raise GridUsageError(f"snrs {snrs} has duplicates")
    noise = _noise(noise)
    inp_path, out = Path(inp), Path(out)
    if inp_path.is_dir() and (out.resolve() == inp_path.resolve() or inp_path.resolve() in out.resolve().parents):
        raise GridUsageError(f"output folder {str(out)!r} is inside the input folder {str(inp)!r}; choose another")
    clips = grid_inputs(inp_path)
    settings = _settings(noise, snrs, seed, per_noise, subtype, sample_rate)
    settings_path = out / "grid.json"
    if settings_path.exists():
        if not resume:
            raise GridUsageError(f"{str(out)!r} already holds a grid (grid.json); pass --resume to finish it or "
                                 f"choose another output folder")
        old = json.loads(settings_path.read_text())
        if old != settings:
            diff = {k: (old.get(k), v) for k, v in settings.items() if old.get(k) != v}
            raise GridUsageError(f"cannot resume {str(out)!r}: settings changed {diff}; use the same settings or a "
                                 f"new output folder")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(settings_path, json.dumps(settings, indent=1) + "\n")
    banks: dict[int, Any] = {}
    rows, errors = [], []
    written = kept = 0
    for clip in progress_bar(clips, desc="grid", unit="clip", enabled=progress):
        try:
            x, sr = io.load(clip["path"], sample_rate=sample_rate, offset=clip["offset"], duration=clip["duration"])
        except io.AudioFileError as err:
            errors.append({"input": str(clip["path"]), "reason": err.reason})
            continue
        if sr not in banks:
            banks[sr] = NoiseBank.from_source(noise, sr)
        bank = banks[sr]
        extra = {k: v for k, v in clip["fields"].items() if k not in _OWN_FIELDS + ("offset",)}
        if clip["fields"]:
            extra.pop("duration", None)
            if clip["offset"]:
                extra["source_offset"] = clip["offset"]
            if clip["duration"] is not None:
                extra["source_duration"] = clip["duration"]
        for k, offset in _windows(bank, clip["key"], per_noise, seed):
            noise_name = bank.names[k]
            window = None
            for name, snr in zip(names, snrs):
                rel = _output_rel(clip["rel"], name, Path(noise_name).stem if per_noise else None)
                target = out / rel
                if resume and target.is_file():
                    kept += 1
                else:
                    if window is None:
                        window = bank.windows(torch.tensor([k]), torch.tensor([offset]), x.shape[-1])
                    y = mix_at_snr(x[None], window[None], snr)[0]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    io.save(target, y, sr, subtype=subtype)
                    written += 1
                rows.append({"audio_filepath": rel, "source": str(clip["fields"].get("audio_filepath", clip["rel"])),
                             "noise": noise_name, "noise_offset": offset / sr, "snr_db": snr,
                             "duration": x.shape[-1] / sr, **extra})
    atomic_write(out / "manifest.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    atomic_write(out / "errors.jsonl", "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in errors))
    return {"inputs": len(clips), "written": written, "kept": kept, "failed": len(errors),
            "manifest": str(out / "manifest.jsonl"), "errors": str(out / "errors.jsonl")}
