"""Mixing in another utterance at an exact signal-to-interference ratio (SIR)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import Tensor

from audionoise.functional._checks import expand_to, valid_mask
from audionoise.transforms._mixing import add_scaled_noise, check_snr_reference
from audionoise.transforms.background import BackgroundNoise
from audionoise.transforms.base import Injector, Params, check_range, draw, scale_int, scale_uniform, tensor


@dataclasses.dataclass(frozen=True)
class MixParams(Params):
    """``sir_db`` (batch,) and ``source_index`` (batch,): the example of the batch mixed in (-1: none)."""

    sir_db: Tensor
    source_index: Tensor


class Mix(Injector):
    """Add another utterance at a signal-to-interference ratio ``SIR ~ U(min_sir_db, max_sir_db)``, exactly.

    The interferer is scaled so that ``10 log10(P_x / P_interferer) == SIR`` over the valid samples (or the active
    speech of ``x``, ``snr_reference="active"``): the same gain as the SNR injectors
    (:func:`audionoise.functional.snr.gain_for_snr`); ``x`` itself is never rescaled. Two sources:

    * ``source=None``: another example of the same batch, drawn uniformly among the others (torch-audiomentations'
      ``Mix``), from its start, zero after its own length; records give its ``source_index``. A batch of one has
      nobody to mix in (``noise_added: false``).
    * ``source=`` a folder, file list, manifest (or a list of them) or a :class:`NoiseBank` of utterances: a random
      window of a random utterance, as :class:`BackgroundNoise` draws noise (decoded once, looped if short);
      records give its file name (``source``) and ``offset``. ``sample_rate`` is required then.

    A silent ``x`` or a silent interferer gets nothing (``noise_added: false``). Padding is never written.
    Differentiable in ``x`` (the gain is a constant of the augmentation; an in-batch interferer carries its
    example's gradient).

    Example:
        >>> y, rec = Compose([Mix(5.0, 5.0)])(torch.randn(3, 16000), generator=torch.Generator().manual_seed(0),
        ...                                   return_params=True)
        >>> rec[0][0]["source_index"] in (1, 2)
        True
    """

    path_field = "source"
    #: adds a signal independent of the input (offline --stems: the noise stem)
    adds_noise = True

    def __init__(self, min_sir_db: float, max_sir_db: float, source: Any = None, *, sample_rate: int | None = None,
                 p: float = 1.0, snr_reference: str = "full") -> None:
        super().__init__(p)
        check_range("min_sir_db", min_sir_db, "max_sir_db", max_sir_db)
        self.min_sir_db, self.max_sir_db = float(min_sir_db), float(max_sir_db)
        self.snr_reference = check_snr_reference(snr_reference)
        self.source, self.sample_rate = source, sample_rate
        self.utterances = None
        # from a folder, each example's interferer is its own draw (exact when files are stacked into a batch);
        # from the batch, the interferer is another file of the batch
        self.batchable = source is not None
        if source is not None:
            if sample_rate is None:
                raise ValueError("Mix(source=...) needs sample_rate (the utterances are resampled to it)")
            self.utterances = BackgroundNoise(source, self.min_sir_db, self.max_sir_db, sample_rate=sample_rate, p=p,
                                              snr_reference=snr_reference)

    def _sample(self, x, lengths, generator):
        if self.utterances is not None:
            self.utterances.p = self.p
            return self.utterances._sample(x, lengths, generator)
        b = x.shape[0]
        u = draw(b, 3, generator)
        other = scale_int(u[:, 2], max(b - 2, 0))
        if isinstance(other, np.ndarray):
            index = np.where(other >= np.arange(b), other + 1, other) if b > 1 else np.full(b, -1)
        else:
            rows = torch.arange(b, device=other.device)
            index = torch.where(other >= rows, other + 1, other) if b > 1 else torch.full_like(other, -1)
        return MixParams(applied=tensor(u[:, 0] < self.p) & (b > 1), sir_db=tensor(scale_uniform(u[:, 1],
                         self.min_sir_db, self.max_sir_db)), source_index=tensor(index))

    def _apply_params(self, x, params, lengths, owned):
        if self.utterances is not None:
            return self.utterances._apply_params(x, params, lengths, owned)
        idx = params.source_index.to(x.device)
        usable = (idx >= 0) & (idx < x.shape[0])  # params of a sub-batch (Params.select) may name absent examples
        idx = torch.where(usable, idx, torch.zeros_like(idx))
        interferer = x.index_select(0, idx)
        mask = valid_mask(lengths, x.shape[-1], x.device)
        if mask is not None:  # the interferer's own valid samples, cut at this example's length
            interferer = interferer * expand_to(mask.index_select(0, idx) & mask, x).to(x.dtype)
        return add_scaled_noise(x, interferer, params.sir_db.to(x.device), params.applied.to(x.device) & usable,
                                lengths, self.snr_reference, owned=True)

    def records(self, params, info=None):
        if self.utterances is None:
            return super().records(params, info)
        rows = self.utterances.records(params, info)
        for row in rows:
            row["transform"] = "Mix"
            row["sir_db"] = row.pop("snr_db")
            row["source"] = row.pop("clip_name")
        return rows
