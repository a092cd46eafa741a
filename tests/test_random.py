import numpy as np

from sim.random import KeyedStream, RunSeeds


def test_keyed_draws_depend_only_on_id_not_on_who_else_is_asked():
    s = KeyedStream(1234)
    ids = np.array([5, 17, 3, 99])
    full = s.normal(ids, tick=7, n=4)
    sub = s.normal(np.array([99, 5]), tick=7, n=4)
    np.testing.assert_array_equal(sub[0], full[3])
    np.testing.assert_array_equal(sub[1], full[0])


def test_keyed_draws_change_with_tick_salt_and_key():
    ids = np.arange(50)
    a = KeyedStream(1).uniform(ids, tick=0, n=3)
    assert not np.array_equal(a, KeyedStream(1).uniform(ids, tick=1, n=3))
    assert not np.array_equal(a, KeyedStream(1).uniform(ids, tick=0, n=3, salt=1))
    assert not np.array_equal(a, KeyedStream(2).uniform(ids, tick=0, n=3))


def test_keyed_uniform_and_normal_have_the_right_moments():
    s = KeyedStream(42)
    u = s.uniform(np.arange(20_000), tick=3, n=5)
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    z = s.normal(np.arange(20_000), tick=3, n=5)
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    # columns are not correlated with each other
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.03


def test_named_streams_are_stable_and_distinct():
    a, b = RunSeeds.from_seed(3), RunSeeds.from_seed(3)
    assert a.keyed("drift") == b.keyed("drift")
    assert a.keyed("drift") != a.keyed("choice")
    assert RunSeeds.from_seed(4).keyed("drift") != a.keyed("drift")
    assert a.int_seed("recommender", 1) == b.int_seed("recommender", 1)
