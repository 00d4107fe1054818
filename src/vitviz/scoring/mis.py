"""The Machine Interpretability Score (MIS) of Zimmermann, Klindt & Brendel (NeurIPS 2024), on embeddings.

One task of a feature: K maximally activating references E+, K minimally activating references E-, and two
queries, q+ (strongly activating) and q- (weakly activating), apart from the references. A similarity model
plays the participant. With s(q, E) the mean cosine similarity of q to the images of E,

    delta = [s(q+, E+) - s(q+, E-)] - [s(q-, E+) - s(q-, E-)]

is the evidence that the machine matches q+ to E+ (and q- to E-). The per-task probability of a correct
answer is sigmoid(alpha * delta); MIS is its mean over N tasks. With alpha None (the default) the machine
answers hard: MIS is the share of tasks with delta > 0 (a tie counts one half), 0.5 is chance.

Sampling (as the public re-implementation of the authors' procedure that we could read does it): from the
top `quantile` of the natural images by the feature's statistic draw K + 1 images without replacement; the K
most activating are E+ and the least activating of the draw is q+. Likewise from the bottom quantile: the K
least activating are E-, the most activating of the draw is q-.

What we could not confirm: the authors' own code (brendel-group) was not reachable from here. The formula
above and the query being the weakest of the K + 1 draw come from a third-party re-implementation
(klindtlab/MachInterp), whose README uses N = 100 tasks and the 0.25 quantile. We found no source for a
calibrated alpha that would hold for our similarity models, so the default is the hard share correct and alpha
is a param; K, N and the quantile are params, with their defaults and sources in scoring/settings.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Tasks:
    """Rows of N tasks of one feature: references (N, K) and queries (N,), for the max and the min side."""
    pos_refs: torch.Tensor
    pos_query: torch.Tensor
    neg_refs: torch.Tensor
    neg_query: torch.Tensor


def sample_tasks(stats: torch.Tensor, n_tasks: int, k: int, quantile: float, generator: torch.Generator) -> Tasks:
    """N 2-AFC tasks from one feature's statistic over n images (indices into `stats`)."""
    n = stats.numel()
    m = math.ceil(n * quantile)
    if m < k + 1:
        raise ValueError(f"the top {quantile:g} of {n} images holds {m} images, fewer than k + 1 = {k + 1}; "
                         "lower score_features.k or raise score_features.quantile")
    desc = torch.sort(stats, descending=True, stable=True).indices
    asc = torch.sort(stats, descending=False, stable=True).indices
    top, bottom = desc[:m], asc[:m]

    def draw(pool: torch.Tensor, descending: bool) -> tuple[torch.Tensor, torch.Tensor]:
        picks = torch.stack([pool[torch.randperm(m, generator=generator)[:k + 1]] for _ in range(n_tasks)])
        order = torch.sort(stats[picks], dim=1, descending=descending, stable=True).indices
        picks = picks.gather(1, order)
        return picks[:, :k], picks[:, k]

    pos_refs, pos_query = draw(top, True)
    neg_refs, neg_query = draw(bottom, False)
    return Tasks(pos_refs, pos_query, neg_refs, neg_query)


def _mean_cos(q: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
    """(..., N): mean cosine similarity of queries (..., N, D) to references (..., N, K, D)."""
    q = torch.nn.functional.normalize(q.float(), dim=-1)
    r = torch.nn.functional.normalize(refs.float(), dim=-1)
    return torch.einsum("...nd,...nkd->...nk", q, r).mean(dim=-1)


def task_evidence(q_plus: torch.Tensor, q_minus: torch.Tensor, e_plus: torch.Tensor, e_minus: torch.Tensor
                  ) -> torch.Tensor:
    """delta (..., N) of each task from embeddings: queries (..., N, D), references (..., N, K, D)."""
    return (_mean_cos(q_plus, e_plus) - _mean_cos(q_plus, e_minus)) - \
        (_mean_cos(q_minus, e_plus) - _mean_cos(q_minus, e_minus))


def task_outcomes(q_plus: torch.Tensor, q_minus: torch.Tensor, e_plus: torch.Tensor, e_minus: torch.Tensor,
                  alpha: float | None = None) -> torch.Tensor:
    """Each task's outcome (..., N): 1 correct, 0 wrong, 1/2 a tie (alpha None), or sigmoid(alpha delta)."""
    delta = task_evidence(q_plus, q_minus, e_plus, e_minus)
    if alpha is None:
        return (delta > 0).float() + 0.5 * (delta == 0).float()
    return torch.sigmoid(alpha * delta)


def mis(q_plus: torch.Tensor, q_minus: torch.Tensor, e_plus: torch.Tensor, e_minus: torch.Tensor,
        alpha: float | None = None) -> torch.Tensor:
    """The 2-AFC accuracy (...,) over the N tasks of each leading index: the mean of `task_outcomes`."""
    return task_outcomes(q_plus, q_minus, e_plus, e_minus, alpha).mean(dim=-1)
