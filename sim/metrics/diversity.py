"""Exposure diversity (spec §3): catalogue coverage per iteration and cumulative."""

from __future__ import annotations

import numpy as np


def coverage(slates: np.ndarray, available: np.ndarray) -> tuple[float, int]:
    """Share of the available catalogue shown to at least one user this iteration."""
    n = int(available.sum())
    if n == 0:
        return np.nan, 0
    shown = np.zeros(len(available), bool)
    shown[slates[slates >= 0]] = True
    return float((shown & available).sum() / n), n


class CumulativeCoverage:
    """Share of items available so far that have been shown at least once (never decreases
    while the catalogue is fixed)."""

    def __init__(self) -> None:
        self.seen = np.zeros(0, bool)
        self.ever_available = np.zeros(0, bool)

    def update(self, slates: np.ndarray, available: np.ndarray) -> tuple[float, int]:
        n = len(available)
        if n > len(self.seen):
            self.seen = np.concatenate([self.seen, np.zeros(n - len(self.seen), bool)])
            self.ever_available = np.concatenate([self.ever_available, np.zeros(n - len(self.ever_available), bool)])
        self.ever_available |= available
        self.seen[slates[slates >= 0]] = True
        total = int(self.ever_available.sum())
        return (float(self.seen.sum() / total), total) if total else (np.nan, 0)
