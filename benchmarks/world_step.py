"""Seconds per iteration and peak memory of the world itself (popularity recommender).

Prints two rows per size — without any metric family, and with the selected ones
(default: all) — each split into the recommender, the oracle pass (true top-k for
every active user, needed by the accuracy, utility and adaptation families) and
the rest (drift, choice, browsing, log, the other metrics), then the metric
suite's share of the iteration time. Each row runs in its own process so peak RSS
is that configuration's own.

    python benchmarks/world_step.py                 # 10k and 100k users
    python benchmarks/world_step.py --users 10000 --iterations 5
"""

from __future__ import annotations

import json
import time

from _harness import peak_rss_mib, run_child, size_parser  # noqa: E402 - also keeps this folder off sys.path

SIZES = [10_000, 100_000]
ALL = ["accuracy", "utility", "diversity", "homogenisation", "adaptation"]


def measure(users: int, items: int, dim: int, k: int, iterations: int, families: list[str]) -> dict:
    from recommender.baselines import PopularityRecommender
    from sim.scenario import Scenario
    from sim.world import World

    sc = Scenario.model_validate({
        "name": "bench", "iterations": iterations + 2, "k": k,
        "world": {"dim": dim, "users": {"n": users}, "items": {"n": items}, "chunk_size": 512},
        "drift": [{"type": "gradual", "sigma": 0.02}],
        "metrics": {"families": families},
    })
    t0 = time.perf_counter()
    world = World(sc, 0, PopularityRecommender(10, 0), "popularity")
    build = time.perf_counter() - t0
    spent = {"recommend": 0.0, "oracle": 0.0}

    def timed(key, fn):
        def wrapper(*a, **kw):
            s = time.perf_counter()
            out = fn(*a, **kw)
            spent[key] += time.perf_counter() - s
            return out
        return wrapper

    world.recommender.recommend = timed("recommend", world.recommender.recommend)
    world.oracle = timed("oracle", world.oracle)
    world.step(); world.step()  # warm-up: first calls allocate
    spent = {k: 0.0 for k in spent}
    t0 = time.perf_counter()
    for _ in range(iterations):
        world.step()
    total = (time.perf_counter() - t0) / iterations
    rec, orc = spent["recommend"] / iterations, spent["oracle"] / iterations
    return {
        "users": users, "items": items, "dim": dim, "k": k,
        "build_s": build, "step_s": total, "recommend_s": rec, "oracle_s": orc,
        "world_s": total - rec - orc,
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    p = size_parser(__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--families", default=",".join(ALL), help="metric families, comma-separated ('' for none)")
    a = p.parse_args()
    fams = [f for f in a.families.split(",") if f]
    if a.child:
        print(json.dumps(measure(a.users[0], a.items, a.dim, a.k, a.iterations, fams)))
        return
    print(f"{'users':>8} {'items':>6} {'d':>3} {'k':>3} {'metrics':>8} | {'s/iter':>7} {'world':>7} {'oracle':>7} "
          f"{'recomm.':>7} | {'build s':>7} {'peak RSS':>9}")
    for users in a.users or SIZES:
        steps = {}
        for label, chosen in (("none", []), ("selected", fams)):
            r = run_child(__file__, ["--users", str(users), "--items", str(a.items), "--dim", str(a.dim), "--k", str(a.k),
                                     "--iterations", str(a.iterations), "--families", ",".join(chosen)])
            steps[label] = r["step_s"]
            print(f"{r['users']:>8} {r['items']:>6} {r['dim']:>3} {r['k']:>3} {label:>8} | {r['step_s']:>7.3f} "
                  f"{r['world_s']:>7.3f} {r['oracle_s']:>7.3f} {r['recommend_s']:>7.3f} | {r['build_s']:>7.2f} "
                  f"{r['peak_rss_mib']:>7.0f} MiB", flush=True)
        share = (steps["selected"] - steps["none"]) / steps["selected"]
        print(f"{'':>8} metric suite ({a.families or 'none'}): {share:.0%} of the iteration time at {users} users", flush=True)


if __name__ == "__main__":
    main()
