"""Invariants of the metric functions, over arbitrary small inputs (hypothesis)."""

import numpy as np
import scipy.sparse as sp
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from sim.metrics.accuracy import blank_invalid, click_metrics, ndcg_graded, topn_metrics, topn_per_user
from sim.metrics.adaptation import bootstrap_ttr, summarise_curve
from sim.metrics.diversity import CumulativeCoverage, gini, ild_emb, jaccard_pairs, all_pairs
from sim.metrics.utility import utility_metrics
from sim.truth import position_weights

N_ITEMS = 12


@st.composite
def slates_and_truth(draw, k=4, n=3):
    m = draw(st.integers(1, 8))
    slates = np.array([draw(st.permutations(range(N_ITEMS)))[:k] for _ in range(m)])
    truth = np.array([draw(st.permutations(range(N_ITEMS)))[:n] for _ in range(m)])
    return slates, truth


@given(slates_and_truth())
def test_accuracy_ranges(case):
    slates, truth = case
    per = topn_per_user(slates, truth, 4)
    assert (per["precision"] <= 1).all() and (per["precision"] >= 0).all()
    for name in ("recall", "hit", "mrr", "ndcg"):
        assert ((per[name] >= 0) & (per[name] <= 1 + 1e-12)).all()


@given(slates_and_truth(), st.randoms())
def test_pooled_metrics_do_not_depend_on_user_order(case, rnd):
    slates, truth = case
    perm = np.array(rnd.sample(range(len(slates)), len(slates)))
    a, b = topn_metrics(slates, truth, 4), topn_metrics(slates[perm], truth[perm], 4)
    for key in a:
        assert np.isclose(a[key][0], b[key][0]) and a[key][1] == b[key][1]
    mu = np.abs(np.sin(slates.astype(float)))
    w = position_weights(4, 1.0)
    u1, u2 = utility_metrics(mu, mu + 0.1, w), utility_metrics(mu[perm], mu[perm] + 0.1, w)
    assert np.isclose(u1["eur"][0], u2["eur"][0])


@given(hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(0, 100)))
def test_gini_is_in_range_and_zero_for_uniform(x):
    g = gini(x)
    n = len(x)
    if x.sum() == 0:
        assert np.isnan(g)
    else:
        assert -1e-12 <= g <= (n - 1) / n + 1e-12
    assert gini(np.full(n, 3.0)) == 0.0


@given(st.lists(hnp.arrays(np.int64, (3, 2), elements=st.integers(0, N_ITEMS - 1)), min_size=1, max_size=6))
def test_cumulative_coverage_never_decreases_on_a_fixed_catalogue(iterations):
    cov = CumulativeCoverage()
    values = [cov.update(s, np.ones(N_ITEMS, bool))[0] for s in iterations]
    assert all(b >= a for a, b in zip(values, values[1:]))


@given(slates_and_truth())
def test_oracle_has_utility_ratio_exactly_one_and_ndcg_one(case):
    slates, _ = case
    mu = np.sort(np.abs(np.cos(slates.astype(float))), axis=1)[:, ::-1]
    m = utility_metrics(mu, mu, position_weights(4, 1.0))
    assert m["eur"][0] == 1.0 and m["regret"][0] == 0.0
    assert np.allclose(ndcg_graded(mu, mu)[mu.sum(axis=1) > 0], 1.0)


def test_empty_slates_give_documented_values():
    empty = np.full((2, 3), -1)
    per = topn_per_user(empty, np.array([[0, 1, 2], [3, 4, 5]]), 3)
    assert (per["precision"] == 0).all() and (per["ndcg"] == 0).all() and (per["hit"] == 0).all()
    m = utility_metrics(np.zeros((2, 3)), np.ones((2, 3)), np.ones(3))
    assert m["eu"][0] == 0 and m["regret"][0] == 3
    assert np.isnan(ild_emb(empty, np.eye(6)[:, :3])).all()
    c = click_metrics(empty, np.array([-1, -1]))
    assert np.isnan(c["ctr_item"][0]) and c["ctr_slate"][0] == 0
    assert np.isnan(utility_metrics(np.zeros((0, 3)), np.zeros((0, 3)), np.ones(3))["eur"][0])


@given(hnp.arrays(np.int64, (4, 5), elements=st.integers(0, 7)))
def test_duplicates_and_ineligible_items_are_blanked_in_place(slates):
    eligible = lambda rows, items: items != 7  # noqa: E731 - item 7 is ineligible for everyone
    out, rate = blank_invalid(slates, eligible)
    for row_in, row_out in zip(slates, out):
        seen = set()
        for a, b in zip(row_in, row_out):
            if a == 7 or a in seen:
                assert b == -1  # blanked where it stood; nothing shifted up
            else:
                assert b == a
            seen.add(a)
    assert 0 <= rate <= 1


@given(st.lists(st.floats(0.5, 1.0), min_size=5, max_size=10), st.lists(st.floats(0, 1), min_size=5, max_size=30))
def test_oracle_like_curves_have_zero_ttr_and_loss(pre, post):
    flat = summarise_curve(np.ones(len(pre)), np.ones(len(post)))
    assert flat.ttr95 == 0 and flat.pdl_H == 0 and not flat.censored
    a = summarise_curve(pre, post)
    assert 0 <= a.ttr95 <= len(post)


def test_identical_seed_curves_give_a_degenerate_bootstrap_interval():
    curve = np.concatenate([np.full(10, 0.9), np.linspace(0.3, 0.95, 20)])
    curves = np.tile(curve, (12, 1))
    boot = bootstrap_ttr(curves, 10, np.random.default_rng(0), n_resamples=500)
    assert boot["ci_low"] == boot["ci_high"] == boot["ttr95"]
    oracle = bootstrap_ttr(np.ones((12, 30)), 10, np.random.default_rng(0), n_resamples=500)
    assert (oracle["ttr95"], oracle["ci_low"], oracle["ci_high"]) == (0, 0, 0)


@given(st.integers(2, 40))
def test_all_pairs_and_jaccard_of_identical_sets_is_one(n):
    pairs = all_pairs(n)
    assert len(pairs) == n * (n - 1) // 2
    x = sp.csr_matrix(np.ones((n, 3)))
    assert jaccard_pairs(x, pairs)[0] == 1.0
