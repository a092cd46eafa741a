from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sim import topk
from strategies import score_matrices

#: top_k has two exact paths: the compiled scan (k <= _SCAN_MAX_K) and the grouped
#: prefilter (larger k); every test runs on both.
PATHS = {"scan": topk._SCAN_MAX_K, "grouped": 0}


def top_k(scores, k, path="scan"):
    with mock.patch.object(topk, "_SCAN_MAX_K", PATHS[path]):
        return topk.top_k(scores, k)


def reference_top_k(scores, k):
    """Slow and obvious: sort each row by (score desc, index asc)."""
    out = []
    for row in scores:
        order = sorted(range(len(row)), key=lambda j: (-row[j], j))
        out.append(order[:k])
    return np.array(out, dtype=np.int64).reshape(len(scores), k)


@pytest.mark.parametrize("path", PATHS)
@given(case=score_matrices())
def test_top_k_equals_brute_force_including_ties_and_minus_inf(path, case):
    scores, k = case
    np.testing.assert_array_equal(top_k(scores, k, path), reference_top_k(scores, k))


@pytest.mark.parametrize("path", PATHS)
def test_top_k_equals_brute_force_on_wide_rows(path):
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((7, 5003)).astype(np.float32)
    scores[:, rng.integers(0, 5003, 300)] = -np.inf
    scores[2, :50] = 10.0  # a block of exact ties at the top
    np.testing.assert_array_equal(top_k(scores, 10, path), reference_top_k(scores, 10))


@pytest.mark.parametrize("path", PATHS)
def test_top_k_rows_are_distinct_and_sorted(path):
    rng = np.random.default_rng(1)
    scores = rng.standard_normal((20, 3000))
    idx = top_k(scores, 15, path)
    vals = np.take_along_axis(scores, idx, 1)
    assert (np.diff(vals, axis=1) <= 0).all()
    assert all(len(set(r)) == 15 for r in idx)


@pytest.mark.parametrize("path", PATHS)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(256, 3000), k=st.integers(1, 40), levels=st.sampled_from([0, 3, 50]))
@settings(max_examples=25, deadline=None)
def test_top_k_equals_brute_force_with_ties_and_exclusions(path, seed, n, k, levels):
    """Wide rows (the grouped path's prefilter applies); coarse values (few levels) force ties."""
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((4, n)).astype(np.float32)
    if levels:
        scores = np.round(scores * levels) / levels
    scores[:, rng.integers(0, n, n // 5)] = -np.inf
    k = min(k, int(np.isfinite(scores).sum(axis=1).min()))
    np.testing.assert_array_equal(top_k(scores, k, path), reference_top_k(scores, k))


@given(st.integers(0, 2**32 - 1), st.integers(1, 300), st.integers(1, 70), st.integers(1, 12),
       st.sampled_from([1, 7, 64]), st.booleans())
@settings(max_examples=40, deadline=None)
def test_chunked_top_k_equals_brute_force_with_bias_and_mask(seed, n, k, m, chunk, with_bias):
    """The chunked matmul + compiled scan (bias added while reading, per-row masks)
    against a sort of the whole score matrix. Small integers make every sum exact, so
    ties are frequent and must go to the lower column."""
    from sim.topk import chunked_top_k

    rng = np.random.default_rng(seed)
    k = min(k, n)
    left = rng.integers(-2, 3, (m, 3)).astype(np.float32)
    right_t = rng.integers(-2, 3, (3, n)).astype(np.float32)
    bias = rng.integers(-1, 2, n).astype(np.float32) if with_bias else None
    if bias is not None:
        bias[rng.integers(0, n, n // 10)] = -np.inf
    masked = rng.random((m, n)) < 0.2

    def mask(scores, sl):
        scores[masked[sl]] = -np.inf

    full = left @ right_t + (0 if bias is None else bias)
    full[masked] = -np.inf
    got = chunked_top_k(left, right_t, k, bias=bias, mask=mask, chunk=chunk, threads=2)
    np.testing.assert_array_equal(got, reference_top_k(full, k))
