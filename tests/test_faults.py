"""The fault matrix: a Kaggle-layout root with every fault a real ImageNet copy has, at once.

Each fault is asserted by its message or its count; the report is still built and shows the counts.
"""
import json
import logging
import socket
import threading
import time
from collections import Counter

import numpy as np
import pytest

from conftest import make_faulty_kaggle, write_jpeg
from vitviz.core.errors import CheckpointError, ConfigError, DatasetLayoutError, ModelSourceError
from vitviz.data.imagenet import build_index, load_rgb, read_index, try_load_rgb

VAL = "ILSVRC/Data/CLS-LOC/val"


@pytest.fixture
def faulty_root(tmp_path):
    """make_kaggle's two classes plus one of each fault."""
    return make_faulty_kaggle(tmp_path / "imagenet")


def test_index_counts_every_fault(faulty_root, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        meta = build_index(faulty_root, tmp_path / "idx")
    idx = read_index(tmp_path / "idx")
    assert idx.wnids == ["n01", "n02"]                                     # the empty folder adds no class
    assert meta["faults"]["empty_class_folders"] == ["n03"] and "empty class folder" in caplog.text
    tr, va = meta["faults"]["train"], meta["faults"]["val"]
    assert tr["xml_unreadable"] == 2 and tr["non_image_files"] == 1
    assert "n02_1.xml: malformed box XML (no element found" in caplog.text
    assert "n02_2.xml: box coordinate is not a number" in caplog.text
    assert tr["xml_without_true_box"] == 1 and tr["box_inverted"] == 1 and va["box_clipped"] == 1
    rows = idx.split("train").set_index("path")
    other = rows.loc["ILSVRC/Data/CLS-LOC/train/n01/n01_other.JPEG"]
    assert other["annotated"] and json.loads(other["boxes"]) == []        # not "with true box"
    assert json.loads(rows.loc["ILSVRC/Data/CLS-LOC/train/n01/n01_2.JPEG", "boxes"]) == [[3, 2, 9, 8]]
    assert not rows.loc["ILSVRC/Data/CLS-LOC/train/n02/n02_1.JPEG", "annotated"]
    v = idx.split("val").set_index("path")
    assert json.loads(v.loc[f"{VAL}/ILSVRC2012_val_00000001.JPEG", "boxes"]) == [[0, 2, 12, 8]]
    assert meta["splits"]["train"]["images"] == 4 + 2 + 3 + 1              # undecodable files are indexed, skipped later


def test_image_reader_faults(faulty_root):
    t = faulty_root / "ILSVRC/Data/CLS-LOC/train"
    assert np.asarray(load_rgb(t / "n02" / "n02_16bit.JPEG"))[0, 0].tolist() == [128, 128, 128]  # not clipped white
    assert np.asarray(load_rgb(t / "n02" / "n02_png.JPEG"))[0, 0].tolist() == [0, 200, 0]
    cmyk = np.asarray(load_rgb(t / "n02" / "n02_cmyk.JPEG"))[0, 0]
    assert cmyk[0] > 200 and cmyk[1] < 60 and cmyk[2] < 60                 # CMYK (0, 255, 255, 0) is red
    skipped = Counter()
    assert try_load_rgb(t / "n01" / "n01_zero.JPEG", skipped) is None
    assert try_load_rgb(t / "n01" / "n01_trunc.JPEG", skipped) is None
    assert skipped["undecodable"] == 2


def test_passes_skip_and_count_undecodable(faulty_root, tmp_path, make_loaded):
    from vitviz.evaluation.accuracy import evaluate
    build_index(faulty_root, tmp_path / "idx")
    idx = read_index(tmp_path / "idx")
    r = evaluate(make_loaded(classes=2, wnids=["n01", "n02"]), idx, "train", 0, 4, "cpu")
    assert r["skipped"] == 2 and r["images"] == len(idx.split("train")) - 2


def test_report_is_built_and_shows_the_counts(faulty_root, tmp_path, make_loaded):
    from vitviz.pipeline.params import parse_params
    from vitviz.models.store import save_model
    from vitviz.report.build import build_report
    data = tmp_path / "data"
    build_index(faulty_root, data / "dataset")
    lm = make_loaded(classes=2, wnids=["n01", "n02"])
    lm.spec.key = "demo"
    save_model(lm.model, lm.spec, data / "models" / "demo")
    (data / "models" / "demo" / "metrics.json").write_text(json.dumps(
        {"applicable": True, "split": "train", "images": 8, "skipped": 2, "top1": 50.0, "top5": 100.0,
         "params": 1000, "chance_top1": 50.0}))
    params = parse_params({"prepare_data": {"source": "imagenet", "imagenet_root": str(faulty_root)},
                           "models": {"demo": {"source": "file", "library": "timm", "name": "vit_tiny_patch16_224",
                                               "file": str(data / "models" / "demo" / "weights.safetensors")}},
                           "download_models": {"eval_split": "train"}})
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "old.txt").write_text("the previous report")
    build_report(params, data, tmp_path / "reports")   # the sample grid meets the undecodable files and skips them
    md = (tmp_path / "reports" / "report.md").read_text()
    assert "## Skipped inputs" in md and "malformed" in md and "empty class folder" in md and "n03" in md
    assert "| evaluation | demo | train" in md.replace("  ", " ")
    assert not (tmp_path / "reports" / "old.txt").exists()


