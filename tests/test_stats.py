"""vitviz.stats: coverage of the intervals by simulation, permutation tests against hand-enumerated p-values,
verdict sentences, Appendix F distances of planted curves, normalised selectivity, baselined concept labels.

Known answers come from hand computations (in the comments) or from an independent computation in the test
(closed forms, np.corrcoef, a simulation whose truth is set by the test)."""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import torch
import pandas as pd
import pytest

from conftest import REPO
from vitviz.stats.concepts import STOP_WORDS, content_words, prompt_baseline
from vitviz.stats.curves import MIN_CURVES, block_curves, feature_curves, flat, line_distance, slope_and_residual
from vitviz.stats.intervals import (MIN_FEATURES, accuracy_interval, hall_bounds, mean_interval, t_bounds,
                                    two_stage_bootstrap, wilson_bounds)
from vitviz.stats.permutation import paired_comparison, unpaired_comparison, welch_bounds
from vitviz.stats.tdist import t_cdf, t_quantile
from vitviz.stats.verdicts import comparison_sentence, interval_text

T = 20                      # tasks per feature, as score_features.tasks
RUNS = 1000
NS = (MIN_FEATURES, 4, 5, 6, 8, 10, 15, 20, 30, 50)


def _accuracies(rng, runs: int, n: int, mean: float, conc: float = 10.0) -> np.ndarray:
    """(runs, n) per-feature accuracies over T tasks, true accuracies p ~ Beta(mean c, (1 - mean) c)."""
    p = rng.beta(mean * conc, (1 - mean) * conc, size=(runs, n))
    return rng.binomial(T, p) / T


def _coverage(lo, hi, truth) -> float:
    return float(np.mean((lo <= truth) & (truth <= hi)))


# ---------------------------------------------------------------------------------------------- t distribution

def test_t_quantiles_match_closed_forms():
    for p in (0.6, 0.9, 0.975, 0.995):
        assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-8)       # Cauchy
        assert t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-8)
        assert t_quantile(p, 1e7) == pytest.approx(NormalDist().inv_cdf(p), rel=1e-5)
        assert t_quantile(1 - p, 7.5) == pytest.approx(-t_quantile(p, 7.5))
    assert t_cdf(1.0, 1) == pytest.approx(0.75)                       # 1/2 + atan(1)/pi
    # df = 4: F(t) = 1/2 + (3/8) t / sqrt(1 + t^2/4) (1 - t^2 / (12 (1 + t^2/4))); at t = 2: 0.94194
    assert t_cdf(2.0, 4) == pytest.approx(0.5 + 3 / 8 * math.sqrt(2) * (1 - 4 / (12 * 2)), rel=1e-8)


# ---------------------------------------------------------------------------------------------- intervals

def test_accuracy_interval_holds_coverage_at_report_sizes():
    """Population means 0.6-0.8 (and the ceiling 0.9, where natural-exemplar MIS lives), Beta spread c = 10,
    T = 20: the stated 95% interval covers the population mean in >= 93% of 1,000 runs for every n from
    MIN_FEATURES to 50."""
    rng = np.random.default_rng(2024)
    worst = {}
    for mean in (0.6, 0.7, 0.8, 0.9):
        for n in NS:
            x = _accuracies(rng, RUNS, n, mean)
            _, lo, hi = wilson_bounds(x, T)
            worst[(mean, n)] = _coverage(lo, hi, mean)
    assert min(worst.values()) >= 0.93, {k: v for k, v in worst.items() if v < 0.93}
    # the scalar entry point is the same interval on one run
    iv = accuracy_interval(x[0], T)
    assert (iv.lo, iv.hi) == pytest.approx(tuple(float(v) for v in wilson_bounds(x[0], T)[1:]))


def test_plain_t_fails_at_the_ceiling_which_is_why_accuracies_use_wilson():
    rng = np.random.default_rng(7)
    x = _accuracies(rng, RUNS, 5, 0.9)
    assert _coverage(*t_bounds(x)[1:], 0.9) < 0.91          # measured 0.88
    assert _coverage(*wilson_bounds(x, T)[1:], 0.9) >= 0.95


def test_mean_interval_holds_coverage_for_continuous_scores():
    rng = np.random.default_rng(3)
    for draw, truth in ((lambda s: rng.normal(1.0, 0.3, s), 1.0),               # selectivity-like
                        (lambda s: rng.lognormal(0.0, 0.2, s), math.exp(0.02))):  # activation-ratio-like
        for n in NS:
            assert _coverage(*hall_bounds(draw((RUNS, n)))[1:], truth) >= 0.93, n


