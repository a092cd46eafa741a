"""Recommenders for the sweep tests, importable by name (``sweep_plugins:exploding``)
on Dask workers."""

from recommender.baselines import RandomRecommender


class ExplodingRecommender(RandomRecommender):
    """Random, until its third slate request: then it raises, like a buggy model."""

    calls = 0

    def recommend(self, user_ids, k, *, exclude=None):
        self.calls += 1
        if self.calls >= 3:
            raise RuntimeError("boom: the model exploded at its third call")
        return super().recommend(user_ids, k, exclude=exclude)


def exploding(scenario, random_state):
    return ExplodingRecommender(random_state=random_state)
