import numpy as np

from sim.catalog import category_centres
from sim.drift import DriftSchedule
from sim.population import Population
from sim.random import KeyedStream
from sim.scenario import AbruptShift, DirectedDrift, GradualDrift, PeriodicDrift, UsersSpec


def make(specs, n=2000, dim=8):
    centres = category_centres(6, dim, KeyedStream(1))
    pop = Population(UsersSpec(n=n), dim, iterations=100, centres=centres, stream=KeyedStream(2))
    return pop, DriftSchedule(tuple(specs), KeyedStream(3), centres)


def run(pop, sched, until):
    history = []
    for t in range(until):
        sched.advance(pop, t, np.arange(pop.n))
        history.append(pop.theta[: pop.n].copy())
    return history


def test_gradual_keeps_unit_norm_and_moves_by_about_sigma():
    pop, sched = make([GradualDrift(type="gradual", sigma=0.05)])
    hist = run(pop, sched, 10)
    np.testing.assert_allclose(np.linalg.norm(hist[-1], axis=1), 1.0, atol=1e-5)
    step = np.linalg.norm(hist[5] - hist[4], axis=1)
    assert 0.03 < step.mean() < 0.07


def test_abrupt_shift_hits_the_stated_fraction_at_the_stated_iteration():
    pop, sched = make([AbruptShift(type="abrupt", onset=7, fraction=0.3)], n=4000)
    hist = run(pop, sched, 10)
    changed = [np.flatnonzero(np.abs(hist[t] - hist[t - 1]).sum(axis=1) > 1e-6) for t in range(1, 10)]
    assert [len(c) > 0 for c in changed] == [t == 7 for t in range(1, 10)]
    share = len(changed[6]) / 4000
    assert abs(share - 0.3) < 3 * np.sqrt(0.3 * 0.7 / 4000)  # within 3 binomial s.d.
    (event,) = sched.events
    assert event.onset == 7 and event.kind == "abrupt"
    np.testing.assert_array_equal(np.sort(event.users), changed[6])


def test_common_target_sends_everyone_to_one_cluster():
    pop, sched = make([AbruptShift(type="abrupt", onset=1, fraction=1.0, common_target=True, target_spread=0.1)])
    hist = run(pop, sched, 2)
    mean = hist[1].mean(axis=0)
    assert np.linalg.norm(mean) > 0.95  # all near one direction


def test_periodic_returns_after_one_period():
    pop, sched = make([PeriodicDrift(type="periodic", period=6, start=2, fraction=0.5)])
    hist = run(pop, sched, 20)
    for t in range(2, 14):
        np.testing.assert_array_equal(hist[t], hist[t + 6])
    assert not np.array_equal(hist[2], hist[5])  # and it does change within a period
    assert [e.onset for e in sched.events] == [2, 5, 8, 11, 14, 17]


def test_directed_drift_reaches_its_target_at_the_end_of_the_window():
    pop, sched = make([DirectedDrift(type="directed", start=2, end=6, fraction=1.0)])
    hist = run(pop, sched, 8)
    target = sched.processes[0].targets
    np.testing.assert_allclose(hist[5], target, atol=1e-5)
    np.testing.assert_array_equal(hist[6], hist[7])


def test_exogenous_drift_depends_only_on_the_seed():
    a, sa = make([GradualDrift(type="gradual", sigma=0.1), AbruptShift(type="abrupt", onset=3)])
    b, sb = make([GradualDrift(type="gradual", sigma=0.1), AbruptShift(type="abrupt", onset=3)])
    np.testing.assert_array_equal(run(a, sa, 6)[-1], run(b, sb, 6)[-1])


def test_consumption_pulls_towards_the_clicked_item_and_satiation_lowers_affinity():
    from sim.scenario import ConsumptionDrift, SatiationDrift

    pop, sched = make([ConsumptionDrift(type="consumption", rate=0.5), SatiationDrift(type="satiation", strength=0.5)], n=10)
    item = np.zeros((1, 8), np.float32)
    item[0, 0] = 1.0
    before = float(pop.theta[0] @ item[0])
    sched.after_clicks(pop, np.array([0]), item, t=0)
    assert float(pop.theta[0] @ item[0]) > before
    eff = pop.effective(np.array([0]))[0]
    assert float(eff @ item[0]) < float(pop.theta[0] @ item[0])
    # satiation decays back
    for t in range(1, 30):
        sched.advance(pop, t, np.arange(pop.n))
    assert np.abs(pop.satiation[0]).max() < 1e-2