def test_hall_interval_known_answers():
    # symmetric values: skewness 0, the plain t interval 2.5 +- t(0.975, 3) sd / 2 (t from tables: 3.182446)
    half = 3.182446305 * np.std([1, 2, 3, 4], ddof=1) / 2
    assert hall_bounds([1.0, 2, 3, 4])[1:] == pytest.approx((2.5 - half, 2.5 + half), rel=1e-6)
    # right-skewed values: the upper arm is the longer one, and the interval is not the t interval's mirror
    m, lo, hi = hall_bounds([0.0, 0.0, 0.1, 0.1, 1.0])
    assert hi - m > m - lo > 0
    assert mean_interval([0.0, 0.0, 0.1, 0.1, 1.0]).hi == pytest.approx(float(hi))


def test_old_feature_bootstrap_with_two_features_covers_far_less_than_95():
    """The audit's finding: 2 features of 20 tasks, the report's former interval (percentile bootstrap of the
    feature means, as scoring.aggregate.bootstrap_mean) covers about two thirds of the time."""
    rng = np.random.default_rng(11)
    mean = 0.7
    x = _accuracies(rng, RUNS, 2, mean)
    boot = np.take_along_axis(x[:, None, :].repeat(1000, 1), rng.integers(0, 2, size=(RUNS, 1000, 2)), 2).mean(2)
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=1)
    assert _coverage(lo, hi, mean) < 0.75                   # measured 0.59-0.65
    # the new interval gives none at n = 2 and says so
    iv = accuracy_interval(x[0], T)
    assert not iv.enough and interval_text(iv) == "too few features (n = 2)"


def test_minimum_n_and_nan_handling():
    assert MIN_FEATURES == 3
    iv = accuracy_interval([0.5, np.nan, 0.7, 0.6], T)
    assert iv.n == 3 and iv.enough and iv.mean == pytest.approx(0.6) and 0 <= iv.lo < 0.6 < iv.hi <= 1
    assert not mean_interval([1.0, np.nan]).enough and mean_interval([1.0, np.nan]).mean == 1.0
    # all features perfect: the t interval would be [1, 1]; the Wilson interval still has width
    iv = accuracy_interval([1.0, 1.0, 1.0], T)
    assert iv.hi == 1.0 and iv.lo < 0.95
    # Wilson on n_eff = 60 tasks (design effect 1) with the t quantile on 2 df, by hand
    q = (2 * 0.975 - 1) / math.sqrt(2 * 0.975 * 0.025)
    assert iv.lo == pytest.approx((1 + q * q / 120 - q * math.sqrt(q * q / (4 * 3600))) / (1 + q * q / 60))
    assert mean_interval([0.1, 0.2, 0.3], bounds=(0.0, 1.0)).lo == 0.0


def test_two_stage_bootstrap_known_answers():
    y = np.array([[1, 0, 1, np.nan], [0, 0, 1, 1], [1, 1, 1, 1.0]])
    iv = two_stage_bootstrap(y, n_boot=500, seed=1)
    assert iv.mean == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    assert iv == two_stage_bootstrap(y, n_boot=500, seed=1)                 # seeded
    assert iv.lo < iv.mean < iv.hi
    same = two_stage_bootstrap(np.ones((4, 20)), n_boot=200)
    assert (same.lo, same.hi) == (1.0, 1.0)
    assert not two_stage_bootstrap(np.ones((2, 20))).enough


# ---------------------------------------------------------------------------------------------- comparisons

def test_paired_exact_sign_flip_by_hand():
    # d = a - b = [1, 1, 2, -1], sum 3. The 16 sums +-1 +-1 +-2 +-1: with the 2 positive, 2 + {3, 1, -1, -3}
    # (ways 1, 3, 3, 1) = 5, 3, 1, -1 -> |s| >= 3 in 1 + 3 ways; with the 2 negative, -2 + ... = 1, -1, -3, -5
    # -> 3 + 1 ways. p = 8 / 16.
    c = paired_comparison([3, 2, 2, 0], [2, 1, 0, 1])
    assert c.exact and c.permutations == 16 and c.p == pytest.approx(8 / 16) and c.difference == 0.75
    # d = [1, 2, 3, 4]: only all + and all - reach |sum| = 10: p = 2 / 16
    c = paired_comparison([1, 2, 3, 4], [0, 0, 0, 0])
    assert c.p == pytest.approx(2 / 16) and c.min_p == pytest.approx(2 / 16)
    # the interval over the (symmetric) differences is Student's t: 2.5 +- t(0.975, 3) sd / 2
    half = 3.182446305 * np.std([1, 2, 3, 4], ddof=1) / 2
    assert (c.lo, c.hi) == pytest.approx((2.5 - half, 2.5 + half), rel=1e-6)
    # NaN pairs are dropped
    assert paired_comparison([1, 2, np.nan, 4, 5], [0, 0, 0, np.nan, 0]).n_a == 3


