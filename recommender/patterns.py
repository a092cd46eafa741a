"""Stage 3 of the full pipeline: KMeans groups user embeddings into interest patterns.

Input: user embeddings (unit-normalised). Output: centroids and a pattern label
per user. The patterns are used, not just computed: users with little history are
blended towards their pattern's centroid; an optional diversity mode fills part of
each slate from the user's second-best pattern; and the share of users who change
pattern between iterations is reported as a drift signal (and can trigger
retraining). scikit-learn ``KMeans`` for modest populations, ``MiniBatchKMeans``
above ``minibatch_above`` users; ``n_patterns = 0`` chooses k by silhouette on a
sample.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import silhouette_score


class InterestPatterns:
    """KMeans over user embeddings with a stored seed (refits are repeatable)."""

    def __init__(self, n_patterns: int = 8, random_state: int = 0, minibatch_above: int = 20_000,
                 candidates: tuple[int, ...] = (2, 3, 4, 6, 8, 12, 16), sample: int = 2000):
        self.n_patterns = n_patterns
        self.random_state = random_state
        self.minibatch_above = minibatch_above
        self.candidates = candidates
        self.sample = sample

    def fit(self, embeddings: np.ndarray) -> "InterestPatterns":
        x = np.asarray(embeddings, np.float64)
        k = self.n_patterns or self._choose_k(x)
        k = max(1, min(k, len(x)))
        if len(x) > self.minibatch_above:
            km = MiniBatchKMeans(n_clusters=k, random_state=self.random_state, n_init=3, batch_size=4096)
        else:
            km = KMeans(n_clusters=k, random_state=self.random_state, n_init=3)
        self.kmeans_ = km.fit(x)
        self.centroids_ = self.kmeans_.cluster_centers_.astype(np.float32)
        self.k_ = k
        return self

    def _choose_k(self, x: np.ndarray) -> int:
        rng = np.random.default_rng(self.random_state)
        sample = x[rng.choice(len(x), size=min(self.sample, len(x)), replace=False)]
        best, best_score = 2, -np.inf
        for k in self.candidates:
            if k >= len(sample):
                break
            labels = KMeans(n_clusters=k, random_state=self.random_state, n_init=2).fit_predict(sample)
            if len(set(labels)) < 2:
                continue
            score = silhouette_score(sample, labels, random_state=self.random_state)
            if score > best_score:
                best, best_score = k, score
        return best

    def similarities(self, embeddings: np.ndarray) -> np.ndarray:
        """(m, k) cosine similarity of each embedding to each centroid."""
        c = self.centroids_ / np.maximum(np.linalg.norm(self.centroids_, axis=1, keepdims=True), 1e-12)
        return embeddings @ c.T

    def assign(self, embeddings: np.ndarray) -> np.ndarray:
        return np.argmax(self.similarities(embeddings), axis=1)

    def sizes(self, labels: np.ndarray) -> np.ndarray:
        return np.bincount(labels, minlength=self.k_)

    def align_to(self, previous: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """Renumber the patterns so each keeps the id of the previous pattern it shares
        most users with, and return the users' new labels.

        KMeans numbers clusters arbitrarily on every refit; without this, "pattern 3"
        would name a different group after each retraining, and every refit would look
        as if most users had changed pattern. ``previous`` holds the old label of each
        row of ``embeddings`` (−1: none). Unmatched new patterns take the unused ids.
        """
        labels = self.assign(embeddings)
        had = previous >= 0
        if not had.any():
            return labels
        k_old = int(previous[had].max()) + 1
        overlap = np.zeros((self.k_, max(k_old, self.k_)), np.int64)
        np.add.at(overlap, (labels[had], previous[had]), 1)
        rows, cols = linear_sum_assignment(-overlap)
        new_id = np.full(self.k_, -1, np.int64)
        new_id[rows] = cols
        free = iter(sorted(set(range(self.k_)) - set(new_id[new_id < self.k_].tolist())))
        for i in np.flatnonzero((new_id < 0) | (new_id >= self.k_)):
            new_id[i] = next(free)
        order = np.argsort(new_id)
        self.centroids_ = self.centroids_[order]
        return new_id[labels]
