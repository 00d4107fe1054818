"""The feature atlas (data export, evidence, histograms) and resumable full visualisation (rule `all`)."""
from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
import torch

from vitviz.atlas.evidence import class_selectivity, related_features
from vitviz.atlas.export import SIZE_BUDGET, feature_budget, quantize_map
from vitviz.atlas.settings import AtlasConfig
from vitviz.visualization.checkpoint import recipe_hash, visualize_resumable
from vitviz.visualization.optimize import Target, visualize
from vitviz.visualization.settings import VisSettings
from vitviz.visualization.selection import select_targets


def test_class_selectivity_known_answer():
    labels = np.array([0, 0, 1, 2, 2, 2])
    rows = np.array([[0, 2, 3, -1], [1, 3, 2, -1], [2, 4, 5, -1]])   # feature 3 has no exemplar
    top, share = class_selectivity(rows, labels)
    assert top.tolist() == [0, 2, 2, -1]
    assert np.allclose(share, [2 / 3, 2 / 3, 2 / 3, 0.0])


def test_related_features_are_ranked_by_jaccard():
    rows = np.array([[0, 0, 5, 9], [1, 1, 6, 8], [2, 7, 0, 7]])   # exemplar sets: {0,1,2} {0,1,7} {5,6,0} {9,8,7}
    idx, val = related_features(rows, top=2)
    # feature 0: |{0,1}| / |{0,1,2,7}| = 0.5 with 1, 1/5 with 2; feature 3 shares 7 with feature 1 only
    assert idx[0].tolist() == [1, 2] and np.allclose(val[0], [0.5, 0.2])
    assert idx[3].tolist() == [1, -1] and np.allclose(val[3], [0.2, 0.0])


def test_quantize_map_keeps_the_positive_part_as_bytes():
    q, top = quantize_map(torch.tensor([[-1.0, 0.0], [1.0, 2.0]]))
    assert top == 2.0 and list(base64.b64decode(q)) == [0, 0, 128, 255]


def test_rule_all_selects_every_channel(tiny_loaded):
    targets = select_targets(tiny_loaded, "all", ["ffn"], [1], 1)
    site = [t for t in targets][0].site
    assert site == "blocks.1.ffn"
    ch = tiny_loaded.model.blocks[1].mlp.fc1.out_features
    assert [t.feature for t in targets] == list(range(ch))


class Crash(RuntimeError):
    pass


def test_killed_full_run_resumes_without_redoing_features(tiny_loaded, tmp_path):
    cfg = VisSettings(steps=3, batch_features=2)
    targets = [Target("blocks.0.ffn", f) for f in range(5)]
    calls = []

    def crash_after_two(loaded, ts, c, **kw):
        if len(calls) == 2:
            raise Crash("killed")
        calls.append([t.feature for t in ts])
        return visualize(loaded, ts, c, **kw)

    folder = tmp_path / "cache" / recipe_hash(cfg, 0, "tiny", "w")
    with pytest.raises(Crash):
        visualize_resumable(tiny_loaded, targets, cfg, folder, run=crash_after_two)
    assert calls == [[0, 1], [2, 3]] and len(list(folder.glob("*.npz"))) == 4
    resumed = []

    def counting(loaded, ts, c, **kw):
        resumed.append([t.feature for t in ts])
        return visualize(loaded, ts, c, **kw)

    got = visualize_resumable(tiny_loaded, targets, cfg, folder, run=counting)
    assert resumed == [[4]]                       # finished features are not redone
    want = visualize(tiny_loaded, targets, cfg)  # one uninterrupted run
    for g, w in zip(got, want):
        assert (g.site, g.feature, g.seed) == (w.site, w.feature, w.seed)
        assert np.array_equal(g.image, w.image) and g.objective_final == pytest.approx(w.objective_final, abs=1e-6)


def test_recipe_hash_separates_recipes():
    a = recipe_hash(VisSettings(steps=3), 0, "m", "w")
    assert a == recipe_hash(VisSettings(steps=3, batch_features=7), 0, "m", "w")   # a run-time knob
    assert len({a, recipe_hash(VisSettings(steps=4), 0, "m", "w"), recipe_hash(VisSettings(steps=3), 1, "m", "w"),
                recipe_hash(VisSettings(steps=3), 0, "m", "w2")}) == 4


def _payload(path):
    m = re.match(r'^vitvizAtlas\("([^"]+)",(.*)\);\s*$', path.read_text(), re.S)
    return m.group(1), json.loads(m.group(2))


@pytest.fixture(scope="module")
def tiny_atlas(tiny_loaded, tiny_index, tiny_dataset, tmp_path_factory):
    """An atlas of the tiny ViT built from real mining and visualisation outputs (2 FFN sites, 3 features visualised)."""
    from vitviz.atlas.build import build_atlas
    from vitviz.exemplars.locality import locality_table
    from vitviz.exemplars.mining import activation_maps, mine
    from vitviz.exemplars.store import write_exemplars
    from vitviz.visualization.selection import candidate_sites
    from vitviz.visualization.store import write_features
    root = tmp_path_factory.mktemp("atlas")
    sites = candidate_sites(tiny_loaded, ["ffn"], None)
    result = mine(tiny_loaded, sites, tiny_index, "val", 3, "mean", 0, 8)
    maps = activation_maps(tiny_loaded, result, tiny_index, 2, 8)
    write_exemplars(result, maps, locality_table(maps, {s.name: s.layer for s in sites}), root / "ex",
                    {"model": "tiny", "maps_top": 2, "locality_fraction": 0.1})
    cfg = VisSettings(steps=2)
    res = visualize(tiny_loaded, [Target("blocks.0.ffn", 1), Target("blocks.1.ffn", 0), Target("blocks.1.ffn", 5)], cfg)
    write_features(res, root / "feat", "tiny", cfg, {"rule": "explicit"})
    ov = build_atlas(root / "site", tiny_loaded.spec, root / "ex", root / "feat", tiny_index,
                     AtlasConfig(thumb_size=32, shard_features=16))
    return root / "site", ov, result, tiny_index


