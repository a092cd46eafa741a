"""``recdrift summarize RUN_DIR``: the headline numbers of a run, with honest intervals.

Reads only ``metrics.parquet``, ``events.parquet`` and ``manifest.json``. Per
scenario, one row per recommender: final and post-warm-up mean accuracy, diversity
and TTR95, each with its interval across seeds (t-interval; TTR95: percentile
bootstrap, only with ≥ 10 seeds), then paired comparisons of each recommender
against the full pipeline on the same seeds (mean difference with its interval,
paired t and exact sign-flip p-values, Holm-adjusted over the whole table).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sim.metrics.stats import MIN_SEEDS_FOR_CLAIMS, holm, paired_comparison, t_interval

#: (column label, metric id, how a seed's value is taken, +1 higher is better / −1 lower is better)
HEADLINES = [
    ("eur final", "eur", "final", +1),
    ("eur mean", "eur", "mean", +1),
    ("gap_closed mean", "gap_closed", "mean", +1),
    ("ndcg@k[util] mean", "ndcg@{k}[util]", "mean", +1),
    ("ctr_item mean", "ctr_item", "mean", +1),
    ("ild_emb mean", "ild_emb", "mean", +1),
    ("coverage_cum final", "coverage_cum", "final", +1),
    ("gini_exposure mean", "gini_exposure", "mean", -1),
    ("dhom_int final", "dhom_int", "final", -1),
]
#: direction of every column a run can be judged on (headline labels, TTR95, PDL)
DIRECTION = {label: d for label, _, _, d in HEADLINES} | {"ttr95": -1, "pdl_H": -1}
#: the upper bound, never marked best
BOUNDS = ("oracle",)
COMPARED = ["eur mean", "ndcg@k[util] mean", "ild_emb mean", "coverage_cum final"]
REFERENCE = "full"


def load_run(run_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    run_dir = Path(run_dir)
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{run_dir}: no manifest.json (not a finished run directory)")
    manifest = json.loads(manifest_path.read_text())
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    events_path = run_dir / "events.parquet"
    events = pd.read_parquet(events_path) if events_path.exists() else pd.DataFrame()
    return metrics, events, manifest


def per_seed(metrics: pd.DataFrame, metric: str, how: str, warmup: int) -> pd.DataFrame:
    """(seed × recommender) table of one scalar per seed."""
    m = metrics[metrics["metric"] == metric]
    if how == "final":
        m = m[m["iteration"] == m["iteration"].max()]
    else:
        m = m[m["iteration"] >= warmup]
    return m.groupby(["seed", "recommender"])["value"].mean().unstack("recommender")


def seed_tables(metrics: pd.DataFrame, events: pd.DataFrame, manifest: dict) -> dict[str, pd.DataFrame]:
    """Per headline column (and ``ttr95``/``pdl_H`` of the first drift event): a
    (seed × recommender) table of one scalar per seed — the replication unit."""
    scenario = manifest["scenario"]
    k, warmup = scenario["k"], scenario.get("metrics", {}).get("warmup", 0)
    tables = {label: per_seed(metrics, metric.format(k=k), how, warmup) for label, metric, how, _ in HEADLINES}
    if not events.empty:
        per = events[~events["aggregate"]].sort_values("event_id")
        per = per[per["event_id"] == per["event_id"].min()] if not per.empty else per
        tables["ttr95"] = per.pivot_table(index="seed", columns="recommender", values="ttr95")
        tables["pdl_H"] = per.pivot_table(index="seed", columns="recommender", values="pdl_H")
    return tables


def summarise(metrics: pd.DataFrame, events: pd.DataFrame, manifest: dict) -> dict[str, pd.DataFrame]:
    """Two tables: ``headline`` (recommender rows) and ``comparisons`` (vs the full pipeline)."""
    recs = list(manifest["recommenders"])
    head = pd.DataFrame(index=pd.Index(recs, name="recommender"))
    seeds_tables = seed_tables(metrics, events, manifest)
    for label, *_ in HEADLINES:
        table = seeds_tables[label]
        for r in recs:
            x = table[r].to_numpy() if r in table else np.array([])
            mean, lo, hi = t_interval(x)
            head.loc[r, label] = mean
            head.loc[r, label + " lo"] = lo
            head.loc[r, label + " hi"] = hi
    if not events.empty:
        agg = events[events["aggregate"] & ~events["skipped"].astype(bool)]
        first = agg.sort_values("event_id").groupby("recommender").head(1).set_index("recommender")
        for col in ("ttr95", "ci_low", "ci_high", "censored", "censored_share", "b", "D", "final", "pdl_H"):
            head[f"ttr95 {col}" if col != "ttr95" else "ttr95"] = first[col].reindex(recs) if col in first else np.nan
    comps = []
    if REFERENCE in recs:
        for label in COMPARED + (["ttr95", "pdl_H"] if "ttr95" in seeds_tables else []):
            table = seeds_tables[label]
            if REFERENCE not in table:
                continue
            for r in recs:
                if r == REFERENCE or r not in table:
                    continue
                c = paired_comparison(table[REFERENCE].to_numpy(), table[r].to_numpy())
                comps.append({"metric": label, "comparison": f"{REFERENCE} - {r}", **c})
    comparisons = pd.DataFrame(comps)
    if not comparisons.empty:
        comparisons["p_holm"] = holm(comparisons["p_t"].to_numpy())
    return {"headline": head, "comparisons": comparisons}


def best_recommenders(head: pd.DataFrame) -> dict[str, set[str]]:
    """Per headline column, the recommender(s) with the best point estimate (ties all
    marked), leaving out the oracle bound; TTR95 counts censored recovery as worst."""
    out: dict[str, set[str]] = {}
    rows = head.drop(index=[b for b in BOUNDS if b in head.index])
    for label, direction in DIRECTION.items():
        if label not in rows or rows[label].isna().all():
            continue
        values = rows[label].astype(float) * direction
        if label == "ttr95" and "ttr95 censored" in rows:
            values = values.where(~rows["ttr95 censored"].fillna(False).astype(bool), -np.inf)
        top = values.max()
        if np.isfinite(top):
            out[label] = set(values.index[np.isclose(values, top, rtol=0, atol=1e-12)])
    return out


def _fmt(v: float, lo: float, hi: float) -> str:
    if np.isnan(v):
        return "–"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]" if not (np.isnan(lo) or np.isnan(hi)) else f"{v:.3f}"


def render_markdown(tables: dict[str, pd.DataFrame], manifest: dict) -> str:
    head, comps = tables["headline"], tables["comparisons"]
    sc = manifest["scenario"]
    n_seeds = len(manifest["seeds"])
    lines = [f"## {sc['name']} — {sc.get('description', '')}", "",
             f"{n_seeds} seeds, {sc['iterations']} iterations, {sc['world']['users']['n']} users, "
             f"{sc['world']['items']['n']} items; intervals are 95 % t-intervals across seeds"
             f" (means after a warm-up of {sc.get('metrics', {}).get('warmup', 0)} iterations).", ""]
    labels = [h[0] for h in HEADLINES]
    arrow = {+1: " ↑", -1: " ↓"}
    cols = ["recommender"] + [l + arrow[DIRECTION[l]] for l in labels] + (["TTR95 (first event) ↓"] if "ttr95" in head else [])
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    best = best_recommenders(head)
    bold = lambda text, r, col: f"**{text}**" if r in best.get(col, ()) else text  # noqa: E731
    for r, row in head.iterrows():
        cells = [r] + [bold(_fmt(row[l], row[l + " lo"], row[l + " hi"]), r, l) for l in labels]
        if "ttr95" in head:
            if np.isnan(row["ttr95"]):
                cells.append("–")
            else:
                ci = (f" [{int(row['ttr95 ci_low'])}, {int(row['ttr95 ci_high'])}], censored {row['ttr95 censored_share']:.0%}"
                      if not np.isnan(row.get("ttr95 ci_low", np.nan)) else "")
                cens = " (censored)" if bool(row["ttr95 censored"]) else ""
                cells.append(bold(f"{int(row['ttr95'])}{cens}", r, "ttr95") + f"{ci}; b={row['ttr95 b']:.3f} "
                             f"D={row['ttr95 D']:.3f} final={row['ttr95 final']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"↑ higher is better, ↓ lower is better; **bold**: best point estimate among the "
              f"recommenders under test ({', '.join(BOUNDS)} is the upper bound and never marked)."]
    lines.append("")
    if comps.empty:
        lines.append(f"No paired comparisons: the run has no `{REFERENCE}` recommender.")
    else:
        claims = n_seeds >= MIN_SEEDS_FOR_CLAIMS
        lines += [f"Paired comparisons on the same seeds ({REFERENCE} minus each):", "",
                  "| metric | comparison | mean diff [95 % CI] | P(improve) | p (t) | p (sign-flip) | p Holm | verdict |",
                  "|---|---|---|---|---|---|---|---|"]
        for _, c in comps.iterrows():
            if not claims:
                verdict = f"no claim (< {MIN_SEEDS_FOR_CLAIMS} seeds)"
            elif np.isnan(c["p_holm"]):
                verdict = "undefined"
            else:
                verdict = "significant" if c["p_holm"] < 0.05 and c["p_sign_flip"] < 0.05 else "not significant"
            lines.append(f"| {c['metric']} | {c['comparison']} | {_fmt(c['mean_diff'], c['ci_low'], c['ci_high'])} | "
                         f"{c['p_improvement']:.2f} | {c['p_t']:.3g} | {c['p_sign_flip']:.3g} | {c['p_holm']:.3g} | {verdict} |")
        if not claims:
            lines += ["", f"With {n_seeds} seeds the numbers are printed but no significance is claimed "
                      f"(the smallest possible sign-flip p is {2 / 2 ** n_seeds:.3g}); run ≥ {MIN_SEEDS_FOR_CLAIMS} seeds."]
    return "\n".join(lines) + "\n"


def summarize_run(run_dir: str | Path, fmt: str = "markdown") -> str:
    metrics, events, manifest = load_run(run_dir)
    tables = summarise(metrics, events, manifest)
    if fmt == "markdown":
        return render_markdown(tables, manifest)
    if fmt == "csv":
        head = tables["headline"].reset_index().to_csv(index=False)
        comps = tables["comparisons"].to_csv(index=False) if not tables["comparisons"].empty else ""
        return head + ("\n" + comps if comps else "")
    if fmt == "json":
        return json.dumps({name: json.loads(t.reset_index().to_json(orient="records")) for name, t in tables.items()}, indent=2)
    raise ValueError(f"unknown format {fmt!r}; use markdown, csv or json")
