"""The size study: does a bigger encoder buy accuracy, adaptation speed, both or neither?

Input: a sweep directory (``recdrift sweep``) whose variants differ in the full
pipeline's encoder size — any sweep where ``rec:encoder_parameters`` takes more
than one value for an encoder within a scenario has a *size axis*. Per scenario,
encoder family (``dae``, ``attention``) and size, the replication unit is the
seed; same seed = same world for every size, so sizes are compared paired by seed.

Per seed: expected utility ratio and graded NDCG (means after warm-up), TTR95 of
the first drift event (iterations until the curve stays within 5 % of its
pre-event level; censored recoveries count as the horizon), mean seconds per
retrain. Per size: t-intervals across seeds (TTR95: the seed-mean curve's TTR95
with its bootstrap interval, as in run reports). The verdict compares the largest
size of each family with its smallest, paired by seed (t-test, sign-flip p,
Holm over every test of the table); a sentence says whether size bought accuracy
(higher utility ratio) and adaptation speed (lower TTR95), each with its test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.metrics.events import adaptation_table
from sim.metrics.stats import holm, paired_comparison, t_interval

LEVEL = 0.05


@dataclass
class SizeStudy:
    per_seed: pd.DataFrame  # scenario, family, variant, seed, parameters, eur, ndcg, ttr95, censored, train_s
    sizes: pd.DataFrame  # one row per (scenario, family, variant): parameters and intervals
    tests: pd.DataFrame  # largest vs smallest per (scenario, family, question), Holm-adjusted
    verdicts: pd.DataFrame  # one row per (scenario, family): sentence


def _family(scenario: dict, recommender: str) -> str:
    if recommender.startswith("full"):
        return scenario.get("recommenders", {}).get("full", {}).get("encoder", "dae")
    return recommender


def load_cells(sweep_dir: str | Path) -> tuple[list[dict], dict]:
    sweep_dir = Path(sweep_dir)
    info = json.loads((sweep_dir / "sweep.json").read_text())
    cells = [c for c in info["cells"] if (sweep_dir / c["path"] / "done.json").exists()]
    return cells, info


def size_study(sweep_dir: str | Path) -> SizeStudy | None:
    """The study of a sweep directory, or None when it has no size axis."""
    sweep_dir = Path(sweep_dir)
    cells, info = load_cells(sweep_dir)
    scenarios = info.get("scenarios") or {}
    rows, curves = [], []
    for c in cells:
        where = sweep_dir / c["path"]
        m = pd.read_parquet(where / "metrics.parquet")
        params = m.loc[m["metric"] == "rec:encoder_parameters", "value"]
        if params.empty:
            continue
        sc = scenarios.get(f"{c['scenario']}/{c['variant']}", {})
        k = sc.get("k", 10)
        warmup = sc.get("metrics", {}).get("warmup", 0)
        post = m[m["iteration"] >= warmup]
        retrained = m.loc[(m["metric"] == "rec:retrained") & (m["value"] == 1), "iteration"]
        tm = pd.read_parquet(where / "timings.parquet")
        train = tm[(tm["metric"] == "train_seconds") & tm["iteration"].isin(retrained)]["value"]
        family = _family(sc, c["recommender"])
        rows.append({"scenario": c["scenario"], "family": family, "variant": c["variant"], "seed": c["seed"],
                     "parameters": int(params.iloc[-1]),
                     "eur": post.loc[post["metric"] == "eur", "value"].mean(),
                     "ndcg": post.loc[post["metric"] == f"ndcg@{k}[util]", "value"].mean(),
                     "train_s": float(train.mean()) if len(train) else np.nan, "horizon": sc.get("iterations")})
        cv = pd.read_parquet(where / "curves.parquet") if (where / "curves.parquet").exists() else pd.DataFrame()
        if not cv.empty:
            curves.append(cv.assign(recommender=c["variant"], scenario=c["scenario"]))
    if not rows:
        return None
    per_seed = pd.DataFrame(rows)
    if per_seed.groupby(["scenario", "family"])["parameters"].nunique().max() < 2:
        return None
    per_seed, ttr_agg = _attach_ttr(per_seed, curves)
    sizes = _sizes(per_seed, ttr_agg)
    tests = _tests(per_seed)
    return SizeStudy(per_seed, sizes, tests, _verdicts(sizes, tests))


def _attach_ttr(per_seed: pd.DataFrame, curves: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-seed TTR95 of each variant's first drift event, and the aggregate (seed-mean curve) rows."""
    per_seed = per_seed.assign(ttr95=np.nan, censored=np.nan)
    agg_rows = []
    if not curves:
        return per_seed, pd.DataFrame()
    all_curves = pd.concat(curves, ignore_index=True)
    for scenario, g in all_curves.groupby("scenario"):
        horizon = int(per_seed.loc[per_seed["scenario"] == scenario, "horizon"].max())
        table = adaptation_table(g, horizon, scenario, n_resamples=2000)
        table = table[~table["skipped"].astype(bool)]
        if table.empty:
            continue
        first = table[table["event_id"] == table["event_id"].min()]
        for _, r in first[~first["aggregate"].astype(bool)].iterrows():
            hit = (per_seed["scenario"] == scenario) & (per_seed["variant"] == r["recommender"]) & (per_seed["seed"] == r["seed"])
            per_seed.loc[hit, "ttr95"] = float(r["ttr95"])
            per_seed.loc[hit, "censored"] = float(bool(r["censored"]))
        agg_rows.append(first[first["aggregate"].astype(bool)].rename(columns={"recommender": "variant"}))
    return per_seed, (pd.concat(agg_rows, ignore_index=True) if agg_rows else pd.DataFrame())


