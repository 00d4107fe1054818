"""Per-feature evidence computed from the top-k exemplars: class selectivity and related features."""
from __future__ import annotations

import warnings

import numpy as np
import torch


def class_selectivity(rows: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows (k, features) of split rows (-1: missing): the modal class of each feature's exemplars (ties to the
    lower class) and its share of the present exemplars (0 and class -1 where none is present)."""
    k, n = rows.shape
    present = rows >= 0
    cls = np.where(present, labels[np.clip(rows, 0, None)], -1)
    top = np.full(n, -1, dtype=np.int64)
    share = np.zeros(n, dtype=np.float64)
    ncls = int(labels.max()) + 1 if len(labels) else 1
    for j in range(n):
        c = cls[present[:, j], j]
        if len(c):
            counts = np.bincount(c, minlength=ncls)
            top[j] = int(counts.argmax())
            share[j] = counts[top[j]] / len(c)
    return top, share


def related_features(rows: np.ndarray, top: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """For rows (k, features) of one site (-1: missing): each feature's `top` other features by Jaccard overlap of
    their exemplar sets, best first, ties to the lower feature; (features, top) indices (-1: none) and overlaps."""
    k, n = rows.shape
    mask = rows >= 0
    uniq, inv = np.unique(rows[mask], return_inverse=True)
    feat = np.broadcast_to(np.arange(n), rows.shape)[mask]
    a = torch.sparse_coo_tensor(np.stack([feat, inv]), torch.ones(len(feat)), (n, max(len(uniq), 1)),
                                check_invariants=True).coalesce()
    with warnings.catch_warnings():  # torch's sparse-CSR beta notice
        warnings.simplefilter("ignore", UserWarning)
        inter = (a @ a.t().coalesce()).to_dense()
    size = inter.diagonal().clone()
    union = size[:, None] + size[None, :] - inter
    jac = torch.where(union > 0, inter / union.clamp_min(1), torch.zeros_like(inter))
    jac.fill_diagonal_(-1.0)
    order = torch.sort(jac, dim=1, descending=True, stable=True)
    m = min(top, max(n - 1, 0))
    idx, val = order.indices[:, :m].numpy(), order.values[:, :m].numpy()
    idx = np.where(val > 0, idx, -1)
    return idx.astype(np.int64), np.where(val > 0, val, 0.0)
