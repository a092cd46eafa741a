"""Choice: which item of a slate, if any, each user clicks.

Step 4 of an iteration (after the slate metrics). Both models draw from keyed
uniforms addressed by (user, iteration, position), so the same user sees the same
noise whatever slate a recommender showed — common random numbers across
recommenders. A slow per-user reference of each model lives in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.random import KeyedStream
from sim.scenario import ChoiceSpec
from sim.truth import position_weights

NO_CLICK = -1


@dataclass(frozen=True)
class Choices:
    """Outcome of one iteration: clicked position per user (−1 none) and ratings."""

    position: np.ndarray  # int8 (m,)
    rating: np.ndarray  # float32 (m,), NaN when no click or ratings are off


def mnl_probabilities(affinity: np.ndarray, weights: np.ndarray, temperature: float, no_click: float) -> np.ndarray:
    """Multinomial logit over the slate plus a no-click option.

    P(j) ∝ w_j·exp(a_j/T), P(none) ∝ exp(u0/T). Returns (m, k+1) with the no-click
    probability in the last column; rows sum to one. Blank positions (a = −inf)
    get probability zero.
    """
    z = affinity / temperature
    z0 = np.full((z.shape[0], 1), no_click / temperature)
    top = np.maximum(np.max(z, axis=1, keepdims=True), z0)
    e = np.exp(z - top) * weights[None, :]
    e0 = np.exp(z0 - top)
    total = e.sum(axis=1, keepdims=True) + e0
    return np.concatenate([e / total, e0 / total], axis=1)


def cascade_probabilities(utility: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Cascade: examine top-down, click j with probability w_j·μ_j, stop at the first click.

    Returns (m, k+1) like :func:`mnl_probabilities`.
    """
    p = np.clip(weights[None, :] * utility, 0.0, 1.0)
    survive = np.cumprod(1.0 - p, axis=1)
    before = np.concatenate([np.ones((p.shape[0], 1)), survive[:, :-1]], axis=1)
    return np.concatenate([before * p, survive[:, -1:]], axis=1)


class ChoiceModel:
    """Draws clicks for a batch of users from their slates' true affinities."""

    def __init__(self, spec: ChoiceSpec, k: int, stream: KeyedStream):
        self.spec, self.k, self.stream = spec, k, stream
        self.weights = position_weights(k, spec.position_bias)

    def probabilities(self, affinity: np.ndarray, utility: np.ndarray) -> np.ndarray:
        if self.spec.model == "mnl":
            return mnl_probabilities(affinity, self.weights, self.spec.temperature, self.spec.no_click_utility)
        return cascade_probabilities(utility, self.weights)

    def choose(self, users: np.ndarray, t: int, affinity: np.ndarray, utility: np.ndarray, *, browse: bool = False) -> Choices:
        """One click (or none) per user. ``affinity``/``utility`` are (m, k); blanks are −inf/0.

        ``browse``: the user scans items they found themselves — a multinomial logit
        without position bias, drawn from a separate keyed stream.
        """
        m = len(users)
        if browse:
            w = np.ones(affinity.shape[1])
            probs = mnl_probabilities(affinity, w, self.spec.temperature, self.spec.no_click_utility)
            u = self.stream.uniform(users, tick=t, salt=4)
            pos = (u > np.cumsum(probs, axis=1)[:, :-1]).sum(axis=1)
            position = np.where(pos >= affinity.shape[1], NO_CLICK, pos).astype(np.int8)
            return Choices(position=position, rating=np.full(m, np.nan, np.float32))
        if self.spec.model == "mnl":
            probs = self.probabilities(affinity, utility)
            u = self.stream.uniform(users, tick=t, salt=1)  # one uniform per user
            cdf = np.cumsum(probs, axis=1)
            pos = (u > cdf[:, :-1]).sum(axis=1)  # inverse CDF over [1..k, none]
        else:
            p = np.clip(self.weights[None, :] * utility, 0.0, 1.0)
            u = self.stream.uniform(users, tick=t, n=self.k, salt=2)  # one per position
            hit = u < p
            pos = np.where(hit.any(axis=1), hit.argmax(axis=1), self.k)
        position = np.where(pos >= self.k, NO_CLICK, pos).astype(np.int8)
        rating = np.full(m, np.nan, np.float32)
        if self.spec.ratings:
            clicked = position >= 0
            mu = utility[np.arange(m), np.maximum(position, 0)]
            z = self.stream.normal(users, tick=t, salt=3)[:, 0]
            r = np.clip(np.rint(1.0 + 4.0 * mu + 0.5 * z), 1, 5)
            rating[clicked] = r[clicked]
        return Choices(position=position, rating=rating)
