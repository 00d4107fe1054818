"""Masking (Tables 2 and 3): box geometry, fills, and which annotated images count, against known answers."""
from __future__ import annotations

import math
import numpy as np
import pytest
import torch
from vitviz.evaluation.lowpass import CORNER, lowpass, lowpass_eval, normalized_auc
from vitviz.evaluation.masking import box_mask, fill_value, mask_eval, mask_variants, relative
import dataclasses
import json
from vitviz.data.imagenet import DatasetIndex
from vitviz.evaluation.lowpass import lowpass
from vitviz.evaluation.masking import box_mask, fix_box, mask_eval
from vitviz.visualization.paper_recipe import paper_lr_tv


def test_masking_changes_exactly_the_box_pixels():
    img = np.arange(10 * 12 * 3, dtype=np.int64).reshape(10, 12, 3) % 251 + 1   # no zero pixel
    boxes = [[1, 1, 4, 3],      # inside
             [8, 0, 12, 2],     # touching the top and right edges
             [-3, 7, 2, 20],    # partly outside: clipped to columns 0..1, rows 7..9
             [11, 9, 30, 30]]   # the bottom-right pixel only
    inside = np.zeros((10, 12), bool)
    inside[1:3, 1:4] = True
    inside[0:2, 8:12] = True
    inside[7:10, 0:2] = True
    inside[9, 11] = True
    assert (box_mask(10, 12, boxes).numpy() == inside).all()
    v = {k: t.numpy() for k, t in mask_variants(torch.from_numpy(img.astype(np.uint8)), boxes).items()}
    bg, fg = v["background"].astype(np.int64), v["foreground"].astype(np.int64)
    assert (bg[inside] == 0).all() and (bg[~inside] == img[~inside]).all()
    assert (fg[~inside] == 0).all() and (fg[inside] == img[inside]).all()
    assert (v["full"] == img).all()
    mean_fill = fill_value("mean", (0.5, 0.25, 1.0))
    assert mean_fill == (128, 64, 255)
    bg_mean = mask_variants(torch.from_numpy(img.astype(np.uint8)), boxes, mean_fill)["background"]
    assert (bg_mean.numpy()[inside] == [128, 64, 255]).all()


def test_images_without_a_box_xml_are_excluded_and_counted(tiny_index, make_loaded):
    lm = make_loaded(wnids=tiny_index.wnids)
    boxes = tiny_index.boxes("train")
    r = mask_eval(lm, tiny_index, "train", batch_size=5)
    with_box = sum(1 for b in boxes if b)
    assert 0 < with_box < len(boxes)
    assert r["images"] + r["excluded_not_annotated"] == len(boxes) and r["excluded_model_lacks_class"] == 0
    assert r["images"] == with_box + r["without_true_box_images"]
    for k in (1, 5):
        assert r[f"background_rel_top{k}"] == pytest.approx(relative(r[f"background_top{k}"], r[f"full_top{k}"]),
                                                            nan_ok=True)


def test_normalisation_arithmetic():
    assert relative(45.0, 90.0) == 50.0
    assert relative(92.366 * 0.16987, 92.366) == pytest.approx(16.987)
    assert math.isnan(relative(3.0, 0.0))
    assert normalized_auc([0.1, 0.5, 1.0], [80, 80, 80], 80) == pytest.approx(1.0)
    # a line from 0 at cutoff 0 to 100 at cutoff 1: half the area of the clean rectangle
    assert normalized_auc([1.0, 0.0, 0.5], [100, 0, 50], 100) == pytest.approx(0.5)


def _index_with(index: DatasetIndex, split: str, edit) -> DatasetIndex:
    df = index.split(split).copy()
    edit(df)
    return dataclasses.replace(index, splits={**index.splits, split: df})


def test_fix_box_swaps_inverted_and_clips_out_of_bounds_boxes():
    assert fix_box([10, 2, 4, 8], 20, 20) == ((4, 2, 10, 8), True, False)
    assert fix_box([-3, 2, 25, 8], 20, 20) == ((0, 2, 20, 8), False, True)
    assert fix_box([5, 9, 2, 30], 20, 20) == ((2, 9, 5, 20), True, True)
    want = np.zeros((20, 20), bool)
    want[2:8, 4:10] = True
    assert (box_mask(20, 20, [[10, 2, 4, 8]]).numpy() == want).all()   # an inverted box is masked, not dropped


def test_masking_keeps_annotated_images_without_a_true_box_by_default_and_counts_apart(tiny_index, make_loaded):
    """Three annotated rows lose their true-class boxes and the model lacks one class: keep evaluates them
    (foreground all black), exclude drops them; both name the counts apart."""
    df0 = tiny_index.split("train")
    ann = [i for i in range(len(df0)) if bool(df0["annotated"].iloc[i]) and df0["boxes"].iloc[i] != "[]"]
    lacking = tiny_index.wnids[-1]
    no_box = [i for i in ann if df0["wnid"].iloc[i] != lacking][:3]
    assert len(no_box) == 3

    def edit(df):
        df.loc[df.index[no_box], "boxes"] = "[]"
    index = _index_with(tiny_index, "train", edit)
    lm = make_loaded(wnids=tiny_index.wnids[:-1], classes=len(tiny_index.wnids) - 1)
    df = index.split("train")
    known = df["wnid"] != lacking
    n_lacks = int((~known).sum())
    n_no_xml = int((known & ~df["annotated"].astype(bool)).sum())
    n_with_box = int((known & df["annotated"].astype(bool) & (df["boxes"] != "[]")).sum())
    keep = mask_eval(lm, index, "train", batch_size=5)
    excl = mask_eval(lm, index, "train", batch_size=5, without_true_box="exclude")
    assert n_lacks > 0 and n_no_xml > 0
    assert keep["images"] == n_with_box + 3 and excl["images"] == n_with_box
    assert keep["without_true_box_images"] == excl["without_true_box_images"] == 3
    assert keep["excluded_without_true_box"] == 0 and excl["excluded_without_true_box"] == 3
    for r in (keep, excl):
        assert r["excluded_model_lacks_class"] == n_lacks and r["excluded_not_annotated"] == n_no_xml


def test_masking_counts_swapped_and_clipped_boxes(tiny_index, make_loaded):
    df0 = tiny_index.split("val")
    rows = [i for i in range(len(df0)) if df0["boxes"].iloc[i] != "[]"][:2]

    def edit(df):
        x0, y0, x1, y1 = json.loads(df0["boxes"].iloc[rows[0]])[0]
        df.loc[df.index[rows[0]], "boxes"] = json.dumps([[x1, y0, x0, y1]])          # inverted in x
        x0, y0, x1, y1 = json.loads(df0["boxes"].iloc[rows[1]])[0]
        df.loc[df.index[rows[1]], "boxes"] = json.dumps([[-5, y0, x1 + 10_000, y1]])   # out of the image
    index = _index_with(tiny_index, "val", edit)
    r = mask_eval(make_loaded(wnids=tiny_index.wnids), index, "val", batch_size=6)
    assert r["boxes_swapped"] == 1 and r["boxes_clipped"] == 1
