"""``recdrift replay LOG``: the recommenders on a real log, in time order.

The real-data counterpart of the simulated curves. Time is cut into windows (a
week by default); each window is one iteration. Recommenders are fitted on the
history before the first evaluated window (``train_fraction`` of the
interactions), then, window after window: every user active in the window gets a
top-K list (excluding what they interacted with before and items the log had not
shown yet), it is scored against the items they actually interacted with in the
window that were new to them, and the window's interactions are handed to
``partial_fit`` — so each recommender updates on its own retraining schedule, as
in a simulation.

Metrics per window (binary relevance, mean over evaluated users, ``n_defined`` =
users): ``recall@K`` (hits / relevant items), ``ndcg@K`` (ideal DCG over
min(K, relevant)), ``hit@K``, for every K in ``cutoffs`` — over users who had
interacted before the window (what a personalised model can be judged on), and the
same with the suffix ``[cold]`` over users new in that window (on MovieLens most
users rate in one burst, so cold users are a large share: they are reported, not
mixed in). Output: a tidy table
like ``metrics.parquet``: ``dataset, recommender, seed, window, metric, value,
n_defined``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.base import Exclusions
from recommender.registry import make_recommender
from sim.catalog import ItemInfo
from sim.datasets import InteractionData
from sim.log import Interactions
from sim.random import RunSeeds
from sim.runner import _seed_frameworks
from sim.scenario import Scenario

DAY = 86_400


def windows(data: InteractionData, window_days: float, train_fraction: float) -> tuple[np.ndarray, int]:
    """Window index of every interaction, and the first evaluated window."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    if window_days <= 0:
        raise ValueError(f"window_days must be > 0, got {window_days}")
    w = ((data.timestamp - data.timestamp.min()) // int(window_days * DAY)).astype(np.int64)
    first = int(w[min(int(train_fraction * len(w)), len(w) - 1)])
    return w, max(first, 1)


def replay_scenario(data: InteractionData, n_windows: int, k: int, config: Scenario | None = None) -> Scenario:
    """The recommenders' configuration, sized to the log: ``config``'s ``[recommenders]``
    (one window = one iteration), else the defaults."""
    doc = {
        "name": f"replay-{data.name}"[:100].replace(" ", "_"), "iterations": max(n_windows, 2), "k": k,
        "world": {"users": {"n": max(data.n_users, 2)}, "items": {"n": max(data.n_items, k + 1)}},
    }
    if config is not None:
        doc["recommenders"] = config.recommenders.model_dump()
    return Scenario.model_validate(doc)


def _interactions(data: InteractionData, w: np.ndarray, mask: np.ndarray) -> Interactions:
    n = int(mask.sum())
    return Interactions(w[mask].astype(np.int32), data.user[mask], data.item[mask].astype(np.int32),
                        np.zeros(n, np.int8), np.ones(n, bool), data.rating[mask], np.zeros(n, bool))


def _info(n_items: int) -> ItemInfo:
    n_items = int(n_items)
    return ItemInfo(n_items, np.ones(n_items, bool), np.zeros(n_items, np.int32), np.zeros((n_items, 0), np.float32))


def score(lists: np.ndarray, truth: sp.csr_matrix, cutoffs: Sequence[int]) -> dict[str, np.ndarray]:
    """Per user (row): recall, NDCG and hit at each cutoff against a CSR of relevant items."""
    rows = np.arange(len(lists))
    rel = np.asarray(truth[rows[:, None], lists].todense()) > 0  # (users, K) relevance of each position
    n_rel = np.diff(truth.indptr)
    discount = 1.0 / np.log2(np.arange(2, lists.shape[1] + 2))
    out = {}
    for k in cutoffs:
        hits = rel[:, :k].sum(axis=1)
        dcg = (rel[:, :k] * discount[:k]).sum(axis=1)
        ideal = np.cumsum(discount[:k])[np.minimum(n_rel, k) - 1]
        out[f"recall@{k}"] = hits / n_rel
        out[f"ndcg@{k}"] = dcg / ideal
        out[f"hit@{k}"] = (hits > 0).astype(np.float64)
    return out


def replay(data: InteractionData, recommenders: Sequence[str], seeds: Sequence[int], *, window_days: float = 7.0,
           train_fraction: float = 0.5, cutoffs: Sequence[int] = (10, 20), config: Scenario | None = None,
           progress: Callable[[str, int, int, int], None] | None = None) -> pd.DataFrame:
    """Replay ``data`` for every recommender × seed; the tidy table of the module docstring."""
    w, first = windows(data, window_days, train_fraction)
    last = int(w.max())
    k = max(cutoffs)
    scenario = replay_scenario(data, last + 1, k, config)
    # items the log has shown before each window (ids are numbered by first appearance)
    known_before = np.array([int(data.item[w < t].max(initial=-1)) + 1 for t in range(last + 2)])
    rows = []
    for seed in seeds:
        for name in recommenders:
            seeds_ = RunSeeds.from_seed(seed)
            _seed_frameworks(seeds_)
            rec = make_recommender(name, scenario, seeds_)
            history = w < first
            rec.fit(_interactions(data, w, history), _info(known_before[first]))
            seen = sp.csr_matrix((np.ones(int(history.sum()), np.int8), (data.user[history], data.item[history])),
                                 shape=(data.n_users, data.n_items))
            for t in range(first, last + 1):
                now = w == t
                n_known = known_before[t]
                users_now, items_now = data.user[now], data.item[now]
                new_to_user = np.asarray(seen[users_now, items_now]).ravel() == 0
                ok = new_to_user & (items_now < n_known)
                truth = sp.csr_matrix((np.ones(int(ok.sum())), (users_now[ok], items_now[ok])),
                                      shape=(data.n_users, n_known))
                truth.data[:] = 1.0
                users = np.flatnonzero(np.diff(truth.indptr))
                if users.size:
                    per_user = (seen[users][:, :n_known] > 0).astype(np.int8).tocsr()
                    eligible = n_known - np.diff(per_user.indptr)
                    users, per_user = users[eligible >= k], per_user[eligible >= k]
                if users.size:
                    lists = rec.recommend(users, k, exclude=Exclusions(np.zeros(n_known, bool), per_user))
                    warm = np.diff(seen.indptr)[users] > 0
                    for metric, values in score(lists, truth[users], cutoffs).items():
                        for suffix, part in (("", warm), ("[cold]", ~warm)):
                            if part.any():
                                rows.append((data.name, name, seed, t, metric + suffix, float(values[part].mean()),
                                             int(part.sum())))
                rec.partial_fit(_interactions(data, w, now), _info(known_before[t + 1]))
                seen = seen + sp.csr_matrix((np.ones(int(now.sum()), np.int8), (users_now, items_now)),
                                            shape=seen.shape)
                if progress is not None:
                    progress(name, seed, t, last)
    return pd.DataFrame(rows, columns=["dataset", "recommender", "seed", "window", "metric", "value", "n_defined"])


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per recommender and metric: the mean over windows (weighted by evaluated users)
    per seed, then its mean and 95 % t-interval across seeds."""
    from sim.metrics.stats import t_interval

    per_seed = (table.assign(w=table["value"] * table["n_defined"])
                .groupby(["recommender", "metric", "seed"])[["w", "n_defined"]].sum())
    per_seed = (per_seed["w"] / per_seed["n_defined"]).rename("value").reset_index()
    out = []
    for (rec, metric), g in per_seed.groupby(["recommender", "metric"], sort=False):
        mean, lo, hi = t_interval(g["value"].to_numpy())
        out.append({"recommender": rec, "metric": metric, "mean": mean, "ci_low": lo, "ci_high": hi, "seeds": len(g)})
    return pd.DataFrame(out)


__all__ = ["replay", "score", "summarise", "windows", "replay_scenario"]
