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


@dataclass(frozen=True)
class ClickSequences:
    """Each user's most recent clicks in order, for the sequence encoder.

    ``items`` (n_users, length): item id + 1, oldest first, left-padded with 0 — so
    the newest click is always in the last column; ``times`` the iteration of each
    click (−1 in padding); ``now`` the iteration the sequences are seen from.
    Indexing with user rows gives the sequences of those users.
    """

    items: np.ndarray
    times: np.ndarray
    now: int

    def __getitem__(self, rows) -> "ClickSequences":
        return ClickSequences(self.items[rows], self.times[rows], self.now)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def length(self) -> int:
        return self.items.shape[1]

    def known_items(self, n_items: int) -> "ClickSequences":
        """Clicks on items a model of ``n_items`` does not know become padding."""
        unknown = self.items > n_items
        if not unknown.any():
            return self
        return ClickSequences(np.where(unknown, 0, self.items), np.where(unknown, -1, self.times), self.now)

    def gaps(self) -> np.ndarray:
        """Iterations from each click to the next one (to ``now`` for the newest); 0 in padding."""
        nxt = np.concatenate([self.times[:, 1:], np.full((len(self.times), 1), self.now, self.times.dtype)], axis=1)
        return np.where(self.items > 0, np.maximum(nxt - self.times, 0), 0).astype(np.int32)


def build_sequences(log: Interactions, n_users: int, n_items: int, now: int, cfg: PreprocessConfig,
                    length: int) -> ClickSequences:
    """Each user's last ``length`` clicks before ``now`` (same window, organic switch
    and range checks as :func:`build_feedback`), in log order."""
    keep = log.clicked & (log.iteration < now) & (log.user < n_users) & (log.item < n_items) & (log.item >= 0)
    if cfg.window:
        keep &= log.iteration >= now - cfg.window
    if not cfg.include_organic:
        keep &= ~log.organic
    sub = log.select(keep)
    order = np.lexsort((np.arange(len(sub)), sub.iteration, sub.user))  # by user, then time, then log order
    user, item, when = sub.user[order], sub.item[order], sub.iteration[order]
    items = np.zeros((n_users, length), np.int32)
    times = np.full((n_users, length), -1, np.int32)
    if len(user):
        last = np.r_[user[1:] != user[:-1], True]  # the newest click of each user
        end = np.flatnonzero(last)
        end_of = np.repeat(end, np.diff(np.r_[-1, end]))
        back = end_of - np.arange(len(user))  # 0 for the newest click
        ok = back < length
        items[user[ok], length - 1 - back[ok]] = item[ok] + 1
        times[user[ok], length - 1 - back[ok]] = when[ok]
    return ClickSequences(items, times, now)
