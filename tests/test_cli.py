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


def test_a_plugged_in_recommender_with_bad_slates_stops_the_run_cleanly(tmp_path, capsys):
    """The harness names the recommender and the first offending user, and keeps what was computed."""

    from recommender.baselines import PopularityRecommender
    from recommender.registry import _FACTORIES, register

    class Sloppy(PopularityRecommender):
        def recommend(self, user_ids, k, *, exclude):
            slates = super().recommend(user_ids, k, exclude=exclude)
            if self.counts_ and self.counts_[-1][0] >= 2:  # from iteration 3 on: a duplicate
                slates[1, 1] = slates[1, 0]
            return slates

    register("sloppy", lambda sc, rs: Sloppy(5, rs), "test double")
    try:
        sc = tmp_path / "mini.toml"
        sc.write_text('name = "mini"\niterations = 6\n[world.users]\nn = 40\n[world.items]\nn = 60\n')
        out = tmp_path / "run"
        code = main(["run", str(sc), "--recommenders", "random,sloppy", "--seeds", "1", "--out", str(out), "--quiet"])
        assert code == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "'sloppy'" in err[0] and "user 1" in err[0] and "iteration 3" in err[0], err
        m = pd.read_parquet(out / "metrics.parquet")
        assert set(m[m.recommender == "random"].iteration) == set(range(6))  # finished before the failure
        assert set(m[m.recommender == "sloppy"].iteration) == {0, 1, 2}  # complete iterations only
        man = json.loads((out / "manifest.json").read_text())
        assert man["status"].startswith("failed at sloppy, seed 0, iteration 3")
    finally:
        _FACTORIES.pop("sloppy", None)
