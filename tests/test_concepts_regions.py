"""CLIP concept labels describe where a feature fires: crops centred on the activation map's peak."""
import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_clip_kwargs
from vitviz.exemplars.concepts import concept_labels, crop_resized, peak_box
from vitviz.exemplars.mining import activation_maps, mine
from vitviz.visualization.selection import candidate_sites


def hot(gh: int, gw: int, i: int, j: int) -> torch.Tensor:
    m = torch.zeros(gh, gw)
    m[i, j] = 5.0
    return m


def test_one_hot_patch_centres_the_crop_on_that_patch():
    # 4 x 4 grid of 8 px patches on 32 px; patch (1, 2) spans rows 8..16, columns 16..24, centre (12, 20)
    top, left, h, w = peak_box(hot(4, 4, 1, 2), (32, 32), 0.5)
    assert (h, w) == (16, 16) and (top + h / 2, left + w / 2) == (12, 20)


def test_crop_is_shifted_inside_the_image_at_a_corner_and_nan_is_ignored():
    m = hot(4, 4, 3, 0)
    m[0, 0] = float("nan")
    assert peak_box(m, (32, 32), 0.5) == (16, 0, 16, 16)
    assert peak_box(hot(4, 4, 2, 2), (32, 32), 1.0) == (0, 0, 32, 32)


def test_crop_resized_reads_the_box():
    x = torch.zeros(3, 32, 32)
    x[:, 8:16, 16:24] = 1.0  # the hot patch's pixels
    out = crop_resized(x, peak_box(hot(4, 4, 1, 2), (32, 32), 0.5))
    assert out.shape == (3, 32, 32)
    # the box rows 4..20, columns 12..28 holds the patch at its centre: the middle half of the output is lit
    assert out[:, 12:20, 12:20].mean() > 0.9 and out[:, :6].abs().max() < 0.05 and out[:, :, :6].abs().max() < 0.05


def test_labels_embed_the_crop_around_the_peak(tiny_index, make_clip_loaded):
    lm = make_clip_loaded(tiny_clip_kwargs(quick_gelu=True), mean=open_clip.OPENAI_DATASET_MEAN,
                          std=open_clip.OPENAI_DATASET_STD)
    sites = candidate_sites(lm, ["ffn"], [1])
    res = mine(lm, sites, tiny_index, "val", k=1, batch_size=4)
    maps = activation_maps(lm, res, tiny_index, 1, 4)
    name = sites[0].name
    gh, gw = maps[name].shape[-2:]
    maps[name][:] = 0.0
    maps[name][0, 0] = hot(gh, gw, gh - 1, gw - 1)  # feature 0 fires in the bottom-right patch only
    vocab = ["disc", "square", "music", "stripes"]
    seen = []
    encode = lm.model.encode_image
    lm.model.encode_image = lambda x, **kw: (seen.append(x.clone()), encode(x, **kw))[1]
    table = concept_labels(lm, res, tiny_index, vocab, top=2, batch_size=4, maps=maps, region=0.5)
    lm.model.encode_image = encode
    assert list(table.columns) == ["site", "feature", "label_1", "score_1", "label_2", "score_2", "margin"]
    n_val = len(tiny_index.split("val"))
    assert sum(len(x) for x in seen) == res.indices.shape[1] + n_val  # one crop per (feature, exemplar); references
    # independently: feature 0's exemplar, its bottom-right quarter resized to the input, through the image tower
    from vitviz.activations.loader import batches
    row = int(res.indices[0, 0])
    x = next(iter(batches(lm, tiny_index, "val", [row], 1, "cpu"))).x[0]
    H, W = x.shape[-2:]
    want = F.interpolate(x[None, :, H // 2:, W // 2:], size=(H, W), mode="bicubic", align_corners=False,
                         antialias=True)
    with torch.no_grad():
        e = F.normalize(encode(want).float(), dim=-1)
        tok = open_clip.get_tokenizer(lm.spec.name)
        t = F.normalize(lm.model.encode_text(tok([f"a photo of {w}." for w in vocab])).float(), dim=-1)
        # each prompt's baseline: its mean cosine over the centred half-size crops of the split's images
        xs = next(iter(batches(lm, tiny_index, "val", list(range(n_val)), n_val, "cpu"))).x
        refs = F.interpolate(xs[:, :, H // 4:H // 4 + H // 2, W // 4:W // 4 + W // 2], size=(H, W), mode="bicubic",
                             align_corners=False, antialias=True)
        baseline = (F.normalize(encode(refs).float(), dim=-1) @ t.T).mean(0)
    sims = (e @ t.T)[0] - baseline
    best = sims.topk(2)
    assert table.loc[0, "label_1"] == vocab[int(best.indices[0])]
    assert table.loc[0, "score_1"] == pytest.approx(float(best.values[0]), abs=2e-4)
    assert table.loc[0, "margin"] == pytest.approx(float(best.values[0] - best.values[1]), abs=3e-4)
    np.testing.assert_allclose(table["margin"], table["score_1"] - table["score_2"], atol=2e-4)
