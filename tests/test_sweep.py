"""``recdrift sweep`` on a real local Dask cluster: cells equal serial runs, a failing
cell is reported without stopping the others, reruns skip finished cells."""

import json

import pandas as pd
import pytest

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