def _sizes(per_seed: pd.DataFrame, ttr_agg: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (scenario, family, variant), g in per_seed.groupby(["scenario", "family", "variant"]):
        row = {"scenario": scenario, "family": family, "variant": variant, "parameters": int(g["parameters"].median()),
               "n_seeds": len(g)}
        for col in ("eur", "ndcg", "train_s"):
            row[col], row[f"{col}_lo"], row[f"{col}_hi"] = t_interval(g[col].to_numpy())
        row["ttr95"] = row["ttr95_lo"] = row["ttr95_hi"] = row["ttr95_censored_share"] = np.nan
        if not ttr_agg.empty:
            a = ttr_agg[(ttr_agg["scenario"] == scenario) & (ttr_agg["variant"] == variant)]
            if len(a):
                row.update(ttr95=float(a["ttr95"].iloc[0]), ttr95_lo=float(a["ci_low"].iloc[0]),
                           ttr95_hi=float(a["ci_high"].iloc[0]), ttr95_censored_share=float(g["censored"].mean()))
        out.append(row)
    return pd.DataFrame(out).sort_values(["scenario", "family", "parameters"]).reset_index(drop=True)


QUESTIONS = (("accuracy", "eur", +1), ("ranking", "ndcg", +1), ("adaptation", "ttr95", -1))


def _tests(per_seed: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (scenario, family), g in per_seed.groupby(["scenario", "family"]):
        by_size = g.groupby("variant")["parameters"].median().sort_values()
        if len(by_size) < 2:
            continue
        small, large = by_size.index[0], by_size.index[-1]
        a = g[g["variant"] == large].set_index("seed")
        b = g[g["variant"] == small].set_index("seed")
        seeds = a.index.intersection(b.index)
        for question, col, direction in QUESTIONS:
            if a[col].isna().all():
                continue
            c = paired_comparison(a.loc[seeds, col].to_numpy(), b.loc[seeds, col].to_numpy())
            rows.append({"scenario": scenario, "family": family, "question": question, "metric": col,
                         "direction": direction, "smallest": small, "largest": large,
                         "parameters_small": int(by_size.iloc[0]), "parameters_large": int(by_size.iloc[-1]), **c})
    tests = pd.DataFrame(rows)
    if not tests.empty:
        tests["p_holm"] = holm(tests["p_t"].fillna(1.0).to_numpy())
    return tests


def _verdicts(sizes: pd.DataFrame, tests: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (scenario, family), t in tests.groupby(["scenario", "family"]):
        found = {}
        parts = []
        for _, r in t.iterrows():
            if r["question"] == "ranking":
                continue
            better = r["mean_diff"] * r["direction"] > 0
            significant = r["p_holm"] < LEVEL
            found[r["question"]] = better and significant
            what = "expected utility ratio" if r["metric"] == "eur" else "TTR95 (iterations)"
            if significant:
                verb = "bought" if better else "cost"
            else:
                verb = "made no detectable difference to"
            parts.append(f"size {verb} {r['question']} ({what} {r['mean_diff']:+.3f} [{r['ci_low']:+.3f}, "
                         f"{r['ci_high']:+.3f}], paired over {r['n_seeds']} seeds, Holm p = {r['p_holm']:.2g})")
        s = sizes[(sizes["scenario"] == scenario) & (sizes["family"] == family)]
        best = s.loc[s["eur"].idxmax()]
        first = t.iloc[0]
        answer = {(True, True): "both", (True, False): "accuracy only", (False, True): "adaptation speed only",
                  (False, False): "neither"}[(found.get("accuracy", False), found.get("adaptation", False))]
        if "adaptation" not in found:
            answer = "accuracy" if found.get("accuracy") else "neither (no drift event to adapt to)"
        sentence = (f"{scenario}, {family} encoder, {first['parameters_small']:,} → {first['parameters_large']:,} "
                    f"parameters: " + "; ".join(parts) + f". Highest utility ratio at {best['variant']} "
                    f"({int(best['parameters']):,} parameters, {best['eur']:.3f}).")
        out.append({"scenario": scenario, "family": family, "size buys": answer, "sentence": sentence})
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------- rendering
def render_markdown(study: SizeStudy) -> str:
    lines = ["Each row: one encoder size, means across seeds with 95 % intervals (TTR95: the seed-mean curve's, "
             "bootstrap interval; censored recoveries count as the horizon).", "",
             "| scenario | encoder | variant | parameters | seeds | eur | NDCG | TTR95 | s per retrain |",
             "|---|---|---|---|---|---|---|---|---|"]
    for _, r in study.sizes.iterrows():
        ttr = "–" if np.isnan(r["ttr95"]) else f"{r['ttr95']:.0f} [{r['ttr95_lo']:.0f}, {r['ttr95_hi']:.0f}]"
        lines.append(f"| {r['scenario']} | {r['family']} | {r['variant']} | {int(r['parameters']):,} | {r['n_seeds']} | "
                     f"{r['eur']:.3f} [{r['eur_lo']:.3f}, {r['eur_hi']:.3f}] | {r['ndcg']:.3f} [{r['ndcg_lo']:.3f}, "
                     f"{r['ndcg_hi']:.3f}] | {ttr} | {r['train_s']:.2f} |")
    lines += ["", "## Verdict: does size buy accuracy, adaptation speed, both, or neither?", "",
              "Largest vs smallest size of each encoder, paired by seed; Holm over every test in this section.", "",
              "| scenario | encoder | size buys |", "|---|---|---|"]
    lines += [f"| {r['scenario']} | {r['family']} | **{r['size buys']}** |" for _, r in study.verdicts.iterrows()]
    lines.append("")
    lines += [f"> {r['sentence']}" for _, r in study.verdicts.iterrows()]
    if (study.sizes["n_seeds"] < 10).any():
        lines += ["", "> Fewer than 10 seeds for some sizes: read the intervals, not the bold claims."]
    return "\n".join(lines)


def plot_size_study(axes, study: SizeStudy, scenario: str, colours: dict[str, str]) -> pd.DataFrame:
    """Four panels against parameter count (log axis): utility ratio, NDCG, TTR95, seconds per retrain."""
    s = study.sizes[study.sizes["scenario"] == scenario]
    panels = [("eur", "expected utility ratio"), ("ndcg", "graded NDCG"), ("ttr95", "TTR95 (iterations)"),
              ("train_s", "seconds per retrain")]
    for ax, (col, label) in zip(axes, panels):
        for family, g in s.groupby("family"):
            g = g.sort_values("parameters")
            y = g[col].to_numpy(float)
            if np.isnan(y).all():
                continue
            err = np.vstack([y - g[f"{col}_lo"].to_numpy(float), g[f"{col}_hi"].to_numpy(float) - y])
            ax.errorbar(g["parameters"], y, yerr=np.nan_to_num(np.abs(err)), marker="o", capsize=3,
                        color=colours.get(family), label=family)
        ax.set_xscale("log")
        ax.set_xlabel("trainable parameters")
        ax.set_title(label, fontsize=10)
        if col == "train_s":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8, frameon=False)
    return s
