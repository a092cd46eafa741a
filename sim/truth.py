"""Ground truth: true affinity and utility of items for users, and the oracle slate.

Read by the metrics (step 3 of an iteration) and by the oracle recommender, never
by learned recommenders. Affinity a_ui = (θ_u − s_u)·φ_i + q_i ranks items; utility
μ_ui = σ((a_ui − u0)/T) — the probability that the user clicks ``i`` when it is
shown alone at the top — is the gain of every utility metric (≥ 0, as the spec
requires). Computed in chunks of users so memory stays chunk × items.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.topk import chunked_top_k, chunks, default_threads


def position_weights(k: int, bias: float) -> np.ndarray:
    """w_j = (1/log2(j+1))^bias, j = 1..k: the examination probability of position j."""
    return (1.0 / np.log2(np.arange(2, k + 2))) ** bias


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass
class TrueState:
    """A snapshot of what is true at one iteration (views onto the world's arrays)."""

    user_vectors: np.ndarray  # (n_users, d) effective interests θ − s
    item_vectors: np.ndarray  # (n_items, d)
    item_quality: np.ndarray  # (n_items,)
    temperature: float
    no_click_utility: float
    chunk_size: int = 1024
    threads: int = field(default_factory=lambda: default_threads())

    def affinity(self, users: np.ndarray, items: np.ndarray, chunk: int = 32_768) -> np.ndarray:
        """a for matching shapes: ``items`` is (m, k) for ``users`` (m,); in chunks of
        users, so the gathered (chunk, k, d) item vectors stay small."""
        out = np.empty(items.shape, np.float64)
        for sl in chunks(len(users), chunk):
            u = self.user_vectors[users[sl]]
            v = self.item_vectors[items[sl]]
            out[sl] = np.einsum("md,mkd->mk", u, v) + self.item_quality[items[sl]]
        return out

    def utility_from_affinity(self, a: np.ndarray) -> np.ndarray:
        return sigmoid((a - self.no_click_utility) / self.temperature)

    def utility(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """μ for each (user, slate position); ``items`` (m, k), −1 entries give 0."""
        blank = items < 0
        mu = self.utility_from_affinity(self.affinity(users, np.where(blank, 0, items)))
        return np.where(blank, 0.0, mu)

    def oracle(self, users: np.ndarray, k: int, exclude, *, with_mean: bool = False):
        """The oracle slate O_u (top-k eligible items by true utility) and its μ values.

        ``exclude`` is an :class:`~recommender.base.Exclusions` aligned with ``users``.
        Returns ``(items (m, k) int64, mu (m, k) float64)``, and with ``with_mean`` also
        each user's mean μ over eligible items (the expected utility per position of
        a uniformly random slate), computed in the same pass (chunks on ``threads``
        threads, see :func:`sim.topk.chunked_top_k`).
        """
        m = len(users)
        mean_mu = np.empty(m) if with_mean else None
        n = self.item_vectors.shape[0]
        bias = self.item_quality.astype(np.float32) + exclude.item_penalty(n)
        eligible = exclude.n_eligible(m) if with_mean else None
        ones = np.ones(n, np.float32)

        def mean_utility(scores: np.ndarray, sl: slice) -> None:
            # μ = σ((a − u0)/T) = ½(1 + tanh((a − u0)/2T)), in place on the spent buffer
            scores -= self.no_click_utility
            scores *= 0.5 / self.temperature
            np.tanh(scores, out=scores)  # −inf → −1, i.e. μ = 0
            # excluded entries contributed tanh = −1 each: add them back to sum over eligible only
            e = eligible[sl]
            tanh_eligible = (scores @ ones).astype(np.float64) + (n - e)
            mean_mu[sl] = np.where(e > 0, 0.5 * (1.0 + tanh_eligible / np.maximum(e, 1)), 0.0)

        items = chunked_top_k(self.user_vectors[users], self.item_vectors.T, k, bias=bias, mask=exclude.mask_rows,
                              after=mean_utility if with_mean else None, chunk=self.chunk_size, threads=self.threads)
        if with_mean:
            return items, self.utility(users, items), mean_mu
        return items, self.utility(users, items)
