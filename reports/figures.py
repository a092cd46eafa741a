"""Figures of a run: one function per figure, each taking tidy data and an axis.

The end of the data flow (… → metrics files → **report**). Compute once, draw
anywhere: ``curve_data`` turns ``metrics.parquet`` rows into per-recommender mean
curves with pointwise 95 % t-bands across seeds; the ``plot_*`` functions draw
such data on a given matplotlib axis and return what they plotted, so a notebook
can reuse a figure and tests can check the plotted arrays against the table.
Colours come from the Okabe–Ito colour-blind–safe palette, fixed per recommender
for every figure of a report.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from sim.metrics.diversity import gini  # noqa: E402

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
MAX_POINTS = 400  # longer curves are averaged into bins so thousands of iterations stay readable


def palette(recommenders: list[str]) -> dict[str, str]:
    """One colour per recommender, the same in every figure (oracle black, random grey)."""
    fixed = {"oracle": "#000000", "random": "#999999"}
    rest = [r for r in recommenders if r not in fixed]
    colours = {r: OKABE_ITO[i % 7] for i, r in enumerate(rest)}
    return {r: fixed.get(r, colours.get(r)) for r in recommenders}


@dataclass(frozen=True)
class Curve:
    """Mean over seeds per iteration, with a pointwise 95 % t-band."""

    iteration: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n_seeds: int


def curve_data(metrics: pd.DataFrame, metric: str) -> dict[str, Curve]:
    """Per recommender: the metric's seed-mean curve and band (bins past MAX_POINTS)."""
    m = metrics[metrics["metric"] == metric]
    out = {}
    for rec, g in m.groupby("recommender", sort=False):
        table = g.pivot_table(index="iteration", columns="seed", values="value")
        it = table.index.to_numpy()
        vals = table.to_numpy(float)
        if len(it) > MAX_POINTS:
            width = int(np.ceil(len(it) / MAX_POINTS))
            bins = np.arange(len(it)) // width
            it = pd.Series(it).groupby(bins).mean().to_numpy()
            vals = pd.DataFrame(vals).groupby(bins).mean().to_numpy()
        s = vals.shape[1]
        mean = np.nanmean(vals, axis=1)
        if s >= 2:
            half = stats.t.ppf(0.975, s - 1) * np.nanstd(vals, axis=1, ddof=1) / np.sqrt(s)
        else:
            half = np.full(len(mean), np.nan)
        out[str(rec)] = Curve(it, mean, mean - half, mean + half, s)
    return out


def plot_metric_over_time(ax, curves: dict[str, Curve], colours: dict[str, str], *, title: str, ylabel: str,
                          onsets: list[int] = ()) -> dict[str, Curve]:
    """Lines per recommender with shaded bands; drift onsets as labelled vertical lines."""
    for rec, c in curves.items():
        ax.plot(c.iteration, c.mean, color=colours.get(rec), label=rec, lw=1.6)
        if c.n_seeds >= 2:
            ax.fill_between(c.iteration, c.low, c.high, color=colours.get(rec), alpha=0.18, lw=0)
    mark_onsets(ax, onsets)
    ax.set_title(title)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return curves


def drift_onsets(scenario: dict) -> list[int]:
    """Iterations where a scenario's abrupt or directed drift starts (the ones worth a line)."""
    return sorted({int(d.get("onset", d.get("start", 0))) for d in scenario.get("drift", [])
                   if d["type"] in ("abrupt", "directed")})


def mark_onsets(ax, onsets, colour: str = "#555555") -> None:
    """Drift onsets as dashed vertical lines labelled at the top; labels of onsets
    closer than 6 % of the axis are dropped so they never overlap."""
    lo, hi = ax.get_xlim()
    last = -np.inf
    for t in sorted(onsets):
        ax.axvline(t, color=colour, ls="--", lw=1)
        if (t - last) > 0.06 * max(hi - lo, 1):
            ax.annotate(f"drift t={t}", (t, 0), xycoords=("data", "axes fraction"), xytext=(3, 4),
                        textcoords="offset points", fontsize=8, color=colour)
            last = t


