"""Conformance checks any recommender can be run through (like scikit-learn's
``check_estimator`` or Gymnasium's ``check_env``).

``check_recommender(make)`` builds a small world, drives the recommender through
fit / recommend / partial_fit as the harness does, and raises ``AssertionError``
naming the first broken rule. Run over every shipped recommender in the tests;
users call it on their own before plugging a model in.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from recommender.base import Exclusions, validate_slates
from sim.scenario import Scenario


def check_recommender(make: Callable[[int], object], *, name: str = "recommender", needs_world: bool = False) -> None:
    """Check that ``make(random_state)`` returns a well-behaved recommender."""
    from sim.world import World

    sc = Scenario.model_validate(
        {"name": "conformance", "iterations": 6, "k": 5, "world": {"dim": 6, "allow_repeat": False,
         "users": {"n": 60}, "items": {"n": 80, "n_categories": 4}}}
    )
    # 1. the harness's own loop: fit on an empty log, then serve and learn each iteration
    worlds = []
    for _ in range(2):
        w = World(sc, seed=11, recommender=make(7), name=name)
        for _ in range(sc.iterations):
            w.step()
        worlds.append(w)
    a, b = (w.metrics.frame() for w in worlds)
    assert a.equals(b), f"{name}: two runs with the same random_state gave different results"

    # 2. direct calls: shapes, distinctness, exclusions, fewer eligible than k
    w = worlds[0]
    rec = make(7)
    if needs_world:
        rec.attach_world(w)
    log = w.log.last(0)
    assert rec.fit(log, w.catalog.info(w.iteration)) is rec, f"{name}: fit must return self"
    assert rec.partial_fit(log, w.catalog.info(w.iteration)) is rec, f"{name}: partial_fit must return self"
    users = np.arange(20)
    excl = Exclusions(np.zeros(w.catalog.n, bool))
    excl = Exclusions(excl.unavailable, w.consumed[users][:, : w.catalog.n].tocsr())
    slates = validate_slates(name, rec.recommend(users, 5, exclude=excl), users, 5, excl)
    assert slates.shape == (20, 5)
    unavailable = np.ones(w.catalog.n, bool)
    unavailable[:7] = False
    tight = Exclusions(unavailable)
    got = validate_slates(name, rec.recommend(users, 7, exclude=tight), users, 7, tight)
    assert set(np.unique(got)) <= set(range(7)), f"{name}: recommended an unavailable item"
    empty = rec.recommend(np.empty(0, np.int64), 5, exclude=Exclusions(np.zeros(w.catalog.n, bool)))
    assert np.asarray(empty).shape == (0, 5), f"{name}: no users must give an empty (0, k) array"
