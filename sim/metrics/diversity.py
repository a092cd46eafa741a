"""Diversity, novelty and homogenisation (spec §3), on recommender-independent
item representations (true vectors, true categories) so values compare across
recommenders.
"""

from __future__ import annotations

import numpy as np

from sim.metrics.common import mean_defined


# ----------------------------------------------------------------------------- §3.1
def ild_emb(slates: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Per slate: mean pairwise (1 − cosine) of true item vectors; NaN below 2 items.

    Σ_{i<j} cos = (‖Σ u_i‖² − Σ ‖u_i‖²) / 2 over the slate's unit vectors u; the sum
    Σ u_i is one sparse (slates × items) @ (items × d) product, so the cost is
    slates × k × d with no (slates, k, d) temporary.
    """
    import scipy.sparse as sp

    m, k = slates.shape
    v = np.asarray(vectors, np.float64)
    unit = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    valid = slates >= 0
    ids = np.where(valid, slates, 0)
    member = sp.csr_matrix((valid.ravel().astype(np.float64), ids.ravel(), np.arange(0, m * k + 1, k)),
                           shape=(m, len(unit)))
    s = member @ unit
    self_sq = ((unit * unit).sum(axis=1)[ids] * valid).sum(axis=1)
    n = valid.sum(axis=1)
    pair_cos = ((s * s).sum(axis=1) - self_sq) / 2  # Σ_{i<j} cos
    pairs = n * (n - 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, 1.0 - pair_cos / np.where(pairs > 0, pairs, 1), np.nan)


def ild_cat(slates: np.ndarray, categories: np.ndarray) -> np.ndarray:
    """Per slate: share of item pairs in different (single-label) categories; NaN below 2."""
    c = np.where(slates >= 0, categories[np.maximum(slates, 0)], -1)
    valid = slates >= 0
    same = (c[:, :, None] == c[:, None, :]) & valid[:, :, None] & valid[:, None, :]
    n = valid.sum(axis=1)
    pairs = n * (n - 1) / 2
    same_pairs = (same.sum(axis=(1, 2)) - n) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, 1.0 - same_pairs / np.where(pairs > 0, pairs, 1), np.nan)


def cat_entropy(slates: np.ndarray, categories: np.ndarray, n_categories: int) -> np.ndarray:
    """Per slate: entropy (bits) of the category distribution; NaN for an empty slate."""
    m = slates.shape[0]
    valid = slates >= 0
    c = categories[np.maximum(slates, 0)]
    counts = np.zeros((m, n_categories))
    np.add.at(counts, (np.repeat(np.arange(m), slates.shape[1])[valid.ravel()], c[valid]), 1.0)
    n = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = counts / n
        h = -np.where(p > 0, p * np.log2(np.where(p > 0, p, 1)), 0.0).sum(axis=1)
    return np.where(n[:, 0] > 0, h, np.nan)


# ----------------------------------------------------------------------------- §3.2
def exposure(slates: np.ndarray, n_items: int, weights: np.ndarray | None = None) -> np.ndarray:
    """x_i: how often (or, with position weights, how much) each item was shown."""
    valid = slates >= 0
    w = np.ones(slates.shape) if weights is None else np.broadcast_to(weights, slates.shape)
    return np.bincount(slates[valid], weights=w[valid], minlength=n_items).astype(np.float64)


def gini(x: np.ndarray) -> float:
    """n-normalised Gini of exposure, zero-exposure items included; NaN if Σx = 0."""
    x = np.sort(np.asarray(x, np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return np.nan
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * x).sum() / (n * total))


def entropy_bits(x: np.ndarray) -> float:
    """Shannon entropy (bits) of the exposure distribution; NaN if Σx = 0."""
    x = np.asarray(x, np.float64)
    total = x.sum()
    if total == 0:
        return np.nan
    p = x[x > 0] / total
    return float(-(p * np.log2(p)).sum())


def coverage(slates: np.ndarray, available: np.ndarray) -> tuple[float, int]:
    """Share of the available catalogue shown to at least one user this iteration."""
    n = int(available.sum())
    if n == 0:
        return np.nan, 0
    shown = np.zeros(len(available), bool)
    shown[slates[slates >= 0]] = True
    return float((shown & available).sum() / n), n


class CumulativeCoverage:
    """Share of items available so far that have been shown at least once (never
    decreases while the catalogue is fixed)."""

    def __init__(self) -> None:
        self.seen = np.zeros(0, bool)
        self.ever_available = np.zeros(0, bool)

    def update(self, slates: np.ndarray, available: np.ndarray) -> tuple[float, int]:
        n = len(available)
        if n > len(self.seen):
            self.seen = np.concatenate([self.seen, np.zeros(n - len(self.seen), bool)])
            self.ever_available = np.concatenate([self.ever_available, np.zeros(n - len(self.ever_available), bool)])
        self.ever_available |= available
        self.seen[slates[slates >= 0]] = True
        total = int(self.ever_available.sum())
        return (float(self.seen.sum() / total), total) if total else (np.nan, 0)


# ----------------------------------------------------------------------------- §3.3
def novelty(slates: np.ndarray, prior_clicks: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Per slate: mean self-information −log2((c_i + α)/(N + αn)) of its items.

    ``prior_clicks`` counts clicks strictly before this iteration. With α = 0 an item
    never clicked has undefined novelty, making its slate NaN.
    """
    c = np.asarray(prior_clicks, np.float64)
    n, total = len(c), c.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (c + alpha) / (total + alpha * n)
        info = np.where(p > 0, -np.log2(np.where(p > 0, p, 1)), np.nan)
    valid = slates >= 0
    vals = np.where(valid, info[np.maximum(slates, 0)], 0.0)
    cnt = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, vals.sum(axis=1) / np.where(cnt > 0, cnt, 1), np.nan)


