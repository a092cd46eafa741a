"""Names on the command line → recommender instances configured from the scenario.

Each recommender gets its own seed, derived from the run's ``recommender`` stream
and a hash of its *name* (not its position in the list), so adding a recommender
to a run does not change the others' results.
"""

from __future__ import annotations

import importlib
import zlib
from typing import Callable

from recommender.baselines import OracleRecommender, PopularityRecommender, RandomRecommender
from sim.random import RunSeeds
from sim.scenario import Scenario

Factory = Callable[[Scenario, int], object]

_FACTORIES: dict[str, tuple[Factory, str]] = {
    "random": (lambda sc, rs: RandomRecommender(random_state=rs), "k distinct eligible items at random (the floor)"),
    "popularity": (
        lambda sc, rs: PopularityRecommender(window=sc.recommenders.popularity.window, random_state=rs),
        "most clicked items over a recent window",
    ),
    "oracle": (lambda sc, rs: OracleRecommender(random_state=rs), "true top-k by expected utility (the ceiling)"),
}



def pipeline_config(scenario: Scenario, strategy: str | None = None):
    """The full pipeline's configuration from the scenario's ``[recommenders.full]``."""
    from recommender.encoder import EncoderConfig
    from recommender.pipeline import PipelineConfig
    from recommender.preprocessing import PreprocessConfig

    f = scenario.recommenders.full
    return PipelineConfig(
        preprocess=PreprocessConfig(window=f.window, half_life=f.half_life, skipped_as_negative=f.skipped_as_negative),
        encoder=EncoderConfig(kind=f.encoder, dim=f.dim, hidden=tuple(f.hidden), dropout=f.dropout, epochs=f.epochs,
                              warm_epochs=f.warm_epochs, batch_size=f.batch_size, learning_rate=f.learning_rate,
                              layers=f.layers, heads=f.heads, sequence_length=f.sequence_length,
                              time_feature=f.time_feature, negatives=f.negatives),
        n_patterns=f.n_patterns, blend_history=f.blend_history, diversity_share=f.diversity_share,
        strategy=strategy or f.strategy, retrain_every=f.retrain_every, drift_threshold=f.drift_threshold,
        min_train_iterations=f.min_train_iterations, recency_prior=f.recency_prior, recency_window=f.recency_window,
    )


def _full(strategy: str | None):
    def make(scenario: Scenario, rs: int):
        from recommender.pipeline import FullPipeline

        return FullPipeline(pipeline_config(scenario, strategy), random_state=rs)

    return make


def _cf(scenario: Scenario, rs: int):
    from recommender.cf import PureSVD
    from recommender.preprocessing import PreprocessConfig

    c = scenario.recommenders.cf
    return PureSVD(dim=c.dim, retrain_every=c.retrain_every,
                   preprocess=PreprocessConfig(window=c.window, half_life=c.half_life), random_state=rs)


_FACTORIES.update({
    "full": (_full(None), "Keras autoencoder + KMeans patterns + cosine ranking, retrained per scenario"),
    "full-never": (_full("never"), "the full pipeline trained once, then fold-in only"),
    "full-periodic": (_full("periodic_full"), "the full pipeline retrained from scratch every R iterations"),
    "full-warm": (_full("periodic_warm"), "the full pipeline fine-tuned every R iterations"),
    "full-drift": (_full("drift_triggered"), "the full pipeline fine-tuned when drift is detected"),
    "cf": (_cf, "PureSVD collaborative filtering on the decayed click matrix"),
})


def register(name: str, factory: Factory, description: str) -> None:
    """Make a recommender available by name to the runner and the CLI."""
    _FACTORIES[name] = (factory, description)


def available() -> dict[str, str]:
    """Registered names with their one-line descriptions."""
    return {name: desc for name, (_, desc) in _FACTORIES.items()}


def recommender_seed(seeds: RunSeeds, name: str) -> int:
    return seeds.int_seed("recommender", salt=zlib.crc32(name.encode()) % 1024)


def resolve(name: str) -> Factory:
    """The factory of a registered name, or of ``package.module:factory`` — a callable
    ``(scenario, random_state) -> recommender`` importable where the run happens (so
    a plug-in works on Dask workers without registering it there)."""
    if name in _FACTORIES:
        return _FACTORIES[name][0]
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise KeyError(f"recommender {name!r}: cannot import {attr!r} from {module!r} ({exc})") from None
        if not callable(factory):
            raise KeyError(f"recommender {name!r}: {attr!r} is not callable")
        return factory
    raise KeyError(f"unknown recommender {name!r}; available: {', '.join(_FACTORIES)}, or module:factory")


def make_recommender(name: str, scenario: Scenario, seeds: RunSeeds):
    return resolve(name)(scenario, recommender_seed(seeds, name))
