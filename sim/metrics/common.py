"""Helpers shared by the metric families: NaN-aware means with their counts."""

from __future__ import annotations

import numpy as np


def mean_defined(values: np.ndarray) -> tuple[float, int]:
    """Mean over the defined (non-NaN) entries and how many there were; (NaN, 0) if none."""
    values = np.asarray(values, np.float64)
    ok = ~np.isnan(values)
    n = int(ok.sum())
    return (float(values[ok].mean()), n) if n else (np.nan, 0)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|A∩B|/|A∪B| of two id arrays; NaN when both are empty."""
    a, b = np.unique(a[a >= 0]), np.unique(b[b >= 0])
    union = len(np.union1d(a, b))
    return len(np.intersect1d(a, b)) / union if union else np.nan
