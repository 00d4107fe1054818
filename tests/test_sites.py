"""Sites resolve for every supported family on randomly initialised models, and read the right tokens."""
import open_clip
import pytest
import timm
import torch

from conftest import tiny_clip_kwargs
from vitviz.activations.hooks import Recorder, image_forward
from vitviz.visualization.objectives import group_targets, objectives
from vitviz.activations.sites import SiteError, list_sites, resolve

FAMILIES = [  # (timm name, kwargs, input size, blocks, patch tokens at block 0, prefix at block 0)
    ("vit_tiny_patch16_224", {"img_size": 32, "patch_size": 8, "depth": 2, "embed_dim": 32, "num_heads": 2}, 32, 2, 16, 1),
    ("deit_tiny_distilled_patch16_224", {"img_size": 32, "patch_size": 8, "depth": 2}, 32, 2, 16, 2),
    ("vit_small_patch14_reg4_dinov2", {"img_size": 28, "depth": 1, "embed_dim": 32, "num_heads": 2}, 28, 1, 4, 5),
    ("swin_tiny_patch4_window7_224", {"depths": (1, 1, 1, 1), "embed_dim": 32, "num_heads": (1, 2, 2, 2)}, 224, 4, 3136, 0),
    ("pit_ti_distilled_224", {}, 224, 12, 729, 2),
    ("coat_lite_tiny", {}, 224, 8, 3136, 1),
    ("coat_tiny", {}, 224, 14, 3136, 1),
    ("convit_tiny", {"depth": 3, "local_up_to_layer": 2}, 224, 3, 196, 0),
    ("twins_svt_small", {"depths": (1, 1, 1, 1)}, 224, 4, 3136, 0),
    ("twins_pcpvt_small", {"depths": (1, 1, 1, 1)}, 224, 4, 3136, 0),
]


