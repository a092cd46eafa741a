"""Stage 4 of the full pipeline: cosine similarity between user and item vectors → top-k.

Input: user vectors (m, d), item vectors (n, d), exclusions. Output: (m, k) item
ids, best first. Item vectors are L2-normalised once per model version; each chunk
of users is one matmul into a reused buffer, excluded items are masked with −inf,
and :func:`sim.topk.top_k` selects (ties by item id: deterministic); chunks run
on several threads (:func:`sim.topk.chunked_top_k`). Memory is threads × chunk ×
items, never users × items.
"""

from __future__ import annotations

import numpy as np

from recommender.base import Exclusions, RecommenderError
from sim.topk import chunked_top_k


def l2_normalise(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def cosine_top_k(users: np.ndarray, items_normalised: np.ndarray, k: int, exclude: Exclusions,
                 *, chunk: int = 1024, extra_mask=None, item_bias: np.ndarray | None = None) -> np.ndarray:
    """Top-k items by cosine for each row of ``users`` (rows need not be normalised).

    ``extra_mask(scores, rows_slice)`` may mask more entries in place (e.g. items
    already placed in the slate); ``item_bias`` (n,) is added to every user's scores.
    """
    m, n = len(users), items_normalised.shape[0]
    u = l2_normalise(users)
    eligible = exclude.n_eligible(m)
    if m and eligible.min() < k:
        row = int(np.argmin(eligible))
        raise RecommenderError(f"only {int(eligible[row])} items can be recommended to row {row}, {k} requested")
    def mask(scores: np.ndarray, sl: slice) -> None:
        exclude.mask_rows(scores, sl)
        if extra_mask is not None:
            extra_mask(scores, sl)

    bias = exclude.item_penalty(n)[:n] if item_bias is None else exclude.item_penalty(n)[:n] + item_bias[:n]
    return chunked_top_k(u, items_normalised.T, k, bias=bias, mask=mask, chunk=chunk)
