"""Shared fixtures: tiny worlds and the hypothesis profile used in CI."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from sim.scenario import Scenario, load_scenario

settings.register_profile(
    "ci", deadline=None, derandomize=True, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def tiny(name: str = "stable", *, users: int = 120, items: int = 150, iterations: int = 12, **changes) -> Scenario:
    """A shipped scenario shrunk to test size, with top-level fields replaced."""
    sc = load_scenario(name).small(users=users, items=items, iterations=iterations)
    return sc.replace(**changes) if changes else sc


@pytest.fixture
def tiny_stable() -> Scenario:
    return tiny("stable")


def needs_fetched_data(path) -> str | None:
    """Why a shipped scenario cannot run here (its dataset is not fetched), else None."""
    from pathlib import Path

    from sim.datasets import DATASETS, dataset_path

    text = Path(path).read_text()
    for name in DATASETS:
        if f'source = "{name}"' in text and not dataset_path(name).exists():
            return f"{Path(path).name} needs {name}: run `make data`"
    return None
