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