def event_curve_data(curves: pd.DataFrame, event_id: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per recommender: τ and the seed-mean oracle-normalised utility of the affected users."""
    e = curves[curves["event_id"] == event_id]
    out = {}
    for rec, g in e.groupby("recommender", sort=False):
        q = g.assign(q=g["eu_sum"] / g["eu_oracle_sum"]).pivot_table(index="tau", columns="seed", values="q")
        out[str(rec)] = (q.index.to_numpy(), q.mean(axis=1).to_numpy())
    return out


def plot_event_aligned(ax, data: dict[str, tuple[np.ndarray, np.ndarray]], colours: dict[str, str],
                       summary: pd.DataFrame | None, *, title: str):
    """q̄(τ) per recommender around one drift event, with each recommender's 95 % recovery
    threshold (0.95 · pre-drift level) and its TTR95 marked."""
    for rec, (tau, q) in data.items():
        ax.plot(tau, q, color=colours.get(rec), label=rec, lw=1.6)
        if summary is not None and rec in summary.index and not np.isnan(summary.loc[rec, "b"]):
            b = summary.loc[rec, "b"]
            ax.axhline(0.95 * b, color=colours.get(rec), ls=":", lw=1)
            ttr = summary.loc[rec, "ttr95"]
            if not np.isnan(ttr):
                ax.plot([ttr], [0.95 * b], marker="v", color=colours.get(rec), ms=7)
    ax.axvline(0, color="#555555", ls="--", lw=1)
    ax.set_title(title)
    ax.set_xlabel("τ, iterations since onset (▼ = TTR95, at the right edge if censored; dotted = 95 % of pre-drift level)",
                  fontsize=9)
    ax.set_ylabel("utility / oracle utility, affected users")
    ax.grid(alpha=0.3)
    return data


def plot_tradeoff(ax, points: pd.DataFrame, colours: dict[str, str], *, x: str, y: str):
    """One point per recommender with t-interval error bars: ``points`` has columns
    ``x``, ``x lo``, ``x hi``, ``y``, ``y lo``, ``y hi`` indexed by recommender."""
    for rec, p in points.iterrows():
        xerr = np.array([[p[x] - p[f"{x} lo"]], [p[f"{x} hi"] - p[x]]]) if not np.isnan(p[f"{x} lo"]) else None
        yerr = np.array([[p[y] - p[f"{y} lo"]], [p[f"{y} hi"] - p[y]]]) if not np.isnan(p[f"{y} lo"]) else None
        ax.errorbar(p[x], p[y], xerr=xerr, yerr=yerr, fmt="o", color=colours.get(rec), label=rec, capsize=3)
    ax.set_xlabel(f"{x} (mean after warm-up)")
    ax.set_ylabel(f"{y} (mean after warm-up)")
    ax.set_title("Accuracy–diversity trade-off")
    ax.grid(alpha=0.3)
    return points


@dataclass(frozen=True)
class Lorenz:
    """Seed-mean Lorenz curve of exposure on a fixed grid of item shares."""

    item_share: np.ndarray  # 0 … 1, items sorted from least to most exposed
    exposure_share: np.ndarray  # cumulative share of impressions
    gini: float  # mean over seeds of each seed's Gini (n-normalised, as gini_exposure)
    n_seeds: int


def lorenz_data(exposure: pd.DataFrame, grid: int = 201) -> dict[str, Lorenz]:
    """Per recommender, from ``exposure.parquet`` (one row per recommender, seed, item):
    each seed's Lorenz curve interpolated on ``grid`` item shares, then averaged."""
    share = np.linspace(0.0, 1.0, grid)
    out = {}
    for rec, g in exposure.groupby("recommender", sort=False):
        curves, ginis = [], []
        for _, s in g.groupby("seed"):
            x = np.sort(s["exposure"].to_numpy(float))
            if x.sum() <= 0:
                continue
            cum = np.concatenate([[0.0], np.cumsum(x) / x.sum()])
            curves.append(np.interp(share, np.linspace(0.0, 1.0, len(cum)), cum))
            ginis.append(gini(x))
        if curves:
            out[str(rec)] = Lorenz(share, np.mean(curves, axis=0), float(np.mean(ginis)), len(curves))
    return out


def plot_lorenz(ax, data: dict[str, Lorenz], colours: dict[str, str]) -> dict[str, Lorenz]:
    """Lorenz curves of exposure: the further below the diagonal, the more the
    impressions concentrate on few items (Gini in the legend)."""
    ax.plot([0, 1], [0, 1], color="#555555", ls="--", lw=1, label="equal exposure")
    for rec, c in data.items():
        ax.plot(c.item_share, c.exposure_share, color=colours.get(rec), lw=1.6, label=f"{rec} (Gini {c.gini:.2f})")
    ax.set_xlim(0, 1.005)
    ax.set_ylim(0, 1.005)
    if data and np.median([np.interp(0.5, c.exposure_share, c.item_share) for c in data.values()]) > 0.8:
        # most curves hug the right edge: zoom on the most exposed fifth of the catalogue
        inset = ax.inset_axes([0.08, 0.42, 0.5, 0.5])
        for rec, c in data.items():
            inset.plot(c.item_share, c.exposure_share, color=colours.get(rec), lw=1.4)
        inset.plot([0.8, 1], [0.8, 1], color="#555555", ls="--", lw=1)
        inset.set_xlim(0.8, 1.0)
        inset.set_ylim(0, 1)
        inset.set_title("most exposed 20 % of items", fontsize=8)
        inset.tick_params(labelsize=7)
        inset.grid(alpha=0.3)
    ax.set_xlabel("share of items, least exposed first")
    ax.set_ylabel("share of all impressions")
    ax.set_title("Exposure Lorenz curves (after warm-up)")
    ax.grid(alpha=0.3)
    return data


@dataclass(frozen=True)
class PatternSizes:
    """One seed's interest-pattern shares at each learning step of one recommender."""

    recommender: str
    seed: int
    iteration: np.ndarray
    shares: np.ndarray  # (iterations, patterns); NaN where a pattern did not exist


def pattern_size_data(metrics: pd.DataFrame, recommender: str, seed: int | None = None) -> PatternSizes | None:
    """``rec:pattern_share[i]`` rows of one recommender and seed (default: its first)."""
    m = metrics[(metrics["recommender"] == recommender) & metrics["metric"].str.startswith("rec:pattern_share[")]
    if m.empty:
        return None
    seed = int(m["seed"].min()) if seed is None else seed
    m = m[m["seed"] == seed].assign(pattern=lambda d: d["metric"].str.extract(r"\[(\d+)\]", expand=False).astype(int))
    table = m.pivot_table(index="iteration", columns="pattern", values="value", dropna=False).sort_index()
    return PatternSizes(recommender, seed, table.index.to_numpy(), table.to_numpy(float))


def plot_pattern_sizes(ax, data: PatternSizes, onsets: list[int] = ()) -> PatternSizes:
    """Stacked shares of users per interest pattern over time (pattern ids are kept
    across refits by matching each new cluster to the old one it overlaps most)."""
    shares = np.nan_to_num(data.shares)
    k = shares.shape[1]
    colours = plt.get_cmap("viridis")(np.linspace(0.05, 0.95, max(k, 1)))
    ax.stackplot(data.iteration, shares.T, colors=colours, step="post", lw=0, alpha=0.9,
                 labels=[f"pattern {i}" for i in range(k)])
    mark_onsets(ax, onsets, colour="#d62728")
    ax.set_ylim(0, 1)
    ax.set_xlim(data.iteration.min(), data.iteration.max())
    ax.set_xlabel("iteration")
    ax.set_ylabel("share of known users")
    ax.set_title(f"Interest-pattern sizes ({data.recommender}, seed {data.seed})")
    return data


def new_axes(width: float = 7.5, height: float = 3.6):
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    return fig, ax