def test_paired_monte_carlo_is_seeded_and_close_to_exact():
    rng = np.random.default_rng(5)
    a, b = rng.normal(0.3, 1, 12), rng.normal(0, 1, 12)
    exact = paired_comparison(a, b)
    mc = paired_comparison(a, b, max_exact=0, n_perm=20_000, seed=3)
    assert exact.exact and not mc.exact and mc.permutations == 20_000
    assert abs(mc.p - exact.p) < 0.01 and mc == paired_comparison(a, b, max_exact=0, n_perm=20_000, seed=3)


def test_unpaired_exact_by_hand_and_the_audit_case():
    # a = [1, 2], b = [3, 4]: the 6 splits put pairs with sums 3, 4, 5, 5, 6, 7 in group a; the difference is
    # S/2 - (10 - S)/2 = S - 5, observed -2; |S - 5| >= 2 for S = 3 and 7: p = 2 / 6
    c = unpaired_comparison([1, 2], [3, 4], min_n=2)
    assert c.p == pytest.approx(2 / 6) and c.difference == -2 and c.min_p == pytest.approx(2 / 6)
    # The audit: FFN (6 features) against attn.v (2), visualisation MIS of the report. Pooled sum 4.1; with S the
    # sum of the two features labelled attn.v the difference is (4S - 4.1) / 6, observed S = 0.6 (-0.283);
    # |4S - 4.1| >= 1.7 for S <= 0.6 (any two of the three 0.30: 3 splits) or S >= 1.45 (0.75 + 0.70: 1
    # split): p = 4 / C(8, 2) = 4 / 28.
    ffn, v = [0.55, 0.75, 0.60, 0.60, 0.70, 0.30], [0.30, 0.30]
    c = unpaired_comparison(ffn, v)
    assert c.exact and c.permutations == 28 and c.p == pytest.approx(4 / 28)
    assert c.difference == pytest.approx(3.5 / 6 - 0.3) and not c.enough     # 2 < MIN_FEATURES
    # Monte Carlo when the splits are many, seeded
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.5, 1, 30), rng.normal(0, 1, 25)
    mc = unpaired_comparison(a, b, n_perm=5000, seed=1)
    assert not mc.exact and mc.permutations == 5000 and mc == unpaired_comparison(a, b, n_perm=5000, seed=1)


def test_difference_intervals_hold_coverage():
    rng = np.random.default_rng(17)
    for n in (MIN_FEATURES, 5, 10, 20, 50):
        # paired: each feature's natural-exemplar accuracy q ~ Beta(7, 3), its visualisation accuracy 0.8 q;
        # the truth E[0.8 q - q] = -0.2 * 0.7
        q = rng.beta(7, 3, size=(RUNS, n))
        d = rng.binomial(T, 0.8 * q) / T - rng.binomial(T, q) / T
        assert _coverage(*t_bounds(d)[1:], -0.14) >= 0.93, n
        # unpaired, unequal sizes: Beta means 0.8 and 0.6
        a = _accuracies(rng, RUNS, n, 0.8)
        b = _accuracies(rng, RUNS, 2 * n, 0.6)
        assert _coverage(*welch_bounds(a, b)[1:], 0.2) >= 0.93, n


# ---------------------------------------------------------------------------------------------- verdicts