def test_failed_report_leaves_the_previous_one(faulty_root, tmp_path, monkeypatch):
    from vitviz.pipeline.params import parse_params
    from vitviz.report import build as build_mod
    data = tmp_path / "data"
    build_index(faulty_root, data / "dataset")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "report.md").write_text("the previous report")
    params = parse_params({"prepare_data": {"source": "imagenet", "imagenet_root": str(faulty_root)},
                           "models": {"demo": {"source": "train", "name": "resnet10t",
                                               "preprocess": {"input_size": 32}}}})
    with pytest.raises(FileNotFoundError):   # no model outputs: the models section fails midway
        build_mod.build_report(params, data, tmp_path / "reports")
    assert (tmp_path / "reports" / "report.md").read_text() == "the previous report"


def test_non_wnid_class_folders_fail_with_one_line(tmp_path):
    for w in ("cat", "dog"):
        write_jpeg(tmp_path / "r" / "train" / w / "a.JPEG")
    with pytest.raises(DatasetLayoutError, match=r"not named by WordNet ids \('cat', 'dog'\); rename"):
        build_index(tmp_path / "r", tmp_path / "idx")


# ---- defect 5: checkpoints ----

def test_bad_checkpoints_give_one_line(tmp_path):
    import safetensors.torch
    import timm
    from vitviz.models.store import fit_error, read_weights, weight_shapes
    tiny = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=3)
    f = tmp_path / "w.safetensors"
    safetensors.torch.save_model(tiny, str(f))
    (tmp_path / "cut.safetensors").write_bytes(f.read_bytes()[:40])
    (tmp_path / "junk.pth").write_bytes(b"\x80\x04garbage" * 5)
    with pytest.raises(CheckpointError, match=r"cut\.safetensors: not a readable safetensors"):
        read_weights(tmp_path / "cut.safetensors")
    with pytest.raises(CheckpointError, match=r"junk\.pth: not a readable torch checkpoint \(unpickling failed"):
        read_weights(tmp_path / "junk.pth")
    small = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=3)
    msg = fit_error(small, weight_shapes(f), "vit_small_patch16_224", f)
    n_differ = sum(list(v.shape) != list(tiny.state_dict()[k].shape) for k, v in small.state_dict().items())
    assert msg == (f"{f}: weights do not fit vit_small_patch16_224: {n_differ} tensors differ in shape, first "
                   "cls_token [1, 1, 192] vs [1, 1, 384]; is `name` (or `convert`) right?")
    assert fit_error(tiny, weight_shapes(f), "vit_tiny_patch16_224", f) is None


def test_doctor_reads_the_header(tmp_path):
    import safetensors.torch
    import timm
    from vitviz.models.settings import ModelEntry
    from vitviz.doctor import weights_fit
    f = tmp_path / "w.safetensors"
    safetensors.torch.save_model(timm.create_model("vit_tiny_patch16_224", pretrained=False), str(f))
    ok = weights_fit("k", ModelEntry(source="file", library="timm", name="vit_tiny_patch16_224", file=str(f)), tmp_path)
    bad = weights_fit("k", ModelEntry(source="file", library="timm", name="vit_small_patch16_224", file=str(f)),
                      tmp_path)
    assert ok.status == "ok" and bad.status == "missing" and "do not fit vit_small_patch16_224" in bad.detail


