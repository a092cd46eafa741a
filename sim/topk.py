"""Top-k selection over a chunk of score rows: the kernel under every ranking.

Used by the oracle (true top-k per user), by the metrics (oracle utility, true
top-N sets) and by recommenders (their own scores), always on a chunk of users so
that memory stays chunk × items. Rows are ordered by score descending and, among
equal scores, by item id ascending (the spec's deterministic tie rule); callers
that need a *random* tie-break (baselines) perturb their scores first.
"""

from __future__ import annotations

import numpy as np

#: Below this many columns a plain argpartition is as fast as the grouped prefilter.
_GROUPED_MIN_COLUMNS = 2048


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest entries of each row, best first.

    ``scores`` is ``(rows, n)`` and may hold ``-inf`` for excluded entries; ``k`` must
    not exceed ``n``. Returns an ``int64`` array ``(rows, k)``.
    """
    rows, n = scores.shape
    if k > n:
        raise ValueError(f"cannot take top {k} of {n} columns")
    if k == 0 or rows == 0:
        return np.empty((rows, k), dtype=np.int64)
    if k == n:
        cand = np.broadcast_to(np.arange(n), (rows, n))
    elif n >= _GROUPED_MIN_COLUMNS and k * 64 <= n:
        cand = _grouped_candidates(scores, k)
    else:
        cand = np.argpartition(scores, n - k, axis=1)[:, n - k :]
    cand = _fix_boundary_ties(scores, cand, k)
    vals = np.take_along_axis(scores, cand, axis=1)
    order = np.lexsort((cand, -vals), axis=-1)
    return np.take_along_axis(cand, order, axis=1).astype(np.int64, copy=False)


def _grouped_candidates(scores: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k candidates via group maxima.

    Split each row's columns into ``g`` groups. Every top-k entry lies in a group
    whose maximum is at least the k-th largest value, and at most k groups have
    that property, so the k groups with the largest maxima (plus the ragged tail)
    contain the whole top-k; a small argpartition finishes the job. Groups are
    strided (group j = columns j, j+g, j+2g, ...) so their maxima are elementwise
    maxima of contiguous row slices, which numpy vectorises well.
    """
    rows, n = scores.shape
    s = max(8, int(np.sqrt(n / k)))  # columns per group
    g = n // s
    n0 = g * s
    gmax = scores[:, :n0].reshape(rows, s, g).max(axis=1)  # a view: no copy
    best_groups = np.argpartition(gmax, g - k, axis=1)[:, g - k :]  # (rows, k)
    col = (best_groups[:, :, None] + g * np.arange(s)[None, None, :]).reshape(rows, k * s)
    if n0 < n:
        tail = np.broadcast_to(np.arange(n0, n), (rows, n - n0))
        col = np.concatenate([col, tail], axis=1)
    vals = np.take_along_axis(scores, col, axis=1)
    m = col.shape[1]
    pick = np.argpartition(vals, m - k, axis=1)[:, m - k :]
    return np.take_along_axis(col, pick, axis=1)


def _fix_boundary_ties(scores: np.ndarray, cand: np.ndarray, k: int) -> np.ndarray:
    """Make the chosen set deterministic when the k-th value is tied.

    argpartition picks arbitrary members among entries equal to the k-th value; the
    spec wants the lowest item ids. Only rows with such a tie are redone.
    """
    kth = np.take_along_axis(scores, cand, axis=1).min(axis=1)
    finite = np.isfinite(kth) | (kth == -np.inf)
    n_ge = (scores >= kth[:, None]).sum(axis=1)
    tied = np.flatnonzero((n_ge > k) & finite)
    if tied.size:
        cand = cand.copy()
        for r in tied:  # rare: exact ties at the boundary
            order = np.lexsort((np.arange(scores.shape[1]), -scores[r]))
            cand[r] = order[:k]
    return cand


def chunks(n: int, size: int):
    """``slice`` objects covering ``range(n)`` in pieces of ``size``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))
