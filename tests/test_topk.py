import numpy as np
from hypothesis import given

from sim.topk import top_k
from strategies import score_matrices


def reference_top_k(scores, k):
    """Slow and obvious: sort each row by (score desc, index asc)."""
    out = []
    for row in scores:
        order = sorted(range(len(row)), key=lambda j: (-row[j], j))
        out.append(order[:k])
    return np.array(out, dtype=np.int64).reshape(len(scores), k)


@given(score_matrices())
def test_top_k_equals_brute_force_including_ties_and_minus_inf(case):
    scores, k = case
    np.testing.assert_array_equal(top_k(scores, k), reference_top_k(scores, k))


def test_grouped_path_equals_brute_force_on_wide_rows():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((7, 5003)).astype(np.float32)
    scores[:, rng.integers(0, 5003, 300)] = -np.inf
    scores[2, :50] = 10.0  # a block of exact ties at the top
    np.testing.assert_array_equal(top_k(scores, 10), reference_top_k(scores, 10))


def test_top_k_rows_are_distinct_and_sorted():
    rng = np.random.default_rng(1)
    scores = rng.standard_normal((20, 3000))
    idx = top_k(scores, 15)
    vals = np.take_along_axis(scores, idx, 1)
    assert (np.diff(vals, axis=1) <= 0).all()
    assert all(len(set(r)) == 15 for r in idx)
