"""Shared fixtures and helpers: a tiny synthetic ImageNet and its index (made once per test session), a fake
Kaggle ImageNet tree, empty model caches, and tiny randomly initialised models (timm ViT, open_clip)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("SE_OFFLINE", "true")   # selenium never fetches a driver: Debian's chromedriver is given to it
# The disk cache of model names and sites (core.disk_cache) starts empty in every test session, never the user's.
os.environ["VITVIZ_CACHE"] = __import__("tempfile").mkdtemp(prefix="vitviz-cache-")
REPO = Path(__file__).resolve().parents[1]

# The tiny timm ViT of the tests: 32 px inputs in a 4 x 4 grid of 8 px patches, 32 channels, 3 blocks.
TINY_VIT = {"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 3, "num_heads": 2}


def tiny_vit(classes: int = 4, seed: int = 0, **kw):
    """A tiny timm VisionTransformer (TINY_VIT updated with `kw`), seeded, in eval mode and frozen."""
    import timm
    import torch
    torch.manual_seed(seed)
    return timm.create_model("vit_tiny_patch16_224", num_classes=classes, **{**TINY_VIT, **kw}
                             ).eval().requires_grad_(False)


def tiny_loaded_model(classes: int = 4, wnids: list[str] | None = None, seed: int = 0, key: str = "tiny",
                      interpolation: str = "bicubic", **kw):
    """tiny_vit as a LoadedModel: 32 px centre crop of the whole image, mean and std 0.5, classes `wnids`."""
    from vitviz.models.spec import ModelSpec
    from vitviz.models.store import LoadedModel
    from vitviz.models.transforms import eval_transform
    model = tiny_vit(classes, seed, **kw)
    spec = ModelSpec(key=key, library="timm", name="vit_tiny_patch16_224", kwargs={**TINY_VIT, **kw},
                     input_size=(3, 32, 32), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), crop_pct=1.0,
                     interpolation=interpolation, num_classes=classes, class_wnids=list(wnids or []))
    return LoadedModel(model, spec, eval_transform(spec))


def tiny_clip_kwargs(embed_dim: int = 16, layers: int = 2, width: int = 32, patch_size: int = 8,
                     head_width: int = 16, text_width: int = 16, text_heads: int = 1, quick_gelu: bool = False
                     ) -> dict:
    """open_clip create_model kwargs of a tiny 'ViT-B-32' (32 px images, a one-layer text tower)."""
    return {"embed_dim": embed_dim, **({"force_quick_gelu": True} if quick_gelu else {}),
            "vision_cfg": {"image_size": 32, "layers": layers, "width": width, "patch_size": patch_size,
                           "head_width": head_width},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": text_width, "heads": text_heads,
                         "layers": 1}}


def tiny_clip_loaded(kwargs: dict | None = None, seed: int = 0, **spec_fields):
    """A tiny open_clip 'ViT-B-32' (tiny_clip_kwargs unless `kwargs`) as a LoadedModel, 32 px centre crop."""
    import open_clip
    import torch
    from vitviz.models.spec import ModelSpec
    from vitviz.models.store import LoadedModel
    from vitviz.models.transforms import eval_transform
    kwargs = kwargs or tiny_clip_kwargs()
    torch.manual_seed(seed)
    model = open_clip.create_model("ViT-B-32", pretrained=None, **kwargs).eval().requires_grad_(False)
    spec = ModelSpec(**{"key": "clip", "library": "open_clip", "name": "ViT-B-32", "kwargs": kwargs,
                        "input_size": (3, 32, 32), "crop_pct": 1.0, **spec_fields})
    return LoadedModel(model, spec, eval_transform(spec))


def pil_inputs(lm, index, split="val"):
    """Independent of vitviz.activations.loader: every image of a split through the model's PIL eval transform (float, normed)."""
    from vitviz.data.imagenet import load_rgb
    return [lm.transform(load_rgb(index.image_path(p))) for p in index.split(split)["path"]]


def write_jpeg(path, rgb=(200, 30, 40), size=(12, 10)):
    """A one-colour JPEG at `path` (folders made)."""
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, rgb).save(path, "JPEG", quality=95)


