"""``recdrift compare RUN_A RUN_B [...]``: did B get better or worse than A?

Two or more finished runs of the same scenario (two versions of a recommender,
two retraining strategies …). The first run is the baseline; every other run is
compared with it, recommender by recommender (those both runs have), on the
headline metrics. Runs that share seeds are compared *paired by seed* — the same
seed means the same simulated world, so the difference per seed removes most of
the world-to-world noise; runs on disjoint seeds fall back to Welch's t.

Each row gets a verdict at the chosen level, Holm-adjusted over every row of the
comparison: ``better``, ``worse`` (direction-aware: lower Gini or TTR95 is better)
or ``no detectable change``. A CI pipeline names its *guard* metrics; ``recdrift
compare`` exits 3 when any of them is ``worse``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from reports import figures as F
from reports.page import Figure, legend_outside, render_png, write_page
from sim.metrics.stats import MIN_SEEDS_FOR_CLAIMS, holm, paired_comparison, t_interval, welch_comparison
from sim.summary import DIRECTION, load_run, seed_tables

#: compare's metric ids → the summary's per-seed column
METRICS = {
    "eur_final": "eur final",
    "eur": "eur mean",
    "gap_closed": "gap_closed mean",
    "ndcg": "ndcg@k[util] mean",
    "ctr": "ctr_item mean",
    "ild": "ild_emb mean",
    "coverage": "coverage_cum final",
    "gini": "gini_exposure mean",
    "dhom": "dhom_int final",
    "ttr95": "ttr95",
}
#: figures of a comparison: (figure id, metric id — {k} is the slate length, title, y label)
OVER_TIME = [
    ("eur", "eur", "Expected utility ratio", "Σ utility / Σ oracle utility"),
    ("ndcg_util", "ndcg@{k}[util]", "Graded NDCG of slates", "NDCG@k, gain = true utility"),
    ("ild", "ild_emb", "Intra-list diversity", "mean pairwise 1 − cos"),
    ("coverage", "coverage_cum", "Cumulative catalogue coverage", "share of items ever shown"),
]
LINESTYLES = ["-", "--", ":", "-."]


class CompareError(ValueError):
    """Runs that cannot be compared (different scenarios, nothing in common, bad names)."""


@dataclass
class Comparison:
    labels: list[str]  # the runs, baseline first
    table: pd.DataFrame  # one row per (run, recommender, metric)
    level: float
    guards: list[str]
    warnings: list[str] = field(default_factory=list)
    manifests: list[dict] = field(default_factory=list)
    metrics: list[pd.DataFrame] = field(default_factory=list, repr=False)

    @property
    def regressions(self) -> pd.DataFrame:
        """Rows of a guard metric whose verdict is ``worse``."""
        t = self.table
        return t[t["metric"].isin(self.guards) & (t["verdict"] == "worse")]


def compare_runs(run_dirs: list[str | Path], *, labels: list[str] | None = None, level: float = 0.05,
                 guards: list[str] = ()) -> Comparison:
    """Compare every run with the first; see the module docstring for the method."""
    if len(run_dirs) < 2:
        raise CompareError("compare needs at least two runs")
    unknown = [g for g in guards if g not in METRICS]
    if unknown:
        raise CompareError(f"--guard: unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}")
    if not 0 < level < 1:
        raise CompareError(f"--level must be between 0 and 1, got {level}")
    loaded = [load_run(d) for d in run_dirs]
    labels = list(labels) if labels else _labels(run_dirs)
    if len(labels) != len(run_dirs):
        raise CompareError(f"--labels: {len(labels)} labels for {len(run_dirs)} runs")
    warnings: list[str] = []
    base_manifest = loaded[0][2]
    name = base_manifest["scenario"]["name"]
    for d, (_, _, m) in zip(run_dirs[1:], loaded[1:]):
        if m["scenario"]["name"] != name:
            raise CompareError(f"{d}: scenario {m['scenario']['name']!r} is not the baseline's {name!r}; "
                               "compare runs of one scenario")
        diff = _differing_fields(base_manifest["scenario"], m["scenario"])
        if diff:
            warnings.append(f"{d}: the scenario differs from the baseline's in {', '.join(diff[:6])}"
                            f"{' …' if len(diff) > 6 else ''}; the worlds are not the same")
    tables = [seed_tables(*run) for run in loaded]
    rows = []
    for j in range(1, len(loaded)):
        common = [r for r in loaded[j][2]["recommenders"] if r in base_manifest["recommenders"]]
        if not common:
            raise CompareError(f"{run_dirs[j]}: no recommender in common with {run_dirs[0]}")
        for metric_id, column in METRICS.items():
            if column not in tables[0] or column not in tables[j]:
                continue
            a_tab, b_tab = tables[0][column], tables[j][column]
            for rec in common:
                if rec not in a_tab or rec not in b_tab:
                    continue
                rows.append({"run": labels[j], "recommender": rec, "metric": metric_id,
                             **_one(a_tab[rec].dropna(), b_tab[rec].dropna(), level)})
    n_min = min((r["n_seeds"] for r in rows), default=0)
    if n_min < MIN_SEEDS_FOR_CLAIMS:
        warnings.append(f"some rows rest on {n_min} seeds: verdicts lean on the t-test's normality assumption and "
                        f"miss all but large changes; run ≥ {MIN_SEEDS_FOR_CLAIMS} seeds for claims")
    shared = [set(t.get("eur mean", pd.DataFrame()).index) for t in tables]
    if any(s != shared[0] for s in shared[1:]):
        warnings.append("the runs do not all use the same seeds: rows on shared seeds are paired, "
                        "rows without shared seeds use Welch's t")
    table = pd.DataFrame(rows)
    if table.empty:
        raise CompareError("nothing to compare: the runs have no metric in common")
    # rows equal on every seed are certainties, not tests: they stay out of Holm's family
    tested = ~table["identical"].to_numpy()
    table["p_holm"] = np.nan
    table.loc[tested, "p_holm"] = holm(table.loc[tested, "p"].to_numpy())
    table["verdict"] = [_verdict(r, level) for r in table.itertuples()]
    return Comparison(labels, table, level, list(guards), warnings, [m for *_, m in loaded],
                      [metrics for metrics, *_ in loaded])


def _one(a: pd.Series, b: pd.Series, level: float) -> dict:
    """B − A for one recommender and metric: paired on shared seeds, else Welch."""
    shared = a.index.intersection(b.index)
    base, _, _ = t_interval(a.to_numpy())
    run, _, _ = t_interval(b.to_numpy())
    if len(shared) >= 2:
        c = paired_comparison(b.loc[shared].to_numpy(), a.loc[shared].to_numpy(), level=1 - level)
        paired = True
    else:
        c = welch_comparison(b.to_numpy(), a.to_numpy(), level=1 - level)
        paired = False
    identical = paired and len(shared) == len(a) == len(b) and bool((a.loc[shared] == b.loc[shared]).all())
    return {"baseline": base, "value": run, "diff": c["mean_diff"], "ci_low": c["ci_low"], "ci_high": c["ci_high"],
            "p": c["p_t"], "paired": paired, "n_seeds": c["n_seeds"], "identical": identical}


def _verdict(row, level: float) -> str:
    if row.identical:
        return "identical"
    if np.isnan(row.p_holm):
        return "undetermined"
    if row.p_holm >= level or row.diff == 0:
        return "no detectable change"
    better = row.diff * DIRECTION[METRICS[row.metric]] > 0
    return "better" if better else "worse"


def _labels(run_dirs) -> list[str]:
    names = [Path(d).name for d in run_dirs]
    return names if len(set(names)) == len(names) else [str(d) for d in run_dirs]


def _differing_fields(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        path = f"{prefix}{key}"
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _differing_fields(va, vb, path + ".")
        elif va != vb and key not in ("description",):
            out.append(path)
    return out


# ----------------------------------------------------------------------------- rendering
def _fmt(v: float) -> str:
    return "–" if v is None or np.isnan(v) else f"{v:.4g}"


def render_markdown(c: Comparison) -> str:
    """The verdict table: one line per (run, recommender, metric)."""
    sc = c.manifests[0]["scenario"]
    lines = [f"## Comparison on {sc['name']}: baseline {c.labels[0]} vs {', '.join(c.labels[1:])}", "",
             f"Differences are run − baseline with their {1 - c.level:.0%} interval; verdicts at level "
             f"{c.level:g}, Holm-adjusted over the {int((~c.table['identical']).sum())} rows that differ; "
             "↑ higher is better, ↓ lower is better.", ""]
    lines += [f"> warning: {w}" for w in c.warnings]
    if c.warnings:
        lines.append("")
    lines += ["| run | recommender | metric | baseline | run | difference [CI] | p (Holm) | test | verdict |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in c.table[~c.table["identical"]].itertuples():
        arrow = "↑" if DIRECTION[METRICS[r.metric]] > 0 else "↓"
        guard = " (guard)" if r.metric in c.guards else ""
        verdict = f"**{r.verdict}**" if r.verdict in ("better", "worse") else r.verdict
        lines.append(f"| {r.run} | {r.recommender} | {r.metric} {arrow}{guard} | {_fmt(r.baseline)} | {_fmt(r.value)} | "
                     f"{_fmt(r.diff)} [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}] | {_fmt(r.p_holm)} | "
                     f"{'paired' if r.paired else 'Welch'}, {r.n_seeds} seeds | {verdict} |")
    same = c.table[c.table["identical"]]
    lines.append("")
    if not same.empty:
        groups = same.groupby(["run", "recommender"], sort=False)["metric"].apply(", ".join)
        lines.append("Identical on every seed: " + "; ".join(f"{rec} in {run} ({m})" for (run, rec), m in groups.items()) + ".")
        lines.append("")
    regress = c.regressions
    if c.guards:
        if regress.empty:
            lines.append(f"Guards ({', '.join(c.guards)}): no regression.")
        else:
            which = ", ".join(f"{r.metric} of {r.recommender} in {r.run}" for r in regress.itertuples())
            lines.append(f"Guards ({', '.join(c.guards)}): REGRESSION in {which}.")
    return "\n".join(lines) + "\n"


def make_figures(c: Comparison) -> list:
    """A difference plot (every row, % of the baseline, right = better) and the main
    metrics over time, one colour per recommender and one line style per run."""
    out = []
    t = c.table[~c.table["identical"]].copy()
    t["sign"] = [DIRECTION[METRICS[m]] for m in t["metric"]]
    scale = t["baseline"].abs().replace(0, np.nan)
    t["rel"], t["rel_lo"], t["rel_hi"] = (100 * t["sign"] * t[col] / scale for col in ("diff", "ci_low", "ci_high"))
    if not t.empty:
        fig, ax = F.new_axes(7.5, max(2.5, 0.24 * len(t) + 1.4))
        data = plot_differences(ax, t)
        out.append(Figure("differences", "Differences from the baseline (rows that differ)", render_png(fig),
                          {"rows": data}))
    sc = c.manifests[0]["scenario"]
    onsets = F.drift_onsets(sc)
    k = c.manifests[0]["scenario"]["k"]
    recs = list(dict.fromkeys(r for m in c.manifests for r in m["recommenders"]))
    colours = F.palette(recs)
    for fig_id, metric, title, ylabel in OVER_TIME:
        metric = metric.format(k=k)
        curves = {label: F.curve_data(m, metric) for label, m in zip(c.labels, c.metrics)}
        if not any(curves.values()):
            continue
        fig, ax = F.new_axes()
        plot_runs_over_time(ax, curves, colours, title=title, ylabel=ylabel, onsets=onsets)
        legend_outside(ax)
        out.append(Figure(fig_id, title, render_png(fig), {"metric": metric, "curves": curves}))
    return out


def plot_differences(ax, rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, recommender, metric): the difference as % of the baseline,
    signed so that right is better, with its interval; worse in vermillion, better in
    bluish green, no detectable change in grey."""
    colour = {"better": "#009E73", "worse": "#D55E00"}
    y = np.arange(len(rows))[::-1]
    for yi, r in zip(y, rows.itertuples()):
        lo, hi = sorted((r.rel_lo, r.rel_hi))
        ax.errorbar(r.rel, yi, xerr=None if np.isnan(lo) else [[r.rel - lo], [hi - r.rel]], fmt="o", capsize=2,
                    color=colour.get(r.verdict, "#777777"), ms=4)
    ax.axvline(0, color="#333333", lw=1)
    ax.set_yticks(y, [f"{r.metric} · {r.recommender}" + (f" · {r.run}" if rows["run"].nunique() > 1 else "")
                      for r in rows.itertuples()], fontsize=8)
    ax.set_xlabel("change vs baseline, % of the baseline's mean (right = better)")
    ax.set_title("Differences from the baseline (green better, red worse, grey no detectable change)", fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    return rows[["run", "recommender", "metric", "rel", "rel_lo", "rel_hi", "verdict"]]


def plot_runs_over_time(ax, curves: dict[str, dict[str, F.Curve]], colours: dict[str, str], *, title: str,
                        ylabel: str, onsets: list[int] = ()) -> dict:
    """Seed-mean curves per (run, recommender): colour = recommender, line style = run."""
    for i, (label, by_rec) in enumerate(curves.items()):
        for rec, cv in by_rec.items():
            ax.plot(cv.iteration, cv.mean, color=colours.get(rec), ls=LINESTYLES[i % len(LINESTYLES)], lw=1.5,
                    label=f"{rec} · {label}")
            if cv.n_seeds >= 2:
                ax.fill_between(cv.iteration, cv.low, cv.high, color=colours.get(rec), alpha=0.12, lw=0)
    F.mark_onsets(ax, onsets)
    ax.set_title(title)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return curves


def write_compare_report(c: Comparison, out: str | Path, formats: tuple[str, ...] = ("html", "md")) -> dict[str, Path]:
    """``compare.html`` (self-contained) and/or ``compare.md`` with ``figures/``."""
    about = [(label, f"`{m.get('command', '')}` ({len(m['seeds'])} seeds; {', '.join(m['recommenders'])}; "
                     f"finished {m.get('finished', '?')})" + (" — baseline" if i == 0 else ""))
             for i, (label, m) in enumerate(zip(c.labels, c.manifests))]
    return write_page(Path(out), "compare", f"recdrift comparison: {c.manifests[0]['scenario']['name']}", about,
                      [("verdicts", "Verdicts", render_markdown(c))], make_figures(c), formats)
