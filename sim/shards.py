"""One world split across Dask workers by user shards.

For a population too big for one process's iteration budget: the per-user work of
each iteration — drift, ranking, true utilities and the oracle pass, choices,
browsing, churn — runs on ``N`` shard actors, each serving the users whose id is
``index`` mod ``N``; the learner (the driver's :class:`ShardedWorld`) merges what
they served (:func:`sim.served.merge`), keeps the log and the metrics, updates the
recommender and, after every update, sends each shard the recommender's
``serving()`` copy.

Every random draw in the world is keyed by user id (:class:`sim.random.KeyedStream`),
never by shard or by position in a batch, and the merged rows are in the order an
unsharded world uses, so a sharded run gives the same metrics as an unsharded one
with the same seed. Each shard builds the whole world from (scenario, seed) — cheap
and deterministic — and then advances only its own users: memory per process is
not divided, the per-iteration work is.
"""

from __future__ import annotations

from typing import Any

from recommender.base import serving
from sim.scenario import Scenario
from sim.served import Served, merge
from sim.world import World


class _NotYetSent:
    """The recommender slot of a shard before the learner's first copy arrives."""

    def recommend(self, *args: Any, **kwargs: Any):
        raise RuntimeError("this shard has not received a recommender yet")


class UserShard:
    """A Dask actor: the world of one seed, serving users with id % count == index."""

    def __init__(self, scenario: Scenario, seed: int, name: str, index: int, count: int):
        self.world = World(scenario, seed, _NotYetSent(), name=name, agents=False, shard=(index, count), fit=False)

    def receive(self, recommender: object) -> None:
        """Take the learner's newest serving copy."""
        self.world.recommender = recommender
        if hasattr(recommender, "attach_world"):
            recommender.attach_world(self.world)

    def serve(self, t: int) -> Served:
        """Arrivals, then steps 1–4 of iteration ``t`` for this shard's users."""
        w = self.world
        w.iteration = t
        w.arrive(t)
        served = w.serve(t)
        w.iteration = t + 1
        return served


class ShardedWorld(World):
    """A :class:`World` whose per-user work runs on ``shards`` Dask actors.

    It holds the recommender that learns, the log, the consumed sets and the
    metrics; its population's interests are never advanced here (the shards own
    them), so read them from an unsharded world if you need them.
    """

    def __init__(self, scenario: Scenario, seed: int, recommender: Any, name: str = "recommender", *,
                 client: Any, shards: int):
        if shards < 1:
            raise ValueError(f"shards must be at least 1, got {shards}")
        super().__init__(scenario, seed, recommender, name, agents=False)
        workers = sorted(client.scheduler_info()["workers"])
        futures = [client.submit(UserShard, scenario, seed, name, i, shards, actor=True,
                                 workers=[workers[i % len(workers)]], pure=False)
                   for i in range(shards)]
        self._futures = futures  # keep the actors alive
        self.shards = [f.result() for f in futures]
        self._sent_version = -1

    def step(self) -> None:
        t = self.iteration
        self.arrive(t)
        if self._sent_version != self.model_versions:  # the model changed: broadcast it
            copy = serving(self.recommender)
            for f in [s.receive(copy) for s in self.shards]:
                f.result()
            self._sent_version = self.model_versions
        served = merge([f.result() for f in [s.serve(t) for s in self.shards]])
        self.adopt(served)
        self.account(served)

    def close(self) -> None:
        """Release the shard actors."""
        for f in self._futures:
            f.release()
        self.shards, self._futures = [], []
