"""Fit, warm-update and ranking time of the full pipeline (and PureSVD) per size.

For each size a synthetic click log of ``--history`` iterations is made from a real
world (the popularity recommender serving, plus organic browsing), then:
fit = train from scratch on it; warm = fine-tune on one more iteration (the
pipeline's periodic_warm update); fold-in = refresh every active user's embedding;
rank = cosine top-k for every user. Each size runs in its own process.

    python benchmarks/recommender.py                      # 10k and 100k users
    python benchmarks/recommender.py --users 10000 --epochs 5
"""

from __future__ import annotations

import json
import time

from _harness import peak_rss_mib, run_child, size_parser  # noqa: E402 - also keeps this folder off sys.path


def measure(users: int, items: int, dim: int, k: int, history: int, epochs: int) -> dict:
    import numpy as np

    from recommender.baselines import PopularityRecommender
    from recommender.cf import PureSVD
    from recommender.encoder import EncoderConfig
    from recommender.pipeline import FullPipeline, PipelineConfig
    from sim.scenario import Scenario
    from sim.world import World

    sc = Scenario.model_validate({
        "name": "bench", "iterations": history + 2, "k": k,
        "world": {"dim": dim, "users": {"n": users}, "items": {"n": items}, "chunk_size": 512},
        "metrics": {"families": []},  # the benchmark needs clicks, not metrics
    })
    world = World(sc, 0, PopularityRecommender(10, 0), "popularity")
    world.log.keep = 0
    for _ in range(history + 1):
        world.step()
    past = world.log.window(0, history)
    last = world.log.window(history, history + 1)
    info = world.catalog.info(history + 1)
    exclude = world.exclusions(np.arange(users), history + 1)

    cfg = PipelineConfig(encoder=EncoderConfig(dim=dim, epochs=epochs), min_train_iterations=1, retrain_every=1)
    rec = FullPipeline(cfg, random_state=0)
    t0 = time.perf_counter(); rec.fit(past, info); fit = time.perf_counter() - t0
    t0 = time.perf_counter(); rec.partial_fit(last, info); warm = time.perf_counter() - t0
    clicked = np.unique(last.user[last.clicked])
    t0 = time.perf_counter(); rec._fold_in(clicked); fold = time.perf_counter() - t0
    ids = np.arange(users)
    t0 = time.perf_counter(); rec.recommend(ids, k, exclude=exclude); rank = time.perf_counter() - t0

    cf = PureSVD(dim=dim, random_state=0)
    t0 = time.perf_counter(); cf.fit(past, info); cf_fit = time.perf_counter() - t0
    t0 = time.perf_counter(); cf.recommend(ids, k, exclude=exclude); cf_rank = time.perf_counter() - t0
    return {"users": users, "items": items, "dim": dim, "epochs": rec.model_.epochs_trained - cfg.encoder.warm_epochs,
            "clicks": int(past.clicked.sum()), "fit_s": fit, "warm_s": warm, "fold_in_s": fold, "fold_in_users": len(clicked),
            "rank_s": rank, "cf_fit_s": cf_fit, "cf_rank_s": cf_rank,
            "peak_rss_mib": peak_rss_mib()}


def main() -> None:
    p = size_parser(__doc__.splitlines()[0])
    p.add_argument("--history", type=int, default=10)
    p.add_argument("--epochs", type=int, default=15)
    a = p.parse_args()
    if a.child:
        print(json.dumps(measure(a.users[0], a.items, a.dim, a.k, a.history, a.epochs)))
        return
    print(f"{'users':>7} {'items':>6} {'d':>3} {'clicks':>8} {'ep':>3} | {'fit s':>7} {'warm s':>7} {'fold-in s':>9} {'rank s':>7} | "
          f"{'cf fit':>7} {'cf rank':>7} | {'peak RSS':>9}")
    for users in a.users or [10_000, 100_000]:
        r = run_child(__file__, ["--users", str(users), "--items", str(a.items), "--dim", str(a.dim), "--k", str(a.k),
                                 "--history", str(a.history), "--epochs", str(a.epochs)])
        print(f"{r['users']:>7} {r['items']:>6} {r['dim']:>3} {r['clicks']:>8} {r['epochs']:>3} | {r['fit_s']:>7.2f} {r['warm_s']:>7.2f} "
              f"{r['fold_in_s']:>9.2f} {r['rank_s']:>7.2f} | {r['cf_fit_s']:>7.2f} {r['cf_rank_s']:>7.2f} | {r['peak_rss_mib']:>6.0f} MiB",
              flush=True)


if __name__ == "__main__":
    main()
