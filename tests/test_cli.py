"""The `vitviz visualize` command on a model folder written by the download_models stage."""
import subprocess
import sys

import timm
from PIL import Image

from vitviz.models.spec import ModelSpec
from vitviz.models.store import save_model


def test_visualize_command(tmp_path):
    kw = {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 2}
    spec = ModelSpec(key="tiny", library="timm", name="vit_tiny_patch16_224", kwargs=kw, input_size=(3, 32, 32),
                     crop_pct=1.0, num_classes=3)
    save_model(timm.create_model(spec.name, num_classes=3, **kw), spec, tmp_path / "data" / "models" / "tiny")
    cmd = [sys.executable, "-m", "vitviz.cli", "visualize", "--model", "tiny", "--data", str(tmp_path / "data"),
           "--params", str(tmp_path / "none.yaml"), "--steps", "3", "--copies", "2", "--jitter", "2"]
    r = subprocess.run(cmd + ["--site", "blocks.1.ffn", "--feature", "5", "-o", str(tmp_path / "f.png")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "f.png").size == (32, 32)
    r = subprocess.run(cmd + ["--site", "blocks.0.attn.v", "--feature", "1", "2", "-o", str(tmp_path / "many")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["blocks.0.attn.v_f0001.png",
                                                                      "blocks.0.attn.v_f0002.png"]
    r = subprocess.run(cmd + ["--site", "blocks.2.ffn", "--feature", "0", "-o", str(tmp_path / "x.png")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "unknown site 'blocks.2.ffn'; valid: blocks.<l>.<kind> with l in 0..1" in r.stderr
