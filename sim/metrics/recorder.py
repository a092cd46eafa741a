"""Collects tidy metric rows (iteration, metric, value, n_defined) during a run.

Why not Mesa's ``DataCollector`` for these: its model reporters store one dict per
step without a place for ``n_defined``, and the metric set varies by iteration
(events, retrains). The world still uses a ``DataCollector`` for its own
model-level scalars (present users, available items, clicks).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


class MetricRecorder:
    """Append-only store of metric values for one (recommender, seed) run."""

    def __init__(self) -> None:
        self._it: list[int] = []
        self._name: list[str] = []
        self._value: list[float] = []
        self._n: list[int] = []

    def add(self, iteration: int, metric: str, value: float, n_defined: int) -> None:
        value = float(value)
        self._it.append(iteration)
        self._name.append(metric)
        self._value.append(value)
        self._n.append(int(n_defined) if not math.isnan(value) else 0)

    def update(self, iteration: int, values: dict[str, tuple[float, int]]) -> None:
        for metric, (value, n) in values.items():
            self.add(iteration, metric, value, n)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "iteration": np.asarray(self._it, np.int32),
                "metric": pd.Series(self._name, dtype="string"),
                "value": np.asarray(self._value, np.float64),
                "n_defined": np.asarray(self._n, np.int64),
            }
        )

    def latest(self, metric: str) -> float:
        for name, value in zip(reversed(self._name), reversed(self._value)):
            if name == metric:
                return value
        return math.nan
