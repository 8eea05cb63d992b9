"""Training batches of one epoch, each one seeded by ``(seed, epoch, batch index)``: where augmentation runs.

The batches of an epoch are fixed before it starts (the rank's :class:`~torch.utils.data.DistributedSampler`
order for the epoch, cut into ``batch_size`` chunks), and batch ``b`` is augmented with a generator seeded by
:func:`audionoise.data.batch_generator` ``(seed, epoch, b)``. So what a batch holds depends on those three
numbers only: not on the number of DataLoader workers, nor on where the augmentation runs, and a resumed run
needs no generator state to continue exactly.

On the CPU (:class:`PreparedBatches`) DataLoader workers build whole batches: load the clips, augment the
waveform batch, compute the log-Mel features and augment them, while the training process runs the previous
step, so the augmentation is off the step's critical path. On a GPU the loader only loads and collates
(:class:`ClipBatches`); the step augments on the device, where it is cheap, with the same per-batch seeding.

Example:
    >>> batches = epoch_batches(dataset_size=10, batch_size=4, seed=0, epoch=0)
    >>> [len(b) for b in batches]
    [4, 4, 2]
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset, DistributedSampler

from audionoise.data import batch_generator
from audionoise.kws.augment import Augmentation
from audionoise.kws.data import collate, split_unreadable
from audionoise.kws.features import LogMel

__all__ = ["ClipBatch", "ClipBatches", "PreparedBatch", "PreparedBatches", "epoch_batches", "first"]


def epoch_batches(dataset_size: int, batch_size: int, seed: int, epoch: int, world: int = 1,
                  rank: int = 0) -> list[list[int]]:
    """This rank's batches of ``epoch``: its shuffled :class:`DistributedSampler` order cut into chunks."""
    sampler = DistributedSampler(range(dataset_size), num_replicas=world, rank=rank, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    order = list(sampler)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def first(batch):
    """DataLoader ``collate_fn`` for datasets whose items are whole batches (``batch_size=None``)."""
    return batch


@dataclass
class ClipBatch:
    """One loaded, collated batch of clips (to be augmented on the device)."""

    index: int
    x: Tensor  # (batch, 1, time)
    lengths: Tensor  # (batch,)
    labels: Tensor  # (batch,)
    unreadable: list[int]  # dataset indices of clips that failed to decode (left out)
    aug_s: float = 0.0  # no augmentation happened in the loader


@dataclass
class PreparedBatch:
    """One training batch ready for the network: features, labels and what preparing it cost."""

    index: int
    features: Tensor  # (batch, n_mels, frames)
    labels: Tensor  # (batch,)
    unreadable: list[int]  # dataset indices of clips that failed to decode (left out)
    aug_s: float  # seconds of augmentation (waveform + spectrogram) spent on this batch
    prep_s: float  # seconds to prepare it (load, collate, augment, features)


class ClipBatches(Dataset):
    """Item ``b`` = batch ``b`` of the epoch, loaded and collated: a :class:`ClipBatch`."""

    def __init__(self, dataset: Dataset, batches: list[list[int]]) -> None:
        self.dataset, self.batches = dataset, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, b: int) -> ClipBatch:
        x, lengths, y = collate([self.dataset[i] for i in self.batches[b]])
        x, lengths, y, bad = split_unreadable(x, lengths, y)
        return ClipBatch(b, x, lengths, y, bad)


class PreparedBatches(ClipBatches):
    """Item ``b`` = batch ``b`` augmented and featurised on the CPU (in a DataLoader worker): a PreparedBatch.

    Args:
        dataset: Training clips ``(waveform (1, time), valid_length, label)``.
        batches: Dataset indices of each batch (:func:`epoch_batches`).
        aug: The training augmentation (waveform and spectrogram stages).
        frontend: The log-Mel frontend.
        seed: Augmentation seed of this rank; batch ``b`` uses ``batch_generator(seed, epoch, b)``.
        epoch: The epoch.
        clean_share: Share of each batch left out of the waveform stage (the curriculum's clean share).
    """

    def __init__(self, dataset: Dataset, batches: list[list[int]], aug: Augmentation, frontend: LogMel, seed: int,
                 epoch: int, clean_share: float = 0.0) -> None:
        super().__init__(dataset, batches)
        self.aug, self.frontend, self.seed, self.epoch = aug, frontend, seed, epoch
        self.clean_share = clean_share

    @torch.no_grad()
    def __getitem__(self, b: int) -> PreparedBatch:
        t0 = time.perf_counter()
        clips = super().__getitem__(b)
        x, lengths = clips.x, clips.lengths
        g = batch_generator(self.seed, self.epoch, b)
        t1 = time.perf_counter()
        x, lengths = self.aug.apply_waveform(x, lengths, g, self.clean_share)
        t2 = time.perf_counter()
        f, frames = self.frontend(x, lengths)
        t3 = time.perf_counter()
        f = self.aug.apply_spectrogram(f, frames, g)
        t4 = time.perf_counter()
        return PreparedBatch(b, f, clips.labels, clips.unreadable, (t2 - t1) + (t4 - t3), t4 - t0)
