"""Names on the command line → recommender instances configured from the scenario.

Each recommender gets its own seed, derived from the run's ``recommender`` stream
and a hash of its *name* (not its position in the list), so adding a recommender
to a run does not change the others' results.
"""

from __future__ import annotations

import zlib
from typing import Callable

from recommender.baselines import OracleRecommender, PopularityRecommender, RandomRecommender
from sim.random import RunSeeds
from sim.scenario import Scenario

Factory = Callable[[Scenario, int], object]

_FACTORIES: dict[str, tuple[Factory, str]] = {
    "random": (lambda sc, rs: RandomRecommender(random_state=rs), "k distinct eligible items at random (the floor)"),
    "popularity": (
        lambda sc, rs: PopularityRecommender(window=sc.recommenders.popularity.window, random_state=rs),
        "most clicked items over a recent window",
    ),
    "oracle": (lambda sc, rs: OracleRecommender(random_state=rs), "true top-k by expected utility (the ceiling)"),
}


def register(name: str, factory: Factory, description: str) -> None:
    """Make a recommender available by name to the runner and the CLI."""
    _FACTORIES[name] = (factory, description)


def available() -> dict[str, str]:
    """Registered names with their one-line descriptions."""
    return {name: desc for name, (_, desc) in _FACTORIES.items()}


def recommender_seed(seeds: RunSeeds, name: str) -> int:
    return seeds.int_seed("recommender", salt=zlib.crc32(name.encode()) % 1024)


def make_recommender(name: str, scenario: Scenario, seeds: RunSeeds):
    try:
        factory, _ = _FACTORIES[name]
    except KeyError:
        raise KeyError(f"unknown recommender {name!r}; available: {', '.join(_FACTORIES)}") from None
    return factory(scenario, recommender_seed(seeds, name))
