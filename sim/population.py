"""The user population: true interests of every user as one array.

Part of the world (scenario → **world** → recommender). ``theta`` holds unit-norm
interest vectors, one row per user id (preallocated for arrivals); ``satiation`` is
the temporary boredom vector subtracted from them. Mesa agents (:class:`UserAgent`)
are thin views onto a row, for inspection and Mesa tooling — never on the hot path.
"""

from __future__ import annotations

import mesa
import numpy as np

from sim.catalog import NEVER, clustered_unit_vectors
from sim.random import KeyedStream
from sim.scenario import UsersSpec


def zipf_labels(u: np.ndarray, n_categories: int, skew: float) -> np.ndarray:
    """Map uniforms to categories with P(c) ∝ (c+1)^−skew (skew 0: uniform).

    Audiences are unequal: a few mainstream categories hold most users, which is
    what gives non-personalised popularity something to find.
    """
    p = (np.arange(1, n_categories + 1, dtype=np.float64)) ** -skew
    cdf = np.cumsum(p / p.sum())
    return np.minimum(np.searchsorted(cdf, u, side="right"), n_categories - 1).astype(np.int32)


class Population:
    """Interests, lifecycle and churn counters of all users, as arrays."""

    def __init__(self, spec: UsersSpec, dim: int, iterations: int, centres: np.ndarray, stream: KeyedStream):
        self.spec, self.dim = spec, dim
        self.capacity = spec.n + spec.arrivals_per_iteration * iterations
        self.centres = centres
        self._stream = stream
        cap = self.capacity
        self.theta = np.zeros((cap, dim), np.float32)
        self.satiation = np.zeros((cap, dim), np.float32)
        self.born = np.full(cap, NEVER, np.int32)
        self.left = np.full(cap, NEVER, np.int32)
        self.home_category = np.zeros(cap, np.int32)
        self.low_streak = np.zeros(cap, np.int32)
        self.n = 0
        self._create(spec.n, iteration=0)

    def _create(self, count: int, iteration: int) -> np.ndarray:
        ids = np.arange(self.n, self.n + count)
        if count == 0:
            return ids
        s = self._stream
        u = s.uniform(ids, tick=0, n=1, salt=1)[:, 0]
        labels = zipf_labels(u, len(self.centres), self.spec.category_skew)
        noise = s.normal(ids, tick=0, n=self.dim, salt=2)
        spread = 1.0 / self.spec.concentration if self.spec.concentration > 0 else 1e6
        self.theta[ids] = clustered_unit_vectors(self.centres, labels, spread, noise)
        self.home_category[ids] = labels
        self.born[ids] = iteration
        self.n += count
        return ids

    def adopt(self, calibration) -> None:
        """Take the users of a calibrated world (interests and home categories)."""
        n = len(calibration.user_vectors)
        self.theta[:n] = calibration.user_vectors
        self.home_category[:n] = calibration.home_category
        self.centres = calibration.centres

    def arrive(self, iteration: int) -> np.ndarray:
        """Add this iteration's new users (cold start); returns their ids."""
        return self._create(self.spec.arrivals_per_iteration, iteration)

    def present(self, iteration: int) -> np.ndarray:
        """bool (n,): users who have arrived and not left."""
        return (self.born[: self.n] <= iteration) & (iteration < self.left[: self.n])

    def effective(self, ids: np.ndarray) -> np.ndarray:
        """Interests net of satiation: the vector true affinity is computed from."""
        return self.theta[ids] - self.satiation[ids]

    def update_churn(self, ids: np.ndarray, slate_utility: np.ndarray, iteration: int) -> np.ndarray:
        """Count consecutive low-utility slates; users reaching ``patience`` leave.

        Returns the ids of users who left at this iteration.
        """
        churn = self.spec.churn
        if not churn.enabled or ids.size == 0:
            return np.empty(0, np.int64)
        low = slate_utility < churn.threshold
        self.low_streak[ids] = np.where(low, self.low_streak[ids] + 1, 0)
        leaving = ids[self.low_streak[ids] >= churn.patience]
        self.left[leaving] = iteration + 1
        return leaving

    # -- state -------------------------------------------------------------------
    _STATE = ("theta", "satiation", "born", "left", "home_category", "low_streak")

    def state(self) -> dict[str, np.ndarray]:
        out = {name: getattr(self, name)[: self.n].copy() for name in self._STATE}
        out["n"] = np.asarray(self.n)
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.n = int(state["n"])
        for name in self._STATE:
            getattr(self, name)[: self.n] = state[name]


class UserAgent(mesa.Agent):
    """One simulated user, as a Mesa agent: a view onto row ``index`` of the population.

    Reading ``interests`` or ``satiation`` returns the live values; the world moves
    all users at once, so agents have no per-agent ``step``.
    """

    def __init__(self, model: mesa.Model, index: int):
        super().__init__(model)
        self.index = int(index)

    @property
    def interests(self) -> np.ndarray:
        return self.model.population.theta[self.index]

    @property
    def satiation(self) -> np.ndarray:
        return self.model.population.satiation[self.index]

    @property
    def present(self) -> bool:
        pop, t = self.model.population, self.model.iteration
        return bool(pop.born[self.index] <= t < pop.left[self.index])
