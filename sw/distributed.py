"""Data-parallel training over several processes (``torchrun``), CPU (gloo) or GPU (nccl).

Every rank holds the whole model and takes a contiguous shard of each global batch. After each
backward pass the gradients are summed over the ranks and divided by the world size (what DDP
does); since each rank's loss is weighted by its share of the global batch, every rank then holds
the gradient of the global batch. BSO / T-BSO therefore flip exactly the same weights on every rank,
and the same weights as one process on the same global batch would.

BatchNorm is the one layer that mixes samples: under data parallelism it normalizes with the
statistics of the global batch (``GlobalBatchNorm``: sums all-reduced, differentiably), so the
forward pass equals the single-process one too. torch's own SyncBatchNorm needs a GPU.

    torchrun --nproc_per_node 2 -m flipspike.cli train --method bso ... --out RUN
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def init_from_env(device: torch.device) -> bool:
    """Join the process group torchrun describes in the environment (no-op in a single process).
    Returns whether it did (then :func:`leave` it when done)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return True
    return False


def leave() -> None:
    """Every rank leaves the process group together: one left to the interpreter's exit can abort a rank
    in gloo's teardown ("terminate called without an active exception"), more often on a loaded machine."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def shard(idx: torch.Tensor) -> tuple[torch.Tensor, float]:
    """This rank's contiguous part of a global batch, and the weight of its loss (world * n_local / n)."""
    if not active():
        return idx, 1.0
    parts = torch.tensor_split(idx, world_size())
    mine = parts[rank()]
    return mine, world_size() * len(mine) / len(idx)


def sync_gradients(params) -> None:
    """Sum every gradient over the ranks and divide by the world size."""
    if not active():
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world_size()


class GlobalBatchNorm(nn.Module):
    """BatchNorm over the global batch: y = (x - mean) / sqrt(var + eps) * weight + bias, with mean and
    (biased) var over every sample of every rank; running statistics as torch's BatchNorm (momentum 0.1,
    unbiased variance). Channels on dim 1, as nn.BatchNorm1d / 2d; the same code runs in one process."""

    def __init__(self, channels: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if self.training:
            dims = [0, *range(2, x.ndim)]
            count = torch.full_like(x.sum(dims), x.numel() / x.shape[1])
            stats = torch.stack([x.sum(dims), count])
            if active():
                stats = torch.distributed.nn.functional.all_reduce(stats)
            n = stats[1, 0]
            mean = stats[0] / n
            centered = x - mean.view(shape)
            sq = (centered * centered).sum(dims)
            if active():
                sq = torch.distributed.nn.functional.all_reduce(sq)
            var = sq / n
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(mean.detach(), alpha=self.momentum)
                self.running_var.mul_(1 - self.momentum).add_(var.detach() * n / max(n - 1, 1), alpha=self.momentum)
                self.num_batches_tracked += 1
        else:
            mean, var, centered = self.running_mean, self.running_var, x - self.running_mean.view(shape)
        return centered * torch.rsqrt(var + self.eps).view(shape) * self.weight.view(shape) + self.bias.view(shape)


def use_global_batch_norm(model: nn.Module) -> None:
    """Swap every BatchNorm of ``model.norms`` for a GlobalBatchNorm with the same state (same keys, so
    the saved run loads into an ordinary model)."""
    for i, bn in enumerate(model.norms):
        g = GlobalBatchNorm(bn.num_features, bn.eps, bn.momentum).to(bn.weight.device, bn.weight.dtype)
        g.load_state_dict(bn.state_dict())
        model.norms[i] = g