# ---- defect 6 and science point 14: visualize ----

@pytest.mark.parametrize("flag,value,msg", [("steps", -3, "--steps: Input should be greater than or equal to 1"),
                                            ("copies", 0, "--copies: Input should be greater than or equal to 1"),
                                            ("lr", -5.0, "--lr: Input should be greater than or equal to 0")])
def test_visualize_flags_go_through_the_schema(tmp_path, flag, value, msg):
    import argparse
    from vitviz.cli import VIS_FLAGS, check_vis_flags
    args = argparse.Namespace(model="vit_tiny_patch16_224", data=str(tmp_path), params=str(tmp_path / "none.yaml"),
                              **{k: None for k in VIS_FLAGS})
    setattr(args, flag, value)
    with pytest.raises(ConfigError) as e:
        check_vis_flags(args)          # before any model is loaded
    assert e.value.errors == [msg]


def test_visualize_by_name_gets_the_paper_recipe(tmp_path, tiny_loaded, make_clip_loaded):
    import argparse
    from vitviz.cli import VIS_FLAGS, check_vis_flags, visualize_recipe
    (tmp_path / "params.yaml").write_text((__import__("conftest").REPO / "params.yaml").read_text())
    args = argparse.Namespace(model="vit_tiny_patch16_224", data=str(tmp_path), params=str(tmp_path / "params.yaml"),
                              **{k: None for k in VIS_FLAGS})
    cfg, seed, source = visualize_recipe(args, tiny_loaded, check_vis_flags(args))
    assert (cfg.steps, cfg.copies, cfg.jitter, cfg.lr, seed) == (400, 8, 32, 0.1, 0)   # the authors' recipe
    assert "authors' recipe" in source
    clip, _, _ = visualize_recipe(args, make_clip_loaded(), {})
    assert clip.lr == 1.0                                              # and their CLIP learning rate
    args.steps = 7
    cfg, seed, source = visualize_recipe(args, tiny_loaded, check_vis_flags(args))
    assert cfg.steps == 7 and cfg.copies == 8 and "--steps 7" in source


def test_unknown_timm_name_is_one_line():
    from vitviz.cli import open_model
    with pytest.raises(ModelSourceError, match="unknown pretrained tag 'nosuch'"):
        open_model("vit_tiny_patch16_224.nosuch", "/nonexistent")


# ---- defect 8: a hub that accepts and never answers ----

def test_silent_hub_gives_the_project_message_within_seconds(monkeypatch, empty_caches):
    from vitviz.models.settings import ModelEntry
    from vitviz.models.fetch import fetch
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    held, stop = [], threading.Event()

    def accept():   # accept, never answer; stops by itself
        end = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < end:
            try:
                held.append(srv.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{srv.getsockname()[1]}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    t0 = time.monotonic()
    try:
        with pytest.raises(ModelSourceError, match="is unreachable and the weights are not cached"):
            fetch(ModelEntry(source="timm", name="vit_tiny_patch16_224", tag="augreg_in21k_ft_in1k"), "k", timeout=1.0)
        assert time.monotonic() - t0 < 5 and held   # it did connect, and gave up within seconds
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        srv.close()


# ---- defect 9: temporaries outside the outputs ----

def test_temporaries_sit_outside_the_outputs(tmp_path):
    import os
    from vitviz.core.atomic import TMP_DIR, atomic_path, clean_tmp
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    out = tmp_path / "data" / "features" / "vit"
    with atomic_path(out) as tmp:
        assert tmp_path / TMP_DIR in tmp.parents and (tmp_path / "data") not in tmp.parents
        tmp.mkdir()
    assert sorted(p.name for p in out.parent.iterdir()) == ["vit"]
    dead = tmp_path / TMP_DIR / "999999999.vit.abc"        # what a killed writer (no such pid) left
    (dead / "vit").mkdir(parents=True)
    mine = tmp_path / TMP_DIR / f"{os.getpid()}.vit.def"   # a live writer's: kept
    mine.mkdir()
    assert clean_tmp(tmp_path / TMP_DIR) == 1 and not dead.exists() and mine.exists()
    assert ".vitviz-tmp/" in (__import__("conftest").REPO / ".dvcignore").read_text()
