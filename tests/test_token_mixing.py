"""Token-mixing probes and Appendix F against independent computations and known answers."""
import pandas as pd
import pytest
import timm
import torch

from conftest import tiny_vit
from vitviz.token_mixing.appendix_f import blackout
from vitviz.token_mixing.probes import cls_probe_error, embed, head_logits, isolating_cls_logits, run_probes


def vit(depth=3):
    return tiny_vit(classes=5, seed=1, depth=depth)


def masked_reference(model, x, layer):
    """Independent implementation: one joint sequence, attention masked so CLS and patches cannot see each
    other in blocks < layer."""
    h = embed(model, x)
    t = h.shape[1]
    allowed = torch.zeros(t, t, dtype=torch.bool)
    allowed[0, 0] = True
    allowed[1:, 1:] = True
    mask = torch.zeros(t, t).masked_fill(~allowed, float("-inf"))
    for i, blk in enumerate(model.blocks):
        h = blk(h, attn_mask=mask if i < layer else None)
    return model.forward_head(model.norm(h))


@torch.no_grad()
def test_layer_zero_is_the_natural_forward():
    m, x = vit(), torch.randn(3, 3, 32, 32)
    assert torch.equal(isolating_cls_logits(m, x, 0), m(x))


@torch.no_grad()
@pytest.mark.parametrize("layer", [1, 2, 3])
def test_isolating_cls_equals_an_attention_mask_implementation(layer):
    m, x = vit(), torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(isolating_cls_logits(m, x, layer), masked_reference(m, x, layer), atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_at_full_depth_the_cls_token_never_sees_the_image(tiny_index, make_loaded):
    m, x = vit(), torch.randn(4, 3, 32, 32)
    out = isolating_cls_logits(m, x, 3)
    assert torch.allclose(out, out[:1].expand_as(out))          # the same logits for every image
    lm = make_loaded(classes=4, wnids=tiny_index.wnids)
    r = run_probes(lm, tiny_index, "val", [0, 3], batch_size=5)
    assert r["isolating_cls"]["3"][0] == pytest.approx(100 / 4)  # one constant prediction over balanced classes


@torch.no_grad()
def test_patch_head_is_head_of_norm_of_each_token():
    m, x = vit(), torch.randn(2, 3, 32, 32)
    h = m.blocks(embed(m, x))
    for p in (1, 7, 16):
        torch.testing.assert_close(head_logits(m, m.norm(h)[:, 1:])[:, p - 1], m.head(m.norm(h[:, p])))


def test_patch_grid_counts(tiny_index, make_loaded):
    lm = make_loaded(classes=4, wnids=tiny_index.wnids)
    r = run_probes(lm, tiny_index, "val", [0], batch_size=4)
    grid = torch.tensor(r["patch_grid_top1"])
    assert grid.shape == (4, 4)
    assert r["patch_average"][0] == pytest.approx(float(grid.mean()))
    assert r["patch_maximum"][0] == pytest.approx(float(grid.max()))
    n = r["images"]
    assert all(abs(v * n / 100 - round(v * n / 100)) < 1e-6 for v in grid.flatten().tolist())  # whole images


def test_models_without_a_cls_token_are_not_applicable():
    assert "no single CLS token" in cls_probe_error(timm.create_model("vit_tiny_patch16_224", img_size=32,
                                                                      class_token=False, global_pool="avg", depth=1))
    assert "not a timm VisionTransformer" in cls_probe_error(timm.create_model("resnet10t"))


def test_blackout_touches_exactly_the_intended_pixels():
    crops = torch.rand(1, 3, 8, 12) + 0.1
    keep = torch.tensor([[[True, False, True], [False, True, False]]])   # a 2 x 3 grid of 4-pixel patches
    out = blackout(crops, keep, 4)
    want = crops.clone()
    want[..., 0:4, 4:8] = 0
    want[..., 4:8, 0:4] = 0
    want[..., 4:8, 8:12] = 0
    assert torch.equal(out, want)