# ----------------------------------------------------------------------------- §3.4
def all_pairs(n_users: int, *, limit: int = 2000, sample: int = 10_000, rng: np.random.Generator | None = None) -> np.ndarray:
    """Unordered user pairs (rows of an (p, 2) array): all of them up to ``limit`` users,
    else a fixed random sample (draw once per seed and reuse it for every recommender)."""
    if n_users <= limit:
        i, j = np.triu_indices(n_users, k=1)
        return np.stack([i, j], axis=1)
    if rng is None:
        raise ValueError("more than `limit` users: pass the seed's evaluation rng to sample pairs")
    a = rng.integers(0, n_users, size=sample)
    b = rng.integers(0, n_users - 1, size=sample)
    b = np.where(b >= a, b + 1, b)
    return np.stack([a, b], axis=1)


def nn_pairs(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Directed pairs (u, nearest other user by cosine of the given vectors); ties at random."""
    v = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    n = len(v)
    out = np.empty(n, np.int64)
    for start in range(0, n, 1024):
        s = v[start : start + 1024] @ v.T
        rows = np.arange(s.shape[0])
        s[rows, start + rows] = -np.inf
        s += rng.random(s.shape) * 1e-12  # seeded tie-break among exact ties
        out[start : start + 1024] = s.argmax(axis=1)
    return np.stack([np.arange(n), out], axis=1)


def _membership(sets) -> "sp.csr_matrix":
    """Binary users × items CSR from a CSR (nonzero = member) or an (m, k) id array (−1 blanks)."""
    import scipy.sparse as sp

    if sp.issparse(sets):
        x = sp.csr_matrix(sets, dtype=np.float64, copy=True)
    else:
        arr = np.asarray(sets)
        m = arr.shape[0]
        valid = arr >= 0
        rows = np.repeat(np.arange(m), arr.shape[1])[valid.ravel()]
        x = sp.csr_matrix((np.ones(valid.sum()), (rows, arr[valid])), shape=(m, int(arr.max(initial=0)) + 1))
    x.sum_duplicates()
    x.data[:] = 1.0
    x.eliminate_zeros()
    return x


def jaccard_pairs(sets, pairs: np.ndarray | None) -> tuple[float, int]:
    """Mean Jaccard of the users' sets over ``pairs`` (rows of (u, v)), or over all
    unordered pairs when ``pairs`` is None; pairs whose sets are both empty are excluded.

    ``sets`` is a CSR matrix (users × items; nonzero = member) or an (m, k) id array
    (−1 blanks, e.g. slates). All pairs are done with one sparse product X·Xᵀ: only
    pairs sharing an item contribute to the sum, so the cost follows the overlaps,
    not m².
    """
    x = _membership(sets)
    sizes = np.asarray(x.sum(axis=1)).ravel()
    if pairs is None:
        m = x.shape[0]
        empty = int((sizes == 0).sum())
        defined = m * (m - 1) // 2 - empty * (empty - 1) // 2
        if defined == 0:
            return np.nan, 0
        used = np.unique(x.indices)
        if len(used) * m * m <= 4e9:  # few distinct items (or users): one dense BLAS product
            xd = x[:, used].toarray()  # float64: Jaccard values are ratios of small integers, kept exact
            j = xd @ xd.T  # intersections, turned into Jaccard in place
            union = np.add.outer(sizes, sizes)
            union -= j
            np.divide(j, union, out=j, where=union > 0)  # both-empty pairs keep 0/… = 0 and are not counted
            total = (j.sum(dtype=np.float64) - np.trace(j, dtype=np.float64)) / 2
        else:  # many items: the sparse product, whose size follows the overlaps
            c = (x @ x.T).tocoo()
            upper = c.row < c.col
            inter = c.data[upper]
            total = (inter / (sizes[c.row[upper]] + sizes[c.col[upper]] - inter)).sum()
        return float(total / defined), defined
    if len(pairs) == 0:
        return np.nan, 0
    a, b = x[pairs[:, 0]], x[pairs[:, 1]]
    inter = np.asarray(a.multiply(b).sum(axis=1)).ravel()
    union = sizes[pairs[:, 0]] + sizes[pairs[:, 1]] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        j = np.where(union > 0, inter / np.where(union > 0, union, 1), np.nan)
    return mean_defined(j)

