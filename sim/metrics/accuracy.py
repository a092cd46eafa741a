"""Accuracy (spec §1): against the true top-N, graded by true utility, and on clicks.

Pure functions of arrays; per-user values are macro-averaged over users with a
defined value and returned as ``{id: (value, n_defined)}``. Blank positions (−1)
are non-relevant with zero utility, and denominators stay ``k``.
"""

from __future__ import annotations

import numpy as np

from sim.metrics.common import mean_defined


def discounts(k: int) -> np.ndarray:
    """δ_j = 1/log2(j+1), j = 1..k."""
    return 1.0 / np.log2(np.arange(2, k + 2))


def relevance(slates: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """bool (m, k): is ``slates[u, j]`` in user u's relevant set ``truth[u]`` (−1 padded)?"""
    valid = slates >= 0
    hit = (slates[:, :, None] == truth[:, None, :]) & (truth[:, None, :] >= 0)
    return hit.any(axis=2) & valid


def topn_per_user(slates: np.ndarray, truth: np.ndarray, k: int | None = None) -> dict[str, np.ndarray]:
    """Per-user binary metrics @k against relevant sets ``truth`` (m, N), −1 padded."""
    k = slates.shape[1] if k is None else k
    s = slates[:, :k]
    rel = relevance(s, truth)
    n_rel = (truth >= 0).sum(axis=1)
    hits = rel.sum(axis=1)
    d = discounts(k)
    dcg = rel @ d
    ideal_len = np.minimum(n_rel, k)
    idcg = np.concatenate([[0.0], np.cumsum(d)])[ideal_len]
    first = np.where(rel.any(axis=1), rel.argmax(axis=1) + 1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision_at_j = np.cumsum(rel, axis=1) / np.arange(1, k + 1)
        ap = np.where(ideal_len > 0, (precision_at_j * rel).sum(axis=1) / ideal_len, np.nan)
        return {
            "precision": hits / k,
            "recall": np.where(n_rel > 0, hits / n_rel, np.nan),
            "hit": np.where(n_rel > 0, (hits > 0).astype(float), np.nan),
            "mrr": np.where(n_rel > 0, np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0), np.nan),
            "ndcg": np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1), np.nan),
            "ap": ap,
        }


def topn_metrics(slates: np.ndarray, truth: np.ndarray, k: int, tag: str = "topN") -> dict[str, tuple[float, int]]:
    """``precision@k[topN]``, ``recall@k[…]``, ``hit@k[…]``, ``mrr@k[…]``, ``ndcg@k[…]``."""
    per = topn_per_user(slates, truth, k)
    return {f"{name}@{k}[{tag}]": mean_defined(per[name]) for name in ("precision", "recall", "hit", "mrr", "ndcg")}


def ndcg_graded(gains_slate: np.ndarray, gains_ideal: np.ndarray) -> np.ndarray:
    """Per-user graded NDCG: Σ g(l_j)δ_j / Σ g(o_j)δ_j; NaN when the ideal is 0.

    ``gains_ideal`` holds the gains of the ideal (oracle) slate, sorted descending.
    Negative gains are clipped at 0, as the spec requires.
    """
    k = gains_slate.shape[1]
    d = discounts(k)
    dcg = np.clip(gains_slate, 0, None) @ d
    idcg = np.clip(gains_ideal, 0, None) @ d
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1), np.nan)


def click_metrics(slates: np.ndarray, position: np.ndarray) -> dict[str, tuple[float, int]]:
    """Spec §1.2: ``ctr_item``, ``ctr_slate``, ``clicks_per_slate``, ``mrr_click``,
    ``ndcg_click@k``, ``precision_click@k``.

    ``position`` is the clicked 0-based position per user (−1: none): at most one
    click per slate in recdrift's choice models, so ``ctr_slate`` equals
    ``clicks_per_slate``. Users without a click count as 0 except in
    ``ndcg_click`` (undefined for them).
    """
    m, k = slates.shape
    nan = (np.nan, 0)
    if m == 0:
        return {n: nan for n in ("ctr_item", "ctr_slate", "clicks_per_slate", "mrr_click", f"ndcg_click@{k}", f"precision_click@{k}")}
    clicked = position >= 0
    clicks = clicked.astype(np.float64)
    shown = (slates >= 0).sum()
    d = discounts(k)
    ndcg_click = np.where(clicked, d[np.maximum(position, 0)] / d[0], np.nan)  # one click: DCG δ_j, IDCG δ_1
    return {
        "ctr_item": (clicks.sum() / shown if shown else np.nan, m),
        "ctr_slate": (clicks.mean(), m),
        "clicks_per_slate": (clicks.mean(), m),
        "mrr_click": (np.where(clicked, 1.0 / (np.maximum(position, 0) + 1.0), 0.0).mean(), m),
        f"ndcg_click@{k}": mean_defined(ndcg_click),
        f"precision_click@{k}": ((clicks / k).mean(), m),
    }


def blank_invalid(slates: np.ndarray, eligible) -> tuple[np.ndarray, float]:
    """Blank (−1) second occurrences and ineligible items in place of their position.

    ``eligible(rows, items) -> bool`` says which entries are allowed. Later items are
    not shifted up. Returns the blanked slates and the share of slates touched
    (``invalid_slate_rate``).
    """
    s = np.array(slates, np.int64, copy=True)
    m, k = s.shape
    if m == 0:
        return s, np.nan
    order = np.argsort(s, axis=1, kind="stable")
    srt = np.take_along_axis(s, order, axis=1)
    dup_sorted = np.concatenate([np.zeros((m, 1), bool), srt[:, 1:] == srt[:, :-1]], axis=1)
    dup = np.zeros_like(dup_sorted)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    bad = dup | ((s >= 0) & ~eligible(np.arange(m), s))
    s[bad] = -1
    return s, float(bad.any(axis=1).mean())
