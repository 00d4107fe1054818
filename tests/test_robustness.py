"""Masking and low-pass filtering against known answers."""
import math

import numpy as np
import pytest
import torch

from vitviz.evaluation.lowpass import CORNER, lowpass, lowpass_eval, normalized_auc
from vitviz.evaluation.masking import box_mask, fill_value, mask_eval, mask_variants, relative


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


def _sinusoid(fy: int, fx: int, n: int = 32) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64),
                            indexing="ij")
    return (0.5 + 0.25 * torch.cos(2 * math.pi * (fy * yy + fx * xx) / n)).expand(1, 3, n, n)


def test_lowpass_keeps_below_and_removes_above_the_cutoff():
    x = _sinusoid(0, 4)                       # 4/32 = 0.125 cycles/px = 0.25 Nyquist
    torch.testing.assert_close(lowpass(x, 0.3), x)
    torch.testing.assert_close(lowpass(x, 0.2), torch.full_like(x, 0.5))
    d = _sinusoid(4, 4)                       # radius 0.25 * sqrt 2 = 0.354 Nyquist
    torch.testing.assert_close(lowpass(d, 0.36), d)
    torch.testing.assert_close(lowpass(d, 0.34), torch.full_like(d, 0.5))
    mix = x + d - 0.5
    torch.testing.assert_close(lowpass(mix, 0.3), x)


def test_cutoff_at_or_above_the_corner_is_the_identity():
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    assert torch.equal(lowpass(x, CORNER), x) and torch.equal(lowpass(x, 3.0), x)
    near = lowpass(x, CORNER - 1e-6)   # the FFT path: only the corner bin (8, 8) is dropped
    corner = torch.fft.fft2(x)[..., 8, 8].real / 256  # that bin's part of each pixel is +-corner
    torch.testing.assert_close((x - near).abs(), corner.abs()[..., None, None].expand_as(x))


def test_gaussian_filter_gain_at_the_cutoff():
    x = _sinusoid(0, 4)
    out = lowpass(x, 0.25, kind="gaussian")   # the sinusoid sits exactly at the cutoff: gain exp(-1/2)
    torch.testing.assert_close(out - 0.5, (x - 0.5) * math.exp(-0.5))


def test_lowpass_eval_runs_all_cutoffs_in_one_pass(tiny_index, make_loaded):
    lm = make_loaded(classes=4, wnids=tiny_index.wnids)
    r = lowpass_eval(lm, tiny_index, "val", [1.0, 0.5, 0.1], batch_size=8)
    assert [p["cutoff"] for p in r["curve"]] == [1.0, 0.5, 0.1] and r["images"] == len(tiny_index.split("val"))
    assert 0 <= r["clean_top1"] <= 100
