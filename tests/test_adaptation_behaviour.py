"""Behaviour of the adaptation metrics on simulated worlds."""

import numpy as np
import pytest

from sim.metrics.stats import sign_flip_p
from sim.runner import run
from sim.scenario import Scenario

#: a small abrupt-shift world whose learned recommenders forget quickly enough
#: to recover inside the post-drift window
SMALL_SHIFT = {
    "name": "abrupt-small-test", "iterations": 45, "k": 10,
    "world": {"users": {"n": 300}, "items": {"n": 250}},
    "drift": [{"type": "abrupt", "onset": 20, "fraction": 0.5}],
    "recommenders": {"full": {"window": 10, "half_life": 3.0, "retrain_every": 2, "epochs": 10, "hidden": [64],
                              "dim": 16, "n_patterns": 4}},
    "metrics": {"warmup": 5, "families": ["utility", "adaptation"]},
}


@pytest.fixture(scope="module")
def shift_run():
    sc = Scenario.model_validate(SMALL_SHIFT)
    return run(sc, list(range(10)), ["full", "full-never", "oracle"])


@pytest.mark.slow
def test_affected_users_utility_drops_at_the_onset_for_a_learned_recommender(shift_run):
    per = shift_run.adaptation[~shift_run.adaptation["aggregate"] & (shift_run.adaptation["recommender"] == "full")]
    assert (per["D"] > 0.1).mean() >= 0.9, per[["seed", "b", "q_min", "D"]]
    oracle = shift_run.adaptation[shift_run.adaptation["recommender"] == "oracle"]
    assert (oracle["ttr95"] == 0).all() and np.allclose(oracle["D"], 0)


@pytest.mark.slow
def test_retraining_recovers_faster_than_never_over_ten_seeds(shift_run):
    per = shift_run.adaptation[~shift_run.adaptation["aggregate"]].pivot_table(index="seed", columns="recommender", values="ttr95")
    d = (per["full"] - per["full-never"]).to_numpy()
    assert d.mean() < 0, per
    assert sign_flip_p(d) < 0.05, (d, per)
    agg = shift_run.adaptation[shift_run.adaptation["aggregate"]].set_index("recommender")
    assert agg.loc["full", "ci_high"] >= agg.loc["full", "ttr95"] >= agg.loc["full", "ci_low"]
