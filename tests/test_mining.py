"""Exemplar mining, activation maps, locality and concept labels, against brute force and known answers."""
import shutil

import numpy as np
import open_clip
import pytest
import torch

from conftest import pil_inputs, tiny_clip_kwargs
from vitviz.exemplars.concepts import concept_labels, label_features
from vitviz.data.imagenet import read_index
from vitviz.exemplars.locality import top_share
from vitviz.activations.topk import merge_topk
from vitviz.exemplars.mining import activation_maps, mine
from vitviz.report.overlay import overlay
from vitviz.visualization.selection import candidate_sites


def per_image_ffn(lm, index, split="val"):
    """Brute force: each image alone through the blocks by hand; returns (images, layers, tokens, channels)."""
    m = lm.model
    out = []
    for x in pil_inputs(lm, index, split):
        h = m._pos_embed(m.patch_embed(x[None]))
        acts = []
        for b in m.blocks:
            a = h + b.attn(b.norm1(h))
            acts.append(b.mlp.act(b.mlp.fc1(b.norm2(a)))[0, 1:])
            h = b(h)
        out.append(torch.stack(acts))
    return torch.stack(out)


def test_merge_topk_breaks_ties_to_the_lower_index():
    v = torch.tensor([[5.0], [3.0]])
    i = torch.tensor([[7], [2]])
    nv = torch.tensor([[5.0], [3.0], [9.0]])
    ni = torch.tensor([[4], [1], [8]])
    vals, idx = merge_topk(v, i, nv, ni, 4)
    assert idx[:, 0].tolist() == [8, 4, 7, 1] and vals[:, 0].tolist() == [9, 5, 5, 3]


@pytest.mark.parametrize("stat", ["mean", "max"])
def test_topk_equals_brute_force(tiny_index, stat, tiny_loaded):
    lm = tiny_loaded
    sites = candidate_sites(lm, ["ffn"], None)
    res = mine(lm, sites, tiny_index, "val", k=3, stat=stat, batch_size=4)
    acts = per_image_ffn(lm, tiny_index)                     # (n, L, N, C)
    stats = acts.mean(2) if stat == "mean" else acts.amax(2)  # (n, L, C)
    for s in sites:
        for f in (0, 17, 127):
            col = stats[:, s.layer, f]
            want = sorted(range(len(col)), key=lambda r: (-float(col[r]), r))[:3]
            rows, vals = res.top(s.name, f)
            assert rows == want
            torch.testing.assert_close(torch.tensor(vals), col[want], rtol=1e-5, atol=1e-6)
    assert res.images == len(tiny_index.split("val")) and res.skipped == 0


def test_mine_keeps_the_lowest_density_and_sample_and_stores_them(tiny_index, tiny_loaded, tmp_path):
    from vitviz.exemplars.locality import locality_table
    from vitviz.exemplars.store import read_exemplars, write_exemplars
    lm = tiny_loaded
    sites = candidate_sites(lm, ["ffn"], [0, 2])
    res = mine(lm, sites, tiny_index, "val", k=3, batch_size=5, sample=6, seed=3)
    acts = per_image_ffn(lm, tiny_index)                     # (n, L, N, C)
    stats = acts.mean(2)
    rows = res.sample_rows.tolist()
    assert len(rows) == 6 and rows == sorted(rows)
    maps = activation_maps(lm, res, tiny_index, top=1, batch_size=5)
    write_exemplars(res, maps, locality_table(maps, {s.name: s.layer for s in sites}), tmp_path, {"maps_top": 1},
                    None, ({}, ["a", "b"], "none here"))
    ex = read_exemplars(tmp_path)
    for s in sites:
        for f in (0, 31, 127):
            col = stats[:, s.layer, f]
            want = sorted(range(len(col)), key=lambda r: (float(col[r]), r))[:3]
            low_rows, low_vals = ex.lowest(s.name, f)
            assert low_rows == want
            torch.testing.assert_close(torch.tensor(low_vals), col[want], rtol=1e-5, atol=1e-6)
            active = acts[:, s.layer, :, f] > 0                 # (n, N)
            img, pat = ex.density_of(s.name, f)
            assert img == pytest.approx(float(active.any(1).float().mean()))
            assert pat == pytest.approx(float(active.float().mean()))
            srows, svals = ex.sampled(s.name)
            assert srows.tolist() == rows
            torch.testing.assert_close(svals[:, f], col[rows], rtol=1e-3, atol=1e-3)    # fp16 on disk
    assert ex.logit_classes == ["a", "b"] and ex.logit_note == "none here" and ex.logits(sites[0].name, 0) is None
    effects = {"blocks.0.ffn": {"up": torch.tensor([[1, 0]]), "up_value": torch.tensor([[0.5, 0.25]]),
                                "down": torch.tensor([[0, 1]]), "down_value": torch.tensor([[0.25, 0.5]])}}
    for again in ("a", "b", "c"):                            # byte-identical files, however often written
        write_exemplars(res, maps, locality_table(maps, {s.name: s.layer for s in sites}), tmp_path / again,
                        {"maps_top": 1}, None, (effects, ["x", "y"], "a note"))
    for f in sorted(p.name for p in (tmp_path / "a").iterdir()):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() == \
            (tmp_path / "c" / f).read_bytes(), f
    assert read_exemplars(tmp_path / "a").logits("blocks.0.ffn", 0) == {"up": [["y", 0.5], ["x", 0.25]],
                                                                        "down": [["x", 0.25], ["y", 0.5]]}


