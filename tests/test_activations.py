"""The activation layer: one streaming pass feeding accumulators, against computations by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import pil_inputs
from vitviz.activations.collect import Collect
from vitviz.activations.density import Density
from vitviz.activations.histogram import Histogram, fitting_exponent
from vitviz.activations.mean import Mean
from vitviz.activations.sample import Sample, sample_rows
from vitviz.activations.sites import list_sites
from vitviz.activations.stream import Activations, stream
from vitviz.activations.topk import TopK
from vitviz.core.distributed import Context


def hand_statistics(lm, index, layer: int) -> torch.Tensor:
    """(images, channels): the mean over patch tokens of block `layer`'s FFN activation, by a hook written here."""
    return hand_tokens(lm, index, layer).mean(1)


def test_one_pass_feeds_every_accumulator_the_same_images(tiny_loaded, tiny_index):
    sites = list_sites(tiny_loaded.model)
    ffn = [sites["blocks.0.ffn"], sites["blocks.2.ffn"]]
    topk, mean, coll = TopK(ffn, 3), Mean(ffn), Collect(sites, [("blocks.2.ffn", 5), ("blocks.0.ffn", 1)])
    n = len(tiny_index.split("val"))
    done = stream(tiny_loaded, tiny_index, "val", list(range(n)), [topk, mean, coll], batch_size=4)
    assert done.images == n and done.skipped == 0
    s0, s2 = hand_statistics(tiny_loaded, tiny_index, 0), hand_statistics(tiny_loaded, tiny_index, 2)
    torch.testing.assert_close(mean.means["blocks.2.ffn"].float(), s2.mean(0), atol=1e-6, rtol=1e-5)
    order = torch.sort(s2[:, 7], descending=True, stable=True).indices[:3]
    assert topk.indices[:, s0.shape[1] + 7].tolist() == order.tolist()       # columns of site 2 follow site 0's
    torch.testing.assert_close(topk.values[:, 7], torch.sort(s0[:, 7], descending=True).values[:3])
    assert coll.rows.tolist() == list(range(n))
    torch.testing.assert_close(coll.values, torch.stack([s2[:, 5], s0[:, 1]], 1))


def test_lowest_keeps_the_minimising_images(tiny_loaded, tiny_index):
    site = list_sites(tiny_loaded.model)["blocks.1.ffn"]
    low = TopK([site], 2, lowest=True)
    stream(tiny_loaded, tiny_index, "val", list(range(len(tiny_index.split("val")))), [low], batch_size=5)
    s = hand_statistics(tiny_loaded, tiny_index, 1)
    assert low.indices[:, 3].tolist() == torch.sort(s[:, 3], stable=True).indices[:2].tolist()
    torch.testing.assert_close(low.values[:, 3], torch.sort(s[:, 3]).values[:2])   # lowest first, raw values


def hand_tokens(lm, index, layer: int) -> torch.Tensor:
    """(images, patch tokens, channels): block `layer`'s FFN activation, by a hook written here."""
    got = []
    h = lm.model.blocks[layer].mlp.act.register_forward_hook(lambda m, i, o: got.append(o[:, 1:]))
    try:
        with torch.no_grad():
            for chunk in torch.stack(pil_inputs(lm, index)).split(4):     # the pass's batches of 4, in row order
                lm.model.forward_features(chunk)
    finally:
        h.remove()
    return torch.cat(got)


def test_sample_keeps_every_channel_on_the_drawn_rows(tiny_loaded, tiny_index):
    sites = list_sites(tiny_loaded.model)
    n = len(tiny_index.split("val"))
    rows = sample_rows(list(range(n)), 5, seed=1)
    assert rows == sorted(set(rows)) and len(rows) == 5 and set(rows) <= set(range(n))
    assert rows == sample_rows(list(range(n)), 5, seed=1) and rows != sample_rows(list(range(n)), 5, seed=2)
    assert sample_rows([3, 9, 4], 10) == [3, 4, 9]                     # fewer rows than asked: all of them
    acc = Sample([sites["blocks.0.ffn"], sites["blocks.2.ffn"]], rows)
    stream(tiny_loaded, tiny_index, "val", list(range(n)), [acc], batch_size=4)
    s0, s2 = hand_statistics(tiny_loaded, tiny_index, 0), hand_statistics(tiny_loaded, tiny_index, 2)
    assert acc.rows.tolist() == rows
    torch.testing.assert_close(acc.values, torch.cat([s0[rows], s2[rows]], dim=1))