def test_verdict_sentences_follow_the_numbers():
    a_clear = [0.9, 0.8, 0.85, 0.9, 0.75, 0.8, 0.95, 0.85]
    b = [0.5, 0.55, 0.45, 0.6, 0.5, 0.4, 0.55, 0.5]
    clear = comparison_sentence(paired_comparison(a_clear, b), "visualisations", "natural exemplars", "MIS")
    assert clear.startswith("MIS is higher for visualisations than for natural exemplars")
    assert "exact sign-flip test over 256 sign patterns, p = 2/256 = 0.008" in clear      # 2 / 2^8
    lower = comparison_sentence(paired_comparison(b, a_clear), "visualisations", "natural exemplars", "MIS")
    assert "is lower for visualisations" in lower
    # the same features with mixed differences: no claim
    a_mixed = [0.6, 0.45, 0.5, 0.7, 0.4, 0.45, 0.6, 0.5]
    hedged = comparison_sentence(paired_comparison(a_mixed, b), "visualisations", "natural exemplars", "MIS")
    assert hedged.startswith("No difference in MIS between visualisations and natural exemplars is established")
    assert "higher" not in hedged and "lower" not in hedged
    # five features all in one direction: the exact test cannot go below 2 / 32; at alpha 0.1 it can claim
    five = paired_comparison(a_clear[:5], b[:5])
    assert five.p == pytest.approx(2 / 32)
    assert "too few features for a verdict" in comparison_sentence(five, "A", "B", "MIS")
    assert "cannot reach p < 0.05" in comparison_sentence(five, "A", "B", "MIS")
    assert "is higher for A than for B" in comparison_sentence(five, "A", "B", "MIS", alpha=0.1)
    # the audit's FFN against attn.v: too few attn.v features for any statement
    few = comparison_sentence(unpaired_comparison([0.55, 0.75, 0.6, 0.6, 0.7, 0.3], [0.3, 0.3]), "FFN", "attn.v",
                              "Visualisation MIS")
    assert few.startswith("Visualisation MIS: too few features") and "n = 6 and 2" in few
    # 14 features all lower by the same margin: p = 2 / 2^14, shown as a fraction and a bound
    low = comparison_sentence(paired_comparison(np.full(14, 0.5), np.full(14, 0.8)), "A", "B", "MIS")
    assert "exact sign-flip test over 16,384 sign patterns, p = 2/16384 < 0.001;" in low
    # many features: Monte Carlo p, shown as a bound when below 0.001
    rng = np.random.default_rng(0)
    many = comparison_sentence(unpaired_comparison(rng.normal(0.7, 0.1, 30), rng.normal(0.5, 0.1, 30)), "FFN",
                               "attn.v", "MIS")
    assert many.startswith("MIS is higher for FFN than for attn.v") and "20,000 random splits, p < 0.001" in many


def test_interval_text():
    assert interval_text(accuracy_interval([0.5, 0.6, 0.7, 0.6], T)).startswith("0.60 [")
    assert interval_text(mean_interval([1.0])) == "too few features (n = 1)"


# ---------------------------------------------------------------------------------------------- Appendix F

X = np.linspace(0, 1, 11)


def _old_pooled_r2(curves: list[np.ndarray]) -> float:
    """The former block_r2 without bootstrap: r^2 of a line through all (x, y) points of all curves."""
    return float(np.corrcoef(np.tile(X, len(curves)), np.concatenate(curves))[0, 1] ** 2)


def test_planted_local_feature_is_at_distance_zero_and_a_global_one_far():
    local = np.tile(1 - X, (MIN_CURVES, 1))
    b = block_curves(X, local)
    assert b.distance.mean == pytest.approx(0, abs=1e-12) and b.distance.hi == pytest.approx(0, abs=1e-12)
    assert np.allclose(b.mean_curve, 1 - X) and np.allclose(b.band_lo, 1 - X) and np.allclose(b.band_hi, 1 - X)
    # all-or-nothing (activation kept until every active patch is black): |1 - (1 - x)| = x below x = 1, 0 at 1
    step_end = np.where(X < 1, 1.0, 0.0)
    assert line_distance(X, step_end[None])[0] == pytest.approx(4.5 / 11)
    # step at half: x for x = 0 .. 0.4 (sum 1.0), 1 - x for x = 0.5 .. 1 (sum 1.5)
    step_mid = np.where(X < 0.5 - 1e-9, 1.0, 0.0)
    assert line_distance(X, step_mid[None])[0] == pytest.approx(2.5 / 11)
    g = block_curves(X, np.stack([step_mid] * 3 + [step_end] * 3))
    assert g.distance.mean == pytest.approx((2.5 + 4.5) / 22) and g.distance.lo > 0.2
    # noisy local features stay close, with an interval that excludes the global ones
    rng = np.random.default_rng(0)
    noisy = np.clip(1 - X + rng.normal(0, 0.03, (20, 11)) * (X > 0), 0, None)
    nb = block_curves(X, noisy)
    assert nb.distance.hi < 0.05 < 0.2 < g.distance.lo


