"""``recdrift replay``: windows in time order, scores against what users really did next."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from sim.cli import main
from sim.datasets import load_log
from sim.replay import replay, score, windows


def test_score_by_hand():
    lists = np.array([[3, 1, 4], [0, 2, 5]])
    truth = sp.csr_matrix(np.array([[0, 1, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1]]))
    s = score(lists, truth, [1, 3])
    np.testing.assert_allclose(s["recall@1"], [0, 0])
    np.testing.assert_allclose(s["recall@3"], [1, 1])  # both of row 0's items, row 1's only item
    np.testing.assert_allclose(s["hit@3"], [1, 1])
    d = 1 / np.log2([2, 3, 4])
    np.testing.assert_allclose(s["ndcg@3"], [(d[1] + d[2]) / (d[0] + d[1]), d[2] / d[0]])


def clustered_log(path, users=80, items=60, weeks=12, seed=0):
    """Users in 3 taste groups, each reading its own third of the items, week after week."""
    rng = np.random.default_rng(seed)
    group = np.arange(users) % 3
    lines = []
    for u in range(users):
        own = np.arange(items)[np.arange(items) % 3 == group[u]]
        for week in range(weeks):
            for item in rng.choice(own, size=2, replace=False):
                lines.append(f"{u}\t{item}\t{rng.integers(1, 6)}\t{week * 7 * 86400 + int(rng.integers(0, 86400 * 6))}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    return load_log(clustered_log(tmp_path_factory.mktemp("replay") / "u.data"))


def test_windows_split_history_and_evaluation(log):
    w, first = windows(log, 7, 0.5)
    assert w.min() == 0 and np.all(np.diff(w) >= 0)  # time order
    assert abs((w < first).mean() - 0.5) < 0.1


def test_personalised_models_find_the_taste_groups_and_nothing_seen_is_recommended(log):
    table = replay(log, ["cf", "popularity", "random"], [0, 1], cutoffs=(5, 10))
    mean = table[table.metric == "ndcg@10"].groupby("recommender")["value"].mean()
    assert mean["cf"] > mean["popularity"] + 0.1 and mean["cf"] > mean["random"] + 0.1
    assert set(table.window) == set(range(windows(log, 7, 0.5)[1], 12))
    assert table["value"].between(0, 1).all() and (table["n_defined"] > 0).all()


@pytest.mark.slow
def test_full_pipeline_replays_and_beats_random(log):
    table = replay(log, ["full", "random"], [0], cutoffs=(10,))
    mean = table[table.metric == "ndcg@10"].groupby("recommender")["value"].mean()
    assert mean["full"] > mean["random"] + 0.1


def test_replay_command(tmp_path, capsys):
    path = clustered_log(tmp_path / "u.data", users=30, weeks=6)
    assert main(["replay", str(path), "--recommenders", "popularity,random", "--seeds", "2",
                 "--out", str(tmp_path / "out")]) == 0
    table = pd.read_parquet(tmp_path / "out" / "replay.parquet")
    assert set(table.recommender) == {"popularity", "random"} and set(table.seed) == {0, 1}
    assert "ndcg@10" in capsys.readouterr().out
    assert main(["replay", str(path), "--recommenders", "oracle"]) == 2
    assert main(["replay", str(tmp_path / "missing.inter")]) == 2
    assert main(["replay", str(path), "--train-fraction", "1.5", "--out", str(tmp_path / "o2")]) == 2


def test_a_config_file_sets_the_recommenders(log, tmp_path):
    from pathlib import Path

    from sim.scenario import load_scenario

    shipped = load_scenario(Path(__file__).parents[1] / "scenarios" / "replay" / "ml100k.toml")
    assert shipped.recommenders.full.retrain_every == 1
    cfg = tmp_path / "short.toml"
    cfg.write_text('name = "short"\n[recommenders.popularity]\nwindow = 1\n')
    default = replay(log, ["popularity"], [0], cutoffs=(10,))
    short = replay(log, ["popularity"], [0], cutoffs=(10,), config=load_scenario(cfg))
    assert not default["value"].equals(short["value"])  # a one-week memory recommends other items
    assert main(["replay", str(tmp_path / "missing.data"), "--config", str(cfg)]) == 2


ML100K = __import__("sim.datasets", fromlist=["dataset_path"]).dataset_path("ml-100k")


@pytest.mark.slow
@pytest.mark.skipif(not ML100K.exists(), reason=f"ML-100K not fetched ({ML100K}); run `make data`")
def test_on_ml100k_the_full_pipeline_beats_popularity_in_every_seed():
    """The replay claim of the README, over three seeds with a margin (settings from
    scenarios/replay/ml100k.toml)."""
    from pathlib import Path

    from sim.datasets import resolve_log
    from sim.scenario import load_scenario

    config = load_scenario(Path(__file__).parents[1] / "scenarios" / "replay" / "ml100k.toml")
    table = replay(resolve_log("ml-100k"), ["full", "popularity"], [0, 1, 2], config=config)
    t = table[table.metric.isin(["ndcg@10", "recall@20"])]
    per_seed = (t.assign(w=t.value * t.n_defined).groupby(["metric", "seed", "recommender"])[["w", "n_defined"]].sum())
    per_seed = (per_seed.w / per_seed.n_defined).unstack("recommender")
    margin = per_seed["full"] - per_seed["popularity"]
    assert (margin.loc["ndcg@10"] > 0.02).all(), margin
    assert (margin.loc["recall@20"] > 0.03).all(), margin
