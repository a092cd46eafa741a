"""Shipped scenarios: the TOML files in this folder, installed with the package.

Each file opens with a comment saying what it studies and what outcome to expect;
``recdrift list`` prints the ``description`` field of each.
"""

from __future__ import annotations

from pathlib import Path


def scenario_dir() -> Path:
    """The folder holding the shipped ``*.toml`` scenarios."""
    return Path(__file__).resolve().parent


#: sweep files that live beside the scenarios (named by the study they run), not scenarios
SWEEPS = ("model_size_sweep.toml",)


def shipped_scenarios() -> list[Path]:
    """Paths of every shipped scenario, sorted by name."""
    return sorted(p for p in scenario_dir().glob("*.toml") if p.name not in SWEEPS)
