"""Quality of a sparse autoencoder on held-out tokens: explained variance, L0, dead and dense latents."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
from torch import Tensor

from vitviz.core.distributed import Context, all_sum, context
from vitviz.sae.model import SparseAutoencoder

DENSE_FRACTION = 0.1  # a latent is dense when it fires on more than this share of the tokens


@dataclass(frozen=True)
class SAEScores:
    """r2: 1 - SSE/SST, SST around the per-dimension mean of the held-out tokens; l0: mean active latents per
    token; dead_fraction: share of latents that never fire; dense_fraction: share that fire on more than
    DENSE_FRACTION of the tokens; fire_rate: share of tokens each latent fires on (width,); tokens: count."""
    r2: float
    l0: float
    dead_fraction: float
    dense_fraction: float
    tokens: int
    fire_rate: Tensor

    def summary(self) -> dict[str, float]:
        """The scalar scores, for a metrics file."""
        return {"r2": self.r2, "l0": self.l0, "dead_fraction": self.dead_fraction,
                "dense_fraction": self.dense_fraction, "tokens": self.tokens}


class ScoreSums:
    """The sums behind SAEScores, added to one batch of held-out tokens at a time (an accumulator of a pass)."""

    def __init__(self, sae: SparseAutoencoder):
        self.sae = sae
        d = sae.input_dim
        self.acc = torch.zeros(3 + 2 * d + sae.width, dtype=torch.float64, device=sae.W_dec.device)

    @torch.no_grad()
    def add(self, x: Tensor) -> None:
        """Count the tokens x (..., d)."""
        sae, d, acc = self.sae, self.sae.input_dim, self.acc
        x = x.to(acc.device, torch.float32).reshape(-1, d)
        z = sae.encode(x)
        on = z > 0
        acc[0] += x.shape[0]
        acc[1] += (x - sae.decode(z).float()).double().square().sum()
        acc[2] += on.sum()
        acc[3:3 + d] += x.double().sum(0)
        acc[3 + d:3 + 2 * d] += x.double().square().sum(0)
        acc[3 + 2 * d:] += on.sum(0)

    def result(self, ctx: Context | None = None, dense_threshold: float = DENSE_FRACTION) -> SAEScores:
        """The scores of every token counted, over all ranks."""
        d = self.sae.input_dim
        acc = all_sum(self.acc, ctx or context()).cpu()
        n, sse, nnz = acc[0].item(), acc[1].item(), acc[2].item()
        sum_x, sum_x2, fires = acc[3:3 + d], acc[3 + d:3 + 2 * d], acc[3 + 2 * d:]
        sst = float((sum_x2 - sum_x.square() / max(n, 1.0)).sum())
        rate = fires / max(n, 1.0)
        return SAEScores(r2=1.0 - sse / sst if sst > 0 else float("nan"), l0=nnz / max(n, 1.0),
                         dead_fraction=float((fires == 0).double().mean()),
                         dense_fraction=float((rate > dense_threshold).double().mean()), tokens=int(n),
                         fire_rate=rate.float())


def evaluate(sae: SparseAutoencoder, batches: Tensor | Iterable[Tensor], ctx: Context | None = None,
             dense_threshold: float = DENSE_FRACTION) -> SAEScores:
    """The scores of `sae` (inference sparsity) on held-out tokens: one (..., d) tensor or an iterable of them.

    Under torch.distributed each rank passes its share; the sums are merged so every rank gets the scores of
    all the tokens."""
    sums = ScoreSums(sae)
    for x in ([batches] if isinstance(batches, Tensor) else batches):
        sums.add(x)
    return sums.result(ctx, dense_threshold)
