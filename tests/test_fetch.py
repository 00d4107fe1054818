"""The real loading code of each source, offline, on local files in the libraries' own formats."""
import time

import open_clip
import pytest
import safetensors.torch
import timm
import torch
import torchvision

from conftest import TINY_VIT, tiny_clip_kwargs
from vitviz.pipeline.params import parse_params
from vitviz.models.fetch import ModelSourceError, fetch

VIT_KW = {**TINY_VIT, "depth": 2}
CLIP_KW = tiny_clip_kwargs(embed_dim=32, width=64, patch_size=16, head_width=32, text_width=32, text_heads=2)


def entry(**kw):
    return parse_params({"models": {"m": kw}}).models["m"]


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_timm_pretrained_file_overlay(tmp_path):
    src = timm.create_model("vit_tiny_patch16_224", num_classes=1000, **VIT_KW)
    safetensors.torch.save_file(src.state_dict(), tmp_path / "vit.safetensors")
    model, spec = fetch(entry(source="timm", name="vit_tiny_patch16_224", tag="augreg_in21k_ft_in1k",
                              file=str(tmp_path / "vit.safetensors"), kwargs=VIT_KW), "vt")
    assert same_weights(model, src)
    assert spec.library == "timm" and spec.kind == "vit" and spec.num_classes == 1000
    assert spec.class_wnids[0] == "n01440764" and spec.mean == (0.5, 0.5, 0.5)
    assert spec.provenance["source_sha256"]


def test_timm_from_a_filled_hf_cache(empty_caches, monkeypatch):
    """A cached HF snapshot is used offline, through timm's own loader."""
    src = timm.create_model("vit_tiny_patch16_224", num_classes=1000, **VIT_KW)
    repo = empty_caches / "hf" / "models--timm--vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    safetensors.torch.save_file(src.state_dict(), repo / "snapshots" / commit / "model.safetensors")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, _ = fetch(entry(source="timm", name="vit_tiny_patch16_224", tag="augreg_in21k_ft_in1k", kwargs=VIT_KW), "v")
    assert same_weights(model, src)


@pytest.mark.parametrize("kw", [
    {"source": "timm", "name": "vit_base_patch16_384", "tag": "orig_in21k_ft_in1k"},
    {"source": "open_clip", "name": "ViT-B-16", "tag": "openai"},
    {"source": "torchvision", "name": "resnet50", "tag": "IMAGENET1K_V1"},
    {"source": "url", "library": "timm", "name": "vit_base_patch16_384",
     "url": "https://example.invalid/B_16_imagenet1k.pth"},
])
def test_offline_fails_fast_with_what_to_do(empty_caches, kw):
    t = time.time()
    with pytest.raises(ModelSourceError) as e:
        fetch(entry(**kw), "m", timeout=2.0, cache_dir=empty_caches / "dl")
    assert time.time() - t < 10
    msg = str(e.value)
    assert "unreachable" in msg and "HF_HUB_OFFLINE=1" in msg and "file:" in msg and "\n" not in msg


def test_open_clip_checkpoint_path(tmp_path):
    src = open_clip.create_model("ViT-B-32", pretrained=None, **CLIP_KW)
    torch.save(src.state_dict(), tmp_path / "clip.pt")
    model, spec = fetch(entry(source="open_clip", name="ViT-B-32", tag="openai", file=str(tmp_path / "clip.pt"),
                              kwargs=CLIP_KW), "clip")
    assert same_weights(model, src)
    assert spec.num_classes == 0 and spec.input_size == (3, 32, 32) and spec.crop_pct == 1.0
    assert spec.kwargs["force_quick_gelu"] is True  # OpenAI weights use QuickGELU
    assert spec.mean == open_clip.OPENAI_DATASET_MEAN


def test_open_clip_file_source_takes_the_towers_input_size(tmp_path):
    """A local open_clip checkpoint (source file) gets the visual tower's own input size and CLIP's mean and std,
    not timm's 224 px ImageNet defaults."""
    src = open_clip.create_model("ViT-B-32", pretrained=None, **CLIP_KW)
    torch.save(src.state_dict(), tmp_path / "clip.pt")
    model, spec = fetch(entry(source="file", library="open_clip", name="ViT-B-32", file=str(tmp_path / "clip.pt"),
                              kwargs=CLIP_KW), "clip")
    assert same_weights(model, src)
    assert spec.input_size == (3, 32, 32) and spec.crop_pct == 1.0
    assert spec.mean == open_clip.OPENAI_DATASET_MEAN and spec.std == open_clip.OPENAI_DATASET_STD


