"""Accuracy arithmetic and class matching by wnid, on hand-built cases."""
import torch

from vitviz.data.rows import spread_rows
from vitviz.evaluation.loop import label_map, topk_hits


def test_topk_caps_k_at_the_class_count():
    c = topk_hits(torch.tensor([[0.0, 1.0, 2.0]]), torch.tensor([0]))
    assert c.tolist() == [0, 1]


def test_label_map_by_wnid():
    m = label_map(["n2", "n1", "n9"], ["n0", "n1", "n2"])
    assert m.tolist() == [2, 1, -1]


def test_spread_rows():
    assert spread_rows(10, 0) == list(range(10))
    assert spread_rows(10, 3) == [0, 4, 9]      # linspace 0, 4.5, 9; numpy rounds half to even
    assert spread_rows(5, 50) == list(range(5))
