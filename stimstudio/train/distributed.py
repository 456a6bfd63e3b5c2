"""torchrun support: NCCL on GPUs, gloo on CPU; single-process needs nothing."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> Dist:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    if device.type == "cuda":
        torch.cuda.set_device(local)
    return Dist(rank, world, local)


def all_reduce_grads(module: torch.nn.Module, d: Dist) -> None:
    """Average gradients across ranks (what DDP does; explicit so lazy R1 steps stay simple)."""
    if not d.enabled:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= d.world_size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].reshape(g.shape))
        offset += n


def all_reduce_mean(t: torch.Tensor, d: Dist) -> torch.Tensor:
    """The mean of `t` over ranks (in place); a no-op in a single process."""
    if d.enabled:
        dist.all_reduce(t)
        t /= d.world_size
    return t


def broadcast_module(module: torch.nn.Module, d: Dist) -> None:
    """Start every rank from rank 0's weights and buffers."""
    if not d.enabled:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def cleanup(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()
