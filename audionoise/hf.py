"""Hugging Face ``datasets`` on the fly: a batch transform that augments an audio column reproducibly per row.

:class:`Transform` is a plain callable on a batch dict, for ``ds.with_transform(t)`` / ``ds.set_transform(t)``
(augmented anew each epoch while training) and ``ds.map(t, batched=True)`` (a frozen augmented copy). Row ``r`` in
epoch ``e`` is ``pipeline(x_r[None], generator=torch.Generator().manual_seed(derive_seed(seed, e, key_r)))`` with
``key_r`` the row's ``key_column`` value (or its audio's path): the same seed helper, in the same order, as
:class:`audionoise.data.AugmentedDataset` (whose key is the item index), so batch size, shuffling, ``select`` and
DataLoader workers never change a row's output.

The batch is cut into groups of rows of one shape; each group of a pipeline made of batchable injectors is augmented
in one batched call that is bit-identical to its rows' one-row calls (each row's plan drawn with its own generator,
:func:`audionoise.plan.sample_plan`, the plans concatenated and applied once); pipelines with leaves that are not
exact in a batch (:func:`audionoise.offline.batched.batchable`) run row by row. Needs the ``audionoise[hf]``
extra (``datasets``; ``torchcodec`` + FFmpeg to decode audio files, as ``datasets`` 4+ does).

Example:
    >>> from audionoise import Compose, WhiteNoise
    >>> t = Transform(Compose([WhiteNoise(10, 20)]), seed=0, key_column="id")
    >>> out = t({"id": ["a"], "audio": [{"array": [0.5] * 400, "sampling_rate": 16000}]})
    >>> out["audio"][0]["array"].shape, out["audio"][0]["sampling_rate"]
    ((400,), 16000)
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from audionoise.kernels.seeds import derive_seed
from audionoise.plan import Plan, apply_plan, augment, plannable, sample_plan

__all__ = ["Transform", "row_seed"]


def row_seed(seed: int, epoch: int, key: Any) -> int:
    """The seed of the row with ``key`` in ``epoch``: :func:`audionoise.kernels.seeds.derive_seed`
    ``(seed, epoch, key)``.

    Example:
        >>> row_seed(0, 1, "a.wav") == row_seed(0, 1, "a.wav") != row_seed(0, 2, "a.wav")
        True
    """
    return derive_seed(int(seed), int(epoch), key)


def _count(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def _decoded(value: Any, column: str, row: int) -> tuple[np.ndarray, int, str | None]:
    """``(samples (time,) or (channels, time) float32, sample rate, path or None)`` of one audio cell."""
    if isinstance(value, dict) and "array" in value:
        rate = value.get("sampling_rate")
        if rate is None:
            raise ValueError(f"{column}[{row}] has an 'array' but no 'sampling_rate'; give both (as datasets' "
                             "Audio feature does)")
        array = np.asarray(value["array"], dtype=np.float32)
        return array, int(rate), value.get("path")
    if hasattr(value, "get_all_samples"):  # datasets 4+: a torchcodec AudioDecoder
        samples = value.get_all_samples()
        data = samples.data.numpy().astype(np.float32, copy=False)
        encoded = getattr(value, "_hf_encoded", None) or {}
        return (data[0] if data.shape[0] == 1 else data), int(samples.sample_rate), encoded.get("path")
    if isinstance(value, dict) and ("path" in value or "bytes" in value):
        raise ValueError(f"{column}[{row}] is not decoded (Audio(decode=False)?); cast the column with "
                         "datasets.Audio() so rows carry samples")
    raise ValueError(f"{column}[{row}] is a {type(value).__name__}; expected an audio cell as datasets gives it "
                     "(a dict with 'array' and 'sampling_rate', or an AudioDecoder)")


class Transform:
    """Augment the audio column of a ``datasets`` batch with ``pipeline``, each row from its own seed.

    Args:
        pipeline: An audionoise injector or pipeline (waveform transforms) on the CPU.
        seed: Integer seed of the whole augmentation.
        audio_column: The column holding the audio (``{"array", "sampling_rate"}`` dicts or ``datasets`` 4+
            decoder objects). It comes back as ``{"array": float32 ndarray, "sampling_rate": int}`` dicts, which
            ``datasets`` encodes (``map``) and a DataLoader collates after padding.
        key_column: The column whose value names a row (an id or index); by default the audio's ``path``. A row
            without either is an error (``with_transform`` sees no row index).
        sample_rate: Resample every row to this rate first (``None``: each row keeps its rate).
        return_params: Add an ``augmentation`` column: each row's records as one JSON string.

    Call :meth:`set_epoch` before each epoch; the epoch lives in shared memory, so it reaches DataLoader workers.

    Example:
        >>> ds = ds.with_transform(Transform(pipeline, seed=0, key_column="id"))  # doctest: +SKIP
    """

    def __init__(self, pipeline: nn.Module, seed: int = 0, audio_column: str = "audio",
                 key_column: str | None = None, sample_rate: int | None = None,
                 return_params: bool = False) -> None:
        if not isinstance(pipeline, nn.Module):
            raise ValueError(f"pipeline must be an audionoise injector or pipeline, got {type(pipeline).__name__}")
        if any(getattr(m, "spectrogram", False) for m in pipeline.modules()):
            raise ValueError("pipeline holds spectrogram transforms; Transform augments waveforms: apply "
                             "spectrogram masks after the features, in the training step")
        if not plannable(pipeline):
            raise ValueError(f"pipeline must be an audionoise injector or pipeline, got {type(pipeline).__name__}")
        if sample_rate is not None and (not isinstance(sample_rate, int) or sample_rate <= 0):
            raise ValueError(f"sample_rate must be a positive integer (Hz) or None, got {sample_rate!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.pipeline = pipeline
        self.seed = seed
        self.audio_column, self.key_column = audio_column, key_column
        self.sample_rate, self.return_params = sample_rate, bool(return_params)
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._batchable: bool | None = None

    @property
    def epoch(self) -> int:
        """The epoch set by :meth:`set_epoch` (0 at first)."""
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the rows read from now on (in this process and in DataLoader workers)."""
        self._epoch.fill_(_count("epoch", epoch))

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        if self.audio_column not in batch:
            raise ValueError(f"audio_column {self.audio_column!r} is not in the batch (columns: "
                             f"{', '.join(sorted(batch))})")
        if self.key_column is not None and self.key_column not in batch:
            raise ValueError(f"key_column {self.key_column!r} is not in the batch (columns: "
                             f"{', '.join(sorted(batch))})")
        cells = batch[self.audio_column]
        rows, keys, rates = [], [], []
        for r, cell in enumerate(cells):
            array, rate, path = _decoded(cell, self.audio_column, r)
            x = torch.from_numpy(np.ascontiguousarray(array))
            if self.sample_rate is not None and rate != self.sample_rate:
                import torchaudio.functional as AF

                x, rate = AF.resample(x, rate, self.sample_rate), self.sample_rate
            key = batch[self.key_column][r] if self.key_column is not None else path
            if key is None:
                raise ValueError(f"{self.audio_column}[{r}] carries no path to key its augmentation by; pass "
                                 "key_column= (a column of unique ids)")
            rows.append(x)
            keys.append(key)
            rates.append(rate)
        outs, records = self.augment_rows(rows, keys)
        out = dict(batch)
        out[self.audio_column] = [{"array": y.numpy(), "sampling_rate": rate} for y, rate in zip(outs, rates)]
        if self.return_params:
            out["augmentation"] = [json.dumps(r, sort_keys=True) for r in records]
        return out

    def augment_rows(self, rows: list[Tensor], keys: list[Any]) -> tuple[list[Tensor], list[list | None]]:
        """Augment ``rows`` (each ``(time,)`` or ``(channels, time)``) keyed by ``keys``: rows of one shape in one
        batched call where the pipeline allows it (bit-identical to one call per row), the others one by one."""
        epoch = self.epoch
        gens = [torch.Generator().manual_seed(row_seed(self.seed, epoch, k)) for k in keys]
        outs: list[Any] = [None] * len(rows)
        records: list[Any] = [None] * len(rows)
        groups: dict[tuple, list[int]] = {}
        for i, x in enumerate(rows):
            groups.setdefault(tuple(x.shape), []).append(i)
        with torch.no_grad():
            for shape, members in groups.items():
                if len(members) > 1 and self._can_batch():
                    self._batch(members, rows, gens, outs, records)
                else:
                    for i in members:
                        outs[i], records[i] = self._one(rows[i], gens[i])
        return outs, records

    def _can_batch(self) -> bool:
        if self._batchable is None:
            from audionoise.offline.batched import batchable

            self._batchable = batchable(self.pipeline)
        return self._batchable

    def _one(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, list | None]:
        # a batch of one mono clip (1, time), or one multichannel example (1, channels, time)
        out = augment(self.pipeline, x[None], generator=generator, record=self.return_params)
        y = out.audio[0]
        if out.lengths is not None:
            y = y[..., :int(out.lengths[0])]  # a length-changing pipeline (SpeedPerturb, ...)
        return y, (out.records[0] if self.return_params else None)

    def _batch(self, members, rows, gens, outs, records) -> None:
        plans = [sample_plan(self.pipeline, rows[i][None], None, gens[i]) for i in members]
        out = apply_plan(torch.stack([rows[i] for i in members]), Plan.concat(plans), None,
                         record=self.return_params, owned=True)
        for j, i in enumerate(members):
            outs[i], records[i] = out.audio[j], (out.records[j] if self.return_params else None)
