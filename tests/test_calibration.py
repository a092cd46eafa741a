"""Worlds calibrated from a real log: the log's users and items, fitted tastes, and a
choice model set from its engagement — with the fit's quality measured."""

import json

import numpy as np
import pytest

from sim.datasets import dataset_path, load_log
from sim.runner import run, simulate, write_run
from sim.scenario import ScenarioError, load_scenario, scenario_from_dict
from sim.world import World
from recommender.baselines import RandomRecommender
from test_replay import clustered_log


@pytest.fixture(scope="module")
def log_path(tmp_path_factory):
    return clustered_log(tmp_path_factory.mktemp("cal") / "u.data", users=90, items=60, weeks=8)


def scenario(log_path, **world):
    return scenario_from_dict({"name": "cal", "iterations": 6, "k": 5,
                               "world": {"source": str(log_path), "dim": 4, "items": {"n_categories": 3}, **world}})


def test_the_log_sets_users_items_and_choice_model(log_path):
    sc = scenario(log_path)
    assert (sc.world.users.n, sc.world.items.n) == (90, 60)
    assert sc.choice.temperature != 0.1 or sc.choice.no_click_utility != 0.5  # calibrated, not the defaults
    world = World(sc, 0, RandomRecommender(random_state=0))
    cal = world.calibration
    np.testing.assert_allclose(np.linalg.norm(world.population.theta[:90], axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(world.catalog.vectors[:60], cal.item_vectors)
    # three taste groups in the log → three film clusters, numbered by audience (largest first)
    sizes = np.bincount(world.population.home_category[:90], minlength=3)
    assert np.all(np.diff(sizes) <= 0)
    groups = load_log(log_path).item_ids.astype(int) % 3  # the log's item groups, by dense id
    assert all(len(set(groups[cal.category == c])) == 1 for c in range(3))
    r = cal.report
    assert r["holdout_auc"] > 0.8 and r["popularity_spearman"] > 0.0
    assert abs(r["mean_mu_logged"] - r["engagement"]) < 0.25


def test_users_choose_what_they_really_liked(log_path):
    """In the calibrated world a user's true utility is higher for items of their own
    group in the log than for the others."""
    sc = scenario(log_path)
    world = World(sc, 0, RandomRecommender(random_state=0))
    truth = world.truth()
    users = np.arange(90)
    items = np.tile(np.arange(60), (90, 1))
    mu = truth.utility(users, items)
    data = load_log(log_path)
    own = (data.item_ids.astype(int)[None, :] % 3) == (data.user_ids.astype(int)[:, None] % 3)
    assert mu[own].mean() > 3 * mu[~own].mean()


def test_a_calibrated_run_records_its_calibration(log_path, tmp_path):
    res = run(scenario(log_path), [0], ["popularity", "oracle"])
    write_run(res, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["calibration"]["users"] == 90 and "holdout_auc" in manifest["calibration"]
    eur = res.metrics[(res.metrics.metric == "eur") & (res.metrics.recommender == "oracle")]["value"]
    assert (eur == 1).all()


def test_bad_sources_are_clear_errors(tmp_path, log_path):
    with pytest.raises(ScenarioError, match=r"world\.source: .*no such file"):
        scenario(tmp_path / "missing.inter")
    with pytest.raises(ScenarioError, match=r"world\.source: unknown format|world\.source: .*cannot tell"):
        scenario(log_path.with_name("log.bin").resolve() if log_path.with_name("log.bin").write_text("1 2 3 4") else 0)
    with pytest.raises(ScenarioError, match=r"world\.source: .*no arrivals"):
        scenario(log_path, users={"arrivals_per_iteration": 3})


ML100K = dataset_path("ml-100k")


@pytest.mark.skipif(not ML100K.exists(), reason=f"ML-100K not fetched ({ML100K}); run `make data`")
def test_ml100k_abrupt_shift_runs_and_the_calibration_is_good():
    sc = load_scenario("ml100k_abrupt_shift").replace(iterations=8, drift=[{"type": "abrupt", "onset": 4}])
    assert (sc.world.users.n, sc.world.items.n) == (943, 1682)
    metrics, *_ = simulate(sc, 0, "popularity")
    assert metrics[metrics.metric == "eur"]["value"].between(0, 1).all()
    from sim.calibration import world_calibration

    r = world_calibration(sc.world).report
    assert r["holdout_auc"] > 0.85 and r["popularity_spearman"] > 0.8


def test_the_report_says_what_the_calibration_achieved(log_path, tmp_path):
    from reports.build import build_report

    write_run(run(scenario(log_path), [0, 1], ["popularity", "random"]), tmp_path / "run")
    md = build_report(tmp_path / "run", tmp_path / "rep", ("md",))["md"].read_text()
    assert "**calibration**" in md and "held-out AUC" in md and "Spearman" in md
