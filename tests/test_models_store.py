"""Model storage: safetensors plus spec, reloaded offline with the right preprocessing."""
import json

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from vitviz.models.store import detect_kind, load_model, save_model

from vitviz.models.transforms import eval_transform


@pytest.fixture
def tiny_vit_loaded(make_loaded):
    return make_loaded(classes=5, wnids=[f"n{i}" for i in range(5)], key="v", interpolation="bilinear", depth=2)


def test_save_load_roundtrip_same_outputs(tmp_path, tiny_vit_loaded):
    model, spec = tiny_vit_loaded.model, tiny_vit_loaded.spec
    save_model(model, spec, tmp_path / "v")
    stored = json.loads((tmp_path / "v" / "spec.json").read_text())
    assert stored["provenance"]["weights_sha256"] and stored["input_size"] == [3, 32, 32]
    loaded = load_model(tmp_path / "v")
    assert not loaded.model.training and not any(p.requires_grad for p in loaded.model.parameters())
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded.model(x), model(x))
    assert loaded.spec.kind == "vit"


def test_eval_transform_unnormalised_is_float_unit_range(tiny_vit_loaded):
    spec = tiny_vit_loaded.spec
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8))
    raw = eval_transform(spec, normalize=False)(img)
    norm = eval_transform(spec)(img)
    assert raw.dtype == torch.float32 and raw.shape == (3, 32, 32)
    assert 0.0 <= raw.min() and raw.max() <= 1.0
    torch.testing.assert_close(norm, (raw - 0.5) / 0.5)


def test_eval_transform_geometry_known_answer(tiny_vit_loaded):
    # a 40x80 image, crop_pct 1: resize the short side to 32 (-> 32x64), centre crop 32: the middle half
    spec = tiny_vit_loaded.spec
    arr = np.zeros((40, 80, 3), np.uint8)
    arr[:, 20:60] = 255
    out = eval_transform(spec, normalize=False)(Image.fromarray(arr))
    assert out[:, :, 2:30].min() > 0.99


def test_missing_files_give_clear_errors(tmp_path):
    from vitviz.core.errors import ModelMissingError
    with pytest.raises(ModelMissingError, match="nothing/spec.json: no model spec; this model was not downloaded"):
        load_model(tmp_path / "nothing")


def test_detect_kind():
    assert detect_kind(timm.create_model("resnet10t", num_classes=2)) == "cnn"
    assert detect_kind(timm.create_model("vit_tiny_patch16_224", img_size=32, depth=1, num_classes=2)) == "vit"