def test_distance_interval_holds_coverage_from_min_curves():
    """Curves y = 1 - x^g with g ~ lognormal(0, 0.6) (g = 1 is proportional loss) and noise; the population mean
    distance from a large sample; the interval of block_curves (Hall's t) covers it in >= 93% of 1,000 runs."""
    rng = np.random.default_rng(8)

    def distances(shape):
        g = rng.lognormal(0, 0.6, shape)[..., None]
        return line_distance(X, 1 - X ** g + rng.normal(0, 0.03, shape + (11,)) * (X > 0))

    truth = distances((400_000,)).mean()
    for n in (MIN_CURVES, 8, 10, 25):
        assert _coverage(*hall_bounds(distances((RUNS, n)))[1:], truth) >= 0.93, n
    b = block_curves(X, 1 - X[None] ** np.array([[0.5], [1], [2], [1.5]]))
    assert b.sensitive == 4 < MIN_CURVES and not b.distance.enough and np.isnan(b.band_lo).all()


def test_flat_curves_are_counted_apart():
    curves = np.stack([1 - X] * 5 + [np.ones(11), np.full(11, 0.95)])
    assert flat(curves).tolist() == [False] * 5 + [True, True]
    b = block_curves(X, curves)
    assert (b.features, b.flat, b.sensitive) == (7, 2, 5) and b.distance.mean == pytest.approx(0, abs=1e-12)
    assert b.distance.enough and np.allclose(b.mean_curve, 1 - X)      # the flat ones are not in the mean curve
    # a curve that dips and comes back is not flat (|y(1) - 1| alone would call it flat)
    assert not flat(np.where(np.abs(X - 0.5) < 0.25, 0.5, 1.0)[None])[0]


def test_linear_curves_of_different_slopes_are_not_penalised_as_by_pooled_r2():
    steep, shallow = 1 - X, 1 - 0.2 * X
    # the old pooled R^2: each line alone 1, the two together 0.39 (9 / 23), below a step at half (0.75)
    assert _old_pooled_r2([steep]) == pytest.approx(1) and _old_pooled_r2([shallow]) == pytest.approx(1)
    assert _old_pooled_r2([steep, shallow]) == pytest.approx(9 / 23)
    assert _old_pooled_r2([np.where(X < 0.5 - 1e-9, 1.0, 0.0)]) == pytest.approx(0.75, abs=0.01)
    # now each feature is judged alone against 1 - x: the steep one at 0 whatever it is pooled with, the
    # shallow one at mean(0.8 x) = 0.4; both straight lines (residual 0) with slopes 1 and 0.2
    both = np.stack([steep, shallow])
    assert line_distance(X, both) == pytest.approx([0.0, 0.4])
    slope, residual = slope_and_residual(X, both)
    assert slope == pytest.approx([1.0, 0.2]) and residual == pytest.approx([0.0, 0.0], abs=1e-12)


def test_feature_curves_average_exemplars_and_repeats():
    rows = [{"feature": f, "exemplar": e, "repeat": r, "fraction": x, "sum_ratio": 1 - x * (1 + 0.1 * e + 0.01 * r)}
            for f in (3, 8) for e in (0, 1) for r in (0, 1, 2) for x in (0.0, 0.5, 1.0)]
    x, Y, keys = feature_curves(pd.DataFrame(rows), "sum_ratio")
    assert x.tolist() == [0.0, 0.5, 1.0] and keys["feature"].tolist() == [3, 8]
    # mean slope factor over e in {0, 1}, r in {0, 1, 2}: 1 + 0.05 + 0.01 = 1.06
    assert Y[0] == pytest.approx([1.0, 1 - 0.53, 1 - 1.06])


# ---------------------------------------------------------------------------------------------- selectivity

def normalized_z(v, t) -> float:
    """The report's selectivity: the production z-score of channel t over its largest possible value."""
    from vitviz.scoring.selectivity import max_z, selectivity
    z, _ = selectivity(torch.as_tensor(np.asarray(v, dtype=np.float64)), int(t))
    return z / max_z(len(v)) if z else 0.0


