import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from sim.choice import ChoiceModel, cascade_probabilities, mnl_probabilities
from sim.random import KeyedStream
from sim.scenario import ChoiceSpec
from sim.truth import position_weights, sigmoid


@given(hnp.arrays(np.float64, (4, 5), elements=st.floats(-3, 3)), st.floats(0.05, 2), st.floats(-1, 1), st.floats(0, 3))
def test_mnl_probabilities_sum_to_one(aff, temp, u0, bias):
    p = mnl_probabilities(aff, position_weights(5, bias), temp, u0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-9)
    assert (p >= 0).all()


@given(hnp.arrays(np.float64, (4, 5), elements=st.floats(0, 1)), st.floats(0, 3))
def test_cascade_probabilities_sum_to_one(mu, bias):
    p = cascade_probabilities(mu, position_weights(5, bias))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-9)


@pytest.mark.parametrize("model", ["mnl", "cascade"])
def test_position_bias_lowers_clicks_further_down(model):
    """Identical items at every position: click frequency must fall with position."""
    k, m = 5, 40_000
    cm = ChoiceModel(ChoiceSpec(model=model, temperature=0.2, no_click_utility=0.6, position_bias=1.0), k, KeyedStream(9))
    aff = np.full((m, k), 0.6)
    clicks = cm.choose(np.arange(m), 0, aff, sigmoid((aff - 0.6) / 0.2)).position
    freq = np.bincount(clicks[clicks >= 0], minlength=k) / m
    assert (np.diff(freq) < 0).all()
    flat = ChoiceModel(ChoiceSpec(model=model, temperature=0.2, no_click_utility=0.6, position_bias=0.0), k, KeyedStream(9))
    pos = flat.choose(np.arange(m), 0, aff, sigmoid(aff * 0)).position
    f2 = np.bincount(pos[pos >= 0], minlength=k)
    if model == "mnl":  # without bias, positions are exchangeable
        assert f2.max() / f2.min() < 1.1


def test_vectorised_mnl_equals_a_per_user_reference():
    k, m = 4, 300
    spec = ChoiceSpec(model="mnl", temperature=0.3, no_click_utility=0.2)
    stream = KeyedStream(5)
    cm = ChoiceModel(spec, k, stream)
    rng = np.random.default_rng(0)
    aff = rng.normal(size=(m, k))
    users = np.arange(100, 100 + m)
    got = cm.choose(users, 3, aff, sigmoid(aff)).position
    w = position_weights(k, spec.position_bias)
    for i, u in enumerate(users):
        weights = [w[j] * np.exp(aff[i, j] / spec.temperature) for j in range(k)] + [np.exp(spec.no_click_utility / spec.temperature)]
        total = sum(weights)
        draw = stream.uniform(np.array([u]), tick=3, salt=1)[0, 0]
        acc, choice = 0.0, -1
        for j, wj in enumerate(weights):
            acc += wj / total
            if draw <= acc:
                choice = j if j < k else -1
                break
        assert got[i] == choice


def test_clicks_depend_on_the_user_not_on_the_batch():
    cm = ChoiceModel(ChoiceSpec(), 3, KeyedStream(1))
    aff = np.tile([[0.7, 0.5, 0.6]], (10, 1))
    full = cm.choose(np.arange(10), 4, aff, sigmoid(aff)).position
    part = cm.choose(np.array([7, 2]), 4, aff[:2], sigmoid(aff[:2])).position
    assert part.tolist() == [full[7], full[2]]
