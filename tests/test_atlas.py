"""The feature atlas (data export, evidence, histograms) and resumable full visualisation (rule `all`)."""
from __future__ import annotations

import base64
import json
import math
import re

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from vitviz.atlas.bands import BANDS, PER_BAND, band_exemplars
from vitviz.atlas.evidence import class_selectivity, related_features, shared_exemplars
from vitviz.atlas.export import SIZE_BUDGET, feature_budget, js_payload, quantize_map
from vitviz.atlas.settings import AtlasConfig
from vitviz.visualization.checkpoint import recipe_hash, visualize_resumable
from vitviz.visualization.optimize import Target, visualize
from vitviz.visualization.settings import VisSettings
from vitviz.visualization.selection import select_targets


def test_class_selectivity_known_answer():
    labels = np.array([0, 0, 1, 2, 2, 2])
    rows = np.array([[0, 2, 3, -1, 0], [1, 3, 2, -1, 2], [2, 4, 5, -1, 3]])   # feature 3: none; 4: all differ
    top, count, present = class_selectivity(rows, labels)
    assert top.tolist() == [0, 2, 2, -1, 0] and count.tolist() == [2, 2, 2, 0, 1]
    assert present.tolist() == [3, 3, 3, 0, 3]      # feature 4: three classes once each, so no class dominates


def test_related_features_are_ranked_by_correlation_over_the_sample():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    values = np.stack([x, 2 * x + 1, -x, 0.5 * x + y, y, np.full(50, 3.0)], axis=1)   # feature 5 is constant
    idx, val = related_features(torch.tensor(values), top=3)
    r = np.corrcoef(values[:, :5].T)                    # numpy's Pearson r, independent of vitviz
    for f in range(5):
        others = [g for g in range(5) if g != f]
        want = sorted(others, key=lambda g: (-r[f, g], g))[:3]
        assert idx[f].tolist() == want and np.allclose(val[f], r[f, want], atol=1e-9)
    assert idx[0, 0] == 1 and val[0, 0] == pytest.approx(1.0)            # an exact linear relation first
    assert idx[5].tolist() == [-1, -1, -1] and 5 not in idx[:5]          # a constant feature relates to none


def test_shared_exemplars_counts_common_rows():
    rows = np.array([[0, 0, 5], [1, 1, 6], [2, 7, -1]])
    assert shared_exemplars(rows, 0, np.array([1, 2])) == [2, 0]


def test_bands_take_sample_images_from_their_quantile_band():
    rows = np.arange(100, 200)                          # split rows 100..199, the sample's statistic 0..99
    values = np.random.default_rng(1).permutation(100).astype(float)
    got = band_exemplars(rows, values)
    rank = {int(r): int(v) for r, v in zip(rows, values)}          # the statistic is its own rank here
    for (lo, hi, _), (band_rows, band_vals) in zip(BANDS, got):
        assert len(band_rows) == PER_BAND and band_vals == sorted(band_vals, reverse=True)
        assert all(lo * 100 <= rank[r] < hi * 100 for r in band_rows)             # inside its percentile band
        assert [rank[r] for r in band_rows] == band_vals
        assert max(band_vals) == math.ceil(hi * 100) - 1 and min(band_vals) == math.ceil(lo * 100)   # spans it
    assert band_exemplars(rows[:3], values[:3])[0] == ([], [])        # three images: no 90-99th band


def test_quantize_map_keeps_the_positive_part_as_bytes():
    q, top = quantize_map(torch.tensor([[-1.0, 0.0], [1.0, 2.0]]))
    assert top == 2.0 and list(base64.b64decode(q)) == [0, 0, 128, 255]


def test_atlas_and_report_draw_a_map_alike():
    """One normalisation and one colour map: the report's overlay at full opacity shows, for each patch, the colour
    of the atlas's stored level; and that colour map is matplotlib's 'jet' (checked against matplotlib itself)."""
    from matplotlib import colormaps
    from vitviz.activations.mapnorm import JET
    from vitviz.report.overlay import overlay
    assert np.abs(JET.astype(int) - np.round(colormaps["jet"](np.linspace(0, 1, 256))[:, :3] * 255)).max() <= 1
    amap = torch.tensor([[0.5, -2.0], [3.0, float("nan")]])
    q, top = quantize_map(amap)
    levels = np.frombuffer(base64.b64decode(q), np.uint8).reshape(2, 2)
    assert top == 3.0 and levels.tolist() == [[42, 0], [255, 0]]      # round(0.5 / 3 * 255) = 42
    drawn = overlay(np.zeros((8, 8, 3), np.uint8), amap, alpha=1.0)
    for (i, j), level in np.ndenumerate(levels):
        assert (np.abs(drawn[4 * i:4 * i + 4, 4 * j:4 * j + 4].astype(int) - JET[level].astype(int)) <= 1).all()


