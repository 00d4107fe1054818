"""Scores of visualisations: MIS against an independent implementation, known answers (a red feature, noise,
one-hot selectivity), the circular similarity model refused, and batched scoring equal to one at a time."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from vitviz.core.errors import ConfigError
from vitviz.scoring.activation_ratio import activation_ratio
from vitviz.scoring.aggregate import aggregate
from vitviz.scoring.mis import mis, sample_tasks
from vitviz.scoring.selectivity import max_z, selectivity
from vitviz.scoring.similarity import SimilarityModel, refuse_circular


def _reference_mis(qp, qm, ep, em, alpha):
    """Independent loop implementation of the task: mean cosine to each reference set, per task."""
    def cos(a, b):
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    vals = []
    for n in range(len(qp)):
        s = lambda q, refs: np.mean([cos(q, e) for e in refs])  # noqa: E731
        delta = (s(qp[n], ep[n]) - s(qp[n], em[n])) - (s(qm[n], ep[n]) - s(qm[n], em[n]))
        vals.append((1.0 if delta > 0 else 0.5 if delta == 0 else 0.0) if alpha is None
                    else 1 / (1 + math.exp(-alpha * delta)))
    return float(np.mean(vals))


@pytest.mark.parametrize("alpha", [None, 0.16, 5.0])
def test_mis_matches_independent_implementation(alpha):
    g = torch.Generator().manual_seed(1)
    F, N, K, D = 3, 7, 4, 5
    qp, qm = torch.randn(F, N, D, generator=g), torch.randn(F, N, D, generator=g)
    ep, em = torch.randn(F, N, K, D, generator=g), torch.randn(F, N, K, D, generator=g)
    got = mis(qp, qm, ep, em, alpha)
    want = [_reference_mis(qp[f].numpy(), qm[f].numpy(), ep[f].numpy(), em[f].numpy(), alpha) for f in range(F)]
    assert got.shape == (F,)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def test_noise_references_score_chance_within_binomial_bound():
    g = torch.Generator().manual_seed(0)
    F, N, K, D = 50, 40, 3, 16                       # independent noise references per task: 2000 Bernoulli(1/2)
    qp, qm = torch.randn(F, N, D, generator=g), torch.randn(F, N, D, generator=g)
    score = float(mis(qp, qm, torch.randn(F, N, K, D, generator=g), torch.randn(F, N, K, D, generator=g)).mean())
    assert abs(score - 0.5) < 4 * math.sqrt(0.25 / (F * N))


def test_informative_references_score_one():
    g = torch.Generator().manual_seed(0)
    up, down = torch.zeros(8), torch.zeros(8)
    up[0], down[1] = 1.0, 1.0
    N = 10
    noise = lambda: 0.05 * torch.randn(N, 8, generator=g)  # noqa: E731
    qp, qm = up + noise(), down + noise()
    ep, em = (up + 0.05 * torch.randn(N, 3, 8, generator=g)), (down + 0.05 * torch.randn(N, 3, 8, generator=g))
    assert float(mis(qp, qm, ep, em)) == 1.0
    assert float(mis(qm, qp, ep, em)) == 0.0          # swapped queries: always wrong


def test_sample_tasks_draws_apart_from_references_in_the_quantiles():
    stats = torch.arange(100, dtype=torch.float32)[torch.randperm(100, generator=torch.Generator().manual_seed(0))]
    t = sample_tasks(stats, 30, 9, 0.2, torch.Generator().manual_seed(1))
    for n in range(30):
        pos = set(t.pos_refs[n].tolist())
        assert int(t.pos_query[n]) not in pos and len(pos) == 9
        assert all(stats[i] >= 80 for i in [*pos, int(t.pos_query[n])])            # top 20%
        assert float(stats[t.pos_query[n]]) < float(stats[t.pos_refs[n]].min())      # the weakest of the draw
        neg = set(t.neg_refs[n].tolist())
        assert all(stats[i] < 20 for i in [*neg, int(t.neg_query[n])])
        assert float(stats[t.neg_query[n]]) > float(stats[t.neg_refs[n]].max())
    with pytest.raises(ValueError, match="score_features.k"):
        sample_tasks(stats, 3, 30, 0.2, torch.Generator())


def test_selectivity_of_a_one_hot_feature_is_the_maximum():
    v = torch.zeros(64)
    v[5] = 3.0
    z, rank = selectivity(v, 5)
    assert rank == 1 and z == pytest.approx(max_z(64)) and z == pytest.approx(math.sqrt(63))
    z2, rank2 = selectivity(v, 6)
    assert rank2 == 2 and z2 < 0
    assert selectivity(torch.ones(4), 0) == (0.0, 1)


def test_activation_ratio():
    assert activation_ratio(2.0, 1.0) == (2.0, True)
    assert activation_ratio(0.25, 1.0) == (0.25, False)
    r, beats = activation_ratio(-0.0006, -0.08)
    assert math.isnan(r) and beats


def test_aggregate_gives_intervals_only_from_the_minimum_number_of_features():
    df = pd.DataFrame({"kind": ["ffn"] * 4 + ["attn.k"] * 2, "layer": [0, 0, 1, 1, 0, 0],
                       "mis_visualization": [0.9, 1.0, 0.8, 0.9, 0.5, 0.6], "selectivity": [0.5, 0.4, 0.3, 0.6, 0, 0.1]})
    agg = aggregate(df, tasks=20).set_index(["kind", "layer"])
    ffn = agg.loc[("ffn", -1)]
    assert ffn["features"] == 4 and ffn["mis_visualization"] == pytest.approx(0.9)
    assert ffn["mis_visualization_lo"] < 0.9 < ffn["mis_visualization_hi"] <= 1.0      # a Wilson interval
    assert ffn["selectivity"] == pytest.approx(0.45) and ffn["selectivity_lo"] < 0.45 < ffn["selectivity_hi"]
    k = agg.loc[("attn.k", -1)]
    assert k["mis_visualization"] == pytest.approx(0.55) and math.isnan(k["mis_visualization_lo"])  # n = 2
    assert k["mis_visualization_n"] == 2


def test_verdict_sentences_follow_the_test():
    """A clear FFN advantage on enough features is stated as a direction; the same means on two features each, or
    overlapping values, are hedged (the sentence changes when the numbers do)."""
    from vitviz.report.scores_section import verdict

    def scores(ffn, attn):
        rows = [{"kind": "ffn", "mis_visualization": v, "mis_natural": v, "failed": False} for v in ffn]
        rows += [{"kind": "attn.v", "mis_visualization": v, "mis_natural": v, "failed": False} for v in attn]
        return pd.DataFrame(rows)
    clear = verdict(scores([0.9, 0.95, 1.0, 0.9, 0.95, 1.0], [0.5, 0.45, 0.55, 0.5, 0.5, 0.4]), k=2)[0][1]
    assert "is higher for FFN features than for attn.v features" in clear and "p = 2/924" in clear
    few = verdict(scores([0.9, 1.0], [0.5, 0.4]), k=2)[0][1]
    assert "too few features" in few and "higher" not in few
    mixed = verdict(scores([0.9, 0.5, 0.7, 0.6, 0.65], [0.6, 0.8, 0.5, 0.7, 0.65]), k=2)[0][1]
    assert mixed.startswith("No difference in the 2-AFC accuracy") and "not evidence that they are equal" in mixed
    assert "Holm-adjusted over 2 tests" in mixed          # FFN vs attn.v, and visualisations vs natural exemplars
    # at 4 and 4 features the smallest p (2/70) times the family of 2 cannot reach 0.05: no verdict either way
    small = verdict(scores([0.9, 0.5, 0.7, 0.6], [0.6, 0.8, 0.5, 0.7]), k=2)[0][1]
    assert "too few features for a verdict" in small


def test_similarity_equal_to_the_explained_model_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="circular"):
        refuse_circular("vit_demo", "vit_demo")
    with pytest.raises(ConfigError, match="circular"):
        refuse_circular("timm:vit_base_patch16_224.augreg_in1k", "vit_b16", "vit_base_patch16_224")
    refuse_circular("resnet_demo", "vit_demo")
    from vitviz.pipeline.params import load_params
    from vitviz.scoring.similarity import load_similarity
    with pytest.raises(ConfigError, match="circular"):
        load_similarity("vit_demo", tmp_path, ["vit_demo"], torch.device("cpu"), "vit_demo")
    import yaml
    from conftest import REPO
    p = yaml.safe_load((REPO / "configs" / "smoke.yaml").read_text())
    p["score_features"]["similarity"] = "vit_demo"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(p))
    with pytest.raises(ConfigError) as e:
        load_params(tmp_path / "p.yaml")
    assert "score_features.similarity" in str(e.value) and "circular" in str(e.value)
    p["score_features"]["similarity"] = "resnet_dmeo"                    # a typo of a key: refused at load
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(p))
    with pytest.raises(ConfigError) as e:
        load_params(tmp_path / "p.yaml")
    assert "score_features.similarity" in str(e.value) and "not a model key" in str(e.value)


# ---- a hand-built model whose FFN channel 0 fires on red, channel 1 on blue ----

def _colour_model(make_loaded):
    lm = make_loaded(key="colour")
    m = lm.model
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        w = m.patch_embed.proj.weight                 # (C, 3, 8, 8); inputs normalised with mean = std = 0.5
        w[0, 0], w[0, 1], w[0, 2] = 1 / 64, -0.5 / 64, -0.5 / 64   # channel 0: R - (G + B) / 2 of the patch
        w[1, 2], w[1, 0], w[1, 1] = 1 / 64, -0.5 / 64, -0.5 / 64   # channel 1: B - (R + G) / 2
        for blk in m.blocks:
            blk.norm1, blk.norm2 = nn.Identity(), nn.Identity()
            blk.mlp.fc1.weight[0, 0] = 1.0
            blk.mlp.fc1.weight[1, 1] = 1.0
    return lm


class _MeanColour(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


def _colour_similarity(make_loaded):
    lm = make_loaded(key="meancolour", seed=1)
    return SimilarityModel("meancolour", lm, _MeanColour())


def _visualised(lm, features, tmp_path):
    from vitviz.visualization.optimize import Target, visualize
    from vitviz.visualization.settings import VisSettings
    from vitviz.visualization.store import read_features, write_features
    s = VisSettings(steps=30, copies=2, jitter=2, batch_features=4)
    res = visualize(lm, [Target("blocks.0.ffn", f) for f in features], s)
    write_features(res, tmp_path, lm.key, s, {"rule": "explicit"})
    df, meta = read_features(tmp_path)
    return df, s


def _settings(**kw):
    from vitviz.scoring.settings import ScoreConfig
    return ScoreConfig(**{"split": "train", "tasks": 8, "k": 2, "quantile": 0.25, "seed_agreement": True,
                            "batch_size": 8, **kw})


def test_red_feature_gives_a_red_visualisation_with_mis_near_one(make_loaded, tiny_index, tmp_path):
    from vitviz.scoring.score import read_images, score_features
    lm = _colour_model(make_loaded)
    df, recipe = _visualised(lm, [0], tmp_path)
    images = read_images(tmp_path, list(df["image"]))
    img = images[df["image"][0]].reshape(-1, 3).astype(float).mean(0)
    assert img[0] > img[1] + 60 and img[0] > img[2] + 60          # red
    res = score_features(lm, df, images, recipe, tiny_index, _colour_similarity(make_loaded), _settings(),
                         torch.device("cpu"))
    r = res.scores.iloc[0]
    mins, more = res.min_images[df["image"][0]], res.more_images[df["image"][0]]
    assert len(mins) == 2 and len(more) == 1           # K = 2 per side: 2 minimising, 1 more maximising image
    assert len(res.tasks) == 8 and set(res.tasks.columns) >= {"task", "visualization", "natural"}
    assert res.tasks["visualization"].mean() == pytest.approx(r["mis_visualization"])     # the tasks behind it
    mn = mins[0].reshape(-1, 3).astype(float).mean(0)
    assert mn[0] < mn[1] and mn[0] < mn[2]                         # the minimum is anti-red
    assert r["mis_visualization"] >= 0.85 and r["mis_natural"] >= 0.85
    assert r["beats_natural"] and r["activation_ratio"] > 1 and not r["failed"]
    assert r["objective_min"] < r["objective_natural_top1"] < r["objective_visualization"]
    assert r["selectivity_rank"] == 1
    assert r["seed_similarity"] > 0.9


def test_batched_scoring_equals_one_feature_at_a_time(make_loaded, tiny_index, tmp_path):
    from vitviz.scoring.score import read_images, score_features
    lm = _colour_model(make_loaded)
    df, recipe = _visualised(lm, [0, 1], tmp_path)
    images = read_images(tmp_path, list(df["image"]))
    sim = _colour_similarity(make_loaded)
    both = score_features(lm, df, images, recipe, tiny_index, sim, _settings(), torch.device("cpu")).scores
    for i in range(2):
        alone = score_features(lm, df, images, recipe, tiny_index, sim, _settings(), torch.device("cpu"),
                               scored=df.iloc[[i]]).scores
        num = [c for c in alone.columns if alone[c].dtype.kind == "f"]
        np.testing.assert_allclose(alone[num].to_numpy(float), both.iloc[[i]][num].to_numpy(float),
                                   rtol=1e-4, atol=1e-5)
        assert alone["beats_natural"].tolist() == both.iloc[[i]]["beats_natural"].tolist()


def test_minimising_lowers_the_objective(make_loaded):
    from vitviz.visualization.optimize import Target, visualize
    from vitviz.visualization.settings import VisSettings
    lm = _colour_model(make_loaded)
    s = VisSettings(steps=20, copies=2, jitter=2)
    up = visualize(lm, [Target("blocks.0.ffn", 0)], s)[0]
    down = visualize(lm, [Target("blocks.0.ffn", 0)], s, maximize=False)[0]
    assert down.objective_final < down.objective_start < up.objective_final
