"""This process's part in data-parallel training, so one loop serves a single process and a DDP worker alike.

A backend (rpsdet/train/ray_backend.py) starts the process group and hands the loop a `Distributed`; the loop
then shards batches with a DistributedSampler, and only rank 0 evaluates, saves and logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as torch_dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler


@dataclass(frozen=True)
class Distributed:
    rank: int
    world_size: int
    device: torch.device
    threads: int  # torch threads for this worker: its share of the node's cores, chosen by the backend
    wrap: Callable[[torch.nn.Module], torch.nn.Module]  # moves a module to `device` and wraps it for DDP

    @property
    def main(self) -> bool:
        return self.rank == 0

    def loader(self, dataset: Dataset, batch_size: int, seed: int, **kwargs: Any) -> DataLoader:
        """This rank's shard of every epoch: `batch_size` is the global batch, split between the ranks."""
        if batch_size % self.world_size:
            raise ValueError(f"train.batch_size={batch_size} must divide by train.ray_workers={self.world_size}")
        sampler = DistributedSampler(
            dataset, num_replicas=self.world_size, rank=self.rank, shuffle=True, seed=seed, drop_last=True
        )
        return DataLoader(dataset, batch_size=batch_size // self.world_size, sampler=sampler, drop_last=True, **kwargs)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """The mean over all ranks, so logged losses describe every shard, not rank 0's alone."""
        tensor = torch.tensor(list(values.values()), dtype=torch.float64, device=self.device)
        torch_dist.all_reduce(tensor)
        return {key: value / self.world_size for key, value in zip(values, tensor.tolist())}

    def agree(self, flag: bool) -> bool:
        """Rank 0's decision (early stop) for every rank, so none waits forever for a peer that left."""
        box = [flag]
        torch_dist.broadcast_object_list(box, src=0)
        return bool(box[0])

    def main_value(self, value: float) -> float:
        """Rank 0's `value` on every rank (the train.max_minutes clock), so all ranks step the same lr and stop
        at the same step; a collective per call, cheap beside a DDP step's gradient all-reduce."""
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        torch_dist.broadcast(tensor, src=0)
        return float(tensor.item())

    def gather(self, item: Any) -> list[Any]:
        """Every rank's `item`, in rank order (on every rank)."""
        items: list[Any] = [None] * self.world_size
        torch_dist.all_gather_object(items, item)
        return items
