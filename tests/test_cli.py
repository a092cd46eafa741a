import json
import subprocess
import sys

import pandas as pd

from sim.cli import main


def test_run_writes_tidy_metrics_and_a_manifest(tmp_path, capsys):
    out = tmp_path / "run"
    sc = tmp_path / "mini.toml"
    sc.write_text('name = "mini"\niterations = 4\n[world.users]\nn = 50\n[world.items]\nn = 60\n')
    code = main(["run", str(sc), "--recommenders", "random,oracle", "--seeds", "2", "--out", str(out), "--quiet"])
    assert code == 0
    m = pd.read_parquet(out / "metrics.parquet")
    assert {"recommender", "seed", "iteration", "metric", "value", "n_defined"} <= set(m.columns)
    assert set(m.recommender) == {"random", "oracle"} and set(m.seed) == {0, 1}
    assert {"ctr_item", "mtu", "eur", "coverage"} <= set(m.metric)
    man = json.loads((out / "manifest.json").read_text())
    for key in ("scenario", "seeds", "versions", "started", "finished", "command", "scenario_hash"):
        assert key in man
    assert man["scenario"]["iterations"] == 4
    assert main(["run", "quickstart", "--iterations", "5", "--quiet"]) == 2  # onset 20 past the new horizon


def test_broken_scenario_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nk = -1\n')
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "validate", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.toml: k:" in lines[0] and "Traceback" not in proc.stderr


def test_unknown_recommender_and_bad_options_exit_2(capsys):
    assert main(["run", "quickstart", "--recommenders", "nope"]) == 2
    assert "available" in capsys.readouterr().err
    assert main(["run", "quickstart", "--seeds", "0"]) == 2
    assert main(["frobnicate"]) == 2


def test_list_and_validate(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "abrupt_shift" in out and "oracle" in out
    assert main(["validate", "scenarios/stable.toml"]) == 0
