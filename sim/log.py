"""The interaction log: every slate shown, the position clicked, the rating given.

Written at step 4 of each iteration and read by recommenders (step 5) and metrics.
Stored as one block per iteration (users, slates, clicked position) — compact
(k int32 per impression) and cheap to append; :class:`Interactions` is the
columnar view recommenders receive. Blocks older than ``keep`` iterations can be
dropped so a long run's memory stays bounded by the window the recommenders use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LogBlock:
    """What happened in one iteration."""

    iteration: int
    users: np.ndarray  # int64 (m,)
    slates: np.ndarray  # int32 (m, k), −1 = blank
    position: np.ndarray  # int8 (m,), −1 = no click
    rating: np.ndarray  # float32 (m,), NaN = none
    organic: bool = False  # found by the user browsing, not shown by the recommender


@dataclass(frozen=True)
class Interactions:
    """A slice of the log as columns, one row per *shown* item (impression).

    ``clicked`` marks the impressions that were clicked. :meth:`clicks` gives only
    those rows — what implicit-feedback recommenders train on. ``organic`` rows are
    items users found by browsing on their own (position = rank in what they browsed).
    """

    iteration: np.ndarray  # int32
    user: np.ndarray  # int64
    item: np.ndarray  # int32
    position: np.ndarray  # int8, 0-based
    clicked: np.ndarray  # bool
    rating: np.ndarray  # float32
    organic: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.user)

    @classmethod
    def empty(cls) -> "Interactions":
        return cls(
            np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.int32),
            np.empty(0, np.int8), np.empty(0, bool), np.empty(0, np.float32), np.empty(0, bool),
        )

    @classmethod
    def from_blocks(cls, blocks: list[LogBlock]) -> "Interactions":
        if not blocks:
            return cls.empty()
        parts = []
        for b in blocks:
            m, k = b.slates.shape
            shown = b.slates >= 0
            rows, cols = np.nonzero(shown)
            clicked = cols == b.position[rows]
            rating = np.where(clicked, b.rating[rows], np.nan).astype(np.float32)
            parts.append(
                (np.full(rows.size, b.iteration, np.int32), b.users[rows], b.slates[rows, cols],
                 cols.astype(np.int8), clicked, rating, np.full(rows.size, b.organic))
            )
        return cls(*(np.concatenate(col) for col in zip(*parts)))

    @classmethod
    def concat(cls, parts: "list[Interactions]") -> "Interactions":
        """Rows of several slices, in order."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))

    def since(self, iteration: int) -> "Interactions":
        """Rows of iterations ``>= iteration``."""
        return self.select(self.iteration >= iteration)

    def clicks(self) -> "Interactions":
        return self.select(self.clicked)

    def select(self, mask: np.ndarray) -> "Interactions":
        return Interactions(*(getattr(self, f)[mask] for f in _FIELDS))

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({f: getattr(self, f) for f in _FIELDS})


_FIELDS = ("iteration", "user", "item", "position", "clicked", "rating", "organic")


class InteractionLog:
    """Append-only log; keeps the blocks of the last ``keep`` iterations (0 = all)."""

    def __init__(self, keep: int = 0):
        self.keep = keep
        self.blocks: list[LogBlock] = []
        self.n_clicks = 0
        self.n_impressions = 0

    def append(self, block: LogBlock) -> None:
        self.blocks.append(block)
        if block.organic:
            return
        self.n_clicks += int((block.position >= 0).sum())
        self.n_impressions += int((block.slates >= 0).sum())
        if self.keep:
            oldest = block.iteration - self.keep + 1
            while self.blocks and self.blocks[0].iteration < oldest:
                del self.blocks[0]

    def window(self, start: int = 0, stop: int | None = None) -> Interactions:
        """Interactions of iterations ``start <= t < stop`` still held."""
        return Interactions.from_blocks(
            [b for b in self.blocks if b.iteration >= start and (stop is None or b.iteration < stop)]
        )

    def last(self, n: int) -> Interactions:
        """Interactions of the last ``n`` iterations held (0 = everything held)."""
        if not n or not self.blocks:
            return Interactions.from_blocks(self.blocks)
        return self.window(self.blocks[-1].iteration - n + 1)

    # -- state -------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        out = {"counts": np.array([self.n_clicks, self.n_impressions], np.int64)}
        for i, b in enumerate(self.blocks):
            out[f"b{i}.meta"] = np.array([b.iteration, b.organic], np.int64)
            out[f"b{i}.users"], out[f"b{i}.slates"] = b.users, b.slates
            out[f"b{i}.position"], out[f"b{i}.rating"] = b.position, b.rating
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.n_clicks, self.n_impressions = (int(x) for x in state["counts"])
        self.blocks = []
        i = 0
        while f"b{i}.meta" in state:
            self.blocks.append(
                LogBlock(int(state[f"b{i}.meta"][0]), state[f"b{i}.users"], state[f"b{i}.slates"],
                         state[f"b{i}.position"], state[f"b{i}.rating"], bool(state[f"b{i}.meta"][1]))
            )
            i += 1
