"""The recommender interface the harness drives, and the checks it applies.

Sits between the world and the interactions (world → **recommender** → clicks).
A recommender is anything with three methods, shaped like a scikit-learn
estimator::

    class MyRecommender:
        def __init__(self, random_state: int = 0): ...      # store arguments only
        def fit(self, log, items): ...; return self            # from scratch, repeatable
        def partial_fit(self, new, items): ...; return self    # continue with new events
        def recommend(self, user_ids, k, *, exclude): ...      # (len(user_ids), k) item ids

``log``/``new`` are :class:`sim.log.Interactions` (one row per impression,
``clicked`` flag), ``items`` is :class:`sim.catalog.ItemInfo`, ``exclude`` is an
:class:`Exclusions`. Learned state ends in ``_``. A recommender that must read
the world's hidden state (only the oracle) also defines ``attach_world(world)``.
One that holds much it does not need to recommend (a Keras model, the training
log) may define ``serving()``: a copy that can only recommend, which is what a
sharded run (:mod:`sim.shards`) sends to the workers after each update.
:func:`validate_slates` is what the harness checks every slate against;
:func:`recommender.checks.check_recommender` runs a whole conformance suite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from sim.catalog import ItemInfo
from sim.log import Interactions


@runtime_checkable
class Recommender(Protocol):
    def fit(self, log: Interactions, items: ItemInfo) -> "Recommender": ...

    def partial_fit(self, new: Interactions, items: ItemInfo) -> "Recommender": ...

    def recommend(self, user_ids: np.ndarray, k: int, *, exclude: "Exclusions") -> np.ndarray: ...


class RecommenderError(RuntimeError):
    """A recommender returned something the harness cannot use."""


@dataclass(frozen=True)
class Exclusions:
    """Items that must not appear in a user's slate.

    ``unavailable`` (bool, n_items) applies to everybody (not yet arrived, expired);
    ``per_user`` (CSR, rows aligned with the ``user_ids`` passed to ``recommend``)
    holds each user's own exclusions (already consumed), or is ``None``.
    """

    unavailable: np.ndarray
    per_user: sp.csr_matrix | None = None

    @property
    def n_items(self) -> int:
        return len(self.unavailable)

    def item_penalty(self, n: int | None = None) -> np.ndarray:
        """float32 (n,): 0 for available items, −inf for unavailable ones (add to scores)."""
        pen = np.where(self.unavailable, -np.inf, 0.0).astype(np.float32)
        if n is not None and n > len(pen):
            pen = np.concatenate([pen, np.full(n - len(pen), -np.inf, np.float32)])
        return pen

    def mask_rows(self, scores: np.ndarray, rows: slice) -> None:
        """Set ``scores`` (the chunk of rows ``rows``) to −inf at per-user exclusions."""
        if self.per_user is None:
            return
        block = self.per_user[rows]
        r = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
        scores[r, block.indices] = -np.inf

    def contains(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """bool, like ``items``: is ``items[i, j]`` excluded for row ``rows[i]``?"""
        safe = np.clip(items, 0, self.n_items - 1)
        out = self.unavailable[safe] | (items < 0) | (items >= self.n_items)
        if self.per_user is not None and items.size:
            rr = np.broadcast_to(rows[:, None], items.shape).ravel()
            hit = np.asarray(self.per_user[rr, safe.ravel()]).ravel() != 0
            out |= hit.reshape(items.shape)
        return out

    def n_eligible(self, rows: int) -> np.ndarray:
        """Eligible items for each of ``rows`` users (own exclusions of unavailable items
        are not counted twice)."""
        base = int((~self.unavailable).sum())
        if self.per_user is None:
            return np.full(rows, base)
        p = self.per_user
        row_of = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
        own = np.bincount(row_of, weights=~self.unavailable[p.indices], minlength=p.shape[0])
        return base - own.astype(np.int64)

    def subset(self, rows: np.ndarray | slice) -> "Exclusions":
        return Exclusions(self.unavailable, None if self.per_user is None else self.per_user[rows])


def validate_slates(name: str, slates: object, user_ids: np.ndarray, k: int, exclude: Exclusions) -> np.ndarray:
    """Return ``slates`` as int64 if it is a valid answer, else raise :class:`RecommenderError`.

    Valid: shape (len(user_ids), k), integer ids in range, no duplicates in a row, no
    excluded item. The message names the recommender and the first offending user.
    """
    arr = np.asarray(slates)
    m = len(user_ids)
    if arr.shape != (m, k):
        raise RecommenderError(f"recommender {name!r} returned shape {arr.shape}, expected ({m}, {k})")
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            row = int(np.isnan(arr).any(axis=1).argmax())
            raise RecommenderError(f"recommender {name!r} returned NaN item ids (first for user {user_ids[row]})")
        raise RecommenderError(f"recommender {name!r} returned {arr.dtype} item ids, expected integers")
    arr = arr.astype(np.int64, copy=False)
    if m == 0:
        return arr
    bad = (arr < 0) | (arr >= exclude.n_items)
    if bad.any():
        row = int(bad.any(axis=1).argmax())
        raise RecommenderError(
            f"recommender {name!r} returned item id {int(arr[row][bad[row]][0])} outside 0..{exclude.n_items - 1} "
            f"for user {user_ids[row]}"
        )
    srt = np.sort(arr, axis=1)
    dup = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
    if dup.any():
        row = int(dup.argmax())
        raise RecommenderError(f"recommender {name!r} repeated an item in the slate of user {user_ids[row]}: {arr[row].tolist()}")
    excl = exclude.contains(np.arange(m), arr)
    if excl.any():
        row = int(excl.any(axis=1).argmax())
        raise RecommenderError(
            f"recommender {name!r} recommended excluded item {int(arr[row][excl[row]][0])} to user {user_ids[row]}"
        )
    return arr


def top_k_shared(scores: np.ndarray, k: int, exclude: Exclusions, rows: int) -> np.ndarray:
    """Top-k for ``rows`` users who share one score vector (popularity-like models).

    Walks the global order and skips each user's own exclusions, vectorised: only
    the first ``k + max excluded per user`` items of the global order are examined.
    """
    s = scores.astype(np.float64) + exclude.item_penalty(len(scores))
    order = np.lexsort((np.arange(len(s)), -s))
    order = order[np.isfinite(s[order])]
    extra = 0 if exclude.per_user is None else int(np.diff(exclude.per_user.indptr).max(initial=0))
    head = order[: k + extra]
    if len(head) < k:
        raise RecommenderError(f"only {len(head)} items can be recommended, {k} requested")
    cand = np.broadcast_to(head, (rows, len(head)))
    if exclude.per_user is None or extra == 0:
        return np.array(cand[:, :k], np.int64)
    ok = ~exclude.contains(np.arange(rows), cand)
    # stable pick of the first k allowed columns per row
    rank = np.cumsum(ok, axis=1)
    keep = ok & (rank <= k)
    if (keep.sum(axis=1) < k).any():
        raise RecommenderError("a user has fewer than k eligible items")
    return cand[keep].reshape(rows, k).astype(np.int64)


def serving_copy(recommender: object, **replace: object) -> object:
    """A shallow copy of ``recommender`` with some attributes replaced: the usual body
    of a ``serving()`` method (drop what only learning needs, keep what ranking reads)."""
    copy = object.__new__(type(recommender))
    copy.__dict__.update(recommender.__dict__)
    copy.__dict__.update(replace)
    return copy


def serving(recommender: object) -> object:
    """What a shard needs of ``recommender`` to recommend: its ``serving()`` copy, or itself."""
    make = getattr(recommender, "serving", None)
    return make() if callable(make) else recommender


def generator_state(rng: np.random.Generator) -> np.ndarray:
    """A numpy Generator's exact state as a uint8 array of JSON (checkpoints hold no pickle)."""
    import json

    return np.frombuffer(json.dumps(rng.bit_generator.state).encode(), np.uint8)


def restore_generator(blob: np.ndarray) -> np.random.Generator:
    import json

    state = json.loads(bytes(np.asarray(blob, np.uint8)).decode())
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)