def test_torchvision_state_dict_file(tmp_path):
    src = torchvision.models.resnet18()
    torch.save(src.state_dict(), tmp_path / "r18.pth")
    model, spec = fetch(entry(source="torchvision", name="resnet18", tag="IMAGENET1K_V1",
                              file=str(tmp_path / "r18.pth")), "r18")
    assert same_weights(model, src)
    assert spec.kind == "cnn" and spec.crop_pct == pytest.approx(224 / 256) and spec.interpolation == "bilinear"
    assert spec.num_classes == 1000 and spec.class_wnids[1] == "n01443537"


def test_torchvision_from_the_torch_hub_cache(empty_caches):
    src = torchvision.models.resnet18()
    ckpt = empty_caches / "torch" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    torch.save(src.state_dict(), ckpt / "resnet18-f37072fd.pth")
    model, _ = fetch(entry(source="torchvision", name="resnet18", tag="IMAGENET1K_V1"), "r18", timeout=1.0)
    assert same_weights(model, src)


def test_file_source_and_sha_check(tmp_path):
    src = timm.create_model("resnet10t", num_classes=7)
    safetensors.torch.save_file(src.state_dict(), tmp_path / "r.safetensors")
    model, spec = fetch(entry(source="file", library="timm", name="resnet10t", file=str(tmp_path / "r.safetensors")), "r")
    assert same_weights(model, src) and spec.num_classes == 7
    with pytest.raises(ModelSourceError, match="SHA-256 differs"):
        fetch(entry(source="file", library="timm", name="resnet10t", file=str(tmp_path / "r.safetensors"),
                    sha256="0" * 64), "r")


def test_missing_local_file_is_named(tmp_path):
    with pytest.raises(ModelSourceError, match="checkpoint file not found"):
        fetch(entry(source="timm", name="resnet10t", file=str(tmp_path / "none.pth")), "r")


def lukemelas_checkpoint(timm_model) -> dict:
    """A checkpoint in PyTorch-Pretrained-ViT's names, written independently of the converter from its
    module layout (patch_embedding, class_token, positional_embedding, transformer.blocks[i].attn.proj_q/k/v,
    .proj, .norm1, .pwff.fc1/fc2, .norm2, norm, fc)."""
    sd = timm_model.state_dict()
    out = {"patch_embedding.weight": sd["patch_embed.proj.weight"], "patch_embedding.bias": sd["patch_embed.proj.bias"],
           "class_token": sd["cls_token"], "positional_embedding.pos_embedding": sd["pos_embed"],
           "norm.weight": sd["norm.weight"], "norm.bias": sd["norm.bias"], "fc.weight": sd["head.weight"],
           "fc.bias": sd["head.bias"]}
    for i in range(len(timm_model.blocks)):
        b, t = f"blocks.{i}", f"transformer.blocks.{i}"
        w, bias = sd[f"{b}.attn.qkv.weight"].chunk(3), sd[f"{b}.attn.qkv.bias"].chunk(3)
        for j, k in enumerate("qkv"):
            out[f"{t}.attn.proj_{k}.weight"], out[f"{t}.attn.proj_{k}.bias"] = w[j], bias[j]
        for src, dst in (("attn.proj", "proj"), ("norm1", "norm1"), ("norm2", "norm2"), ("mlp.fc1", "pwff.fc1"),
                         ("mlp.fc2", "pwff.fc2")):
            out[f"{t}.{dst}.weight"], out[f"{t}.{dst}.bias"] = sd[f"{b}.{src}.weight"], sd[f"{b}.{src}.bias"]
    return out


def test_lukemelas_converter_through_the_url_source(tmp_path):
    src = timm.create_model("vit_base_patch32_384", img_size=64, depth=2, num_classes=10).eval()
    cache = tmp_path / "dl"
    cache.mkdir()
    torch.save(lukemelas_checkpoint(src), cache / "B_32_imagenet1k.pth")   # as if downloaded before
    url = "https://github.com/lukemelas/PyTorch-Pretrained-ViT/releases/download/0.0.2/B_32_imagenet1k.pth"
    model, spec = fetch(entry(source="url", library="timm", name="vit_base_patch32_384", url=url,
                              convert="lukemelas_vit", kwargs={"img_size": 64, "depth": 2}), "b32",
                        cache_dir=cache)
    assert same_weights(model, src) and spec.num_classes == 10
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(model(x), src(x))
