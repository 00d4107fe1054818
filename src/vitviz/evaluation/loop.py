"""The loop shared by the classification passes: rows whose class the model has, sharded over ranks, batched,
scored on the device and merged exactly over ranks (with the images seen and skipped)."""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import torch

from vitviz.core.distributed import all_sum, context, shard
from vitviz.data.imagenet import DatasetIndex
from vitviz.data.rows import spread_rows
from vitviz.activations.loader import Batch, Variants, batches
from vitviz.models.store import LoadedModel

log = logging.getLogger(__name__)

# The pass-specific part: counts (of the shape given to count_hits) for one batch and its model-class targets.
ScoreBatch = Callable[[Batch, torch.Tensor], torch.Tensor]


def label_map(dataset_wnids: list[str], model_wnids: list[str]) -> torch.Tensor:
    """For each dataset label, the model's output index of the same wnid, or -1."""
    pos = {w: i for i, w in enumerate(model_wnids)}
    return torch.tensor([pos.get(w, -1) for w in dataset_wnids], dtype=torch.long)


def classified_rows(index: DatasetIndex, split: str, limit: int, mapping: torch.Tensor) -> list[int]:
    """Rows of `split` (`limit` of them spread evenly, 0 for all) whose class the model has (mapping >= 0)."""
    labels = index.split(split)["label"].to_numpy()
    rows = spread_rows(len(labels), limit)
    known = mapping.numpy()[labels[rows]] >= 0
    return [r for r, k in zip(rows, known) if k]


def in_topk(logits: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean (...): whether each target is among the top-k logits of the last dim (k capped at the class count)."""
    top = logits.topk(min(k, logits.shape[-1]), dim=-1).indices
    return (top == targets.unsqueeze(-1)).any(-1)


def topk_hits(logits: torch.Tensor, targets: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> torch.Tensor:
    """(len(ks),) counts of rows whose target is among the top-k logits, on the logits' device (no host sync)."""
    return torch.stack([in_topk(logits, targets, k).sum() for k in ks])


@torch.no_grad()
def count_hits(loaded: LoadedModel, index: DatasetIndex, split: str, rows: Sequence[int], batch_size: int,
               device: str | torch.device, score_batch: ScoreBatch, shape: int | tuple[int, ...],
               variants: Variants | None = None, unit: bool = False, desc: str = ""
               ) -> tuple[torch.Tensor, int, int]:
    """Sum of `score_batch` over the images at `rows` of a split, over all ranks: (counts, seen, skipped).

    Each rank takes its share of `rows`; `score_batch(batch, targets)` gets the targets as model classes on
    the device. The counts stay on the device until the end and come back on the CPU, of `shape`.
    """
    ctx = context()
    device = torch.device(device)
    loaded.prepare(device)
    classes_of = label_map(index.wnids, loaded.spec.class_wnids).to(device)  # dataset label -> model class
    counts = torch.zeros(shape, dtype=torch.long, device=device)
    seen = skipped = 0
    for b in batches(loaded, index, split, shard(list(rows), ctx), batch_size, device, unit=unit,
                     variants=variants, desc=desc):
        skipped += b.skipped
        if len(b):
            counts += score_batch(b, classes_of[b.labels.to(device, non_blocking=True)])
            seen += len(b)
    total = all_sum(torch.cat([counts.cpu().flatten(), torch.tensor([seen, skipped])]), ctx)
    return total[:-2].view(counts.shape), int(total[-2]), int(total[-1])
