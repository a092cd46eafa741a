"""Top-k selection over a chunk of score rows: the kernel under every ranking.

Used by the oracle (true top-k per user), by the metrics (oracle utility, true
top-N sets) and by recommenders (their own scores), always on a chunk of users so
that memory stays chunk × items. Rows are ordered by score descending and, among
equal scores, by item id ascending (the spec's deterministic tie rule); callers
that need a *random* tie-break (baselines) perturb their scores first.

For small k (the slates: ≤ 64) each row is one compiled pass (numba) that keeps a
sorted top-k and only touches it when a score beats the current k-th — about one
comparison per entry, and the bias is added on the fly instead of in a pass of
its own; larger k use the grouped prefilter below. Both give the same answer.
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
from numba import njit

#: Below this many columns a plain argpartition is as fast as the grouped prefilter
#: (measured: from 700 columns on, the grouped path is 3–4× faster).
_GROUPED_MIN_COLUMNS = 256


#: Up to this k the compiled single pass is used: its cost is n comparisons plus
#: about k² log(n/k) shifts for the entries that enter the top-k.
_SCAN_MAX_K = 64


def _group_size(n: int, k: int) -> int:
    return max(8, int(np.sqrt(n / k)))


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
    if k <= _SCAN_MAX_K:
        out = np.empty((rows, k), np.int64)
        _scan_top_k(scores, _NO_BIAS, k, out)
        return out
    if k == n:
        cand = np.broadcast_to(np.arange(n), (rows, n))
    elif n >= _GROUPED_MIN_COLUMNS and n // _group_size(n, k) >= 2 * k:
        cand = _grouped_candidates(scores, k)  # ties already made deterministic there
    else:
        cand = np.argpartition(scores, n - k, axis=1)[:, n - k :]
        cand = _fix_boundary_ties(scores, cand, k)
    vals = np.take_along_axis(scores, cand, axis=1)
    order = np.lexsort((cand, -vals), axis=-1)
    return np.take_along_axis(cand, order, axis=1).astype(np.int64, copy=False)


_NO_BIAS = np.empty(0, np.float32)


@njit(nogil=True, cache=True, boundscheck=False)
def _scan_top_k(scores, bias, k, out):  # pragma: no cover - compiled
    """``out[i]`` = the k largest of ``scores[i] + bias`` (no bias when it is empty),
    best first, ties by lower column: each row is read once, and an entry enters the
    running top-k (an insertion into a sorted array) only if it beats the k-th,
    strictly, so among equal values the earlier column stays ahead. ``-inf`` entries
    fill the tail in column order when fewer than k are finite. Releases the GIL."""
    rows, n = scores.shape
    with_bias = bias.shape[0] > 0
    topv = np.empty(k, scores.dtype)
    topi = np.empty(k, np.int64)
    for i in range(rows):
        filled = 0
        for j in range(n):
            v = scores[i, j] + bias[j] if with_bias else scores[i, j]
            if filled < k:
                pos = filled
                filled += 1
            elif v > topv[k - 1]:
                pos = k - 1
            else:
                continue
            while pos > 0 and topv[pos - 1] < v:
                topv[pos] = topv[pos - 1]
                topi[pos] = topi[pos - 1]
                pos -= 1
            topv[pos] = v
            topi[pos] = j
        for q in range(k):
            out[i, q] = topi[q]


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
    s = _group_size(n, k)  # columns per group
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
    cand = np.take_along_axis(col, pick, axis=1)
    # Ties at the k-th value, checked without another pass over the row: if at most k
    # groups reach the k-th value, every entry that does is among the candidates, so
    # counting there is enough; rows with more such groups or entries are tied.
    kth = np.take_along_axis(vals, pick, axis=1).min(axis=1)
    finite = np.isfinite(kth) | (kth == -np.inf)
    groups_ge = (gmax >= kth[:, None]).sum(axis=1)
    entries_ge = (vals >= kth[:, None]).sum(axis=1)
    tied = np.flatnonzero(((groups_ge > k) | (entries_ge > k)) & finite)
    if tied.size:
        cand = cand.copy()
        for r in tied:  # rare: exact ties at the boundary
            cand[r] = np.lexsort((np.arange(n), -scores[r]))[:k]
    return cand


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


def default_threads() -> int:
    """Threads for chunked passes over users × items: ``RECDRIFT_THREADS``, else the
    cores this process may use (at most 8)."""
    env = os.environ.get("RECDRIFT_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:  # not Linux
        return max(1, min(8, os.cpu_count() or 1))


@functools.cache
def _blas_controller():
    """The BLAS libraries this process has loaded (found once: the search is slow)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


RowHook = Callable[[np.ndarray, slice], None]


def chunked_top_k(left: np.ndarray, right_t: np.ndarray, k: int, *, bias: np.ndarray | None = None,
                  mask: RowHook | None = None, after: RowHook | None = None, chunk: int = 1024,
                  threads: int | None = None) -> np.ndarray:
    """Top-k columns of ``left @ right_t + bias`` for every row, chunk by chunk.

    The one kernel under every users × items pass (the oracle, cosine and CF
    ranking): a float32 matmul into a per-thread (chunk × n) buffer, the bias, then
    ``mask(scores, rows)`` (exclusions, in place), top-k, then ``after(scores,
    rows)`` (e.g. a reduction over the spent buffer). Chunks run on ``threads``
    threads — numpy and BLAS release the GIL — and write disjoint rows, so results
    do not depend on the thread count. Memory: threads × chunk × n floats.
    """
    m, n = left.shape[0], right_t.shape[1]
    out = np.empty((m, k), np.int64)
    left = np.asarray(left, np.float32)
    right_t = np.asarray(right_t, np.float32)
    bias = None if bias is None else np.asarray(bias, np.float32)
    size = min(chunk, max(m, 1))
    local = threading.local()

    def work(sl: slice) -> None:
        buf = getattr(local, "buf", None)
        if buf is None:
            buf = local.buf = np.empty((size, n), np.float32)
        scores = buf[: sl.stop - sl.start]
        np.matmul(left[sl], right_t, out=scores)
        if k <= _SCAN_MAX_K and after is None:  # the scan adds the bias as it reads
            if mask is not None:
                mask(scores, sl)
            _scan_top_k(scores, _NO_BIAS if bias is None else bias, k, out[sl])
            return
        if bias is not None:
            scores += bias
        if mask is not None:
            mask(scores, sl)
        out[sl] = top_k(scores, k)
        if after is not None:
            after(scores, sl)

    parts = list(chunks(m, chunk))
    threads = default_threads() if threads is None else threads
    if threads > 1 and len(parts) > 1:
        # One BLAS thread per chunk: the chunks already fill the cores, and a
        # multithreaded matmul inside each would oversubscribe them (measured on
        # 100k × 33 × 10k, 2 cores: 1.49 s with BLAS threads, 0.86 s without).
        with _blas_controller().limit(limits=1, user_api="blas"), ThreadPoolExecutor(min(threads, len(parts))) as pool:
            for _ in pool.map(work, parts):
                pass
    else:
        for sl in parts:
            work(sl)
    return out
