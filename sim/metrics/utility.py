"""Utility against the oracle (spec §2): eu, mtu, eur, regret, gap_closed.

All computed from μ of the served slate and of the counterfactual oracle slate at
the *current* true interests, before any click (prequential order).
"""

from __future__ import annotations

import numpy as np


def utility_metrics(mu_slate: np.ndarray, mu_oracle: np.ndarray, weights: np.ndarray) -> dict[str, tuple[float, int]]:
    """Per-iteration utility metrics.

    ``mu_slate``/``mu_oracle``: (m, k) true utility by position (0 for blanks);
    ``weights``: examination weight of each position. Returns ``{id: (value, n_defined)}``.
    """
    m = mu_slate.shape[0]
    if m == 0:
        nan = (np.nan, 0)
        return {"eu": nan, "eu_oracle": nan, "regret": nan, "eur": nan, "mtu": nan, "mtu_oracle": nan}
    k = mu_slate.shape[1]
    eu = mu_slate @ weights
    eu_star = mu_oracle @ weights
    total_star = eu_star.sum()
    eur = eu.sum() / total_star if total_star > 0 else np.nan
    return {
        "eu": (eu.mean(), m),
        "eu_oracle": (eu_star.mean(), m),
        "regret": ((eu_star - eu).mean(), m),
        "eur": (eur, m if total_star > 0 else 0),
        "mtu": ((mu_slate.sum(axis=1) / k).mean(), m),
        "mtu_oracle": ((mu_oracle.sum(axis=1) / k).mean(), m),
    }
