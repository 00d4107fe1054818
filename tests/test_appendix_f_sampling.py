"""Appendix F over sampled FFN features: seeded sampling from the mined exemplars, and the distance of each
feature's curve from proportional loss (y = 1 - x), against known answers."""
import numpy as np
import pandas as pd
import pytest
import torch

from vitviz.exemplars.store import Exemplars
from vitviz.report.plot_data import feature_mean_curve
from vitviz.token_mixing.appendix_f import appendix_f_for_model, sample_features, summarize

FRACTIONS = np.linspace(0, 1, 11)


def planted(shapes: dict[int, list], layer: int = 0) -> pd.DataFrame:
    """Long curves rows for features f with count and sum ratios y = shape(x) on the 11-point grid."""
    return pd.DataFrame([{"layer": layer, "feature": f, "fraction": x, "count_ratio": fn(x), "sum_ratio": fn(x)}
                         for f, fns in shapes.items() for fn in fns for x in FRACTIONS])


def test_proportional_loss_is_distance_zero_and_a_step_is_far_from_it():
    """Known answers: six exactly local features (y = 1 - x) lie on the line; six global ones that keep their
    activation until every active patch is gone (a step) are 4.5/11 from it on average; flat ones are apart."""
    local = planted({f: [lambda x: 1 - x] for f in range(6)}, layer=0)
    step = planted({f: [lambda x: 1.0 if x < 1 else 0.0] for f in range(6)}, layer=1)
    flat = planted({10 + f: [lambda x: 1.0] for f in range(3)}, layer=1)
    rows = {r["layer"]: r for r in summarize(pd.concat([local, step, flat]), {1: 2})}
    assert rows[0]["count"]["distance"][0] == pytest.approx(0.0, abs=1e-12)
    assert rows[0]["count"]["features"] == 6 and rows[0]["count"]["flat"] == 0 and rows[0]["skipped"] == 0
    assert rows[1]["count"]["distance"][0] == pytest.approx(4.5 / 11)
    assert rows[1]["count"]["features"] == 6 and rows[1]["count"]["flat"] == 3 and rows[1]["skipped"] == 2
    lo, hi = rows[1]["count"]["distance"][1:]
    assert lo == pytest.approx(4.5 / 11) and hi == pytest.approx(4.5 / 11)   # six identical curves: no spread


def test_lines_of_other_slopes_are_judged_against_proportional_loss_not_each_other():
    """Two exactly linear families, slopes 1 and 0.2 (a pooled R^2 scored them 0.39 together): each is a straight
    line (residual 0) and the slope tells them apart; the distance is that of each line from 1 - x."""
    rows = summarize(planted({f: [(lambda x: 1 - x) if f % 2 else (lambda x: 1 - 0.2 * x)] for f in range(10)}))
    c = rows[0]["count"]
    assert c["residual"][0] == pytest.approx(0.0, abs=1e-12)
    assert c["slope"][0] == pytest.approx(0.6)                               # the mean of 1 and 0.2
    assert c["distance"][0] == pytest.approx(0.5 * 0.8 * np.mean(FRACTIONS))  # half the features at 0.8 x


def fake_exemplars(n_ffn: int = 10) -> Exemplars:
    sites = pd.DataFrame([{"site": "blocks.0.ffn", "kind": "ffn", "layer": 0, "offset": 0, "channels": n_ffn},
                          {"site": "blocks.0.attn.q", "kind": "attn.q", "layer": 0, "offset": n_ffn, "channels": 4},
                          {"site": "blocks.1.ffn", "kind": "ffn", "layer": 1, "offset": n_ffn + 4,
                           "channels": n_ffn}])
    indices = torch.arange(2 * (2 * n_ffn + 4)).view(2, -1)
    indices[:, 3] = -1  # feature 3 of block 0 has no exemplar
    return Exemplars(sites, torch.ones_like(indices, dtype=torch.float), indices, {}, pd.DataFrame(), {"split": "val"})


def test_sampling_draws_per_block_from_every_mined_ffn_feature_seeded():
    ex = fake_exemplars()
    a = sample_features(ex, 4, 0)
    assert sorted({s for s, _, _ in a}) == ["blocks.0.ffn", "blocks.1.ffn"]  # FFN sites only
    assert [sum(s == n for s, _, _ in a) for n in ("blocks.0.ffn", "blocks.1.ffn")] == [4, 4]
    assert ("blocks.0.ffn", 0, 3) not in a and a == sample_features(ex, 4, 0)
    draws = {tuple(sample_features(ex, 4, seed)) for seed in range(10)}
    assert len(draws) > 1  # random, not the first four
    every = sample_features(ex, None, 0)
    assert every == sample_features(ex, 0, 0) == sample_features(ex, 50, 0)
    assert [f for s, _, f in every if s == "blocks.0.ffn"] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert [f for s, _, f in every if s == "blocks.1.ffn"] == list(range(10))


def test_feature_mean_weighs_every_feature_the_same():
    df = pd.DataFrame({"feature": [0, 0, 1], "fraction": [0.5, 0.5, 0.5], "count_ratio": [1.0, 1.0, 0.0],
                       "sum_ratio": [0.2, 0.4, 0.0]})
    got = feature_mean_curve(df)
    assert list(got.columns) == ["fraction", "count_ratio", "sum_ratio"]
    assert got["count_ratio"].iloc[0] == pytest.approx(0.5) and got["sum_ratio"].iloc[0] == pytest.approx(0.15)


def test_appendix_f_for_model_uses_sampled_mined_features(tiny_loaded, tiny_index, tmp_path):
    from vitviz.exemplars.locality import locality_table
    from vitviz.exemplars.mining import activation_maps, mine
    from vitviz.exemplars.store import read_exemplars, write_exemplars
    from vitviz.visualization.selection import candidate_sites
    sites = candidate_sites(tiny_loaded, ["ffn"], None)
    result = mine(tiny_loaded, sites, tiny_index, "val", 2, "mean", 0, 8)
    maps = activation_maps(tiny_loaded, result, tiny_index, 1, 8)
    write_exemplars(result, maps, locality_table(maps, {s.name: s.layer for s in sites}), tmp_path,
                    {"model": "tiny", "maps_top": 1, "locality_fraction": 0.1})
    ex = read_exemplars(tmp_path)
    curves_, summary, used, skipped = appendix_f_for_model(tiny_loaded, tiny_index, ex, -1e9, [0.0, 0.5, 1.0], 1, 1,
                                                           0, 3)
    assert used.groupby("layer").size().tolist() == [3] * len(sites)
    assert set(zip(curves_["layer"], curves_["feature"])) <= set(zip(used["layer"], used["feature"]))
    for _, r in used.iterrows():  # the exemplar used is the feature's top mined one
        assert int(r["exemplars"]) == ex.top(r["site"], int(r["feature"]))[0][0]
    for row in summary:   # every sampled feature with an active patch enters the figure or is counted flat
        entered = used[(used["layer"] == row["layer"]) & used["curves"]]
        assert row["count"]["features"] + row["count"]["flat"] == len(entered) <= 3
