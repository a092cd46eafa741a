"""Click accuracy (spec §1.2): click-through rates and clicks per slate."""

from __future__ import annotations

import numpy as np


def click_metrics(slates: np.ndarray, position: np.ndarray) -> dict[str, tuple[float, int]]:
    """``ctr_item`` (pooled clicks / shown items), ``ctr_slate``, ``clicks_per_slate``.

    ``position`` is the clicked 0-based position per user (−1: none); blanks (−1 in
    ``slates``) are not shown items.
    """
    m = len(position)
    if m == 0:
        return {"ctr_item": (np.nan, 0), "ctr_slate": (np.nan, 0), "clicks_per_slate": (np.nan, 0)}
    clicks = (position >= 0).astype(np.float64)
    shown = (slates >= 0).sum()
    return {
        "ctr_item": (clicks.sum() / shown if shown else np.nan, m),
        "ctr_slate": (clicks.mean(), m),
        "clicks_per_slate": (clicks.mean(), m),
    }
