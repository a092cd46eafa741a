"""From event-aligned curves to the adaptation table (spec §4.2–4.3, §5.1).

Input: ``event_curves`` rows (recommender, seed, event, τ, Σ EU, Σ EU*, affected
users). Output: ``events.parquet`` — per recommender × event, one row per seed and
one aggregate row (``seed = -1``, ``aggregate = True``) with TTR95 on the seed-mean
curve, its percentile-bootstrap interval over seeds (only with ≥ 10 seeds), the
censored share, b̄, trough, drop depth, final level, post-drift loss, post-drift
cumulative regret and half-life.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.metrics.adaptation import H_MAX, W_PRE, bootstrap_ttr, summarise_curve, ttr_of_mean
from sim.metrics.stats import MIN_SEEDS_FOR_CLAIMS

MIN_PRE = 5

EVENT_COLUMNS = ["scenario", "recommender", "event_id", "kind", "onset", "seed", "aggregate", "ttr95", "censored",
                 "ci_low", "ci_high", "censored_share", "b", "q_min", "D", "final", "pdl_H", "cr_H", "half_life",
                 "deterioration", "baseline_not_stationary", "W", "H", "n_seeds", "skipped"]


def event_windows(onsets: list[int], horizon: int) -> dict[int, tuple[int, int]]:
    """(W_e, H_e) per onset: the pre-window stops at the previous onset, the post-window
    at the next one (or the horizon), each capped (W ≤ 20, H ≤ 100)."""
    uniq = sorted(set(onsets))
    out = {}
    for i, t0 in enumerate(uniq):
        prev = uniq[i - 1] if i else 0
        nxt = uniq[i + 1] if i + 1 < len(uniq) else horizon
        out[t0] = (min(W_PRE, t0 - prev), min(H_MAX, nxt - t0))
    return out


def adaptation_table(curves: pd.DataFrame, horizon: int, scenario: str, *, bootstrap_seed: int = 0,
                     n_resamples: int = 10_000) -> pd.DataFrame:
    if curves.empty:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    windows = event_windows(curves["onset"].unique().tolist(), horizon)
    rows = []
    rng = np.random.default_rng(bootstrap_seed)
    for (rec, event_id), g in curves.groupby(["recommender", "event_id"], sort=True):
        onset, kind = int(g["onset"].iloc[0]), str(g["kind"].iloc[0])
        w, h = windows[onset]
        base = {"scenario": scenario, "recommender": rec, "event_id": int(event_id), "kind": kind, "onset": onset,
                "W": w, "H": h}
        if w < MIN_PRE or h < 1:
            rows.append({**base, "seed": -1, "aggregate": True, "skipped": True, "n_seeds": g["seed"].nunique()})
            continue
        taus = np.arange(-w, h)
        pivot = g.pivot_table(index="seed", columns="tau", values=["eu_sum", "eu_oracle_sum", "n_users"], aggfunc="sum")
        eu = pivot["eu_sum"].reindex(columns=taus).to_numpy(float)
        eus = pivot["eu_oracle_sum"].reindex(columns=taus).to_numpy(float)
        n = pivot["n_users"].reindex(columns=taus).to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            q = eu / eus
            regret = (eus - eu) / n
        complete = ~np.isnan(q).any(axis=1)
        seeds = pivot.index.to_numpy()[complete]
        q, regret = q[complete], regret[complete]
        if len(q) == 0:
            rows.append({**base, "seed": -1, "aggregate": True, "skipped": True, "n_seeds": 0})
            continue
        for s, qs, rs in zip(seeds, q, regret):
            a = summarise_curve(qs[:w], qs[w:])
            rows.append({**base, **a.as_dict(), "seed": int(s), "aggregate": False, "cr_H": float(rs[w:].sum()),
                         "n_seeds": 1, "skipped": False})
        mean = summarise_curve(q[:, :w].mean(axis=0), q[:, w:].mean(axis=0))
        ttr, censored = ttr_of_mean(q, w)
        agg = {**base, **mean.as_dict(), "ttr95": ttr, "censored": censored, "seed": -1, "aggregate": True,
               "cr_H": float(regret[:, w:].sum(axis=1).mean()),
               "pdl_H": float(np.mean([(qs[:w].mean() - qs[w:]).sum() for qs in q])),
               "n_seeds": len(q), "skipped": False}
        if len(q) >= MIN_SEEDS_FOR_CLAIMS:
            boot = bootstrap_ttr(q, w, rng, n_resamples=n_resamples)
            agg.update(ci_low=boot["ci_low"], ci_high=boot["ci_high"], censored_share=boot["censored_share"])
        rows.append(agg)
    out = pd.DataFrame(rows)
    for col in EVENT_COLUMNS:
        if col not in out:
            out[col] = np.nan
    return out[EVENT_COLUMNS]


def homogenisation_vs_oracle(metrics: pd.DataFrame) -> pd.DataFrame:
    """Δhom rows: hom(recommender) − hom(oracle), same seed, iteration and pairs."""
    hom = metrics[metrics["metric"].isin(["hom_rec", "hom_int"])]
    oracle = hom[hom["recommender"] == "oracle"][["seed", "iteration", "metric", "value"]]
    if oracle.empty:
        return metrics.iloc[0:0]
    merged = hom[hom["recommender"] != "oracle"].merge(oracle, on=["seed", "iteration", "metric"], suffixes=("", "_oracle"))
    merged["value"] = merged["value"] - merged["value_oracle"]
    merged["metric"] = "d" + merged["metric"]
    return merged[metrics.columns]
