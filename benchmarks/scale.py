"""Seconds per iteration by stage, ranking vs the matmul limit, and peak memory, for
the named sizes — with the full metric suite on.

    python benchmarks/scale.py                       # small, medium, large, huge
    python benchmarks/scale.py --sizes small,medium  # a subset
    python benchmarks/scale.py --sizes large --recommenders full --iterations 10

Sizes (all k = 10): small 1k users × 1k items d = 10; medium 10k × 5k d = 20;
large 100k × 10k d = 32; huge 1M × 10k d = 32 (popularity and cf only). Each
(size, recommender) runs in its own process, so peak RSS is its own. The world
drifts gradually; cf is refit every iteration; the full pipeline folds in every
iteration and warm-retrains (one epoch) every 10. Above 20k users the metrics
that need the true top-k use a panel of 20k users (``[metrics] panel``); every
user is still served. After ``--warmup`` iterations (the full
pipeline's first fit happens there and is reported apart), ``--iterations`` are
timed: the stage columns are means per iteration (training amortised).

``--shards N`` runs each world split over N Dask actors on a local cluster of N
single-threaded workers (:mod:`sim.shards`); ``peak RSS`` is then the driver's plus
every worker's, and the stage columns are the slowest shard's.

``rank/mm`` is the ranking stage's time over a bare float32 matmul of the same
shape (active users × the recommender's embedding size × items, in the same
chunks) plus ``argpartition`` for the top k: how close ranking runs to the
machine's matrix-multiply limit.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

# Dask's worker processes re-import this file without its folder on sys.path: put it
# there for the one import; _harness takes it off again.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import peak_rss_mib, run_child  # noqa: E402

SIZES = {
    "small": (1_000, 1_000, 10),
    "medium": (10_000, 5_000, 20),
    "large": (100_000, 10_000, 32),
    "huge": (1_000_000, 10_000, 32),
}
RECOMMENDERS = {"small": ["popularity", "cf", "full"], "medium": ["popularity", "cf", "full"],
                "large": ["popularity", "cf", "full"], "huge": ["popularity", "cf"]}
STAGES = ["drift", "ranking", "choice", "metrics", "training"]


def scenario(size: str, iterations: int):
    from sim.scenario import Scenario

    users, items, dim = SIZES[size]
    panel = 20_000 if users > 20_000 else 0
    return Scenario.model_validate({
        "name": f"bench-{size}", "iterations": iterations, "k": 10,
        "world": {"dim": dim, "users": {"n": users}, "items": {"n": items}, "chunk_size": 1024},
        "drift": [{"type": "gradual", "sigma": 0.02}],
        "schedule": {"retrain_every": 1, "mode": "warm"},
        "recommenders": {"cf": {"retrain_every": 1, "dim": 32},
                         "full": {"strategy": "periodic_warm", "retrain_every": 10, "min_train_iterations": 2,
                                  "warm_epochs": 1}},
        "metrics": {"panel": panel},
    })


def bare_ranking(users: int, width: int, items: int, k: int, chunk: int) -> float:
    """Seconds for float32 (users × width) @ (width × items) in chunks, plus argpartition."""
    import numpy as np

    rng = np.random.default_rng(0)
    u = rng.standard_normal((min(users, chunk), width)).astype(np.float32)
    v = rng.standard_normal((width, items)).astype(np.float32)
    buf = np.empty((len(u), items), np.float32)
    np.matmul(u, v, out=buf)
    start = time.perf_counter()
    for lo in range(0, users, chunk):
        rows = buf[: min(chunk, users - lo)]
        np.matmul(u[: len(rows)], v, out=rows)
        np.argpartition(rows, items - k, axis=1)
    return time.perf_counter() - start


def measure(size: str, recommender: str, warmup: int, iterations: int, shards: int = 0) -> dict:
    if not shards:
        return _measure(size, recommender, warmup, iterations, None, 0)
    from sim.sweep import dask_client

    with dask_client(workers=shards) as client:
        out = _measure(size, recommender, warmup, iterations, client, shards)
        out["peak_rss_mib"] += sum(client.run(_worker_peak_rss_mib).values())
    return out


def _worker_peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(size: str, recommender: str, warmup: int, iterations: int, client, shards: int) -> dict:
    import numpy as np

    from recommender.registry import make_recommender
    from sim.random import RunSeeds
    from sim.world import World

    sc = scenario(size, warmup + iterations)
    t0 = time.perf_counter()
    rec = make_recommender(recommender, sc, RunSeeds.from_seed(0))
    if shards:
        from sim.shards import ShardedWorld

        world = ShardedWorld(sc, 0, rec, recommender, client=client, shards=shards)
    else:
        world = World(sc, 0, rec, recommender)
    build = time.perf_counter() - t0
    for _ in range(warmup):
        world.step()
    first_fit = world.timings.frame()
    first_fit = float(first_fit[first_fit.metric == "train_seconds"]["value"].max()) if len(first_fit) else 0.0
    t0 = time.perf_counter()
    for _ in range(iterations):
        world.step()
    per_iter = (time.perf_counter() - t0) / iterations
    tm = world.timings.frame()
    tm = tm[tm.iteration >= warmup]
    stages = {s: float(tm[tm.metric == f"stage_seconds[{s}]"]["value"].sum() / iterations) for s in STAGES}
    width = {"cf": sc.recommenders.cf.dim, "full": sc.recommenders.full.dim + 1}.get(recommender)
    users, items, _ = SIZES[size]
    bare = bare_ranking(users, width, items, sc.k, sc.world.chunk_size) if width else np.nan
    return {"size": size, "users": users, "items": items, "dim": SIZES[size][2], "recommender": recommender,
            "build_s": build, "first_fit_s": first_fit, "s_per_iter": per_iter, **{f"{s}_s": v for s, v in stages.items()},
            "bare_rank_s": bare, "rank_ratio": stages["ranking"] / bare if width else np.nan,
            "peak_rss_mib": peak_rss_mib()}


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=",".join(SIZES), help="comma-separated: " + ", ".join(SIZES))
    p.add_argument("--recommenders", default=None, help="comma-separated (default: per size, see the docstring)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--shards", type=int, default=0, help="split each world over N Dask actors (default: 0 = in process)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        size, rec = a.child.split(":")
        print(json.dumps(measure(size, rec, a.warmup, a.iterations, a.shards)))
        return
    head = (f"{'size':>6} {'users':>8} {'items':>6} {'d':>3} {'recomm.':>10} | {'s/iter':>7} | "
            + " ".join(f"{s:>8}" for s in STAGES) + f" | {'rank/mm':>7} | {'1st fit':>7} {'peak RSS':>9}")
    print(head)
    print("-" * len(head))
    for size in a.sizes.split(","):
        recs = a.recommenders.split(",") if a.recommenders else RECOMMENDERS[size]
        for rec in recs:
            r = run_child(__file__, [f"{size}:{rec}", "--warmup", str(a.warmup), "--iterations", str(a.iterations),
                                     "--shards", str(a.shards)])
            ratio = "–" if r["rank_ratio"] != r["rank_ratio"] else f"{r['rank_ratio']:.2f}"
            label = f"{rec}/{a.shards}sh" if a.shards else rec
            print(f"{size:>6} {r['users']:>8} {r['items']:>6} {r['dim']:>3} {label:>10} | {r['s_per_iter']:>7.3f} | "
                  + " ".join(f"{r[s + '_s']:>8.3f}" for s in STAGES)
                  + f" | {ratio:>7} | {r['first_fit_s']:>7.1f} {r['peak_rss_mib'] / 1024:>6.2f} GiB", flush=True)


if __name__ == "__main__":
    main()
