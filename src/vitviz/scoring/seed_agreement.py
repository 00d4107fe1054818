"""Seed agreement: two visualisations of one feature against visualisations of other features of the site."""
from __future__ import annotations

import torch


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine similarity of (..., D) embeddings."""
    return torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=-1)


def seed_agreement(first: torch.Tensor, second: torch.Tensor, others: torch.Tensor) -> tuple[float, float]:
    """(same-feature similarity, mean similarity to other features' visualisations; NaN if none) of one feature.

    first, second: (D,) embeddings of the feature's two seeds; others: (M, D) of other features of the site."""
    same = float(cosine(first, second))
    other = float(cosine(first.expand_as(others), others).mean()) if len(others) else float("nan")
    return same, other
