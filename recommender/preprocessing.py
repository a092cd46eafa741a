"""Stage 1 of the full pipeline: the interaction log → sparse, decayed training data.

Input: :class:`sim.log.Interactions` (one row per impression). Output:
:class:`Feedback`, a users × items ``scipy.sparse.csr_matrix`` of implicit
feedback — clicks in a sliding window, each weighted by exponential time decay
(``0.5 ** (age / half_life)``), duplicates merged by summing — plus, when the switch
is on, a matrix of shown-but-skipped impressions as weak negatives. Nothing here is
ever dense users × items; users and items without data simply have empty rows and
columns, and callers ask :attr:`Feedback.user_counts` which is which.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sim.log import Interactions


@dataclass(frozen=True)
class PreprocessConfig:
    """How the log becomes training data.

    window: iterations of history used (0 = all held).
    half_life: iterations after which a click weighs half (0 = no decay).
    skipped_as_negative: also return shown-but-not-clicked impressions.
    include_organic: use clicks users made while browsing on their own.
    """

    window: int = 30
    half_life: float = 10.0
    skipped_as_negative: bool = False
    include_organic: bool = True


@dataclass(frozen=True)
class Feedback:
    positives: sp.csr_matrix  # (n_users, n_items) decayed click weight
    negatives: sp.csr_matrix | None  # (n_users, n_items) decayed skip weight, or None
    now: int

    @property
    def user_counts(self) -> np.ndarray:
        """Distinct items with positive feedback per user (0 = no data)."""
        return np.diff(self.positives.indptr)

    @property
    def item_counts(self) -> np.ndarray:
        return np.bincount(self.positives.indices, minlength=self.positives.shape[1])


def decay_weights(age: np.ndarray, half_life: float) -> np.ndarray:
    """0.5 ** (age / half_life); no decay when ``half_life`` is 0."""
    if half_life <= 0:
        return np.ones_like(age, dtype=np.float32)
    return np.power(0.5, age / half_life).astype(np.float32)


def build_feedback(log: Interactions, n_users: int, n_items: int, now: int, cfg: PreprocessConfig) -> Feedback:
    """Turn ``log`` into decayed sparse feedback as seen at iteration ``now``.

    Rows of ``log`` with iterations ``>= now`` are ignored (the model may only see
    the past); rows older than the window are dropped.
    """
    keep = log.iteration < now
    if cfg.window:
        keep &= log.iteration >= now - cfg.window
    if not cfg.include_organic:
        keep &= ~log.organic
    keep &= (log.user < n_users) & (log.item < n_items) & (log.item >= 0)
    sub = log.select(keep)
    w = decay_weights((now - 1 - sub.iteration).astype(np.float32), cfg.half_life)

    def matrix(mask: np.ndarray) -> sp.csr_matrix:
        m = sp.csr_matrix((w[mask], (sub.user[mask], sub.item[mask])), shape=(n_users, n_items), dtype=np.float32)
        m.sum_duplicates()
        return m

    pos = matrix(sub.clicked)
    neg = matrix(~sub.clicked) if cfg.skipped_as_negative else None
    return Feedback(pos, neg, now)
