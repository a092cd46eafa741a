"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


@st.composite
def score_matrices(draw, max_rows: int = 6, max_cols: int = 40):
    """Score rows with ties and −inf entries, and a k that leaves enough finite entries."""
    rows = draw(st.integers(1, max_rows))
    cols = draw(st.integers(1, max_cols))
    values = draw(hnp.arrays(np.float32, (rows, cols), elements=st.sampled_from([0.0, 0.5, 1.0, 2.0, -1.0, -np.inf]) | st.floats(-5, 5, width=32)))
    finite = np.isfinite(values).sum(axis=1).min()
    k = draw(st.integers(0, int(finite))) if finite else 0
    return values, k