def test_atlas_covers_every_feature_with_thumbnails_stored_once(tiny_atlas):
    site, ov, result, index = tiny_atlas
    assert ov["features"] == result.values.shape[1] and ov["visualized"] == 3
    rows = {int(r) for r in result.indices.flatten() if r >= 0}
    assert {int(p.stem) for p in (site / "thumbs").glob("*.jpg")} == rows
    name, cards = _payload(site / "data" / "cards_L1_ffn.js")
    assert name == "cards_L1_ffn" and cards["vis"][0] == "vis/blocks.1.ffn_f0000.png" and cards["vis"][1] is None
    assert (site / cards["vis"][0]).exists() and (site / "index.html").exists() and (site / "atlas.js").exists()


def _mean_statistic(lm, index, layer: int, feature: int) -> np.ndarray:
    """Independent of vitviz's passes: each val image's mean over patch tokens of one FFN channel (a hook by hand)."""
    from conftest import pil_inputs
    got = []
    h = lm.model.blocks[layer].mlp.act.register_forward_hook(lambda m, i, o: got.append(o[:, 1:, feature].mean(1)))
    try:
        with torch.no_grad():
            for chunk in torch.stack(pil_inputs(lm, index)).split(8):     # mining's batches of 8, in row order
                lm.model.forward_features(chunk)
    finally:
        h.remove()
    return torch.cat(got).numpy()


def test_atlas_feature_shard_holds_the_mined_evidence(tiny_atlas, tiny_loaded):
    site, ov, result, index = tiny_atlas
    layer = next(l for l in ov["layers"] if l["site"] == "blocks.1.ffn")
    _, shard = _payload(site / "data" / "feat_L1_ffn_1.js")    # features 16..31
    d = shard["features"][20 - 16]
    rows, vals = result.top("blocks.1.ffn", 20)
    assert d["f"] == 20 and d["rows"] == rows and np.allclose(d["vals"], vals, atol=1e-4)
    assert sum(d["hist"]) == ov["hist_images"] == len(index.split("val"))
    stat = _mean_statistic(tiny_loaded, index, 1, 20)         # the histogram: every image, counted once, in its bin
    expect, _ = np.histogram(stat, bins=np.linspace(d["lo"], d["hi"], len(d["hist"]) + 1))
    assert d["hist"] == expect.tolist() and d["lo"] <= stat.min() and stat.max() < d["hi"]
    assert len(d["maps"]) == 2 and len(base64.b64decode(d["maps"][0])) == layer["grid"][0] * layer["grid"][1]
    labels = index.split("val")["label"].to_numpy()
    _, cards = _payload(site / "data" / "cards_L1_ffn.js")
    cls = np.bincount(labels[rows]).argmax()
    assert cards["cls"][20] == cls and cards["share"][20] == pytest.approx((labels[rows] == cls).mean(), abs=1e-3)


def test_atlas_site_makes_no_network_reference(tiny_atlas):
    site = tiny_atlas[0]
    for p in [site / "index.html", site / "atlas.js", site / "atlas.css"]:
        assert not re.search(r"https?://|//cdn|@import", p.read_text()), p


def test_atlas_keeps_to_its_stated_size_budget(tiny_atlas, tiny_loaded):
    site, ov, result, index = tiny_atlas
    data = sum(p.stat().st_size for p in (site / "data").glob("*.js"))       # as benchmarks/bench_atlas.py counts
    cells = ov["layers"][0]["grid"][0] * ov["layers"][0]["grid"][1]
    assert data / ov["features"] <= feature_budget(ov["k"], ov["maps_top"], cells)
    from vitviz.atlas.export import write_thumbs
    from vitviz.models.transforms import crop_transform
    opts = AtlasConfig()                                                    # the budget's 64 px at quality 85
    assert (opts.thumb_size, opts.thumb_quality) == (64, 85)
    write_thumbs([0, 1], index, "val", crop_transform(tiny_loaded.spec), site.parent / "thumbs64", opts)
    sizes = [p.stat().st_size for p in (site.parent / "thumbs64").glob("*.jpg")]
    assert len(sizes) == 2 and max(sizes) <= SIZE_BUDGET["thumbnail"]


def test_atlas_labels_classes_by_their_first_synonym_and_keeps_all_for_search(tiny_atlas):
    site, ov, result, index = tiny_atlas
    assert ov["class_synonyms"] == list(index.classes["name"]) and ov["classes"] == index.short_names
    import pandas as pd
    from vitviz.data.imagenet import DatasetIndex
    named = DatasetIndex(site, pd.DataFrame({"wnid": ["n01440764", "n01443537"],
                                             "name": ["tench, Tinca tinca", "goldfish"]}), {})
    assert named.short_names == ["tench", "goldfish"]