@pytest.mark.parametrize("name,kw,size,blocks,n0,prefix", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_family_sites(name, kw, size, blocks, n0, prefix):
    model = timm.create_model(name, pretrained=False, **kw).eval()
    sites = list_sites(model)
    ffn = [s for s in sites.values() if s.kind == "ffn"]
    assert [s.layer for s in ffn] == list(range(blocks))
    assert ffn[0].prefix == prefix
    s0 = sites["blocks.0.ffn"]
    q = sites.get("blocks.0.attn.q")
    want = [s0] + ([q] if q else [])
    x = torch.rand(1, 3, size, size, requires_grad=True)
    with Recorder(model, [s.module for s in want], stop_after=s0.block) as rec:
        out = rec.run(image_forward(model), x)
        tok = s0.patch_tokens(out[s0.module], 1)
        assert tok.shape == (1, n0, s0.channels)
        obj = objectives(out, group_targets([s0], [3]), 1)
        obj.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    if q:
        assert q.heads and q.channels % q.heads == 0 and q.head_of(q.channels - 1) == q.heads - 1


def test_convit_prefix_appears_with_the_cls_token():
    model = timm.create_model("convit_tiny", depth=3, local_up_to_layer=2).eval()
    sites = list_sites(model)
    assert [sites[f"blocks.{i}.ffn"].prefix for i in range(3)] == [0, 0, 1]
    assert sites["blocks.0.attn.k"].module == "blocks.0.attn.qk" and sites["blocks.2.attn.k"].module == "blocks.2.attn.qkv"


def test_open_clip_visual_tower_sites_and_qkv_projection():
    kw = tiny_clip_kwargs(embed_dim=32, width=64, patch_size=16, head_width=32, text_width=32, text_heads=2,
                          quick_gelu=True)
    model = open_clip.create_model("ViT-B-32", pretrained=None, **kw).eval()
    sites = list_sites(model)
    assert sites["blocks.1.ffn"].module == "visual.transformer.resblocks.1.mlp.gelu"
    assert sites["blocks.0.ffn"].prefix == 1 and sites["blocks.0.ffn"].channels == 256
    assert type(model.visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    k = sites["blocks.0.attn.k"]
    x = torch.rand(2, 3, 32, 32)
    with Recorder(model, [k.module]) as rec:
        out = rec.run(image_forward(model), x)
        ln = out[k.module][0]
        got = k.patch_tokens(out[k.module], 2)
    attn = model.visual.transformer.resblocks[0].attn
    d = 64
    want = ln @ attn.in_proj_weight[d:2 * d].T + attn.in_proj_bias[d:2 * d]
    torch.testing.assert_close(got, want[:, 1:])
    assert k.heads == 2 and k.head_of(33) == 1


def test_wrong_site_or_feature_lists_the_valid_ones():
    model = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2)
    with pytest.raises(SiteError) as e:
        resolve(model, "blocks.7.ffn")
    assert "valid: blocks.<l>.<kind> with l in 0..1 and kind in ffn, attn.in, attn.q, attn.k, attn.v" in str(e.value)
    with pytest.raises(SiteError, match=r"feature 768 out of range for site 'blocks.1.ffn'; valid: 0..767"):
        resolve(model, "blocks.1.ffn", 768)


def test_unsupported_family_is_named():
    with pytest.raises(SiteError, match="not a supported family"):
        list_sites(torch.nn.Linear(2, 2))
    with pytest.raises(SiteError, match="no transformer FFN"):
        list_sites(timm.create_model("resnet10t"))


def test_open_clip_qkv_follows_the_model_when_it_moves():
    model = open_clip.create_model("ViT-B-32", pretrained=None, **tiny_clip_kwargs(layers=1, patch_size=16)).eval()
    q = list_sites(model)["blocks.0.attn.q"]
    model.double()   # .to() replaces parameter tensors; the site must read the live ones
    out = q.project(torch.randn(1, 5, 32, dtype=torch.float64))
    assert out.dtype == torch.float64 and out.shape == (1, 5, 32)


def test_coat_parallel_blocks_have_attention_sites_of_the_finest_scale():
    model = timm.create_model("coat_tiny", pretrained=False).eval()
    sites = list_sites(model)
    layer = len(model.serial_blocks1) * 4  # the first parallel block (serial stages of equal depth in coat_tiny)
    assert sites[f"blocks.{layer}.ffn"].module == "parallel_blocks.0.mlp2.act"
    q, k, a_in = (sites[f"blocks.{layer}.attn.{n}"] for n in ("q", "k", "in"))
    assert a_in.module == "parallel_blocks.0.norm12" and q.module == "parallel_blocks.0.factoratt_crpe2.qkv"
    assert q.spatial and q.prefix == 1 and q.heads == 8 and q.channels == 152
    seen = {}  # independent reading: the finest-scale norm's output through the 28x28 attention's qkv weights
    h = model.parallel_blocks[0].norm12.register_forward_hook(lambda m, i, o: seen.setdefault("x", o))
    x = torch.rand(1, 3, 224, 224)
    with Recorder(model, [k.module], stop_after=k.block) as rec:
        out = rec.run(image_forward(model), x)
        got = k.patch_tokens(out[k.module], 1)
    h.remove()
    qkv = model.parallel_blocks[0].factoratt_crpe2.qkv
    want = (seen["x"] @ qkv.weight[152:304].T + qkv.bias[152:304])[:, 1:]
    assert got.shape == (1, 28 * 28, 152)
    torch.testing.assert_close(got, want)


def test_twins_sub_sampled_keys_and_values_have_no_map():
    import timm
    from vitviz.activations.sites import list_sites
    m = timm.create_model("twins_pcpvt_small", pretrained=False, depths=(1, 1, 1, 1), img_size=64)
    sites = list_sites(m)
    kv = {s.layer: s.spatial for s in sites.values() if s.module.endswith(".attn.kv")}
    sr = {i: getattr(b.attn, "sr", None) is not None for i, b in enumerate(m.blocks[j][0] for j in range(4))}
    assert kv == {i: not sr[i] for i in range(4)} and any(sr.values())   # sr_ratio 8, 4, 2, 1
    assert all(s.spatial for s in sites.values() if s.kind in ("ffn", "attn.q"))
