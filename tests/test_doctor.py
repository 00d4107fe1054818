"""`vitviz doctor` on a fake ImageNet tree and an empty model cache."""
import torch
import torchvision

from conftest import make_kaggle
from vitviz.pipeline.params import parse_params
from vitviz.doctor import format_table, run_doctor


def test_doctor_table(tmp_path, monkeypatch, empty_caches):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ckpt = tmp_path / "torch" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    torch.save(torchvision.models.resnet18().state_dict(), ckpt / "resnet18-f37072fd.pth")
    make_kaggle(tmp_path / "imagenet")
    params = parse_params({
        "prepare_data": {"source": "imagenet", "imagenet_root": str(tmp_path / "imagenet")},
        "models": {"vit": {"source": "timm", "name": "vit_base_patch16_384", "tag": "orig_in21k_ft_in1k"},
                   "r18": {"source": "torchvision", "name": "resnet18", "tag": "IMAGENET1K_V1"},
                   "demo": {"source": "train", "name": "resnet10t", "preprocess": {"input_size": 32}}}})
    checks = {c.item: c for c in run_doctor(params, timeout=0.5)}
    assert checks["imagenet"].status == "ok" and checks["imagenet"].detail.endswith("2 classes")
    assert checks["imagenet train"].detail.startswith("4 images (used by training")
    assert checks["imagenet val"].detail.startswith("2 images (used by")
    assert checks["boxes train"].detail == "1 box XMLs"
    assert checks["boxes val"].detail == "2 box XMLs (needed by mask_eval.split)"
    assert checks["network"].status == "warn"
    assert checks["model vit"].status == "missing" and "not cached and offline" in checks["model vit"].detail
    assert "timm/vit_base_patch16_384.orig_in21k_ft_in1k" in checks["model vit"].detail
    assert checks["model r18"].status == "ok" and "weights cached" in checks["model r18"].detail
    assert checks["model demo"].status == "ok" and "trained by the pipeline" in checks["model demo"].detail
    table = format_table(list(checks.values()))
    assert table.splitlines()[0].startswith("check") and table.endswith("not ready: fix model vit")


def test_doctor_names_a_missing_imagenet(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    params = parse_params({"prepare_data": {"source": "imagenet", "imagenet_root": str(tmp_path / "none")},
                           "models": {"demo": {"source": "train", "name": "resnet10t",
                                               "preprocess": {"input_size": 32}}}})
    checks = {c.item: c for c in run_doctor(params, timeout=0.5)}
    assert checks["imagenet"].status == "missing" and "Set prepare_data.imagenet_root" in checks["imagenet"].detail
