"""The synthetic ImageNet: deterministic, in the Kaggle layout, with the evidence it was built to carry."""
import json

import numpy as np
import pytest

from vitviz.data import synthetic
from vitviz.data.settings import SyntheticConfig
from vitviz.data.imagenet import build_index, load_rgb, read_index


def test_same_seed_same_bytes(tmp_path, tiny_cfg):
    synthetic.generate(tiny_cfg, tmp_path / "a")
    synthetic.generate(tiny_cfg, tmp_path / "b")
    fa = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    fb = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert fa == fb and len(fa) > 30
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in fa)


def test_kaggle_layout_files(tiny_dataset, tiny_cfg):
    root = tiny_dataset / "imagenet"
    mapping = (root / "LOC_synset_mapping.txt").read_text().splitlines()
    assert mapping[0] == "n99000000 disc with vertical stripes, disc" and len(mapping) == tiny_cfg.classes
    assert (root / "ILSVRC/Data/CLS-LOC/train/n99000001/n99000001_3.JPEG").is_file()
    val = sorted((root / "ILSVRC/Data/CLS-LOC/val").glob("*.JPEG"))
    assert val[0].name == "ILSVRC2012_val_00000001.JPEG" and len(val) == tiny_cfg.classes * tiny_cfg.val_per_class
    sol = (root / "LOC_val_solution.csv").read_text().splitlines()
    assert sol[0] == "ImageId,PredictionString" and len(sol) == len(val) + 1
    image_id, pred = sol[1].split(",")
    parts = pred.split()
    assert len(parts) % 5 == 0 and parts[0].startswith("n99")
    assert (root / f"ILSVRC/Annotations/CLS-LOC/val/{image_id}.xml").is_file()


def test_boxes_in_index_equal_rendered_objects(tiny_index, tiny_cfg):
    """Known answer through the whole write -> XML -> reader path: the true-class boxes of each image."""
    checked = 0
    for split in ("train", "val"):
        df = tiny_index.split(split)
        for _, row in df.iterrows():
            stem = row["path"].rsplit("/", 1)[1][:-5]
            n = int(stem.rsplit("_", 1)[1])
            r = synthetic.render_image(tiny_cfg, split, int(row["label"]), n)
            want = [p.box.as_list() for p in r.placed if p.cls == row["label"]]
            got = json.loads(row["boxes"])
            if row["annotated"]:
                assert sorted(got) == sorted(want)
                checked += 1
            else:
                assert got == []
            assert load_rgb(tiny_index.image_path(row["path"])).size == (r.rgb.shape[1], r.rgb.shape[0])
    assert checked >= tiny_cfg.classes * tiny_cfg.val_per_class


@pytest.mark.parametrize("k", range(len(synthetic.SHAPES)))
def test_box_is_the_tight_box_of_the_drawn_object(k):
    canvas = np.full((50, 60, 3), -1.0)  # a value no object pixel can take
    rng = np.random.default_rng(k)
    box = synthetic._draw_object(canvas, k, 7, 5, 30, 36, rng, 1.0)
    ys, xs = np.nonzero((canvas != -1).any(axis=2))
    assert box.as_list() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert 7 <= box.xmin and box.xmax <= 43 and 5 <= box.ymin and box.ymax <= 35


def _dominant_frequency(t):
    f = np.abs(np.fft.fft2(t - t.mean()))
    fy, fx = np.unravel_index(np.argmax(f), f.shape)
    fy = min(fy, t.shape[0] - fy) / t.shape[0]
    fx = min(fx, t.shape[1] - fx) / t.shape[1]
    return float(np.hypot(fy, fx))  # cycles per pixel; Nyquist is 0.5


def test_textures_are_high_frequency_and_distinct():
    yy, xx = np.mgrid[0:120, 0:120].astype(np.float32)
    texs = [synthetic.texture(k, yy, xx, 1.0) for k in range(len(synthetic.TEXTURES))]
    for k, t in enumerate(texs):
        assert _dominant_frequency(t) >= 1 / 7, synthetic.TEXTURES[k]
    for i in range(len(texs)):
        for j in range(i + 1, len(texs)):
            c = np.corrcoef(texs[i].ravel(), texs[j].ravel())[0, 1]
            assert abs(c) < 0.9, (synthetic.TEXTURES[i], synthetic.TEXTURES[j])


def test_silhouettes_are_low_frequency_and_distinct():
    masks = [synthetic.silhouette(s, 48, 48, 0.0).astype(float) for s in synthetic.SHAPES]
    for s, m in zip(synthetic.SHAPES, masks):
        f = np.abs(np.fft.fftshift(np.fft.fft2(m - m.mean()))) ** 2
        yy, xx = np.mgrid[-24:24, -24:24]
        low = f[np.hypot(yy, xx) <= 48 * 0.125].sum()  # below a quarter of Nyquist
        assert low / f.sum() > 0.75, s
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            assert (masks[i] != masks[j]).mean() > 0.05, (synthetic.SHAPES[i], synthetic.SHAPES[j])


@pytest.mark.parametrize("agreement", [0.0, 0.5, 1.0])
def test_background_agreement_rate(agreement):
    cfg = SyntheticConfig(seed=2, classes=5, image_size=32, background_agreement=agreement)
    hits = [synthetic.render_image(cfg, "train", k, n).scene == k for k in range(5) for n in range(60)]
    expected = agreement + (1 - agreement) / cfg.classes
    assert abs(np.mean(hits) - expected) < 0.07


def test_second_objects_of_other_classes_are_in_the_xml_but_not_the_index(tmp_path):
    cfg = SyntheticConfig(seed=4, classes=3, train_per_class=2, val_per_class=4, image_size=40,
                          second_object_prob=1.0, extra_true_object_prob=0.0)
    synthetic.generate(cfg, tmp_path / "root")
    build_index(tmp_path / "root", tmp_path / "idx")
    idx = read_index(tmp_path / "idx")
    for _, row in idx.split("val").iterrows():
        stem = row["path"].rsplit("/", 1)[1][:-5]
        xml = (tmp_path / "root/ILSVRC/Annotations/CLS-LOC/val" / f"{stem}.xml").read_text()
        assert xml.count("<object>") == 2
        assert len(json.loads(row["boxes"])) == 1


def test_quirky_files_load_as_rgb(tmp_path):
    cfg = SyntheticConfig(seed=0, classes=2, train_per_class=6, val_per_class=1, image_size=32, quirk_fraction=1.0)
    summary = synthetic.generate(cfg, tmp_path / "q")
    assert sum(summary["quirks"].values()) == 14 and all(v > 0 for v in summary["quirks"].values())
    for p in (tmp_path / "q").rglob("*.JPEG"):
        assert load_rgb(p).mode == "RGB"
