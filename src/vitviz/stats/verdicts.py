"""Report sentences written from an interval or a comparison: a direction is claimed only when the permutation
test gives p < alpha and the interval of the difference excludes 0; otherwise the sentence is hedged, and
below the minimum number of features it says so instead of printing an interval."""
from __future__ import annotations

from vitviz.stats.intervals import MIN_FEATURES, Interval
from vitviz.stats.permutation import Comparison

ALPHA = 0.05


def interval_text(iv: Interval, digits: int = 2, mean_when_few: bool = False) -> str:
    """'0.58 [0.46, 0.68]', or 'too few features (n = 2)' when the interval does not exist (after the mean, as
    '0.55, too few features (n = 2)', with `mean_when_few`); 'n/a' without a mean."""
    if iv.mean != iv.mean:
        return "n/a"
    if not iv.enough:
        return (f"{iv.mean:.{digits}f}, " if mean_when_few else "") + f"too few features (n = {iv.n})"
    return f"{iv.mean:.{digits}f} [{iv.lo:.{digits}f}, {iv.hi:.{digits}f}]"


def p_text(c: Comparison) -> str:
    """How the p-value was obtained and its value: 'exact permutation test over 28 splits, p = 4/28 = 0.14' or
    'sign-flip test with 20,000 random sign flips, p < 0.001'."""
    if c.paired:
        how = (f"exact sign-flip test over {c.permutations:,} sign patterns" if c.exact else
               f"sign-flip test with {c.permutations:,} random sign flips")
    else:
        how = (f"exact permutation test over {c.permutations:,} splits" if c.exact else
               f"permutation test with {c.permutations:,} random splits")
    raw = c.p if c.p_raw is None else c.p_raw
    shown = _p(raw)
    shown = shown if shown.startswith("<") else f"= {shown}"
    text = f"{how}, p = {round(raw * c.permutations)}/{c.permutations} {shown}" if c.exact else f"{how}, p {shown}"
    if c.family > 1:
        adj = _p(c.p)
        text += f", Holm-adjusted over {c.family} tests p {adj if adj.startswith('<') else '= ' + adj}"
    return text


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def _sizes(c: Comparison) -> str:
    return f"n = {c.n_a} paired features" if c.paired else f"n = {c.n_a} and {c.n_b} features"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def comparison_sentence(c: Comparison, a: str, b: str, measure: str, alpha: float = ALPHA, digits: int = 2,
                        min_n: int = MIN_FEATURES) -> str:
    """One sentence on `measure` of `a` against `b` from a comparison (difference = a - b): a direction when
    p < alpha and the interval excludes 0; 'too few features' below min_n or when the test cannot reach alpha
    at these n; otherwise 'no difference established', which is not a claim of equality."""
    if not c.enough:
        return _cap(f"{measure}: too few features to compare {a} with {b} ({_sizes(c)}; at least {min_n} "
                    f"{'paired features' if c.paired else 'per group'} are needed).")
    numbers = (f"difference {c.difference:+.{digits}f} [{c.lo:+.{digits}f}, {c.hi:+.{digits}f}]; {p_text(c)}; "
               f"{_sizes(c)}")
    if c.p < alpha and (c.lo > 0 or c.hi < 0):
        return _cap(f"{measure} is {'higher' if c.difference > 0 else 'lower'} for {a} than for {b} ({numbers}).")
    if c.min_p >= alpha:
        return _cap(f"{measure}: too few features for a verdict on {a} against {b}: at these n the test cannot "
                    f"reach p < {alpha:g} ({numbers}).")
    return (f"No difference in {measure} between {a} and {b} is established at these sample sizes ({numbers}); "
            "this is not evidence that they are equal.")
