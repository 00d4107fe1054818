"""Top-1/top-5 accuracy of a classifier on a prepared split, matching classes by wnid."""
from __future__ import annotations

import logging

import numpy as np
import torch
from tqdm import tqdm

from .data import IndexedImages, loader
from .distributed import all_sum, context, shard
from .imagenet import DatasetIndex
from .zoo import LoadedModel

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


def topk_correct(logits: torch.Tensor, targets: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[int, int]:
    """Number of rows whose target is among the top-k logits, for each k (capped at the class count)."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hit = top == targets[:, None]
    return {k: int(hit[:, :min(k, kmax)].any(dim=1).sum()) for k in ks}


@torch.no_grad()
def evaluate(loaded: LoadedModel, index: DatasetIndex, split: str = "val", limit: int = 0,
             batch_size: int = 64, num_workers: int = 0, device: str | torch.device = "cpu") -> dict:
    """Accuracy of `loaded` on `split`; 'applicable' is false for models without a matching head."""
    spec = loaded.spec
    if spec.num_classes <= 0:
        return {"applicable": False, "reason": "no classifier head"}
    mapping = label_map(index.wnids, spec.class_wnids)
    if (mapping < 0).all():
        return {"applicable": False, "reason": "no class of the dataset is among the model's classes"}
    df = index.split(split)
    rows = [r for r in spread_rows(len(df), limit) if mapping[int(df["label"].iloc[r])] >= 0]
    ctx = context()
    ds = IndexedImages(index, split, loaded.transform, shard(rows, ctx))
    correct = {1: 0, 5: 0}
    seen = skipped = 0
    loaded.model.to(device)
    for x, y, _, sk in tqdm(loader(ds, batch_size, num_workers), desc=f"eval {spec.key}", unit="batch",
                            mininterval=2.0):
        skipped += sk
        if len(x) == 0:
            continue
        logits = loaded.classify(x.to(device)).float().cpu()
        c = topk_correct(logits, mapping[y])
        correct[1] += c[1]
        correct[5] += c[5]
        seen += len(y)
    c1, c5, seen, skipped = (int(v) for v in all_sum(torch.tensor([correct[1], correct[5], seen, skipped]), ctx))
    correct = {1: c1, 5: c5}
    if seen == 0:
        return {"applicable": False, "reason": "no decodable images"}
    return {"applicable": True, "split": split, "images": seen, "skipped": skipped,
            "top1": 100.0 * correct[1] / seen, "top5": 100.0 * correct[5] / seen,
            "chance_top1": 100.0 / spec.num_classes}
