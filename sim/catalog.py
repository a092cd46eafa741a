"""The item catalogue: true latent vectors, quality, categories, arrivals, expiry.

Part of the world (scenario → **world** → recommender). Arrays are preallocated
for every item the run will ever create (initial items plus arrivals), so item ids
are stable row indices. ``vectors`` and ``quality`` are hidden truth that only the
world, the oracle and the metrics read; recommenders see :class:`ItemInfo`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.random import KeyedStream
from sim.scenario import ItemsSpec

NEVER = np.iinfo(np.int32).max


def category_centres(n_categories: int, dim: int, stream: KeyedStream) -> np.ndarray:
    """Unit vectors around which items (and users' initial interests) cluster."""
    z = stream.normal(np.arange(n_categories), tick=0, n=dim, salt=1)
    return (z / np.linalg.norm(z, axis=1, keepdims=True)).astype(np.float32)


def clustered_unit_vectors(
    centres: np.ndarray, labels: np.ndarray, spread: float, noise: np.ndarray
) -> np.ndarray:
    """normalise(centre + spread · noise/√d): points scattered around their centre."""
    dim = centres.shape[1]
    v = centres[labels] + spread * noise / np.sqrt(dim)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class ItemInfo:
    """What a recommender may know about items: ids, availability, observables."""

    n_items: int
    available: np.ndarray  # bool (n_items,): arrived and not expired at the current iteration
    category: np.ndarray  # int32 (n_items,)
    features: np.ndarray  # float32 (n_items, feature_dim), may have zero columns


class Catalog:
    """All items of a run, as arrays indexed by item id."""

    def __init__(self, spec: ItemsSpec, dim: int, iterations: int, centres: np.ndarray, stream: KeyedStream):
        self.spec, self.dim = spec, dim
        self.capacity = spec.n + spec.arrivals_per_iteration * iterations
        self.centres = centres
        self._stream = stream
        cap = self.capacity
        self.vectors = np.zeros((cap, dim), np.float32)
        self.quality = np.zeros(cap, np.float32)
        self.category = np.zeros(cap, np.int32)
        self.features = np.zeros((cap, spec.feature_dim), np.float32)
        self.born = np.full(cap, NEVER, np.int32)
        self.expires = np.full(cap, NEVER, np.int32)
        self._projection = (
            stream.normal(np.arange(dim), tick=0, n=spec.feature_dim, salt=2).astype(np.float32) / np.sqrt(dim)
        )
        self.n = 0
        self._create(spec.n, iteration=0, initial=True)

    def _create(self, count: int, iteration: int, initial: bool = False) -> np.ndarray:
        """Draw ``count`` new items; each item's draws are keyed by its id."""
        ids = np.arange(self.n, self.n + count)
        if count == 0:
            return ids
        s, spec = self._stream, self.spec
        u = s.uniform(ids, tick=0, n=2, salt=3)
        labels = np.minimum((u[:, 0] * spec.n_categories).astype(np.int32), spec.n_categories - 1)
        noise = s.normal(ids, tick=0, n=self.dim, salt=4)
        self.vectors[ids] = clustered_unit_vectors(self.centres, labels, spec.category_spread, noise)
        self.category[ids] = labels
        self.quality[ids] = spec.quality_sd * s.normal(ids, tick=0, n=1, salt=5)[:, 0]
        if spec.feature_dim:
            eps = s.normal(ids, tick=0, n=spec.feature_dim, salt=6)
            self.features[ids] = self.vectors[ids] @ self._projection + spec.feature_noise * eps
        if initial and spec.lifetime:
            # spread initial births over one lifetime so items do not all expire at once
            born = -(u[:, 1] * spec.lifetime).astype(np.int32)
        else:
            born = np.full(count, iteration, np.int32)
        self.born[ids] = born
        if spec.lifetime:
            self.expires[ids] = born + spec.lifetime
        self.n += count
        return ids

    def adopt(self, calibration) -> np.ndarray:
        """Take the items of a calibrated world (vectors, quality, categories); returns
        its category centres."""
        n = len(calibration.item_vectors)
        self.vectors[:n] = calibration.item_vectors
        self.quality[:n] = calibration.quality
        self.category[:n] = calibration.category
        self.centres = calibration.centres
        if self.spec.feature_dim:
            eps = self._stream.normal(np.arange(n), tick=0, n=self.spec.feature_dim, salt=6)
            self.features[:n] = self.vectors[:n] @ self._projection + self.spec.feature_noise * eps
        return calibration.centres

    def arrive(self, iteration: int) -> np.ndarray:
        """Add this iteration's new items; returns their ids."""
        return self._create(self.spec.arrivals_per_iteration, iteration)

    def available(self, iteration: int) -> np.ndarray:
        """bool (n,): items that can be shown at ``iteration``."""
        b, e = self.born[: self.n], self.expires[: self.n]
        return (b <= iteration) & (iteration < e)

    def info(self, iteration: int) -> ItemInfo:
        return ItemInfo(
            n_items=self.n,
            available=self.available(iteration),
            category=self.category[: self.n],
            features=self.features[: self.n],
        )

    # -- state -------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        return {"n": np.asarray(self.n)}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        # every item's values are a function of its id, so recreating up to n is exact
        target = int(state["n"])
        while self.n < target:
            self._create(min(self.spec.arrivals_per_iteration, target - self.n), int(self.born[self.n - 1]) + 1)
