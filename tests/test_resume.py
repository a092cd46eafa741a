"""Kill a real run with SIGKILL at a random moment, resume it, and get the same results."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from sim.cli import main

SCENARIO = """name = "resume"
iterations = {iterations}
[world.users]
n = {users}
[world.items]
n = 300
[[drift]]
type = "abrupt"
onset = 8
[recommenders.full]
epochs = 2
hidden = [16]
dim = 8
min_train_iterations = 2
"""


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("recommender", "seed", "iteration", "metric") if c in frame]
    return frame.sort_values(keys).reset_index(drop=True)


def _kill_and_resume(tmp_path, recommenders, *, users, iterations, wait_for, checkpoint_every=2):
    sc = tmp_path / "resume.toml"
    sc.write_text(SCENARIO.format(users=users, iterations=iterations))
    args = ["run", str(sc), "--recommenders", recommenders, "--seeds", "2", "--quiet"]
    ref = tmp_path / "ref"
    assert main(args + ["--out", str(ref)]) == 0

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", *args, "--out", str(out),
                             "--checkpoint-every", str(checkpoint_every)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not wait_for(out) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(np.random.default_rng().uniform(0, 0.5))  # a random moment after that point
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed: make it longer"
    assert not (out / "manifest.json").exists()

    assert main(args + ["--resume", str(out), "--checkpoint-every", str(checkpoint_every)]) == 0
    for name in ("metrics", "world", "events", "drift_events"):
        a, b = pd.read_parquet(ref / f"{name}.parquet"), pd.read_parquet(out / f"{name}.parquet")
        pd.testing.assert_frame_equal(_sorted(a), _sorted(b), check_exact=True)
    return out


@pytest.mark.slow
def test_baselines_resume_mid_cell_from_a_checkpoint_with_identical_metrics(tmp_path):
    def a_checkpoint_exists(out: Path) -> bool:
        return any((out / "checkpoints").glob("*.npz")) if (out / "checkpoints").exists() else False

    out = _kill_and_resume(tmp_path, "random,popularity,oracle,cf", users=1500, iterations=30,
                           wait_for=a_checkpoint_exists)
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


@pytest.mark.slow
def test_the_full_pipeline_resumes_with_identical_metrics(tmp_path):
    def first_cell_done(out: Path) -> bool:
        return any((out / "cells").glob("*/done.json")) if (out / "cells").exists() else False

    _kill_and_resume(tmp_path, "full,popularity", users=300, iterations=16, wait_for=first_cell_done)


def test_checkpoints_refuse_other_scenarios_and_tampering(tmp_path):
    from recommender.baselines import PopularityRecommender
    from sim.scenario import Scenario
    from sim.world import World

    sc = Scenario.model_validate({"name": "c", "iterations": 6, "world": {"users": {"n": 30}, "items": {"n": 40}}})
    w = World(sc, 0, PopularityRecommender(3, 1), "popularity")
    for _ in range(3):
        w.step()
    path = save_checkpoint(tmp_path / "c.npz", w, sc.digest())
    fresh = World(sc, 0, PopularityRecommender(3, 1), "popularity")
    assert load_checkpoint(path, fresh, sc.digest()) == 3
    with pytest.raises(CheckpointError, match="different scenario"):
        load_checkpoint(path, World(sc, 0, PopularityRecommender(3, 1), "popularity"), "another-hash")
    truncated = tmp_path / "t.npz"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=str(truncated)):
        load_checkpoint(truncated, World(sc, 0, PopularityRecommender(3, 1), "popularity"), sc.digest())
    garbage = tmp_path / "g.npz"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError):
        load_checkpoint(garbage, World(sc, 0, PopularityRecommender(3, 1), "popularity"), sc.digest())


def test_resume_refuses_a_folder_of_another_scenario(tmp_path, capsys):
    a = tmp_path / "a.toml"
    a.write_text('name = "a"\niterations = 3\n[world.users]\nn = 20\n[world.items]\nn = 30\n')
    b = tmp_path / "b.toml"
    b.write_text('name = "a"\niterations = 4\n[world.users]\nn = 20\n[world.items]\nn = 30\n')
    out = tmp_path / "out"
    assert main(["run", str(a), "--recommenders", "random", "--seeds", "1", "--out", str(out), "--quiet"]) == 0
    assert main(["run", str(b), "--recommenders", "random", "--seeds", "1", "--resume", str(out), "--quiet"]) == 2
    assert "another scenario" in capsys.readouterr().err
    assert main(["run", str(a), "--resume", str(tmp_path / "nothing"), "--quiet"]) == 2


@pytest.mark.slow
def test_the_full_pipeline_checkpoints_mid_cell_and_continues_identically(tmp_path):
    """In-process: save after iteration 9 (model trained, patterns fitted), restore into a
    fresh world, continue; compare every metric with an uninterrupted world."""
    from recommender.registry import make_recommender
    from sim.random import RunSeeds
    from sim.scenario import Scenario
    from sim.world import World

    sc = Scenario.model_validate({"name": "mid", "iterations": 16, "world": {"users": {"n": 200}, "items": {"n": 150}},
                                  "recommenders": {"full": {"epochs": 2, "hidden": [16], "dim": 8, "retrain_every": 3,
                                                            "min_train_iterations": 2, "n_patterns": 3}}})

    def world():
        return World(sc, 2, make_recommender("full", sc, RunSeeds.from_seed(2)), "full")

    ref = world()
    for _ in range(16):
        ref.step()
    first = world()
    for _ in range(10):
        first.step()
    path = save_checkpoint(tmp_path / "full.npz", first, sc.digest())
    resumed = world()
    assert load_checkpoint(path, resumed, sc.digest()) == 10
    for _ in range(6):
        resumed.step()
    pd.testing.assert_frame_equal(ref.metrics.frame(), resumed.metrics.frame(), check_exact=True)


def test_resuming_from_a_tampered_checkpoint_exits_2_naming_the_file(tmp_path, capsys):
    sc = tmp_path / "s.toml"
    sc.write_text('name = "s"\niterations = 6\ncheckpoint_every = 2\n[world.users]\nn = 30\n[world.items]\nn = 40\n')
    out = tmp_path / "out"
    assert main(["run", str(sc), "--recommenders", "popularity", "--seeds", "1", "--out", str(out), "--quiet"]) == 0
    (out / "cells" / "popularity__seed0" / "done.json").unlink()  # as if killed before the cell finished
    bad = out / "checkpoints" / "popularity__seed0.npz"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"PK\x03\x04" + os.urandom(64))
    assert main(["run", str(sc), "--recommenders", "popularity", "--seeds", "1", "--resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "Traceback" not in err[0]


def test_streamed_log_holds_every_impression_once_even_across_a_resume(tmp_path):
    from sim.log import Interactions
    from sim.runner import simulate
    from sim.world import World
    from recommender.registry import make_recommender
    from sim.random import RunSeeds
    from conftest import tiny

    sc = tiny("abrupt_shift", users=50, items=60, iterations=10)
    # the log the world itself holds when told to keep everything
    world = World(sc, 3, make_recommender("popularity", sc, RunSeeds.from_seed(3)), "popularity")
    world.log.keep = 0
    ref_sink = tmp_path / "ref"
    simulate(sc, 3, "popularity", log_dir=ref_sink)
    # interrupted after 6 iterations with a checkpoint at 4, then resumed to the end
    ckpt = tmp_path / "c.npz"
    logs = tmp_path / "logs"
    simulate(sc, 3, "popularity", iterations=6, checkpoint=ckpt, checkpoint_every=4, log_dir=logs)
    assert sorted(p.name for p in logs.iterdir()) == ["part-000000.parquet", "part-000004.parquet"]
    simulate(sc, 3, "popularity", checkpoint=ckpt, checkpoint_every=4, log_dir=logs)
    assert sorted(p.name for p in logs.iterdir()) == ["part-000000.parquet", "part-000004.parquet",
                                                      "part-000008.parquet"]
    got = pd.read_parquet(logs).sort_values(["iteration", "organic", "user", "position"]).reset_index(drop=True)
    ref = pd.read_parquet(ref_sink).sort_values(["iteration", "organic", "user", "position"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, ref)
    assert sorted(got.iteration.unique()) == list(range(10))
    # and it is the world's own log, impression by impression
    for _ in range(10):
        world.step()
    held = Interactions.to_frame(world.log.window(0)).sort_values(["iteration", "organic", "user", "position"])
    np.testing.assert_array_equal(held["item"].to_numpy(), ref["item"].to_numpy())
    np.testing.assert_array_equal(held["clicked"].to_numpy(), ref["clicked"].to_numpy())
    assert ref.clicked.any() and ref.organic.any() and (~ref.organic).any()