def test_density_counts_active_images_and_patch_tokens(tiny_loaded, tiny_index):
    site = list_sites(tiny_loaded.model)["blocks.1.ffn"]
    acc = Density([site])
    n = len(tiny_index.split("val"))
    stream(tiny_loaded, tiny_index, "val", list(range(n)), [acc], batch_size=5)
    tok = hand_tokens(tiny_loaded, tiny_index, 1)                       # (n, 16, 128)
    assert acc.images["blocks.1.ffn"].tolist() == (tok > 0).any(1).sum(0).tolist()
    assert acc.patches["blocks.1.ffn"].tolist() == (tok > 0).sum((0, 1)).tolist()
    assert acc.totals["blocks.1.ffn"] == (n, n * 16)
    assert 0 < int(acc.patches["blocks.1.ffn"].sum()) < n * 16 * 128   # GELU: some tokens active, not all


class ActiveShare:
    """A new statistic in a few lines: the share of images on which each channel's mean is positive."""

    def __init__(self, sites):
        self.sites, self.count, self.images = list(sites), {}, 0

    def update(self, acts: Activations) -> None:
        for s in self.sites:
            self.count[s.name] = self.count.get(s.name, 0) + (acts.statistic(s) > 0).sum(0)
        self.images += len(acts)

    def finish(self, ctx: Context) -> None:
        self.share = {k: v.float() / self.images for k, v in self.count.items()}


def test_a_new_statistic_is_an_accumulator_of_a_few_lines(tiny_loaded, tiny_index):
    site = list_sites(tiny_loaded.model)["blocks.1.ffn"]
    acc = ActiveShare([site])
    stream(tiny_loaded, tiny_index, "val", list(range(len(tiny_index.split("val")))), [acc], batch_size=4)
    s = hand_statistics(tiny_loaded, tiny_index, 1)
    torch.testing.assert_close(acc.share["blocks.1.ffn"], (s > 0).float().mean(0))


# ---------------------------------------------------------------- the histogram: exact counts, edges from the data

def test_histogram_known_answer():
    """Values 0, 0.3, 0.6, 2.9 in 4 bins: width 0.5 would need bins 0..5 (6 > 4), width 1 needs 0..2, so the bins
    are [0, 1), [1, 2), [2, 3), [3, 4) and the counts 3, 0, 1, 0."""
    h = Histogram([], bins=4)
    st = h.add(None, torch.tensor([[0.0], [0.3], [0.6], [2.9]], dtype=torch.float64))
    assert st["e"].tolist() == [0] and st["k0"].tolist() == [0] and st["counts"].tolist() == [[3, 0, 1, 0]]
    assert fitting_exponent(torch.tensor([-0.1]), torch.tensor([0.1]), torch.tensor([-20]), 4).tolist() == [-4]


@pytest.mark.parametrize("chunks", [1, 7, 50])
def test_histogram_counts_equal_numpy_on_its_edges_in_any_order(chunks):
    g = torch.Generator().manual_seed(0)
    v = torch.randn(300, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 50.0, 1e-3], dtype=torch.float64)
    v[:, 0] = v[:, 0].abs() + 0.25
    h = Histogram([], bins=12)
    st, perm = None, torch.randperm(300, generator=g)
    for part in v[perm].split(chunks):
        st = h.add(st, part)
    for c in range(3):
        w = 2.0 ** int(st["e"][c])
        edges = (int(st["k0"][c]) + np.arange(13)) * w
        assert (np.histogram(v[:, c].numpy(), bins=edges)[0] == st["counts"][c].numpy()).all()
        span = np.flatnonzero(st["counts"][c].numpy())
        assert span[-1] - span[0] + 1 >= 6           # the data fill at least half of the bins
    whole = h.add(None, v)                           # one batch gives the same state: order and batching free
    assert all(torch.equal(st[k], whole[k]) for k in ("e", "k0", "counts"))
    merged = h.merge(h.add(None, v[:100]), h.add(None, v[100:]))   # as ranks merge
    assert all(torch.equal(merged[k], whole[k]) for k in ("e", "k0", "counts"))


def test_histogram_ignores_non_finite_values():
    h = Histogram([], bins=4)
    st = h.add(None, torch.tensor([[1.0], [float("nan")], [float("inf")], [1.5]], dtype=torch.float64))
    assert int(st["counts"].sum()) == 2


def test_fitting_exponent_is_the_smallest_that_fits():
    """Against a search written here: from `start` upwards, the first exponent whose bins hold [lo, hi]."""
    g = torch.Generator().manual_seed(1)
    lo = torch.randn(500, generator=g, dtype=torch.float64) * torch.logspace(-4, 3, 500, dtype=torch.float64)
    hi = lo + torch.rand(500, generator=g, dtype=torch.float64) * torch.logspace(-5, 4, 500, dtype=torch.float64)
    hi[:20] = lo[:20]                                            # constant channels
    start = torch.randint(-20, 5, (500,), generator=g)
    got = fitting_exponent(lo, hi, start, 24)
    for c in range(500):
        e = int(start[c])
        while np.floor(float(hi[c]) / 2.0 ** e) - np.floor(float(lo[c]) / 2.0 ** e) >= 24:
            e += 1
        assert int(got[c]) == e, c
