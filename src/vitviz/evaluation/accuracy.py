"""Top-1/top-5 accuracy of a classifier on a prepared split, matching classes by wnid."""
from __future__ import annotations

import logging

import torch

from vitviz.data.imagenet import DatasetIndex
from vitviz.evaluation.loop import classified_rows, count_hits, label_map, topk_hits
from vitviz.models.store import LoadedModel

log = logging.getLogger(__name__)


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
    hits, seen, skipped = count_hits(loaded, index, split, rows, batch_size, device,
                                     lambda b, t: topk_hits(loaded.classify(b.x), t), 2, desc=f"eval {spec.key}")
    if seen == 0:
        return {"applicable": False, "reason": "no decodable images"}
    c1, c5 = hits.tolist()
    return {"applicable": True, "split": split, "images": seen, "skipped": skipped,
            "top1": 100.0 * c1 / seen, "top5": 100.0 * c5 / seen,
            "chance_top1": 100.0 / spec.num_classes}
