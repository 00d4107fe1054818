"""Accuracy arithmetic and class matching by wnid, on hand-built cases."""
import torch

from vitviz.evaluation.loop import label_map, spread_rows, topk_hits


def test_topk_hits_known_answer():
    logits = torch.tensor([[0.1, 0.9, 0.0, 0.0, 0.0, 0.0],    # top-1 = 1
                           [0.5, 0.1, 0.2, 0.3, 0.4, 0.6],    # order 5,0,4,3,2,1
                           [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    targets = torch.tensor([1, 2, 5])
    # row 0: top-1 hit. row 1: target 2 is 5th -> top-5 hit only. row 2: target 5 ties at 0 -> rank > 1
    c = topk_hits(logits, targets)
    assert c.tolist() == [1, 3]


def test_topk_caps_k_at_the_class_count():
    c = topk_hits(torch.tensor([[0.0, 1.0, 2.0]]), torch.tensor([0]))
    assert c.tolist() == [0, 1]


def test_label_map_by_wnid():
    m = label_map(["n2", "n1", "n9"], ["n0", "n1", "n2"])
    assert m.tolist() == [2, 1, -1]


def test_spread_rows():
    assert spread_rows(10, 0) == list(range(10))
    assert spread_rows(10, 3) == [0, 4, 9] or spread_rows(10, 3) == [0, 5, 9]
    assert spread_rows(5, 50) == list(range(5))
