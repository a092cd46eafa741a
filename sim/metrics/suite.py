"""The per-iteration metric suite: what the world calls at steps 3 and 4.

Holds the state some metrics need across iterations (cumulative coverage and
regret, clicks before now for novelty, the fixed user pairs of the seed for
homogenisation (the consumed sets themselves are the world's), and the event-aligned utility curves for adaptation) and
writes tidy rows through a :class:`MetricRecorder`. Reads only the log and the
true state handed to it — never the recommender.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import scipy.sparse as sp

from sim.metrics.accuracy import click_metrics, ndcg_graded, topn_metrics
from sim.metrics.adaptation import H_MAX, W_PRE
from sim.metrics.common import mean_defined
from sim.metrics.diversity import (CumulativeCoverage, all_pairs, cat_entropy, coverage, entropy_bits, exposure,
                                   gini, ild_cat, ild_emb, jaccard_pairs, novelty)
from sim.metrics.recorder import MetricRecorder
from sim.metrics.utility import utility_metrics

CURVE_COLUMNS = ["event_id", "kind", "onset", "end", "tau", "eu_sum", "eu_oracle_sum", "n_users"]


class MetricSuite:
    """Computes the scenario's metric families for one (recommender, seed) world."""

    def __init__(self, scenario, n_items: int, categories: np.ndarray, n_categories: int,
                 pair_rng: np.random.Generator):
        spec = scenario.metrics
        self.k = scenario.k
        self.top_n = spec.top_n or scenario.k
        self.families = set(spec.families)
        self.recorder = MetricRecorder()
        self.categories, self.n_categories = categories, n_categories
        self._coverage = CumulativeCoverage()
        self.warmup = spec.warmup
        # per item, slate impressions summed over the iterations after warm-up (the
        # exposure Lorenz curve of a report), and whether it was ever available then
        self.exposure_total = np.zeros(n_items, np.float64)
        self.exposure_available = np.zeros(n_items, bool)
        self.cum_regret = 0.0
        self.prior_clicks = np.zeros(n_items, np.float64)
        initial = scenario.world.users.n
        # all pairs (None) up to pair_limit users, else a fixed sample drawn once per seed:
        # the same pairs for every recommender of the seed, as Δhom requires
        self.pairs = None if initial <= spec.pair_limit else all_pairs(
            initial, limit=spec.pair_limit, sample=spec.pair_sample, rng=pair_rng)
        self._n_seen = 0
        self._buffer: deque = deque(maxlen=W_PRE)
        self._open: list[tuple] = []
        self.curves: list[tuple] = []

    @property
    def needs_oracle(self) -> bool:
        """Whether any selected family needs the oracle slate (the costliest pass)."""
        return bool(self.families & {"accuracy", "utility", "adaptation"})

    @property
    def oracle_depth(self) -> int:
        """How many oracle items the world must find per user (k, or N if larger)."""
        return max(self.k, self.top_n) if "accuracy" in self.families else self.k

    # ------------------------------------------------------------------ step 3
    def slates(self, t: int, users: np.ndarray, slates: np.ndarray, mu: np.ndarray, oracle_items: np.ndarray,
               mu_oracle: np.ndarray, mean_mu: np.ndarray | None, weights: np.ndarray, available: np.ndarray,
               item_vectors: np.ndarray, new_events, panel: np.ndarray | None = None) -> None:
        """Slate and ground-truth metrics, before any feedback.

        With ``panel`` (rows of ``users``), the metrics that compare with the oracle
        use those rows only, and ``oracle_items``, ``mu_oracle``, ``mean_mu`` hold
        exactly those rows; the others use every served user.
        """
        rec, f, k = self.recorder, self.families, self.k
        all_slates, all_users = slates, users
        if panel is not None:
            users, slates, mu = users[panel], slates[panel], mu[panel]
        mu_star = mu_oracle[:, :k]
        eu, eu_star = mu @ weights, mu_star @ weights
        if "utility" in f or "adaptation" in f:
            values = utility_metrics(mu, mu_star, weights, mean_mu)
            if "utility" in f:
                rec.update(t, values)
                if len(users):
                    self.cum_regret += float((eu_star - eu).mean())
                rec.add(t, "cum_regret", self.cum_regret, len(users))
            else:
                rec.add(t, "eur", *values["eur"])
        if "accuracy" in f:
            rec.update(t, topn_metrics(slates, oracle_items[:, : self.top_n], k))
            rec.add(t, f"ndcg@{k}[util]", *mean_defined(ndcg_graded(mu, mu_star)))
        if "diversity" in f:
            rec.add(t, "coverage", *coverage(all_slates, available))
            rec.add(t, "coverage_cum", *self._coverage.update(all_slates, available))
            rec.add(t, "ild_emb", *mean_defined(ild_emb(all_slates, item_vectors)))
            rec.add(t, "ild_cat", *mean_defined(ild_cat(all_slates, self.categories)))
            rec.add(t, "cat_entropy", *mean_defined(cat_entropy(all_slates, self.categories, self.n_categories)))
            x_all = exposure(all_slates, len(available))
            if t >= self.warmup:
                self._accumulate_exposure(x_all, available)
            x = x_all[available]
            n_avail = int(available.sum())
            rec.add(t, "gini_exposure", gini(x), n_avail if x.sum() else 0)
            h = entropy_bits(x)
            rec.add(t, "entropy_exposure", h, n_avail if x.sum() else 0)
            rec.add(t, "entropy_exposure_norm", h / np.log2(n_avail) if n_avail > 1 else np.nan, n_avail)
            counts = self.prior_clicks[: len(available)]
            rec.add(t, "novelty", *mean_defined(novelty(all_slates, counts)))
        if "homogenisation" in f:
            if self.pairs is None:  # all pairs of the users served now
                rec.add(t, "hom_rec", *jaccard_pairs(all_slates, None))
            else:
                rec.add(t, "hom_rec", *jaccard_pairs(all_slates, self._pairs_among(self._rows_of(all_users))))
        if "adaptation" in f:
            self._curves(t, users, eu, eu_star, new_events)
        rec.add(t, "active_users", len(all_users), len(all_users))

    # ------------------------------------------------------------------ step 4
    def clicks(self, t: int, users: np.ndarray, slates: np.ndarray, position: np.ndarray,
               consumed_items: np.ndarray, consumed: sp.csr_matrix) -> None:
        """Click metrics, novelty's click counts, and homogenisation of what was consumed.

        ``consumed_items`` are this iteration's clicks (recommended and organic);
        ``consumed`` is the world's users × items matrix of everything consumed so far.
        """
        if "accuracy" in self.families or "utility" in self.families:
            self.recorder.update(t, click_metrics(slates, position))
        if consumed_items.size:
            n = max(len(self.prior_clicks), int(consumed_items.max()) + 1)
            if n > len(self.prior_clicks):
                self.prior_clicks = np.concatenate([self.prior_clicks, np.zeros(n - len(self.prior_clicks))])
            np.add.at(self.prior_clicks, consumed_items, 1.0)
        if "homogenisation" in self.families:
            if self.pairs is None:  # all pairs of the users who have arrived so far
                n = int(users.max(initial=-1)) + 1 if users.size else 0
                n = max(n, self._n_seen)
                self._n_seen = n
                self.recorder.add(t, "hom_int", *jaccard_pairs(consumed[:n], None))
            else:
                present = self._pairs_among(np.arange(consumed.shape[0]))
                self.recorder.add(t, "hom_int", *jaccard_pairs(consumed, present))

    # ------------------------------------------------------------------ helpers
    def _accumulate_exposure(self, x: np.ndarray, available: np.ndarray) -> None:
        n = len(x)
        if n > len(self.exposure_total):
            grow = n - len(self.exposure_total)
            self.exposure_total = np.concatenate([self.exposure_total, np.zeros(grow)])
            self.exposure_available = np.concatenate([self.exposure_available, np.zeros(grow, bool)])
        self.exposure_total[:n] += x
        self.exposure_available[:n] |= available

    def _rows_of(self, users: np.ndarray) -> np.ndarray:
        """Map user id → row in this iteration's arrays (−1: not active)."""
        size = max(int(self.pairs.max(initial=0)) + 1, int(users.max(initial=-1)) + 1)  # pairs is sampled here
        rows = np.full(size, -1, np.int64)
        rows[users] = np.arange(len(users))
        return rows

    def _pairs_among(self, rows: np.ndarray) -> np.ndarray:
        """The seed's fixed pairs, restricted to users with a row, as row indices."""
        if len(rows) == 0 or len(self.pairs) == 0:
            return np.empty((0, 2), np.int64)
        p = self.pairs[(self.pairs < len(rows)).all(axis=1)]
        r = rows[p]
        return r[(r >= 0).all(axis=1)]

    def _curves(self, t, users, eu, eu_star, new_events) -> None:
        """Event-aligned sums of EU and EU* over each event's affected users (spec §4.2)."""
        for e in new_events:
            mask = np.zeros(max(int(e.users.max(initial=-1)) + 1, 1), bool)
            mask[e.users] = True
            self._open.append((e, mask))
            for t_prev, u_prev, eu_prev, eus_prev in self._buffer:
                self._add_row(e, mask, t_prev - e.onset, u_prev, eu_prev, eus_prev)
        self._buffer.append((t, users, eu, eu_star))
        still_open = []
        for e, mask in self._open:
            tau = t - e.onset
            if tau < H_MAX:
                self._add_row(e, mask, tau, users, eu, eu_star)
                still_open.append((e, mask))
        self._open = still_open

    def _add_row(self, e, mask, tau, users, eu, eu_star) -> None:
        inside = users < len(mask)
        sel = np.zeros(len(users), bool)
        sel[inside] = mask[users[inside]]
        self.curves.append((e.event_id, e.kind, e.onset, e.end, tau, float(eu[sel].sum()), float(eu_star[sel].sum()),
                            int(sel.sum())))

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, np.ndarray]:
        """Everything needed to continue exactly (the recorder's rows travel separately)."""
        out = {
            "cum_regret": np.asarray(self.cum_regret), "prior_clicks": self.prior_clicks,
            "n_seen": np.asarray(self._n_seen),
            "coverage_seen": self._coverage.seen, "coverage_ever": self._coverage.ever_available,
            "exposure_total": self.exposure_total, "exposure_available": self.exposure_available,
            "open_events": np.array([e.event_id for e, _ in self._open], np.int64),
        }
        for i, (t, users, eu, eus) in enumerate(self._buffer):
            out[f"buffer{i}.t"], out[f"buffer{i}.users"] = np.asarray(t), users
            out[f"buffer{i}.eu"], out[f"buffer{i}.eus"] = eu, eus
        if self.curves:
            cols = list(zip(*self.curves))
            for name, values in zip(CURVE_COLUMNS, cols):
                out[f"curves.{name}"] = np.asarray(values) if name != "kind" else np.asarray(values, dtype="U16")
        return out

    def load_state(self, state: dict[str, np.ndarray], events) -> None:
        self.cum_regret = float(state["cum_regret"])
        self.prior_clicks = state["prior_clicks"].copy()
        self._n_seen = int(state["n_seen"])
        self._coverage.seen = state["coverage_seen"].copy()
        self._coverage.ever_available = state["coverage_ever"].copy()
        self.exposure_total = state["exposure_total"].copy()
        self.exposure_available = state["exposure_available"].copy()
        self._buffer.clear()
        i = 0
        while f"buffer{i}.t" in state:
            self._buffer.append((int(state[f"buffer{i}.t"]), state[f"buffer{i}.users"], state[f"buffer{i}.eu"],
                                 state[f"buffer{i}.eus"]))
            i += 1
        by_id = {e.event_id: e for e in events}
        self._open = []
        for event_id in state["open_events"]:
            e = by_id[int(event_id)]
            mask = np.zeros(max(int(e.users.max(initial=-1)) + 1, 1), bool)
            mask[e.users] = True
            self._open.append((e, mask))
        self.curves = []
        if "curves.event_id" in state:
            cols = [state[f"curves.{name}"].tolist() for name in CURVE_COLUMNS]
            self.curves = [tuple(row) for row in zip(*cols)]
