"""The world: a Mesa model that runs one recommender against one simulated population.

The middle of the data flow (scenario → **world** → recommender → interactions →
metrics). The world owns the population and the catalogue as arrays, the drift
schedule, the choice model and the log; each :meth:`World.step` is one iteration,
told in the order the spec prescribes:

0. arrivals (new items, new users)
1. drift advances true interests
2. the recommender serves slates to active users (it has seen earlier iterations only)
3. slate metrics against the current true interests
4. users choose; the log grows; click metrics; feedback-driven drift; churn
5. the recommender learns, on the scenario's schedule

Everything random comes from keyed streams of the run's seed, so worlds of one seed
are identical for every recommender until the recommenders' slates differ.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

import mesa
import numpy as np
import scipy.sparse as sp

from recommender.base import Exclusions, Recommender, validate_slates
from recommender.baselines import OracleRecommender
from sim.catalog import Catalog, category_centres
from sim.choice import ChoiceModel
from sim.drift import DriftEvent, DriftSchedule
from sim.log import InteractionLog, Interactions, LogBlock
from sim.metrics import MetricRecorder
from sim.metrics.suite import MetricSuite
from sim.population import Population, UserAgent
from sim.random import RunSeeds
from sim.scenario import Scenario
from sim.served import Served
from sim.truth import TrueState, position_weights

#: Above this many users, agents are not created unless asked for (they are views only).
AGENT_LIMIT = 200_000


class World(mesa.Model):
    """One seed's simulated world, served by one recommender.

    Parameters
    ----------
    scenario: the validated scenario.
    seed: the run's root seed (all streams derive from it).
    recommender: any object satisfying :class:`recommender.base.Recommender`.
    name: the recommender's name, for messages and metric rows.
    agents: create one Mesa agent per user (default: when users <= ``AGENT_LIMIT``).
    shard: ``(index, count)``: serve only users whose id % count == index (see :mod:`sim.shards`).
    fit: fit the recommender on the empty log now (a shard receives fitted copies instead).
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        recommender: Recommender,
        name: str = "recommender",
        *,
        agents: bool | None = None,
        shard: tuple[int, int] | None = None,
        fit: bool = True,
    ):
        seeds = RunSeeds.from_seed(seed)
        super().__init__(rng=seeds.int_seed("population"))
        self.scenario, self.seed, self.seeds = scenario, seed, seeds
        self.recommender, self.name = recommender, name
        self.shard = shard
        self.iteration = 0
        w = scenario.world
        centres = category_centres(w.items.n_categories, w.dim, seeds.keyed("catalog"))
        self.catalog = Catalog(w.items, w.dim, scenario.iterations, centres, seeds.keyed("catalog"))
        self.population = Population(w.users, w.dim, scenario.iterations, centres, seeds.keyed("population"))
        self.calibration = None
        if w.source:  # users and items fitted to a real log replace the synthetic ones
            from sim.calibration import world_calibration

            self.calibration = world_calibration(w)
            centres = self.catalog.adopt(self.calibration)
            self.population.adopt(self.calibration)
        self.drift = DriftSchedule(scenario.drift, seeds.keyed("drift"), centres)
        self.choice = ChoiceModel(scenario.choice, scenario.k, seeds.keyed("choice"))
        self._activity = seeds.keyed("activity")
        self._evaluation = seeds.keyed("evaluation")
        self.weights = position_weights(scenario.k, scenario.choice.position_bias)
        sched = scenario.schedule
        keep = sched.retrain_every if sched.mode == "warm" else sched.window
        self.log = InteractionLog(keep=keep)
        shape = (self.population.capacity, self.catalog.capacity)
        # who has consumed what: one matrix for the no-repeat exclusions and homogenisation
        self.consumed = sp.csr_matrix(shape, dtype=np.int8)
        self._track_consumed = not w.allow_repeat or "homogenisation" in scenario.metrics.families
        self.suite = MetricSuite(scenario, self.catalog.capacity, self.catalog.category,
                                 w.items.n_categories, seeds.generator("evaluation"))
        self.metrics = self.suite.recorder
        self.timings = MetricRecorder()  # wall-clock figures: kept apart so metrics stay deterministic
        self.log_sink = None  # optional: every log block is also streamed there (see sim.logsink)
        self._oracle_cache: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._last_update = 0
        self.model_versions = 0
        self.make_agents = self.population.capacity <= AGENT_LIMIT if agents is None else agents
        self.users: dict[int, UserAgent] = {}
        self._add_agents(np.arange(self.population.n))
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "present_users": lambda m: int(m.population.present(m.iteration).sum()),
                "available_items": lambda m: int(m.catalog.available(m.iteration).sum()),
                "clicks": lambda m: m.log.n_clicks,
            }
        )
        if hasattr(recommender, "attach_world"):
            recommender.attach_world(self)
        if fit:
            self._learn(lambda: recommender.fit(Interactions.empty(), self.catalog.info(0)), full=True)

    # ------------------------------------------------------------------ the story
    def step(self) -> None:
        """One iteration, in the spec's evaluation order. Wall-clock seconds per stage
        (drift, ranking, metrics, choice, training) go to ``timings``."""
        self.arrive(self.iteration)
        self.account(self.serve(self.iteration))

    def arrive(self, t: int) -> None:
        """Step 0: this iteration's new items and users."""
        if t > 0:
            self.catalog.arrive(t)
            self._add_agents(self.population.arrive(t))

    def serve(self, t: int) -> Served:
        """Steps 1–4 for the users this world serves: everything separable by user.

        Mutates the population (drift, feedback, churn) and this world's consumed
        sets; what the accounting needs comes back as a :class:`Served`. Arrivals
        (step 0) are the caller's.
        """
        pop, cat = self.population, self.catalog
        clock = _StageClock()

        # 1. drift advances true interests
        with clock("drift"):
            present = np.flatnonzero(pop.present(t))
            if self.shard is not None:
                present = present[present % self.shard[1] == self.shard[0]]
            new_events = self.drift.advance(pop, t, present)

        # 2. the recommender serves slates to active users
        with clock("ranking"):
            active = self.active_users(present, t)
            exclude = self.exclusions(active, t)
            raw = self.recommender.recommend(active, self.scenario.k, exclude=exclude)
            slates = validate_slates(self.name, raw, active, self.scenario.k, exclude)

        # 3. what the slate metrics need from the current true interests
        with clock("metrics"):
            truth = self.truth()
            affinity = truth.affinity(active, slates)
            mu = truth.utility_from_affinity(affinity)
            panel = self.panel_rows(active)
            if isinstance(self.recommender, OracleRecommender):  # the pass over everyone is done: reuse it
                oracle_items, mu_star, mean_mu = self.oracle(active, exclude)
                if panel is not None:
                    oracle_items, mu_star, mean_mu = oracle_items[panel], mu_star[panel], mean_mu[panel]
            elif self.suite.needs_oracle:
                if panel is None:
                    oracle_items, mu_star, mean_mu = self.oracle(active, exclude)
                else:
                    oracle_items, mu_star, mean_mu = truth.oracle(active[panel], self.suite.oracle_depth,
                                                                  exclude.subset(panel), with_mean=True)
            else:  # no selected metric family needs the true top-k: skip the costliest pass
                oracle_items, mu_star, mean_mu = np.empty((len(active), 0), np.int64), np.zeros_like(mu), None

        # 4. users choose (and some browse on their own); feedback-driven drift; churn
        with clock("choice"):
            choices = self.choice.choose(active, t, affinity, mu)
            clicked = np.flatnonzero(choices.position >= 0)
            users, items = active[clicked], slates[clicked, choices.position[clicked]]
            self.drift.after_clicks(pop, users, cat.vectors[items], t)
            browse, b_users, b_items = self._browse(active, t, truth, ~exclude.unavailable)
            self._consume(np.concatenate([users, b_users]), np.concatenate([items, b_items]))
            left = pop.update_churn(active, mu.mean(axis=1), t)
        return Served(active, slates, mu, panel, oracle_items, mu_star, mean_mu, choices.position, choices.rating,
                      users, items, browse, b_users, b_items, new_events, left, clock.spent)

    def account(self, served: Served) -> None:
        """Steps 3–5 from what was served: slate and click metrics, the log, learning.

        ``served`` covers every active user (merged from shards, or this world's own).
        """
        t, cat, s = self.iteration, self.catalog, served
        clock = _StageClock()
        with clock("metrics"):
            self.suite.slates(t, s.active, s.slates, s.mu, s.oracle_items, s.mu_star, s.mean_mu, self.weights,
                              cat.available(t), cat.vectors[: cat.n], s.new_events, panel=s.panel)
        with clock("choice"):
            self._record(LogBlock(t, s.active, s.slates.astype(np.int32), s.position, s.rating))
            if s.browse is not None:
                self._record(s.browse)
        with clock("metrics"):
            consumed_items = np.concatenate([s.clicked_items, s.browse_items])
            self.suite.clicks(t, s.active, s.slates, s.position, consumed_items, self.consumed)
            if self.population.spec.churn.enabled:
                self.metrics.add(t, "churned", len(s.left), len(s.active))

        # 5. the recommender learns on the scenario's schedule
        with clock("training"):
            self._maybe_learn(t)
        self.datacollector.collect(self)
        for stage in ("drift", "ranking", "metrics", "choice", "training"):
            seconds = s.spent.get(stage, 0.0) + clock.spent.get(stage, 0.0)
            if stage in s.spent or stage in clock.spent:
                self.timings.add(t, f"stage_seconds[{stage}]", seconds, 1)
        self.iteration += 1

    def adopt(self, served: Served) -> None:
        """Take in what shards served (a world that serves nobody itself): drift events,
        churn and consumed sets, so that the accounting reads the whole population."""
        for e in served.new_events:
            event = DriftEvent(len(self.drift.events), e.kind, e.onset, e.end, e.users, e.process)
            self.drift.events.append(event)
        served.new_events = self.drift.events[len(self.drift.events) - len(served.new_events):]
        self.population.left[served.left] = self.iteration + 1
        self._consume(np.concatenate([served.clicked_users, served.browse_users]),
                      np.concatenate([served.clicked_items, served.browse_items]))

    # ------------------------------------------------------------------ helpers
    def _browse(self, active: np.ndarray, t: int, truth: TrueState,
                available: np.ndarray) -> tuple[LogBlock | None, np.ndarray, np.ndarray]:
        """Organic consumption: some users browse a few random items and may click one.

        Users do not only find items through the recommender; these clicks enter the
        log (marked organic) and the consumption dynamics, never the slate metrics.
        """
        spec = self.scenario.world.users
        none = (None, np.empty(0, np.int64), np.empty(0, np.int64))
        if spec.organic_rate <= 0 or active.size == 0:
            return none
        browsing = active[self._activity.uniform(active, tick=t, salt=11)[:, 0] < spec.organic_rate]
        pool = np.flatnonzero(available)
        if browsing.size == 0 or pool.size == 0:
            return none
        size = min(spec.browse_size, pool.size)
        u = self._activity.uniform(browsing, tick=t, n=size, salt=12)
        seen = pool[np.minimum((u * pool.size).astype(np.int64), pool.size - 1)]
        affinity = truth.affinity(browsing, seen)
        choices = self.choice.choose(browsing, t, affinity, truth.utility_from_affinity(affinity), browse=True)
        block = LogBlock(t, browsing, seen.astype(np.int32), choices.position, choices.rating, organic=True)
        hit = np.flatnonzero(choices.position >= 0)
        users, items = browsing[hit], seen[hit, choices.position[hit]]
        self.drift.after_clicks(self.population, users, self.catalog.vectors[items], t)
        return block, users, items

    def panel_rows(self, active: np.ndarray) -> np.ndarray | None:
        """Rows of ``active`` in the metric panel (None: everyone is). Membership is a
        keyed draw per user id — fixed for the whole run, the same for every
        recommender of the seed, and extended to users who arrive later."""
        size = self.scenario.metrics.panel
        initial = self.scenario.world.users.n
        if size == 0 or size >= initial:
            return None
        return np.flatnonzero(self._evaluation.uniform(active, tick=0, salt=31)[:, 0] < size / initial)

    def _record(self, block: LogBlock) -> None:
        """Append to the log (and to the streamed copy, if any)."""
        self.log.append(block)
        if self.log_sink is not None:
            self.log_sink.write(block)

    def active_users(self, present: np.ndarray, t: int) -> np.ndarray:
        """Present users who come to the service at ``t`` (keyed draw per user)."""
        frac = self.scenario.world.users.active_fraction
        if frac >= 1.0:
            return present
        return present[self._activity.uniform(present, tick=t)[:, 0] < frac]

    def exclusions(self, users: np.ndarray, t: int) -> Exclusions:
        """What ``users`` may not be shown at ``t``: unavailable items, and consumed ones."""
        n = self.catalog.n
        unavailable = ~self.catalog.available(t)
        if self.scenario.world.allow_repeat:
            return Exclusions(unavailable)
        per_user = self.consumed[users][:, :n]
        return Exclusions(unavailable, per_user.tocsr())

    def truth(self) -> TrueState:
        """The true state now (views): what the oracle and the metrics read."""
        pop, cat, ch = self.population, self.catalog, self.scenario.choice
        return TrueState(
            user_vectors=pop.theta - pop.satiation if self._has_satiation else pop.theta,
            item_vectors=cat.vectors[: cat.n],
            item_quality=cat.quality[: cat.n],
            temperature=ch.temperature,
            no_click_utility=ch.no_click_utility,
            chunk_size=self.scenario.world.chunk_size,
        )

    @property
    def _has_satiation(self) -> bool:
        return any(d.type == "satiation" for d in self.scenario.drift)

    def oracle(self, users: np.ndarray, exclude: Exclusions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Oracle items (best first, as deep as the metrics need), their utilities and each
        user's mean utility over eligible items, at this iteration (cached: the oracle
        recommender and the metrics share one pass)."""
        c = self._oracle_cache
        if c is not None and c[0] == self.iteration and c[3] is exclude and np.array_equal(c[1], users):
            return c[2]
        result = self.truth().oracle(users, self.suite.oracle_depth, exclude, with_mean=True)
        self._oracle_cache = (self.iteration, users, result, exclude)
        return result

    def _consume(self, users: np.ndarray, items: np.ndarray) -> None:
        if not self._track_consumed or users.size == 0:
            return
        new = sp.csr_matrix((np.ones(len(users), np.int8), (users, items)), shape=self.consumed.shape)
        self.consumed = (self.consumed + new).tocsr()

    def _maybe_learn(self, t: int) -> None:
        sched = self.scenario.schedule
        if (t + 1) % sched.retrain_every:
            return
        info = self.catalog.info(t + 1 if t + 1 < self.scenario.iterations else t)
        if sched.mode == "full":
            data = self.log.last(sched.window)
            self._learn(lambda: self.recommender.fit(data, info), full=True)
        else:
            data = self.log.window(self._last_update)
            self._learn(lambda: self.recommender.partial_fit(data, info), full=False)
        self._last_update = t + 1
        self.timings.add(t, "train_seconds", self._train_seconds, 1)
        self.metrics.add(t, "model_versions", self.model_versions, 1)
        diagnostics = getattr(self.recommender, "diagnostics", None)
        if callable(diagnostics):  # the recommender's own view (e.g. interest patterns), recorded as is
            for key, value in diagnostics().items():
                self.metrics.add(t, f"rec:{key}", value, 1)

    def _learn(self, call: Any, full: bool) -> None:
        start = time.perf_counter()
        call()
        self._train_seconds = time.perf_counter() - start
        self.model_versions += 1

    def _add_agents(self, ids: np.ndarray) -> None:
        if self.make_agents:
            for i in ids:
                self.users[int(i)] = UserAgent(self, int(i))

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, np.ndarray]:
        """The world's whole state as named arrays (exact save/restore; no pickle)."""
        out: dict[str, np.ndarray] = {"iteration": np.asarray(self.iteration), "seed": np.asarray(self.seed)}
        for prefix, part in (("pop", self.population), ("cat", self.catalog), ("drift", self.drift), ("log", self.log)):
            out.update({f"{prefix}/{k}": v for k, v in part.state().items()})
        c = self.consumed.tocoo()
        out["consumed/rows"], out["consumed/cols"] = c.row.astype(np.int64), c.col.astype(np.int64)
        out.update({f"suite/{k}": v for k, v in self.suite.state().items()})
        out["last_update"] = np.asarray(self._last_update)
        out["model_versions"] = np.asarray(self.model_versions)
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` saved (into a world built from the same scenario and seed)."""
        if int(state["seed"]) != self.seed:
            raise ValueError(f"state is for seed {int(state['seed'])}, this world has seed {self.seed}")
        self.iteration = int(state["iteration"])
        for prefix, part in (("pop", self.population), ("cat", self.catalog), ("drift", self.drift), ("log", self.log)):
            p = prefix + "/"
            part.load_state({k[len(p) :]: v for k, v in state.items() if k.startswith(p)})
        rows, cols = state["consumed/rows"], state["consumed/cols"]
        self.consumed = sp.csr_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=self.consumed.shape)
        self.suite.load_state({k[6:]: v for k, v in state.items() if k.startswith("suite/")}, self.drift.events)
        self._last_update = int(state["last_update"])
        self.model_versions = int(state["model_versions"])
        self._add_agents(np.array([i for i in range(self.population.n) if i not in self.users], np.int64))


class _StageClock:
    """Accumulates wall-clock seconds per named stage of one iteration."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.spent[stage] = self.spent.get(stage, 0.0) + time.perf_counter() - start