def make_kaggle(root):
    """A tiny ImageNet in the Kaggle layout: two classes, four train and two val images, boxes, synset names."""
    from vitviz.data.voc import Box, VocObject, write_voc_xml
    d = root / "ILSVRC" / "Data" / "CLS-LOC"
    a = root / "ILSVRC" / "Annotations" / "CLS-LOC"
    for w in ("n02", "n01"):
        for i in (1, 2):
            write_jpeg(d / "train" / w / f"{w}_{i}.JPEG")
    write_voc_xml(a / "train" / "n01" / "n01_1.xml", folder="n01", filename="n01_1", width=12, height=10,
                  objects=[VocObject("n01", Box(1, 2, 5, 6)), VocObject("n02", Box(0, 0, 3, 3)),
                           VocObject("n01", Box(6, 1, 12, 10))])
    for i, w in ((1, "n02"), (2, "n01")):
        stem = f"ILSVRC2012_val_{i:08d}"
        write_jpeg(d / "val" / f"{stem}.JPEG")
        write_voc_xml(a / "val" / f"{stem}.xml", folder="val", filename=stem, width=12, height=10,
                      objects=[VocObject(w, Box(2, 2, 9, 8))])
    (root / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\nILSVRC2012_val_00000001,n02 2 2 9 8 \nILSVRC2012_val_00000002,n01 2 2 9 8 \n")
    (root / "LOC_synset_mapping.txt").write_text("n01 first thing, thing\nn02 second thing\n")


def make_faulty_kaggle(root):
    """make_kaggle's two classes plus one of each fault of the fault matrix (tests/test_faults.py); returns root."""
    import numpy as np
    from PIL import Image
    make_kaggle(root)
    d, a = root / "ILSVRC" / "Data" / "CLS-LOC", root / "ILSVRC" / "Annotations" / "CLS-LOC"
    ok = (d / "train" / "n01" / "n01_1.JPEG").read_bytes()
    (d / "train" / "n01" / "n01_trunc.JPEG").write_bytes(ok[: len(ok) // 3])      # truncated JPEG
    (d / "train" / "n01" / "n01_zero.JPEG").write_bytes(b"")                       # zero-byte JPEG
    Image.new("RGB", (12, 10), (0, 200, 0)).save(d / "train" / "n02" / "n02_png.JPEG", "PNG")  # PNG named .JPEG
    Image.new("CMYK", (12, 10), (0, 255, 255, 0)).save(d / "train" / "n02" / "n02_cmyk.JPEG", "JPEG")
    Image.fromarray(np.full((10, 12), 32768, np.uint16)).save(d / "train" / "n02" / "n02_16bit.JPEG", "PNG")
    (d / "train" / "n03").mkdir()                                                  # empty class folder
    (d / "train" / "n02" / "README.txt").write_text("not an image")                # non-image file
    (a / "train" / "n02").mkdir(parents=True)
    (a / "train" / "n02" / "n02_1.xml").write_text("<annotation><object><name>n02</name>")   # malformed XML
    (a / "train" / "n02" / "n02_2.xml").write_text(
        "<annotation><object><name>n02</name><bndbox><xmin>abc</xmin><ymin>0</ymin><xmax>3</xmax><ymax>3</ymax>"
        "</bndbox></object></annotation>")                                        # non-numeric coordinate
    write_jpeg(d / "train" / "n01" / "n01_other.JPEG")
    from vitviz.data.voc import Box, VocObject, write_voc_xml
    write_voc_xml(a / "train" / "n01" / "n01_other.xml", folder="n01", filename="n01_other", width=12, height=10,
                  objects=[VocObject("n02", Box(0, 0, 4, 4))])                   # only another class's object
    write_voc_xml(a / "train" / "n01" / "n01_2.xml", folder="n01", filename="n01_2", width=12, height=10,
                  objects=[VocObject("n01", Box(9, 8, 3, 2))])                   # inverted box
    write_voc_xml(a / "val" / "ILSVRC2012_val_00000001.xml", folder="val", filename="x", width=12, height=10,
                  objects=[VocObject("n02", Box(-4, 2, 30, 8))])                 # box out of bounds
    return root


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """No HF cache and no torch hub checkpoints: nothing can load without the network."""
    import huggingface_hub.constants as c
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


@pytest.fixture(scope="session")
def make_loaded():
    """Factory of fresh tiny timm ViT LoadedModels: make_loaded(classes=4, wnids=None, seed=0, **vit_kwargs)."""
    return tiny_loaded_model


@pytest.fixture(scope="session")
def tiny_loaded(make_loaded):
    """One shared tiny ViT (4 classes, no wnids, seed 0), for tests that neither change it nor its runtime."""
    return make_loaded()


@pytest.fixture(scope="session")
def make_clip_loaded():
    """Factory of fresh tiny open_clip LoadedModels: make_clip_loaded(kwargs=None, seed=0, **spec_fields)."""
    return tiny_clip_loaded


@pytest.fixture(scope="session")
def tiny_cfg():
    from vitviz.data.settings import SyntheticConfig
    return SyntheticConfig(seed=3, classes=4, train_per_class=6, val_per_class=3, image_size=40,
                           quirk_fraction=0.0)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, tiny_cfg):
    """A prepared dataset folder (images plus index) as the prepare_data stage writes it."""
    from vitviz.data.settings import PrepareDataConfig
    from vitviz.data.prepare import prepare_dataset
    out = tmp_path_factory.mktemp("dataset")
    prepare_dataset(PrepareDataConfig(source="synthetic", synthetic=tiny_cfg), out)
    return out


@pytest.fixture(scope="session")
def tiny_index(tiny_dataset):
    from vitviz.data.imagenet import read_index
    return read_index(tiny_dataset)


def project_copy(dst: Path, params_text: str, message: str = "copy") -> dict:
    """A committed git copy of the project at `dst` (tracked and unignored files, no outputs or lock) with
    `params_text` as params.yaml; returns the environment that runs the copy's own code."""
    import shutil
    import subprocess
    import sys
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, listed):
        if rel.startswith(("data/", "reports/", "atlas/")) or rel == "dvc.lock" or not (REPO / rel).is_file():
            continue
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dst / rel)
    (dst / "params.yaml").write_text(params_text)
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(dst / "src"),  # the copy's code runs, not the checkout's (editable install)
           "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", message]):
        subprocess.run(cmd, cwd=dst, env=env, capture_output=True, check=True)
    return env
