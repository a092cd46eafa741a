"""A classic collaborative-filtering baseline: PureSVD on the decayed click matrix.

The model people expect beside a neural one (Cremonesi et al. 2010): a truncated
SVD of the same decayed, windowed feedback matrix the full pipeline trains on
(stage 1 is shared), item factors from the right singular vectors, user factors by
projecting the user's row onto them — which is also how a user's newest clicks are
folded in between refits. Scores are the reconstruction ``x_u V Vᵀ``. Refit every
``retrain_every`` updates, like the pipeline's periodic schedule.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from recommender.base import Exclusions, serving_copy, top_k_shared
from recommender.preprocessing import PreprocessConfig, build_feedback
from sim.catalog import ItemInfo
from sim.log import Interactions
from sim.random import KeyedStream
from sim.topk import chunked_top_k


class PureSVD:
    def __init__(self, dim: int = 32, retrain_every: int = 1, preprocess: PreprocessConfig | None = None,
                 random_state: int = 0):
        self.dim = dim
        self.retrain_every = retrain_every
        self.preprocess = preprocess or PreprocessConfig()
        self.random_state = random_state

    def fit(self, log: Interactions, items: ItemInfo) -> "PureSVD":
        self.log_ = log.clicks()
        self.user_span_ = np.empty((0, 2), np.int64)
        self._track_users(log)
        self.now_ = int(log.iteration.max()) + 1 if len(log) else 0
        self.n_items_ = items.n_items
        self.components_ = None
        self.last_fit_ = -10**9
        self.tiebreak_ = np.empty(0)
        self._tiebreak(items.n_items)
        self._refit()
        return self

    def partial_fit(self, new: Interactions, items: ItemInfo) -> "PureSVD":
        if not hasattr(self, "log_"):
            return self.fit(new, items)
        if len(new):
            self.now_ = max(self.now_, int(new.iteration.max()) + 1)
            keep_from = self.now_ - self.preprocess.window if self.preprocess.window else -1
            self.log_ = Interactions.concat([self.log_, new.clicks()]).since(keep_from)
            self._track_users(new)
            self.user_span_ = self.user_span_[self.user_span_[:, 0] >= keep_from]
        self.n_items_ = max(self.n_items_, items.n_items)
        if self.now_ - self.last_fit_ >= self.retrain_every or self.components_ is None:
            self._refit()
        else:
            self._feedback = self._build()
        return self

    def state(self) -> dict[str, np.ndarray]:
        """Learned state as arrays (for checkpoints; no pickle)."""
        out = {f"log.{f}": getattr(self.log_, f) for f in self.log_.__dataclass_fields__}
        out["scalars"] = np.array([self.now_, self.n_items_, self.last_fit_], np.int64)
        out["user_span"] = self.user_span_
        out["tiebreak"] = self.tiebreak_
        if self.components_ is not None:
            out["components"] = self.components_
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.log_ = Interactions(*(np.array(state[f"log.{f}"]) for f in Interactions.__dataclass_fields__))
        self.now_, self.n_items_, self.last_fit_ = (int(x) for x in state["scalars"])
        self.user_span_ = np.array(state["user_span"], np.int64).reshape(-1, 2)
        self.tiebreak_ = np.array(state["tiebreak"])
        self.components_ = np.array(state["components"]) if "components" in state else None
        self._feedback = self._build()

    def serving(self) -> "PureSVD":
        """A copy that recommends but cannot learn (no training log): for user shards."""
        return serving_copy(self, log_=None)

    def _tiebreak(self, n: int) -> np.ndarray:
        """A seeded random tie-break per item (never by id), keyed by item id so it does
        not depend on when items arrived or which copy of the model grew it."""
        if len(self.tiebreak_) < n:
            new = np.arange(len(self.tiebreak_), n)
            extra = KeyedStream(self.random_state).uniform(new, tick=0)[:, 0] * 1e-6
            self.tiebreak_ = np.concatenate([self.tiebreak_, extra])
        return self.tiebreak_[:n]

    def _track_users(self, log: Interactions) -> None:
        """Remember, per iteration, the highest user id in ``log`` (clicked or not).

        Only clicks are kept (the feedback matrix is built from clicks alone, and
        impressions are about ten times as many rows), but the matrix keeps one row
        per user *shown* something in the window, as it did when every impression was
        held: its shape decides the SVD's rank for small populations.
        """
        if not len(log):
            return
        starts = np.flatnonzero(np.r_[True, log.iteration[1:] != log.iteration[:-1]])  # runs of one iteration
        span = np.stack([log.iteration[starts], np.maximum.reduceat(log.user, starts)], axis=1).astype(np.int64)
        self.user_span_ = np.concatenate([self.user_span_, span])

    def _build(self) -> sp.csr_matrix:
        n_users = int(self.user_span_[:, 1].max()) + 1 if len(self.user_span_) else 0
        return build_feedback(self.log_, n_users, self.n_items_, self.now_, self.preprocess).positives

    def _refit(self) -> None:
        self._feedback = x = self._build()
        if x.nnz == 0 or min(x.shape) <= 2:
            self.components_ = None
            return
        k = min(self.dim, min(x.shape) - 1)
        svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=5, random_state=self.random_state)
        svd.fit(x)
        self.components_ = svd.components_.astype(np.float32)  # (k, n_items)
        self.last_fit_ = self.now_

    def recommend(self, user_ids: np.ndarray, k: int, *, exclude: Exclusions) -> np.ndarray:
        n = exclude.n_items
        if self.components_ is None:
            counts = np.asarray(self._feedback.sum(axis=0)).ravel() if self._feedback.shape[0] else np.zeros(0)
            scores = np.zeros(n)
            scores[: min(len(counts), n)] = counts[:n]
            return top_k_shared(scores + self._tiebreak(n), k, exclude, len(user_ids))
        v = np.zeros((self.components_.shape[0], n), np.float32)
        v[:, : self.components_.shape[1]] = self.components_
        x = self._feedback
        users = np.asarray(user_ids)
        # user factors x_u Vᵀ from the sparse rows (nnz × r work), unknown users get zeros
        factors = np.zeros((len(users), v.shape[0]), np.float32)
        known = np.flatnonzero(users < x.shape[0])
        if known.size:
            factors[known] = x[users[known]] @ v[:, : x.shape[1]].T
        bias = (exclude.item_penalty(n) + self._tiebreak(n)).astype(np.float32)
        return chunked_top_k(factors, v, k, bias=bias, mask=exclude.mask_rows)
