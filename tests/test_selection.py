"""Feature selection: listed, random with a seed, and the highest mean activation against brute force."""
import pytest
import torch

from conftest import pil_inputs
from vitviz.visualization.selection import mean_activations, select_targets, top_channels
from vitviz.activations.sites import SiteError, list_sites
from vitviz.visualization.optimize import Target


def test_top_channels_ties_go_to_the_lower_index():
    assert top_channels(torch.tensor([1.0, 3.0, 3.0, 0.5, 3.0]), 2) == [1, 2]


def test_explicit_targets_are_checked(tiny_loaded):
    lm = tiny_loaded
    assert select_targets(lm, "explicit", [], None, 1, {"blocks.1.ffn": [3, 4]}) == [
        Target("blocks.1.ffn", 3), Target("blocks.1.ffn", 4)]
    with pytest.raises(SiteError):
        select_targets(lm, "explicit", [], None, 1, {"blocks.1.ffn": [999]})


def test_random_targets_are_seeded_per_layer_and_kind(tiny_loaded):
    lm = tiny_loaded
    a = select_targets(lm, "random", ["ffn", "attn.k"], [0, 2], 3, seed=4)
    b = select_targets(lm, "random", ["ffn", "attn.k"], [0, 2], 3, seed=4)
    c = select_targets(lm, "random", ["ffn", "attn.k"], [0, 2], 3, seed=5)
    assert a == b and a != c and len(a) == 12
    assert {t.site for t in a} == {"blocks.0.ffn", "blocks.0.attn.k", "blocks.2.ffn", "blocks.2.attn.k"}


def test_top_mean_equals_brute_force(tiny_index, tiny_loaded):
    lm = tiny_loaded
    site = list_sites(lm.model)["blocks.1.ffn"]
    means = mean_activations(lm, [site], tiny_index, "val", limit=100, batch_size=5)
    acts = []
    for x in pil_inputs(lm, tiny_index, "val"):
        x = x[None]
        m = lm.model
        h = m.blocks[0](m._pos_embed(m.patch_embed(x)))
        b = m.blocks[1]
        h = h + b.attn(b.norm1(h))
        acts.append(b.mlp.act(b.mlp.fc1(b.norm2(h)))[0, 1:].mean(0))
    want = torch.stack(acts).mean(0).double()
    torch.testing.assert_close(means["blocks.1.ffn"], want, rtol=1e-5, atol=1e-6)
    got = select_targets(lm, "top_mean", ["ffn"], [1], 3, index=tiny_index, split="val", limit=100)
    assert [t.feature for t in got] == top_channels(want, 3)
