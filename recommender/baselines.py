"""Baselines every study is read against: random, popularity and the oracle.

They run on the same worlds as the full pipeline (same seed, same users, same
drift, same click noise), so paired comparisons are honest. ``random`` is the floor
(gap closed = 0 in expectation), ``oracle`` the ceiling (it reads the world's true
interests and serves the true top-k: expected utility ratio 1), and ``popularity``
the classic non-personalised reference.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from recommender.base import Exclusions, RecommenderError, generator_state, restore_generator, top_k_shared
from sim.catalog import ItemInfo
from sim.log import Interactions
from sim.random import KeyedStream


class RandomRecommender:
    """k distinct eligible items per user, uniformly at random.

    Draws are keyed by (user, model version, call since the last update), not taken
    in sequence: a user's slate does not depend on who else was served in the same
    call, so a population split into shards gets the same slates.
    """

    def __init__(self, random_state: int = 0):
        self.random_state = random_state

    def fit(self, log: Interactions, items: ItemInfo) -> "RandomRecommender":
        self.version_, self.calls_ = 0, 0
        return self

    def partial_fit(self, new: Interactions, items: ItemInfo) -> "RandomRecommender":
        if not hasattr(self, "version_"):
            return self.fit(new, items)
        self.version_, self.calls_ = self.version_ + 1, 0
        return self

    def state(self) -> dict[str, np.ndarray]:
        """Learned state as arrays (for checkpoints; no pickle)."""
        return {"counters": np.array([self.version_, self.calls_], np.int64)}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.version_, self.calls_ = (int(x) for x in state["counters"])

    def recommend(self, user_ids: np.ndarray, k: int, *, exclude: Exclusions) -> np.ndarray:
        users = np.asarray(user_ids, np.int64)
        m = len(users)
        pool = np.flatnonzero(~exclude.unavailable)
        if len(pool) < k:
            raise RecommenderError(f"only {len(pool)} items can be recommended, {k} requested")
        stream, tick = KeyedStream(self.random_state), (self.version_ << 12) + self.calls_
        self.calls_ += 1
        # draw a few spare candidates per user, drop duplicates and exclusions, keep k
        width = min(len(pool), 2 * k + 8)
        u = stream.uniform(users, tick=tick, n=width)
        cand = pool[np.minimum((u * len(pool)).astype(np.int64), len(pool) - 1)]
        srt = np.argsort(cand, axis=1, kind="stable")
        s = np.take_along_axis(cand, srt, axis=1)
        dup_sorted = np.concatenate([np.zeros((m, 1), bool), s[:, 1:] == s[:, :-1]], axis=1)
        dup = np.empty_like(dup_sorted)
        np.put_along_axis(dup, srt, dup_sorted, axis=1)
        ok = ~dup & ~exclude.contains(np.arange(m), cand)
        out = np.empty((m, k), np.int64)
        good = ok.sum(axis=1) >= k
        rank = np.cumsum(ok, axis=1)
        keep = ok & (rank <= k) & good[:, None]
        out[good] = cand[keep].reshape(-1, k)
        for r in np.flatnonzero(~good):  # rare: fall back to an exact keyed permutation
            row_pool = pool[~exclude.subset(slice(r, r + 1)).contains(np.zeros(1, np.int64), pool[None, :])[0]]
            if len(row_pool) < k:
                raise RecommenderError(f"user {users[r]} has only {len(row_pool)} eligible items, {k} requested")
            keys = stream.child(int(users[r])).uniform(row_pool, tick=tick)[:, 0]
            out[r] = row_pool[np.argsort(keys, kind="stable")[:k]]
        return out


class PopularityRecommender:
    """Most-clicked items over the last ``window`` iterations (0 = all history).

    Ties (e.g. at cold start, when nothing has been clicked) are broken by a seeded
    random permutation of items, never by item id.
    """

    def __init__(self, window: int = 10, random_state: int = 0):
        self.window = window
        self.random_state = random_state

    def fit(self, log: Interactions, items: ItemInfo) -> "PopularityRecommender":
        self.counts_: deque[tuple[int, np.ndarray]] = deque()
        self.n_items_ = items.n_items
        self._tiebreak_rng = np.random.default_rng(self.random_state)
        self.tiebreak_ = self._tiebreak_rng.random(items.n_items)
        clicks = log.clicks()
        for t in np.unique(clicks.iteration):
            self._add(int(t), clicks.item[clicks.iteration == t])
        self._trim()
        return self

    def partial_fit(self, new: Interactions, items: ItemInfo) -> "PopularityRecommender":
        if not hasattr(self, "counts_"):
            return self.fit(new, items)
        if items.n_items > self.n_items_:  # new items arrived: extend the tie-break
            extra = self._tiebreak_rng.random(items.n_items - self.n_items_)
            self.tiebreak_ = np.concatenate([self.tiebreak_, extra])
            self.n_items_ = items.n_items
        clicks = new.clicks()
        for t in np.unique(clicks.iteration):
            self._add(int(t), clicks.item[clicks.iteration == t])
        self._trim()
        return self

    def state(self) -> dict[str, np.ndarray]:
        """Learned state as arrays (for checkpoints; no pickle)."""
        out = {"tiebreak": self.tiebreak_, "n_items": np.asarray(self.n_items_), "rng": generator_state(self._tiebreak_rng),
               "times": np.array([t for t, _ in self.counts_], np.int64)}
        for i, (_, c) in enumerate(self.counts_):
            out[f"counts{i}"] = c
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.tiebreak_, self.n_items_ = state["tiebreak"], int(state["n_items"])
        self._tiebreak_rng = restore_generator(state["rng"])
        self.counts_ = deque((int(t), state[f"counts{i}"]) for i, t in enumerate(state["times"]))

    def _add(self, t: int, items: np.ndarray) -> None:
        self.counts_.append((t, np.bincount(items, minlength=self.n_items_)))

    def _trim(self) -> None:
        if self.window and self.counts_:
            newest = self.counts_[-1][0]
            while self.counts_ and self.counts_[0][0] <= newest - self.window:
                self.counts_.popleft()

    def scores(self, n_items: int) -> np.ndarray:
        total = np.zeros(n_items)
        for _, c in self.counts_:
            total[: len(c)] += c[:n_items]
        tb = self.tiebreak_
        if len(tb) < n_items:
            tb = np.concatenate([tb, np.zeros(n_items - len(tb))])
        return total + tb[:n_items]  # counts are integers: the tie-break only orders ties

    def recommend(self, user_ids: np.ndarray, k: int, *, exclude: Exclusions) -> np.ndarray:
        return top_k_shared(self.scores(exclude.n_items), k, exclude, len(user_ids))


class OracleRecommender:
    """Serves each user's true top-k by expected utility: the ceiling of every metric.

    It reads the world's hidden state through ``attach_world``; it learns nothing.
    """

    def __init__(self, random_state: int = 0):
        self.random_state = random_state

    def attach_world(self, world) -> None:
        self.world_ = world

    def serving(self) -> "OracleRecommender":
        """A fresh oracle: a shard attaches it to its own world."""
        return OracleRecommender(self.random_state)

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        pass

    def fit(self, log: Interactions, items: ItemInfo) -> "OracleRecommender":
        return self

    def partial_fit(self, new: Interactions, items: ItemInfo) -> "OracleRecommender":
        return self

    def recommend(self, user_ids: np.ndarray, k: int, *, exclude: Exclusions) -> np.ndarray:
        if not hasattr(self, "world_"):
            raise RecommenderError("the oracle needs the world: call attach_world(world) first")
        users = np.asarray(user_ids)
        if len(users) and k <= self.world_.suite.oracle_depth and exclude.n_items == self.world_.catalog.n:
            items, _, _ = self.world_.oracle(users, exclude)  # one pass, shared with the metrics
            return items[:, :k]
        items, _ = self.world_.truth().oracle(users, k, exclude)
        return items
