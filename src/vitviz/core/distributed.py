"""Sharding over torch.distributed processes (as started by torchrun); inert in a single process.

Dataset passes split their rows across ranks and merge exactly: sums with all_reduce, top-k lists with an
all_gather and the same tie-break as one process, maps by filling what each rank computed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    """This process's rank among `world` processes."""
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def context() -> Context:
    """The current process group (started on first use from torchrun's environment), or a single process."""
    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and dist.is_available():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        return Context(dist.get_rank(), dist.get_world_size())
    return Context()


def local_device(name: str) -> torch.device:
    """'auto': this process's GPU (LOCAL_RANK under torchrun) when there is one, else the CPU."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)  # pinned memory and new streams go to this GPU, not every rank's GPU 0
        return device
    return torch.device("cpu")


def shard(items: list, ctx: Context) -> list:
    """This rank's share of `items` (every world-th item, starting at its rank)."""
    return items[ctx.rank::ctx.world] if ctx.world > 1 else items


def all_sum(t: torch.Tensor, ctx: Context) -> torch.Tensor:
    """Sum of `t` over all ranks (a copy; `t` itself is left as it is)."""
    if ctx.world == 1:
        return t
    out = t.clone().to(_comm_device(t))
    dist.all_reduce(out)
    return out.to(t.device)


def all_gather(t: torch.Tensor, ctx: Context) -> list[torch.Tensor]:
    """`t` (same shape on every rank) from every rank, in rank order."""
    if ctx.world == 1:
        return [t]
    src = t.contiguous().to(_comm_device(t))
    parts = [torch.empty_like(src) for _ in range(ctx.world)]
    dist.all_gather(parts, src)
    return [p.to(t.device) for p in parts]


def gather_objects(obj, ctx: Context) -> list:
    """A picklable object from every rank, in rank order."""
    if ctx.world == 1:
        return [obj]
    out = [None] * ctx.world
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: Context) -> None:
    """Wait for every rank."""
    if ctx.world > 1:
        dist.barrier()


def _comm_device(t: torch.Tensor) -> torch.device:
    return t.device if dist.get_backend() == "nccl" else torch.device("cpu")
