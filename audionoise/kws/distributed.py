"""Distributed data-parallel helpers for the trainer (``torchrun``), all no-ops in a single process.

Under ``torchrun --nproc_per_node=N -m audionoise train ...`` the environment holds ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``: :func:`setup` then picks the rank's device and joins the process group (NCCL on CUDA, gloo on
CPU). Each rank trains on its shard; sums and generator states are exchanged with :func:`all_reduce_sum` and
:func:`gather_generator_states`; rank 0 (:attr:`Dist.main`) writes the files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["Dist", "all_reduce_sum", "barrier", "gather_generator_states", "setup"]


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: ``world`` processes, this one is ``rank`` (``local_rank`` on its node)."""

    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes files and logs (rank 0)."""
        return self.rank == 0


def setup(device_name: str) -> tuple[Dist, torch.device]:
    """Read the ``torchrun`` environment, choose the device and join the process group when ``world > 1``.

    Args:
        device_name: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; under DDP each rank
            takes ``cuda:LOCAL_RANK``.

    Raises:
        ValueError: CUDA is requested but not available.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    env = Dist(world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")))
    use_cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ValueError(f"device {device_name!r} requested but CUDA is not available; use --device cpu")
    if use_cuda:
        index = env.local_rank if world > 1 or ":" not in device_name else int(device_name.split(":")[1])
        device = torch.device("cuda", index)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return env, device


def barrier(env: Dist) -> None:
    """Wait for every rank (nothing to wait for in a single process)."""
    if env.world > 1:
        dist.barrier()


def all_reduce_sum(values: list[float], env: Dist, device: torch.device) -> list[float]:
    """The sums of ``values`` over all ranks (float64; ``values`` itself in a single process)."""
    totals = torch.tensor(values, dtype=torch.float64)
    if env.world > 1:  # NCCL reduces CUDA tensors only
        totals = totals.to(device)
        dist.all_reduce(totals)
    return totals.cpu().tolist()


def gather_generator_states(gen: torch.Generator, env: Dist) -> list[Tensor]:
    """Every rank's state of its generator ``gen``, in rank order (for the checkpoint)."""
    state = gen.get_state()
    if env.world == 1:
        return [state]
    states: list[Any] = [None] * env.world
    dist.all_gather_object(states, state)
    return states
