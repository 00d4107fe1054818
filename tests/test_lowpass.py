"""Low-pass filtering (Fig. 16): the filter and its cutoff unit against known answers."""
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
    from conftest import pil_inputs                     # independent of the pass: PIL crops, one forward
    with torch.no_grad():
        pred = lm.model(torch.stack(pil_inputs(lm, tiny_index))).argmax(1)
    labels = torch.tensor(tiny_index.split("val")["label"].to_numpy())
    assert r["clean_top1"] == pytest.approx(100 * (pred == labels).float().mean().item())


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