def test_flat_or_black_visualisations_fail():
    from vitviz.visualization.quality import image_failed
    rng = np.random.default_rng(0)
    assert image_failed(np.zeros((8, 8, 3), np.uint8)) and image_failed(np.full((8, 8, 3), 200, np.uint8))
    near_flat = np.full((8, 8, 3), 100, np.uint8)
    near_flat[0, 0] = 107                                               # a range of 7 levels
    assert image_failed(near_flat)
    one_dot = np.zeros((8, 8, 3), np.uint8)
    one_dot[0, 0] = 255                                                 # range 255, std about 18
    assert not image_failed(one_dot) and not image_failed(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    speck = np.zeros((64, 64), np.uint8)
    speck[0, 0] = 40                                                    # range 40, std 0.6: black
    assert image_failed(speck)
    green = np.zeros((16, 16, 3), np.uint8)
    green[..., 1] = 255                                                 # one saturated colour all over: a colour
    assert not image_failed(green)                                      # feature's answer, kept
    assert image_failed(np.full((16, 16, 3), (120, 124, 127), np.uint8))   # one grey all over: nothing shown
    dim = rng.integers(0, 17, (16, 16, 3), dtype=np.uint8)              # textured, but every value <= 16: black
    assert image_failed(dim)
    assert not image_failed(dim * 4)                                    # the same texture up to 64: shown


def test_js_payload_cannot_close_its_script():
    text = js_payload("x", {"name": "</script><img src=x onerror=alert(1)>", "amp": "a&b"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(re.match(r'^vitvizAtlas\("x",(.*)\);\s*$', text, re.S).group(1))["name"].startswith("</script>")


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


SCORES_CSV = ("model,site,kind,layer,feature,activation_ratio,beats_natural,failed,selectivity,mis_visualization,"
              "mis_natural\n"
              "tiny,blocks.1.ffn,ffn,1,0,1.25,True,False,2.5,0.8,0.75\n"
              "tiny,blocks.1.ffn,ffn,1,5,0.2,False,True,0.5,0.4,0.7\n")


@dataclass
class TinyAtlas:
    site: Path            # the atlas folder
    ov: dict              # its overview
    result: object        # the mining result it was built from
    index: object
    root: Path            # ex/, feat/, scores/ beside site/
    sample: list[int]     # the random sample's split rows


@pytest.fixture(scope="module")
def tiny_atlas(tiny_loaded, tiny_index, tiny_dataset, tmp_path_factory):
    """An atlas of the tiny ViT built from real mining, visualisation and scoring outputs: 3 FFN sites mined (k = 3,
    a random sample of 8 of the 12 val images); 4 features visualised, one of them on an unmined site (attn.q) and
    one a black image; two scored (one failed)."""
    from vitviz.activations.sites import list_sites
    from vitviz.atlas.build import build_atlas
    from vitviz.exemplars.locality import locality_table
    from vitviz.exemplars.logit_effects import head_classes, logit_effects
    from vitviz.exemplars.mining import activation_maps, mine
    from vitviz.exemplars.store import write_exemplars
    from vitviz.visualization.selection import candidate_sites
    from vitviz.visualization.store import write_features
    root = tmp_path_factory.mktemp("atlas")
    sites = candidate_sites(tiny_loaded, ["ffn"], None)
    result = mine(tiny_loaded, sites, tiny_index, "val", 3, "mean", 0, 8, sample=8)
    maps = activation_maps(tiny_loaded, result, tiny_index, 2, 8)
    effects, note = logit_effects(tiny_loaded.model, sites, list_sites(tiny_loaded.model))
    classes = head_classes([], [], 4, tiny_index.wnids, tiny_index.short_names)
    write_exemplars(result, maps, locality_table(maps, {s.name: s.layer for s in sites}), root / "ex",
                    {"model": "tiny", "maps_top": 2, "locality_fraction": 0.1}, None, (effects, classes, note))
    cfg = VisSettings(steps=2)
    res = visualize(tiny_loaded, [Target("blocks.0.ffn", 1), Target("blocks.1.ffn", 0), Target("blocks.1.ffn", 5),
                                  Target("blocks.0.attn.q", 3)], cfg)
    res[0].image = np.zeros_like(res[0].image)                                           # a black image
    write_features(res, root / "feat", "tiny", cfg, {"rule": "explicit"})
    (root / "scores").mkdir()
    (root / "scores" / "scores.csv").write_text(SCORES_CSV)
    ov = build_atlas(root / "site", tiny_loaded.spec, root / "ex", root / "feat", tiny_index,
                     AtlasConfig(thumb_size=32, shard_features=16), root / "scores")
    return TinyAtlas(root / "site", ov, result, tiny_index, root, result.sample_rows.tolist())


def test_atlas_covers_every_feature_with_thumbnails_stored_once(tiny_atlas):
    a = tiny_atlas
    site, ov, result = a.site, a.ov, a.result
    assert ov["features"] == result.values.shape[1] and ov["visualized"] == 4
    rows = {int(r) for r in result.indices.flatten() if r >= 0} | {int(r) for r in result.low_indices.flatten()}
    thumbs = {int(p.stem) for p in (site / "thumbs").glob("*.jpg")}
    assert rows <= thumbs <= rows | set(a.sample)          # top, bottom and band exemplars, each image once
    name, cards = _payload(site / "data" / "cards_L1_ffn.js")
    assert name == "cards_L1_ffn" and cards["vis"][0] == "vis/blocks.1.ffn_f0000.png" and cards["vis"][1] is None
    assert (site / cards["vis"][0]).exists() and (site / "index.html").exists() and (site / "atlas.js").exists()


def test_every_visualised_feature_has_a_layer_and_the_counts_add_up(tiny_atlas):
    ov = tiny_atlas.ov
    by_id = {l["id"]: l for l in ov["layers"]}
    assert ov["kinds"] == ["ffn", "attn.q"] and ov["kind_labels"] == {"ffn": "FFN", "attn.q": "queries"}
    q = by_id["L0_attn.q"]                                  # visualised, not mined: its visualisations only
    assert not q["mined"] and q["only"] == [3] and q["visualized"] == 1 and q["channels"] is None
    assert sum(l["visualized"] for l in ov["layers"]) == ov["visualized"] == 4
    _, cards = _payload(tiny_atlas.site / "data" / "cards_L0_attn.q.js")
    assert cards["f"] == [3] and cards["vis"] == ["vis/blocks.0.attn.q_f0003.png"]


def test_failed_visualisations_are_flagged_by_image_and_by_score(tiny_atlas):
    ov, site = tiny_atlas.ov, tiny_atlas.site
    _, c0 = _payload(site / "data" / "cards_L0_ffn.js")
    _, c1 = _payload(site / "data" / "cards_L1_ffn.js")
    assert c0["fail"][1] == "image"                         # the black image
    assert c1["fail"][0] is None and c1["fail"][5] == "score"
    assert ov["failed"] == 2 and ov["scored"] == 2
    _, shard = _payload(site / "data" / "feat_L1_ffn_0.js")
    s = shard["features"][0]["score"]
    assert s == {"ratio": 1.25, "beats": True, "failed": False, "sel": 2.5, "mis_v": 0.8, "mis_n": 0.75}
    assert c1["score"][0] == [1.25, 2.5, 0.8] and c1["score"][1] is None


def _mean_statistic(lm, index, layer: int, feature: int) -> np.ndarray:
    """Independent of vitviz's passes: each val image's mean over patch tokens of one FFN channel (a hook by hand)."""
    return _tokens(lm, index, layer)[:, :, feature].mean(1).numpy()


def _tokens(lm, index, layer: int) -> torch.Tensor:
    """Independent of vitviz's passes: (images, patch tokens, channels) of block `layer`'s FFN activation."""
    from conftest import pil_inputs
    got = []
    h = lm.model.blocks[layer].mlp.act.register_forward_hook(lambda m, i, o: got.append(o[:, 1:]))
    try:
        with torch.no_grad():
            for chunk in torch.stack(pil_inputs(lm, index)).split(8):     # mining's batches of 8, in row order
                lm.model.forward_features(chunk)
    finally:
        h.remove()
    return torch.cat(got)


def test_atlas_feature_shard_holds_the_mined_evidence(tiny_atlas, tiny_loaded):
    site, ov, result, index = tiny_atlas.site, tiny_atlas.ov, tiny_atlas.result, tiny_atlas.index
    layer = next(l for l in ov["layers"] if l["site"] == "blocks.1.ffn")
    _, shard = _payload(site / "data" / "feat_L1_ffn_1.js")    # features 16..31
    d = shard["features"][20 - 16]
    rows, vals = result.top("blocks.1.ffn", 20)
    assert d["f"] == 20 and d["rows"] == rows and np.allclose(d["vals"], vals, atol=1e-4)
    assert sum(d["hist"]) == ov["images"] == len(index.split("val"))
    stat = _mean_statistic(tiny_loaded, index, 1, 20)         # the histogram: every image, counted once, in its bin
    expect, _ = np.histogram(stat, bins=np.linspace(d["lo"], d["hi"], len(d["hist"]) + 1))
    assert d["hist"] == expect.tolist() and d["lo"] <= stat.min() and stat.max() < d["hi"]
    assert len(d["maps"]) == 2 and len(base64.b64decode(d["maps"][0])) == layer["grid"][0] * layer["grid"][1]
    # the minimising exemplars: the 3 lowest images, lowest first
    low = sorted(range(len(stat)), key=lambda r: (stat[r], r))[:3]
    assert d["low"] == low and np.allclose(d["lowv"], stat[low], atol=1e-4)
    # the bands: images of the random sample, each inside its band of the sample's statistic
    sample = tiny_atlas.sample
    assert len(sample) == 8 and set(sample) <= set(range(len(stat)))
    ranked = sorted(sample, key=lambda r: (stat[r], r))
    for (lo, hi, _), (band_rows, band_vals) in zip(BANDS, d["bands"]):
        allowed = {r for i, r in enumerate(ranked) if lo <= i / len(ranked) < hi}
        assert set(band_rows) <= allowed and len(band_rows) == min(PER_BAND, len(allowed))
        assert np.allclose(band_vals, stat[band_rows], atol=2e-3)       # stored in fp16
    # density: the share of images with a positive patch, and of positive patch tokens
    tok = _tokens(tiny_loaded, index, 1)[:, :, 20]
    assert d["dens"][0] == pytest.approx(float((tok > 0).any(1).float().mean()), abs=1e-4)
    assert d["dens"][1] == pytest.approx(float((tok > 0).float().mean()), abs=1e-4)
    # modal class, by hand
    labels = index.split("val")["label"].to_numpy()
    _, cards = _payload(site / "data" / "cards_L1_ffn.js")
    cls = np.bincount(labels[rows]).argmax()
    assert cards["cls"][20] == cls and cards["n"][20] == (labels[rows] == cls).sum() and cards["m"][20] == 3


def test_related_features_are_the_most_correlated_on_the_sample(tiny_atlas, tiny_loaded):
    site, index = tiny_atlas.site, tiny_atlas.index
    _, shard = _payload(site / "data" / "feat_L2_ffn_0.js")
    stats = _tokens(tiny_loaded, index, 2).mean(1).numpy()[tiny_atlas.sample]    # (8 images, 128 channels)
    r = np.corrcoef(stats.T)
    for d in shard["features"][:4]:
        f = d["f"]
        want = sorted((g for g in range(128) if g != f and np.isfinite(r[f, g])), key=lambda g: (-r[f, g], g))[:5]
        assert [x[0] for x in d["related"]] == want                 # fp16 storage keeps the ranking here
        assert np.allclose([x[1] for x in d["related"]], r[f, want], atol=5e-3)


def test_logit_effects_are_the_output_column_through_norm_and_head(tiny_atlas, tiny_loaded):
    """Direct logit attribution by hand: fc2[:, f], centred, times the final LayerNorm's gamma, through the head."""
    m = tiny_loaded.model
    _, shard = _payload(tiny_atlas.site / "data" / "feat_L1_ffn_0.js")
    d = shard["features"][7]
    w = m.blocks[1].mlp.fc2.weight[:, 7].double()
    eff = m.head.weight.double() @ (m.norm.weight.double() * (w - w.mean()))
    order = torch.argsort(eff, descending=True).tolist()
    assert [c for c, _ in d["dla"]["up"]] == [c for c in order if eff[c] > 0]
    assert [c for c, _ in d["dla"]["down"]] == [c for c in order[::-1] if eff[c] < 0]
    assert np.allclose([v for _, v in d["dla"]["up"]], [float(eff[c]) for c in order if eff[c] > 0], atol=1e-5)
    assert tiny_atlas.ov["logit_classes"] == tiny_atlas.index.short_names


def test_logit_effects_known_answer_and_where_they_do_not_apply(make_loaded):
    from vitviz.activations.sites import list_sites
    from vitviz.exemplars.logit_effects import logit_effects
    lm = make_loaded()
    m = lm.model
    with torch.no_grad():
        m.norm.weight.fill_(2.0)
        m.head.weight.zero_()
        m.head.weight[:, 3] = torch.tensor([1.0, 2.0, 3.0, 4.0])      # class c reads dimension 3 with weight c + 1
        m.blocks[0].mlp.fc2.weight[:, 0] = 0.0
        m.blocks[0].mlp.fc2.weight[3, 0] = 1.0                        # feature 0 writes dimension 3 only
    sites = list_sites(m)
    effects, note = logit_effects(m, [sites["blocks.0.ffn"], sites["blocks.0.attn.q"]], sites)
    e = effects["blocks.0.ffn"]
    # centred direction: 1 - 1/32 on dimension 3 (the head reads nothing else), times gamma 2
    assert e["up"][0].tolist() == [3, 2, 1, 0]
    assert np.allclose(e["up_value"][0].numpy(), [2 * c * 31 / 32 for c in (4, 3, 2, 1)])
    assert "blocks.0.attn.q" not in effects and "attn.q" in note
    headless = make_loaded(classes=0)
    assert logit_effects(headless.model, [sites["blocks.0.ffn"]], sites)[0] == {}


def test_logit_effects_of_sae_latents_go_through_their_decoder_atoms(make_loaded):
    """Identity SAEs (atoms +e_j and -e_j): a latent on the FFN has the effect of its FFN channel through fc2 (the
    -e_j latent the opposite one); a latent on the residual stream that of the unit direction e_j."""
    from vitviz.activations.sites import attach_saes, list_sites
    from vitviz.exemplars.logit_effects import logit_effects
    from vitviz.sae.model import identity_sae
    lm = make_loaded()
    m = lm.model
    attach_saes(m, {"blocks.0.ffn": identity_sae(128), "blocks.1.resid": identity_sae(32)})
    sites = list_sites(m)
    effects, note = logit_effects(m, [sites["blocks.0.ffn"], sites["blocks.0.ffn.sae"], sites["blocks.1.resid.sae"]],
                                  sites)
    ffn, lat, res = effects["blocks.0.ffn"], effects["blocks.0.ffn.sae"], effects["blocks.1.resid.sae"]
    for j in (0, 5, 127):
        assert lat["up"][j].tolist() == ffn["up"][j].tolist()
        torch.testing.assert_close(lat["up_value"][j], ffn["up_value"][j])
        torch.testing.assert_close(lat["up_value"][128 + j], -ffn["down_value"][j])      # the atom -e_j
    e = torch.eye(32, dtype=torch.float64)[7]
    want = m.head.weight.double() @ (m.norm.weight.double() * (e - e.mean()))
    torch.testing.assert_close(res["up_value"][7].double(), torch.sort(want, descending=True).values, atol=1e-6,
                               rtol=1e-5)
    assert note == ""


def test_atlas_site_makes_no_network_reference(tiny_atlas):
    site = tiny_atlas.site
    for p in [site / "index.html", site / "atlas.js", site / "atlas.css"]:
        assert not re.search(r"https?://|//cdn|@import", p.read_text()), p


def test_atlas_keeps_to_its_stated_size_budget(tiny_atlas, tiny_loaded):
    site, ov, index = tiny_atlas.site, tiny_atlas.ov, tiny_atlas.index
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
    site, ov, index = tiny_atlas.site, tiny_atlas.ov, tiny_atlas.index
    assert ov["class_synonyms"] == list(index.classes["name"]) and ov["classes"] == index.short_names
    import pandas as pd
    from vitviz.data.imagenet import DatasetIndex
    named = DatasetIndex(site, pd.DataFrame({"wnid": ["n01440764", "n01443537"],
                                             "name": ["tench, Tinca tinca", "goldfish"]}), {})
    assert named.short_names == ["tench", "goldfish"]


def test_never_active_comes_from_the_counts_not_the_rounded_share():
    """A feature active on 1 image of 50,000 rounds to a density of 0.0 but has fired: only the one with no active
    image at all is 'never active', on its card and in search."""
    from types import SimpleNamespace

    from vitviz.atlas.feature_data import search_entries, site_cards
    density = {"images": torch.tensor([0, 1, 30000]), "patches": torch.tensor([0, 3, 90000]),
               "totals": torch.tensor([50000, 50000 * 196])}
    ex = SimpleNamespace(density_of=lambda site, f: (int(density["images"][f]) / 50000,
                                                     int(density["patches"][f]) / (50000 * 196)))
    ev = SimpleNamespace(site="blocks.0.ffn", modal=(torch.tensor([2, 3, 4]), torch.tensor([5, 1, 4]),
                                                     torch.tensor([5, 5, 5])),
                         rows=torch.tensor([[7, 8, 9]]))
    feats = [0, 1, 2]
    cards = site_cards(ex, ev, feats, {f: None for f in feats}, {}, {f: [] for f in feats}, set())
    assert cards["di"] == [0.0, 0.0, 0.6] and cards["nv"] == [1, 0, 0]
    assert [e[-1] for e in search_entries(0, cards, {f: [] for f in feats})] == [1, 0, 0]
