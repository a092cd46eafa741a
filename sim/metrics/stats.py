"""Statistics across seeds (spec §5): the replication unit is the seed.

t-intervals for a recommender's scalar per seed; paired comparisons between two
recommenders on the same seeds (mean difference, paired t, exact sign-flip test,
probability of improvement); Holm's correction across the comparisons of a report.
Fewer than ``MIN_SEEDS_FOR_CLAIMS`` seeds: numbers are printed, significance is not
claimed.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import stats

MIN_SEEDS_FOR_CLAIMS = 10


def t_interval(x, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of the Student-t interval; low/high NaN below two values."""
    x = np.asarray(x, np.float64)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return np.nan, np.nan, np.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, np.nan, np.nan
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return mean, mean - half, mean + half


def sign_flip_p(d) -> float:
    """Exact two-sided sign-flip randomisation p-value of mean(d) = 0 (S ≤ 20),
    Monte Carlo with 100,000 fixed-seed draws above that."""
    d = np.asarray(d, np.float64)
    s = len(d)
    if s == 0:
        return np.nan
    observed = abs(d.mean())
    if s <= 20:
        signs = np.array(list(itertools.product([1.0, -1.0], repeat=s)))
    else:
        signs = np.random.default_rng(0).choice([1.0, -1.0], size=(100_000, s))
    means = np.abs(signs @ d / s)
    return float((means >= observed - 1e-12).mean())


def paired_comparison(a, b, level: float = 0.95) -> dict[str, float]:
    """A vs B on the same seeds: d_s = A_s − B_s."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = a[ok], b[ok]
    d = a - b
    mean, lo, hi = t_interval(d, level)
    if len(d) >= 2 and d.std(ddof=1) > 0:
        res = stats.ttest_rel(a, b)
        t_stat, p = float(res.statistic), float(res.pvalue)
    else:
        t_stat, p = np.nan, (np.nan if len(d) < 2 else (1.0 if mean == 0 else 0.0))
    base = b.mean() if len(b) else np.nan
    sd = d.std(ddof=1) if len(d) >= 2 else np.nan
    return {
        "n_seeds": int(len(d)), "mean_diff": mean, "ci_low": lo, "ci_high": hi,
        "relative_diff": mean / base if base else np.nan,
        "standardised": mean / sd if sd else np.nan,
        "t": t_stat, "p_t": p, "p_sign_flip": sign_flip_p(d),
        "p_improvement": float(((d > 0) + 0.5 * (d == 0)).mean()) if len(d) else np.nan,
        "claims_allowed": len(d) >= MIN_SEEDS_FOR_CLAIMS,
    }


def welch_comparison(a, b, level: float = 0.95) -> dict[str, float]:
    """A vs B on different seeds (no pairing possible): Welch's t interval and test of
    mean(A) − mean(B)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    mean = float(a.mean() - b.mean()) if len(a) and len(b) else np.nan
    lo = hi = p = np.nan
    if len(a) >= 2 and len(b) >= 2:
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        se = np.sqrt(va + vb)
        if se > 0:
            df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
            half = stats.t.ppf(0.5 + level / 2, df) * se
            lo, hi = mean - half, mean + half
            p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
        else:
            lo = hi = mean
            p = 1.0 if mean == 0 else 0.0
    return {"n_seeds": int(min(len(a), len(b))), "mean_diff": mean, "ci_low": lo, "ci_high": hi, "p_t": p,
            "p_sign_flip": np.nan, "paired": False}


def holm(pvalues) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaNs pass through)."""
    p = np.asarray(pvalues, np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok])]
    m = len(order)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out
