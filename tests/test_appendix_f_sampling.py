"""Appendix F over sampled FFN features: seeded sampling from the mined exemplars, and the bootstrap on R²."""
import numpy as np
import pandas as pd
import pytest
import torch

from vitviz.exemplars.store import Exemplars
from vitviz.report.plot_data import feature_mean_curve
from vitviz.token_mixing.appendix_f import appendix_f_for_model, block_r2, sample_features

FRACTIONS = np.linspace(0, 1, 11)


def curves(slope_noise: list[tuple[float, float]], repeats: int, rng) -> pd.DataFrame:
    """Curves y = 1 + slope * x + N(0, noise) for one feature per (slope, noise), `repeats` draws per fraction."""
    rows = [{"feature": f, "fraction": x, "count_ratio": 1 + b * x + rng.normal(0, s) if s else 1 + b * x}
            for f, (b, s) in enumerate(slope_noise) for x in FRACTIONS for _ in range(repeats)]
    return pd.DataFrame(rows)


def r2_by_polyfit(df: pd.DataFrame) -> float:
    x, y = df["fraction"].to_numpy(), df["count_ratio"].to_numpy()
    res = y - np.polyval(np.polyfit(x, y, 1), x)
    return 1 - (res ** 2).sum() / ((y - y.mean()) ** 2).sum()


def test_exactly_linear_curves_have_r2_one_and_a_zero_width_interval():
    df = curves([(-1.0, 0.0)] * 20, 3, np.random.default_rng(0))
    r2, lo, hi = block_r2(df, "count_ratio")
    assert r2 == pytest.approx(1.0) and lo == pytest.approx(1.0) and hi == pytest.approx(1.0)


def test_point_estimate_is_the_pooled_line_fit():
    df = curves([(-1.0, 0.2), (-0.5, 0.1), (-1.5, 0.3)], 2, np.random.default_rng(1))
    assert block_r2(df, "count_ratio")[0] == pytest.approx(r2_by_polyfit(df), abs=1e-9)


def test_noisy_curves_interval_covers_the_population_r2():
    # population R² = b² var(x) / (b² var(x) + σ²), var(x) = 0.1 over the 11 fractions: 0.1 / (0.1 + 0.09)
    truth = 0.1 / (0.1 + 0.3 ** 2)
    rng = np.random.default_rng(2)
    covered, widths = 0, []
    for trial in range(60):
        r2, lo, hi = block_r2(curves([(-1.0, 0.3)] * 50, 3, rng), "count_ratio", n_boot=400, seed=trial)
        assert lo <= r2 <= hi
        covered += lo <= truth <= hi
        widths.append(hi - lo)
    assert covered >= 50  # nominal 95%: 57 of 60 expected
    assert 0 < np.mean(widths) < 0.2


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
    for row in summary:
        assert row["features"] <= 3 and {"r2_count_lo", "r2_count_hi", "r2_sum_lo", "r2_sum_hi"} <= set(row)
