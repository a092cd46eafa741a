"""What one iteration of per-user work produced: slates, utilities, oracle, choices.

The seam between the two halves of :meth:`sim.world.World.step`: ``serve`` does the
work that is separable by user (drift, ranking, true utilities and the oracle,
choices, browsing, churn) and returns a :class:`Served`; ``account`` turns it into
the log, the metrics and the recommender's next update. In a sharded run
(:mod:`sim.shards`) each shard serves its own users and :func:`merge` puts the
parts back into the one order an unsharded world uses — ascending user id — so
the accounting, and hence every metric, is the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.drift import DriftEvent
from sim.log import LogBlock


@dataclass
class Served:
    """Per-user results of one iteration, rows in ascending user id.

    ``panel`` indexes rows of ``active`` in the metric panel (None: all rows); the
    oracle arrays hold exactly those rows. ``clicked_*`` are clicks on slates,
    ``browse_*`` organic clicks; ``browse`` is the organic log block (or None).
    """

    active: np.ndarray
    slates: np.ndarray
    mu: np.ndarray
    panel: np.ndarray | None
    oracle_items: np.ndarray
    mu_star: np.ndarray
    mean_mu: np.ndarray | None
    position: np.ndarray
    rating: np.ndarray
    clicked_users: np.ndarray
    clicked_items: np.ndarray
    browse: LogBlock | None
    browse_users: np.ndarray
    browse_items: np.ndarray
    new_events: list[DriftEvent]
    left: np.ndarray
    spent: dict[str, float] = field(default_factory=dict)


def _by_user(users: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(users, kind="stable")
    return [users[order], *(a[order] for a in arrays)]


def merge(parts: list[Served]) -> Served:
    """One :class:`Served` from the parts of disjoint user shards, in ascending user id.

    Events are matched by (process, kind, onset, end) — a shard none of whose users
    an event touched may not report it — and their users are merged; event ids are
    left to whoever records them. Stage seconds are the slowest shard's.
    """
    if len(parts) == 1:
        return parts[0]
    cat = np.concatenate
    active, slates, mu, position, rating = _by_user(
        cat([p.active for p in parts]), cat([p.slates for p in parts]), cat([p.mu for p in parts]),
        cat([p.position for p in parts]), cat([p.rating for p in parts]))
    if parts[0].panel is None:
        panel = None
        oracle_parts = [(p.active, p.oracle_items, p.mu_star, p.mean_mu) for p in parts]
    else:
        oracle_parts = [(p.active[p.panel], p.oracle_items, p.mu_star, p.mean_mu) for p in parts]
    with_mean = parts[0].mean_mu is not None
    panel_users, oracle_items, mu_star, *mean = _by_user(
        cat([o[0] for o in oracle_parts]), cat([o[1] for o in oracle_parts]), cat([o[2] for o in oracle_parts]),
        *([cat([o[3] for o in oracle_parts])] if with_mean else []))
    if parts[0].panel is not None:
        panel = np.searchsorted(active, panel_users)
    clicked_users, clicked_items = _by_user(cat([p.clicked_users for p in parts]), cat([p.clicked_items for p in parts]))
    browse_users, browse_items = _by_user(cat([p.browse_users for p in parts]), cat([p.browse_items for p in parts]))
    blocks = [p.browse for p in parts if p.browse is not None]
    browse = None
    if blocks:
        users, slates_b, pos_b, rating_b = _by_user(
            cat([b.users for b in blocks]), cat([b.slates for b in blocks]), cat([b.position for b in blocks]),
            cat([b.rating for b in blocks]))
        browse = LogBlock(blocks[0].iteration, users, slates_b, pos_b, rating_b, organic=True)
    events: dict[tuple, list[np.ndarray]] = {}
    for p in parts:
        for e in p.new_events:
            events.setdefault((e.process, e.kind, e.onset, e.end), []).append(e.users)
    new_events = [DriftEvent(-1, kind, onset, end, np.sort(cat(users)), process)
                  for (process, kind, onset, end), users in sorted(events.items(), key=lambda kv: kv[0][0])]
    spent: dict[str, float] = {}
    for p in parts:
        for stage, seconds in p.spent.items():
            spent[stage] = max(spent.get(stage, 0.0), seconds)
    return Served(active, slates, mu, panel, oracle_items, mu_star, mean[0] if with_mean else None, position, rating,
                  clicked_users, clicked_items, browse, browse_users, browse_items, new_events,
                  np.sort(cat([p.left for p in parts])), spent)
