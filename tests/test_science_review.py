"""Known answers for the science review (issue 14): low-pass unit, masking set and box geometry, TV under
`reduce: sum`, the recipe's 'same' column, Twins' sub-sampled k/v."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from vitviz.data.imagenet import DatasetIndex
from vitviz.evaluation.lowpass import lowpass
from vitviz.evaluation.masking import box_mask, fix_box, mask_eval
from vitviz.visualization.paper_recipe import paper_lr_tv


# ---------------------------------------------------------------- point 1: cycles per image of the crop

def sinusoid(n: int, k: int) -> np.ndarray:
    """0.5 + 0.3 cos(2 pi k x / n): k cycles per image along x, on an n x n crop (3 channels)."""
    xx = np.arange(n)[None, :].repeat(n, 0)
    return np.broadcast_to(0.5 + 0.3 * np.cos(2 * np.pi * k * xx / n), (1, 3, n, n)).copy()


@pytest.mark.parametrize("n", [32, 48])
def test_a_k_cycle_sinusoid_is_kept_above_k_and_removed_below_k_at_any_crop_size(n):
    k = 5
    img = torch.from_numpy(sinusoid(n, k))
    kept = lowpass(img, k + 0.5, unit="cycles_per_image")
    gone = lowpass(img, k - 0.5, unit="cycles_per_image")
    torch.testing.assert_close(kept, img, atol=1e-6, rtol=0)
    torch.testing.assert_close(gone, torch.full_like(img, 0.5), atol=1e-6, rtol=0)


def test_the_same_cycle_cutoff_is_a_different_fraction_of_nyquist_at_two_sizes():
    """At 32 px a 5-cycle sinusoid is 5/16 of Nyquist, at 48 px 5/24: a fraction cutoff of 0.25 keeps it at 48
    px only, while a cycle cutoff of 5.5 keeps it at both (the bias the unit removes)."""
    small, large = torch.from_numpy(sinusoid(32, 5)), torch.from_numpy(sinusoid(48, 5))
    assert (lowpass(small, 0.25, unit="fraction_of_nyquist") - 0.5).abs().max() < 1e-6
    torch.testing.assert_close(lowpass(large, 0.25, unit="fraction_of_nyquist"), large, atol=1e-6, rtol=0)


def test_cutoff_at_the_corner_in_cycles_is_the_identity():
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    assert torch.equal(lowpass(x, float(np.hypot(8, 8)), unit="cycles_per_image"), x)
    with pytest.raises(ValueError, match="unknown low-pass unit"):
        lowpass(x, 3.0, unit="cycles")


# ---------------------------------------------------------------- point 5: the masking set and box geometry

def test_fix_box_swaps_inverted_and_clips_out_of_bounds_boxes():
    assert fix_box([10, 2, 4, 8], 20, 20) == ((4, 2, 10, 8), True, False)
    assert fix_box([-3, 2, 25, 8], 20, 20) == ((0, 2, 20, 8), False, True)
    assert fix_box([5, 9, 2, 30], 20, 20) == ((2, 9, 5, 20), True, True)
    want = np.zeros((20, 20), bool)
    want[2:8, 4:10] = True
    assert (box_mask(20, 20, [[10, 2, 4, 8]]).numpy() == want).all()   # an inverted box is masked, not dropped


def _index_with(index: DatasetIndex, split: str, edit) -> DatasetIndex:
    df = index.split(split).copy()
    edit(df)
    return dataclasses.replace(index, splits={**index.splits, split: df})


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


# ---------------------------------------------------------------- point 2: TV scaled by N under sum

def test_sum_and_mean_are_one_optimisation_when_tv_is_scaled_by_n(tiny_loaded):
    """With TV scaled by N, the sum loss is N x the mean loss: Adam takes the same steps (up to eps), so the
    images agree; without the scaling (TV weight / N under sum) they would differ."""
    from vitviz.visualization.optimize import Target, visualize
    from vitviz.visualization.settings import VisSettings
    t = [Target("blocks.1.ffn", 3)]
    base = dict(steps=8, tv_weight=0.5, eps=1e-12)
    mean = visualize(tiny_loaded, t, VisSettings(reduce="mean", **base), seed=1)[0]
    summ = visualize(tiny_loaded, t, VisSettings(reduce="sum", **base), seed=1)[0]
    assert np.abs(mean.image.astype(int) - summ.image.astype(int)).max() <= 1
    n = 16  # tiny ViT: 32 px, patch 8
    weak = visualize(tiny_loaded, t, VisSettings(reduce="sum", **{**base, "tv_weight": 0.5 / n}), seed=1)[0]
    assert summ.objective_final == pytest.approx(n * mean.objective_final, rel=1e-3)
    assert np.abs(weak.image.astype(int) - summ.image.astype(int)).max() > 1


# ---------------------------------------------------------------- point 7: the paper's recipe per model

def test_paper_recipe_per_model():
    assert paper_lr_tv("timm", "vit_base_patch16_384") == (0.1, 0.004)
    assert paper_lr_tv("open_clip", "ViT-B-16") == (1.0, 0.004)
    lr, tv = paper_lr_tv("open_clip", "ViT-B-32")
    assert lr == 1.0 and tv == pytest.approx(0.0004)


# ---------------------------------------------------------------- point 10: Twins' global k/v

def test_twins_sub_sampled_keys_and_values_have_no_map():
    import timm
    from vitviz.activations.sites import list_sites
    m = timm.create_model("twins_pcpvt_small", pretrained=False, depths=(1, 1, 1, 1), img_size=64)
    sites = list_sites(m)
    kv = {s.layer: s.spatial for s in sites.values() if s.module.endswith(".attn.kv")}
    sr = {i: getattr(b.attn, "sr", None) is not None for i, b in enumerate(m.blocks[j][0] for j in range(4))}
    assert kv == {i: not sr[i] for i in range(4)} and any(sr.values())   # sr_ratio 8, 4, 2, 1
    assert all(s.spatial for s in sites.values() if s.kind in ("ffn", "attn.q"))