def test_same_result_for_any_batch_size(tiny_index, tiny_loaded):
    lm = tiny_loaded
    sites = candidate_sites(lm, ["ffn", "attn.q"], [0, 2])
    runs = [mine(lm, sites, tiny_index, "train", k=4, batch_size=b) for b in (1, 5, 64)]
    for r in runs[1:]:
        assert torch.equal(r.indices, runs[0].indices)
        torch.testing.assert_close(r.values, runs[0].values, rtol=1e-5, atol=1e-6)


def test_maps_equal_hooked_activations_reshaped(tiny_index, tiny_loaded):
    lm = tiny_loaded
    sites = candidate_sites(lm, ["ffn"], None)
    res = mine(lm, sites, tiny_index, "val", k=2, batch_size=3)
    maps = activation_maps(lm, res, tiny_index, top=2, batch_size=3)
    acts = per_image_ffn(lm, tiny_index)
    for s in sites:
        assert maps[s.name].shape == (128, 2, 4, 4)
        for f in (3, 99):
            rows, _ = res.top(s.name, f)
            for rank, row in enumerate(rows):
                want = acts[row, s.layer, :, f].reshape(4, 4)   # row-major patch grid
                torch.testing.assert_close(maps[s.name][f, rank], want, rtol=1e-5, atol=1e-6)


def test_corrupt_image_is_skipped_and_counted(tiny_dataset, tmp_path, tiny_loaded):
    ds = tmp_path / "ds"
    shutil.copytree(tiny_dataset, ds)
    index = read_index(ds)
    bad = index.image_path(index.split("val")["path"].iloc[2])
    bad.write_bytes(b"\xff\xd8\xff not a jpeg")
    lm = tiny_loaded
    res = mine(lm, candidate_sites(lm, ["ffn"], [0]), index, "val", k=2, batch_size=4)
    assert res.skipped == 1 and res.images == len(index.split("val")) - 1
    assert 2 not in set(res.indices.flatten().tolist())


def test_top_share_known_answers():
    one_hot = torch.zeros(10, 10)
    one_hot[3, 4] = 2.0
    assert float(top_share(one_hot)) == 1.0
    assert float(top_share(torch.ones(10, 10))) == pytest.approx(0.1)
    half = torch.zeros(2, 10)
    half[0] = 1.0
    assert float(top_share(half, 0.25)) == pytest.approx(5 / 10)   # 5 of 20 patches, each holding 1/10
    assert torch.isnan(top_share(-torch.ones(4, 4)))                 # no positive mass


def test_overlay_is_drawn_over_the_full_crop():
    crop = np.full((32, 32, 3), 100, np.uint8)
    amap = torch.zeros(4, 4)
    amap[0, 0] = 1.0
    out = overlay(crop, amap)
    assert out.shape == (32, 32, 3)
    assert (out[:8, :8] == out[0, 0]).all() and not (out[0, 0] == out[20, 20]).all()
    assert (overlay(crop, amap, alpha=0.0) == crop).all()


def test_label_features_ranks_the_right_prompt_first():
    vocab = ["dog", "music", "death", "stripes"]
    text = torch.eye(4, 8)
    feats = torch.zeros(3, 8)
    feats[0, 2], feats[0, 0] = 1.0, 0.3    # mostly "death"
    feats[1, 1] = 1.0                      # "music"
    feats[2, 3], feats[2, 1] = 0.5, 0.4    # "stripes" then "music"
    labels = label_features(feats, text, vocab, top=2)     # feats: means of unit embeddings, so dots are cosines
    assert [l[0][0] for l in labels] == ["death", "music", "stripes"]
    assert labels[2][1][0] == "music" and labels[0][0][1] == pytest.approx(1.0)
    # a per-prompt baseline: "music" is close to every image (0.45): below the prompts at 0 for feature 2
    base = torch.tensor([0.0, 0.45, 0.0, 0.0])
    ranked = label_features(feats, text, vocab, top=4, baseline=base)
    assert ranked[2][0][0] == "stripes" and ranked[2][-1] == ("music", pytest.approx(-0.05))
    assert ranked[1][0] == ("music", pytest.approx(0.55))


def test_concept_labels_on_a_tiny_open_clip(tiny_index, make_clip_loaded):
    lm = make_clip_loaded(tiny_clip_kwargs(quick_gelu=True), mean=open_clip.OPENAI_DATASET_MEAN,
                          std=open_clip.OPENAI_DATASET_STD)
    sites = candidate_sites(lm, ["ffn"], [1])
    res = mine(lm, sites, tiny_index, "val", k=2, batch_size=4)
    table = concept_labels(lm, res, tiny_index, ["disc", "square", "music"], top=2)
    assert len(table) == 128 and list(table.columns) == ["site", "feature", "label_1", "score_1", "label_2", "score_2", "margin"]
    assert set(table["label_1"]) <= {"disc", "square", "music"}
    assert (table["margin"] >= 0).all()
    np.testing.assert_allclose(table["margin"], table["score_1"] - table["score_2"], atol=2e-4)


def test_ordered_merge_equals_the_general_merge():
    g = torch.Generator().manual_seed(0)
    vals = torch.empty(0, 6)
    idx = torch.empty(0, 6, dtype=torch.long)
    fast = (vals, idx)
    for b in range(5):  # streaming batches with many ties
        nv = torch.randint(0, 3, (4, 6), generator=g).float()
        ni = torch.arange(4 * b, 4 * b + 4).view(-1, 1).expand(-1, 6)
        vals, idx = merge_topk(vals, idx, nv, ni, 5)
        fast = merge_topk(*fast, nv, ni, 5, ordered=True)
    assert torch.equal(fast[1], idx) and torch.equal(fast[0], vals)
