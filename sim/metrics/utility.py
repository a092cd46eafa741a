"""Utility against the oracle (spec §2): eu, mtu, eur, regret, gap_closed.

All computed from μ of the served slate and of the counterfactual oracle slate at
the *current* true interests, before any click (prequential order). The oracle is
the top-k by μ; recdrift's choice model is a multinomial logit with a no-click
option (not additive), so this oracle is *greedy* and regret may be negative —
reported as is (``oracle_is_greedy`` in the manifest).
"""

from __future__ import annotations

import numpy as np


def utility_metrics(
    mu_slate: np.ndarray,
    mu_oracle: np.ndarray,
    weights: np.ndarray,
    mu_mean_eligible: np.ndarray | None = None,
) -> dict[str, tuple[float, int]]:
    """Per-iteration utility metrics.

    ``mu_slate``/``mu_oracle``: (m, k) true utility by position (0 for blanks);
    ``weights``: examination weight of each position; ``mu_mean_eligible``: (m,) the
    mean μ over each user's eligible items (for ``gap_closed``: a uniformly random
    slate has expected utility Σw·that mean, exactly). Returns ``{id: (value, n)}``.
    """
    m = mu_slate.shape[0]
    names = ("eu", "eu_oracle", "regret", "eur", "mtu", "mtu_oracle", "gap_closed")
    if m == 0:
        return {n: (np.nan, 0) for n in names}
    k = mu_slate.shape[1]
    eu = mu_slate @ weights
    eu_star = mu_oracle @ weights
    total, total_star = eu.sum(), eu_star.sum()
    out = {
        "eu": (eu.mean(), m),
        "eu_oracle": (eu_star.mean(), m),
        "regret": ((eu_star - eu).mean(), m),
        "eur": (total / total_star, m) if total_star > 0 else (np.nan, 0),
        "mtu": ((mu_slate.sum(axis=1) / k).mean(), m),
        "mtu_oracle": ((mu_oracle.sum(axis=1) / k).mean(), m),
    }
    if mu_mean_eligible is not None:
        total_rand = (weights.sum() * mu_mean_eligible).sum()
        denom = total_star - total_rand
        out["gap_closed"] = ((total - total_rand) / denom, m) if denom != 0 else (np.nan, 0)
    return out


def gap_closed(eu: np.ndarray, eu_star: np.ndarray, eu_rand: np.ndarray) -> float:
    """(ΣEU − ΣEU_rand)/(ΣEU* − ΣEU_rand): 0 = random, 1 = oracle; NaN when undefined."""
    denom = eu_star.sum() - eu_rand.sum()
    return float((eu.sum() - eu_rand.sum()) / denom) if denom != 0 else np.nan