@pytest.mark.parametrize("C", [2, 128, 512])
def test_normalized_z_bound_is_reached_by_a_one_hot(C):
    v = np.zeros(C)
    v[1] = 3.0
    # raw z by hand: (1 - 1/C) / sqrt((1/C)(1 - 1/C)) = sqrt(C - 1) (22.6 at C = 512, 11.3 at C = 128)
    z = (3 - 3 / C) / math.sqrt(9 / C * (1 - 1 / C))
    assert z == pytest.approx(math.sqrt(C - 1))
    assert normalized_z(v, 1) == pytest.approx(1.0) and normalized_z(-v, 1) == pytest.approx(-1.0)


def test_normalized_z_is_the_correlation_with_the_one_hot_and_bounded():
    rng = np.random.default_rng(0)
    v = rng.standard_t(2, size=(200, 64)) * rng.lognormal(0, 1, size=(200, 1))
    t = rng.integers(0, 64, 200)
    nz = np.array([normalized_z(v[i], t[i]) for i in range(200)])
    assert np.all(np.abs(nz) <= 1 + 1e-6)
    assert nz == pytest.approx([np.corrcoef(v[i], np.eye(64)[t[i]])[0, 1] for i in range(200)], rel=1e-5)
    assert normalized_z(np.ones(10), 3) == 0.0


# ---------------------------------------------------------------------------------------------- concept labels

def test_baseline_stops_a_generic_prompt_from_winning_every_feature():
    d = 6
    e = np.eye(d)
    # every image = 0.8 e0 (what all images share) + 0.6 e_k (its content); prompt 0 is e0 (generic), prompt k
    # is e_k. Features 1..3 have exemplars of content k; the reference set has contents 1..5.
    text = e[:4]
    features = {k: np.stack([0.8 * e[0] + 0.6 * e[k]] * 4) for k in (1, 2, 3)}
    reference = np.stack([0.8 * e[0] + 0.6 * e[j] for j in range(1, 6)])
    # raw cosine (what label_features ranks by): generic 0.8 > specific 0.6, for every feature
    for imgs in features.values():
        assert int(np.argmax((imgs @ text.T).mean(0))) == 0
    # baseline by hand: generic 0.8, prompt k 0.6 / 5 = 0.12
    base = prompt_baseline(reference, text)
    assert base == pytest.approx([0.8, 0.12, 0.12, 0.12])
    from vitviz.exemplars.concepts import label_features       # the stage's ranking, with that baseline
    vocab = ["generic", "one", "two", "three"]
    ranked = label_features(torch.tensor(np.stack([imgs.mean(0) for imgs in features.values()])), torch.tensor(text),
                            vocab, top=2, baseline=torch.tensor(base))
    for k, top in zip(features, ranked):
        assert top[0][0] == vocab[k] and top[0][1] == pytest.approx(0.6 - 0.12, abs=1e-6)
        assert top[1] == ("generic", pytest.approx(0.0, abs=1e-6))


def test_vocabulary_without_function_words():
    lines = (REPO / "src/vitviz/exemplars/vocab/common_words.txt").read_text().splitlines()
    words = [w.strip() for w in lines if w.strip() and not w.startswith("#")]
    dropped = set(words) - set(content_words(words))
    assert dropped == {"above", "below", "under", "over", "inside", "outside", "behind", "beside", "between",
                       "near", "around", "through", "across", "along", "among", "on", "in"}
    assert content_words(["the", "pickup truck", "in the", "On", "a dog"]) == ["pickup truck", "a dog"]
    assert {"a", "the", "and", "it", "of"} <= STOP_WORDS


def test_proportion_interval_known_answer():
    """Wilson's interval for 8 of 10 at 95% (z = 1.959964): centre (0.8 + z^2/20) / (1 + z^2/10), by hand."""
    from vitviz.stats.intervals import proportion_interval
    z = 1.959963984540054
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z * (0.8 * 0.2 / 10 + z * z / 400) ** 0.5 / (1 + z * z / 10)
    iv = proportion_interval(8, 10)
    assert iv.mean == 0.8 and abs(iv.lo - (centre - half)) < 1e-9 and abs(iv.hi - (centre + half)) < 1e-9
    assert proportion_interval(0, 0).n == 0 and proportion_interval(10, 10).hi == 1.0


def test_holm_adjustment_by_hand():
    """Holm's step-down: sorted p times (m, m - 1, ...), made monotone, capped at 1."""
    from vitviz.stats.permutation import holm
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.01]) == pytest.approx([0.5, 0.02])
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0]) and holm([]) == []
