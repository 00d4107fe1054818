"""Per-feature evidence: class selectivity of the top-k exemplars, and related features by the correlation of
their statistics over the mined random sample."""
from __future__ import annotations

import numpy as np
import torch


def class_selectivity(rows: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For rows (k, features) of split rows (-1: missing): the modal class of each feature's exemplars (ties to the
    lower class), how many exemplars are of it, and how many are present (class -1 and 0, 0 where none is)."""
    k, n = rows.shape
    present = rows >= 0
    cls = np.where(present, labels[np.clip(rows, 0, None)], -1)
    top = np.full(n, -1, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    ncls = int(labels.max()) + 1 if len(labels) else 1
    for j in range(n):
        c = cls[present[:, j], j]
        if len(c):
            counts = np.bincount(c, minlength=ncls)
            top[j] = int(counts.argmax())
            count[j] = counts[top[j]]
    return top, count, present.sum(axis=0)


def related_features(values: torch.Tensor, top: int = 5, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """For values (n images, features) of one site: each feature's `top` other features by the Pearson correlation
    of their statistics over the n images, highest first, ties to the lower feature; (features, top) indices (-1:
    none) and correlations. A feature constant over the images correlates with none."""
    v = values.double()
    z = v - v.mean(dim=0)
    norm = z.norm(dim=0)
    ok = norm > 1e-12 * (1 + v.abs().amax(dim=0))
    z = torch.where(ok, z / norm.clamp_min(1e-300), torch.zeros_like(z))
    c = v.shape[1]
    m = min(top, max(c - 1, 0))
    idx = np.full((c, m), -1, dtype=np.int64)
    val = np.zeros((c, m))
    for a in range(0, c, chunk):
        r = z[:, a:a + chunk].t() @ z                                            # (chunk, c)
        r[:, ~ok] = float("-inf")
        r[torch.arange(r.shape[0]), torch.arange(a, a + r.shape[0])] = float("-inf")
        order = torch.sort(r, dim=1, descending=True, stable=True)
        i, x = order.indices[:, :m].numpy(), order.values[:, :m].numpy()
        good = np.isfinite(x) & ok[a:a + chunk].numpy()[:, None]
        idx[a:a + chunk] = np.where(good, i, -1)
        val[a:a + chunk] = np.where(good, x, 0.0)
    return idx, val


def shared_exemplars(rows: np.ndarray, f: int, others: np.ndarray) -> list[int]:
    """How many of feature f's top-k split rows (rows (k, features), -1: missing) each of `others` shares."""
    mine = {int(r) for r in rows[:, f] if r >= 0}
    return [len(mine & {int(r) for r in rows[:, g] if r >= 0}) for g in others]
