"""The ImageNet reader: both layouts, labels, true-class boxes, odd files, clear errors."""
import io
import json
import numpy as np
import pytest
from PIL import Image

from conftest import make_kaggle, write_jpeg
from vitviz.data.imagenet import (DatasetLayoutError, ImageDecodeError, build_index, find_layout, load_rgb,
                             read_index)
from vitviz.data.voc import Box, VocObject, write_voc_xml


def test_kaggle_layout_labels_and_boxes(tmp_path):
    make_kaggle(tmp_path / "kaggle")
    meta = build_index(tmp_path / "kaggle", tmp_path / "idx")
    idx = read_index(tmp_path / "idx")
    assert idx.wnids == ["n01", "n02"] and idx.names == ["first thing, thing", "second thing"]
    tr = idx.split("train").set_index("path")
    row = tr.loc["ILSVRC/Data/CLS-LOC/train/n01/n01_1.JPEG"]
    assert row["label"] == 0 and json.loads(row["boxes"]) == [[1, 2, 5, 6], [6, 1, 12, 10]]
    assert not tr.loc["ILSVRC/Data/CLS-LOC/train/n02/n02_1.JPEG", "annotated"]
    va = idx.split("val")
    assert list(va["wnid"]) == ["n02", "n01"] and list(va["label"]) == [1, 0]
    assert meta["splits"]["train"] == {"images": 4, "annotated": 1, "with_true_box": 1}


def test_val_in_class_folders(tmp_path):
    root = tmp_path / "imagenet"
    for w in ("n01", "n02"):
        write_jpeg(root / "train" / w / f"{w}_1.JPEG")
        write_jpeg(root / "val" / w / f"ILSVRC2012_val_0000000{1 if w == 'n01' else 2}.JPEG")
    write_voc_xml(root / "Annotation" / "n02" / "n02_1.xml", folder="n02", filename="n02_1", width=12,
                  height=10, objects=[VocObject("n02", Box(0, 0, 4, 4))])
    build_index(root, tmp_path / "idx")
    idx = read_index(tmp_path / "idx")
    assert list(idx.split("val")["wnid"]) == ["n01", "n02"]
    tr = idx.split("train")
    assert json.loads(tr[tr.wnid == "n02"]["boxes"].iloc[0]) == [[0, 0, 4, 4]]


def test_missing_root_and_split_errors(tmp_path):
    with pytest.raises(DatasetLayoutError, match="dataset root not found; expected"):
        find_layout(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="no ImageNet layout found"):
        find_layout(tmp_path / "empty")
    write_jpeg(tmp_path / "only_train" / "train" / "n01" / "a.JPEG")
    layout = find_layout(tmp_path / "only_train")
    with pytest.raises(DatasetLayoutError, match="split 'val' not found") as e:
        layout.split_dir("val")
    assert "\n" not in str(e.value)
    with pytest.raises(DatasetLayoutError, match="run the prepare_data stage"):
        read_index(tmp_path / "no_index")


def test_cmyk_gray_and_png_named_jpeg_load_as_rgb(tmp_path):
    red = Image.new("RGB", (8, 8), (255, 0, 0))
    red.convert("CMYK").save(tmp_path / "cmyk.JPEG", "JPEG", quality=100)
    Image.new("L", (8, 8), 77).save(tmp_path / "gray.JPEG", "JPEG", quality=100)
    Image.new("RGB", (8, 8), (10, 200, 30)).save(tmp_path / "png.JPEG", "PNG")
    cmyk = np.asarray(load_rgb(tmp_path / "cmyk.JPEG")).astype(int)
    assert cmyk.shape == (8, 8, 3) and np.abs(cmyk - [255, 0, 0]).max() <= 3
    gray = np.asarray(load_rgb(tmp_path / "gray.JPEG")).astype(int)
    assert gray.shape == (8, 8, 3) and np.abs(gray - 77).max() <= 1
    assert (np.asarray(load_rgb(tmp_path / "png.JPEG")) == [10, 200, 30]).all()


def test_adobe_inverted_cmykwrite_jpeg(tmp_path):
    # Photoshop writes CMYK JPEGs inverted with an Adobe APP14 marker; Pillow must undo that
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red
    buf = io.BytesIO()
    cmyk.save(buf, "JPEG", quality=100)
    data = buf.getvalue()
    assert b"Adobe" in data
    (tmp_path / "a.JPEG").write_bytes(data)
    assert np.abs(np.asarray(load_rgb(tmp_path / "a.JPEG")).astype(int) - [255, 0, 0]).max() <= 3


def test_corrupt_image_raises_decode_error(tmp_path):
    (tmp_path / "bad.JPEG").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageDecodeError, match="cannot decode image"):
        load_rgb(tmp_path / "bad.JPEG")


def test_relative_root_resolves_against_the_index(tmp_path):
    make_kaggle(tmp_path / "k")
    build_index(tmp_path / "k", tmp_path / "k_idx", root_ref="../k")
    idx = read_index(tmp_path / "k_idx")
    assert idx.root == (tmp_path / "k").resolve()
    assert all(idx.image_path(p).exists() for p in idx.split("val")["path"])
