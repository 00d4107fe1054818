"""Top-1/top-5 accuracy of a classifier on a prepared split, matching classes by wnid."""
from __future__ import annotations

import logging

import numpy as np
import torch

from vitviz.data.loader import batches
from vitviz.core.distributed import all_sum, context, shard
from vitviz.data.imagenet import DatasetIndex
from vitviz.models.store import LoadedModel

log = logging.getLogger(__name__)


def label_map(dataset_wnids: list[str], model_wnids: list[str]) -> torch.Tensor:
    """For each dataset label, the model's output index of the same wnid, or -1."""
    pos = {w: i for i, w in enumerate(model_wnids)}
    return torch.tensor([pos.get(w, -1) for w in dataset_wnids], dtype=torch.long)


def spread_rows(n: int, limit: int) -> list[int]:
    """`limit` row numbers spread evenly over 0..n-1 (all rows when limit is 0 or >= n)."""
    if limit <= 0 or limit >= n:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, limit).round().astype(int).tolist()))


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
def evaluate(loaded: LoadedModel, index: DatasetIndex, split: str = "val", limit: int = 0,
             batch_size: int = 64, device: str | torch.device = "cpu") -> dict:
    """Accuracy of `loaded` on `split`; 'applicable' is false for models without a matching head."""
    spec = loaded.spec
    if spec.num_classes <= 0:
        return {"applicable": False, "reason": "no classifier head"}
    mapping = label_map(index.wnids, spec.class_wnids)
    if (mapping < 0).all():
        return {"applicable": False, "reason": "no class of the dataset is among the model's classes"}
    rows = classified_rows(index, split, limit, mapping)
    ctx = context()
    device = torch.device(device)
    loaded.to(device)
    classes_of = mapping.to(device)  # dataset label -> model class, looked up on the device
    hits = torch.zeros(2, dtype=torch.long, device=device)
    seen = skipped = 0
    for b in batches(loaded, index, split, shard(rows, ctx), batch_size, device, desc=f"eval {spec.key}"):
        skipped += b.skipped
        if len(b):
            hits += topk_hits(loaded.classify(b.x), classes_of[b.labels.to(device, non_blocking=True)])
            seen += len(b)
    c1, c5, seen, skipped = (int(v) for v in all_sum(torch.cat([hits.cpu(), torch.tensor([seen, skipped])]), ctx))
    if seen == 0:
        return {"applicable": False, "reason": "no decodable images"}
    return {"applicable": True, "split": split, "images": seen, "skipped": skipped,
            "top1": 100.0 * c1 / seen, "top5": 100.0 * c5 / seen,
            "chance_top1": 100.0 / spec.num_classes}
