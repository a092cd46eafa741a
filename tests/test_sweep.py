"""``recdrift sweep`` on a real local Dask cluster: cells equal serial runs, a failing
cell is reported without stopping the others, reruns skip finished cells."""

import json

import pandas as pd
import pytest

from conftest import tiny
from sim.cli import EXIT_BAD_INPUT, EXIT_ERROR, main
from sim.runner import simulate
from sim.scenario import ScenarioError
from sim.sweep import dask_client, load_sweep, run_sweep

SWEEP = """
name = "t"
scenarios = ["stable", "abrupt_shift"]
recommenders = ["popularity", "random", "sweep_plugins:exploding"]
seeds = 2
[shrink]
users = 60
items = 80
iterations = 8
[grid]
"choice.temperature" = [0.1, 0.2]
"""


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes on loopback, shared by the tests of this module."""
    with dask_client(workers=2) as client:
        yield client.scheduler.address


@pytest.fixture
def sweep_file(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP)
    return path


@pytest.mark.slow
def test_sweep_on_a_local_cluster_equals_serial_runs_and_survives_a_failing_cell(cluster, sweep_file, tmp_path):
    spec, cells = load_sweep(sweep_file)
    assert len(cells) == 2 * 2 * 2 * 3  # scenarios × temperatures × seeds × recommenders
    out = tmp_path / "out"
    result = run_sweep(cells, out, scheduler=cluster, spec=spec)
    exploding = [c for c in cells if c.recommender.startswith("sweep_plugins")]
    assert set(result.failed) == {c.key for c in exploding}
    assert all("boom" in why for why in result.failed.values())
    assert "boom" in json.loads((exploding[0].directory(out) / "error.json").read_text())["error"]
    assert sum(v == "complete" for v in result.status.values()) == len(cells) - len(exploding)
    # every cell equals the serial run of the same scenario variant, seed and recommender
    for cell in cells:
        if cell in exploding:
            continue
        serial, *_ = simulate(cell.scenario, cell.seed, cell.recommender)
        got = pd.read_parquet(cell.directory(out) / "metrics.parquet")
        pd.testing.assert_frame_equal(got, serial)
    combined = pd.read_parquet(out / "metrics.parquet")
    assert set(combined["variant"]) == {"choice.temperature=0.1", "choice.temperature=0.2"}
    assert combined.groupby(["scenario", "variant", "recommender", "seed"]).ngroups == len(cells) - len(exploding)
    # the temperature really changed the world: clicks differ between the variants
    ctr = combined[combined.metric == "ctr_item"].groupby("variant")["value"].mean()
    assert ctr["choice.temperature=0.1"] != ctr["choice.temperature=0.2"]
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["failed"] == len(exploding) and len(manifest["cells"]) == len(cells)
    # rerun: finished cells are skipped, failed ones are tried again
    again = run_sweep(cells, out, scheduler=cluster, spec=spec)
    assert sum(v.startswith("skipped") for v in again.status.values()) == len(cells) - len(exploding)
    assert set(again.failed) == set(result.failed)


def test_serial_scheduler_and_the_cli(sweep_file, tmp_path, capsys):
    sweep_file.write_text(SWEEP.replace('"choice.temperature" = [0.1, 0.2]', "").replace('"abrupt_shift"', ""). \
        replace('["stable", ]', '["stable"]'))
    code = main(["sweep", str(sweep_file), "--out", str(tmp_path / "o"), "--scheduler", "serial", "--quiet"])
    assert code == EXIT_ERROR  # the exploding cells failed, the others completed
    out, err = capsys.readouterr()
    assert "4 complete, 2 failed" in out and "boom" in err
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "o"), "--scheduler", "serial", "--quiet"]) == EXIT_ERROR
    assert "4 skipped (already complete), 2 failed" in capsys.readouterr().out


@pytest.mark.parametrize("text, field", [
    (SWEEP.replace('seeds = 2', 'seeds = 0'), "seeds"),
    (SWEEP.replace('name = "t"', 'name = "t"\ncolour = 1'), "colour"),
    (SWEEP.replace('"choice.temperature"', '"choice.temprature"'), "choice.temprature"),
    (SWEEP.replace('"choice.temperature"', '"chioce.temperature"'), "grid.chioce.temperature"),
    (SWEEP.replace('"random"', '"randon"'), "recommenders"),
    (SWEEP.replace('[0.1, 0.2]', '[-1.0]'), "choice.temperature"),
])
def test_a_bad_sweep_file_names_the_file_and_field(tmp_path, text, field, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_sweep(path)
    assert str(path) in str(err.value) and field in str(err.value)
    assert main(["sweep", str(path), "--out", str(tmp_path / "o")]) == EXIT_BAD_INPUT


# ---------------------------------------------------------------- user shards
def _busy_world():
    """Every per-user path a shard takes: drift of each kind, organic browsing, partial
    activity, arrivals, churn, no repeats (per-user exclusions) and a metric panel."""
    return tiny("abrupt_shift", users=160, items=120, iterations=14).replace(
        world={"allow_repeat": False, "users": {"active_fraction": 0.8, "organic_rate": 0.4, "arrivals_per_iteration": 3,
                                                "churn": {"enabled": True, "threshold": 0.3, "patience": 3}},
               "items": {"arrivals_per_iteration": 2}},
        drift=[{"type": "gradual", "sigma": 0.05}, {"type": "abrupt", "onset": 6, "fraction": 0.5},
               {"type": "periodic", "period": 4, "start": 2, "fraction": 0.2}, {"type": "consumption", "rate": 0.1}],
        metrics={"panel": 100},
    )


@pytest.mark.slow
@pytest.mark.parametrize("recommender", ["random", "popularity", "oracle", "cf", "full"])
def test_a_world_split_into_user_shards_gives_the_unsharded_metrics(cluster, recommender):
    from dask.distributed import Client

    sc = _busy_world()
    alone = simulate(sc, 4, recommender)
    with Client(cluster) as client:
        sharded = simulate(sc, 4, recommender, shards=3, client=client)
    names = ("metrics", "events", "world", "timings", "curves", "exposure")
    for name, a, b in zip(names, alone, sharded):
        if name != "timings":  # wall-clock seconds differ, everything else must not
            pd.testing.assert_frame_equal(a, b, obj=f"{recommender} {name}")
    m = alone[0]
    if recommender == "random":
        assert m.query("metric == 'churned'")["value"].sum() > 0, "the world must exercise churn"
    assert len(alone[1]) > 0 and m.query("metric == 'active_users'")["value"].nunique() > 1


def test_shards_need_a_client_and_cannot_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="Dask client"):
        simulate(tiny(), 0, "random", shards=2)
    with pytest.raises(ValueError, match="checkpoints"):
        simulate(tiny(), 0, "random", shards=2, client=object(), checkpoint=tmp_path / "c.npz", checkpoint_every=2)
