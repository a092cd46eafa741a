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
Holm over every test of the table): did size buy accuracy (higher utility ratio),
adaptation speed (lower TTR95), both or neither. Its sentence adds the last step
of size (is the largest still better than the next size down?) and, with two
encoders, their largest sizes against each other — architecture, not size.
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
    tests: pd.DataFrame  # paired tests (range, last step, families) per scenario and question, Holm-adjusted
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


#: what the verdict tests (NDCG is shown beside the utility ratio but not tested again: with
#: position weights equal to the DCG discount the two are nearly the same number)
QUESTIONS = (("accuracy", "eur", +1), ("adaptation", "ttr95", -1))


def _tests(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Paired by seed, per scenario: each family's largest vs smallest size ("range"),
    its largest vs the next size down ("last step"), and, with two families, their
    largest sizes against each other ("families"); Holm over all of them."""
    rows = []
    for scenario, sg in per_seed.groupby("scenario"):
        largest = {}
        for family, g in sg.groupby("family"):
            by_size = g.groupby("variant")["parameters"].median().sort_values()
            largest[family] = by_size.index[-1]
            if len(by_size) < 2:
                continue
            rows += _compare(g, scenario, family, "range", by_size.index[-1], by_size.index[0])
            if len(by_size) > 2:
                rows += _compare(g, scenario, family, "last step", by_size.index[-1], by_size.index[-2])
        if len(largest) == 2:
            (fa, va), (fb, vb) = sorted(largest.items())
            rows += _compare(sg, scenario, f"{fa} vs {fb}", "families", va, vb)
    tests = pd.DataFrame(rows)
    if not tests.empty:
        tests["p_holm"] = holm(tests["p_t"].fillna(1.0).to_numpy())
    return tests


def _compare(g: pd.DataFrame, scenario: str, family: str, kind: str, a_variant: str, b_variant: str) -> list[dict]:
    a = g[g["variant"] == a_variant].set_index("seed")
    b = g[g["variant"] == b_variant].set_index("seed")
    seeds = a.index.intersection(b.index)
    out = []
    for question, col, direction in QUESTIONS:
        if a[col].isna().all():
            continue
        c = paired_comparison(a.loc[seeds, col].to_numpy(), b.loc[seeds, col].to_numpy())
        out.append({"scenario": scenario, "family": family, "comparison": kind, "question": question, "metric": col,
                    "direction": direction, "a": a_variant, "b": b_variant,
                    "parameters_a": int(a["parameters"].median()), "parameters_b": int(b["parameters"].median()),
                    "censored_a": float(a["censored"].mean()), "censored_b": float(b["censored"].mean()), **c})
    return out


def _finding(r: pd.Series) -> tuple[str, bool | None]:
    """One clause about one paired test, and whether it found an improvement (None:
    not measurable — TTR95 censored in most seeds on both sides)."""
    if r["metric"] == "ttr95" and min(r["censored_a"], r["censored_b"]) >= 0.5:
        return (f"adaptation could not be measured (TTR95 censored at the horizon in "
                f"{r['censored_a']:.0%} and {r['censored_b']:.0%} of seeds)"), None
    better = r["mean_diff"] * r["direction"] > 0
    significant = r["p_holm"] < LEVEL
    verb = ("bought" if better else "cost") if significant else "made no detectable difference to"
    what = "expected utility ratio" if r["metric"] == "eur" else "TTR95, iterations"
    return (f"{verb} {r['question']} ({what} {r['mean_diff']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}], "
            f"{r['n_seeds']} paired seeds, Holm p = {r['p_holm']:.2g})"), better and significant


def _verdicts(sizes: pd.DataFrame, tests: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (scenario, family), t in tests.groupby(["scenario", "family"], sort=False):
        clauses, found = [], {}
        for kind, label in (("range", "the whole range"), ("last step", "the last step"), ("families", "")):
            part = t[t["comparison"] == kind]
            if part.empty:
                continue
            first = part.iloc[0]
            bits = []
            for _, r in part.iterrows():
                clause, ok = _finding(r)
                bits.append(clause)
                if kind == "range":
                    found[r["question"]] = ok
            if kind == "families":
                head = (f"{first['a']} ({first['parameters_a']:,}) vs {first['b']} ({first['parameters_b']:,}): "
                        f"{first['a'].split('-')[0]} ")
            else:
                head = f"{label}, {first['parameters_b']:,} → {first['parameters_a']:,} parameters, "
            clauses.append(head + "; ".join(bits))
        if family in set(sizes["family"]):
            s = sizes[(sizes["scenario"] == scenario) & (sizes["family"] == family)]
            best = s.loc[s["eur"].idxmax()]
            clauses.append(f"highest utility ratio at {best['variant']} ({int(best['parameters']):,} parameters, "
                           f"{best['eur']:.3f})")
            acc, ada = found.get("accuracy", False), found.get("adaptation")
            if ada is None:
                answer = ("accuracy" if acc else "neither") + (" (adaptation not measured)" if "adaptation" in found
                                                               else " (no drift event)")
            else:
                answer = {(True, True): "both", (True, False): "accuracy only", (False, True): "adaptation speed only",
                          (False, False): "neither"}[(acc, ada)]
        else:
            answer = "—"
        out.append({"scenario": scenario, "family": family, "size buys": answer,
                    "sentence": f"{scenario}, {family}: " + "; ".join(clauses) + "."})
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------- rendering
def render_markdown(study: SizeStudy) -> str:
    lines = ["Each row: one encoder size, means across seeds with 95 % intervals (TTR95: the seed-mean curve's, "
             "bootstrap interval; censored recoveries count as the horizon).", "",
             "| scenario | encoder | variant | parameters | seeds | eur | NDCG | TTR95 | s per retrain |",
             "|---|---|---|---|---|---|---|---|---|"]
    for _, r in study.sizes.iterrows():
        ttr = "–" if np.isnan(r["ttr95"]) else (f"{r['ttr95']:.0f} [{r['ttr95_lo']:.0f}, {r['ttr95_hi']:.0f}], "
                                                 f"{r['ttr95_censored_share']:.0%} censored")
        lines.append(f"| {r['scenario']} | {r['family']} | {r['variant']} | {int(r['parameters']):,} | {r['n_seeds']} | "
                     f"{r['eur']:.3f} [{r['eur_lo']:.3f}, {r['eur_hi']:.3f}] | {r['ndcg']:.3f} [{r['ndcg_lo']:.3f}, "
                     f"{r['ndcg_hi']:.3f}] | {ttr} | {r['train_s']:.2f} |")
    lines += ["", "## Verdict: does size buy accuracy, adaptation speed, both, or neither?", "",
              "The answer compares each encoder's largest size with its smallest, paired by seed (same seed = same "
              "world); the sentences add the last step of size (largest vs the next size down) and the two encoders' "
              "largest sizes against each other. Holm over every test in this section; TTR95 censored at the horizon "
              "in most seeds on both sides is reported as not measurable.", "",
              "| scenario | encoder | size buys |", "|---|---|---|"]
    lines += [f"| {r['scenario']} | {r['family']} | **{r['size buys']}** |" for _, r in study.verdicts.iterrows()
              if r["size buys"] != "—"]
    lines.append("")
    lines += [f"> {r['sentence']}" for _, r in study.verdicts.iterrows()]
    if (study.sizes["n_seeds"] < 10).any():
        lines += ["", "> Fewer than 10 seeds for some sizes: read the intervals, not the bold claims."]
    return "\n".join(lines)


def plot_size_study(axes, study: SizeStudy, scenario: str, colours: dict[str, str]) -> pd.DataFrame:
    """Four panels against parameter count (log axis): utility ratio, NDCG, TTR95, seconds per retrain."""
    s = study.sizes[study.sizes["scenario"] == scenario]
    panels = [("eur", "expected utility ratio"), ("ndcg", "graded NDCG"), ("ttr95", "TTR95 (iterations; hollow: censored)"),
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
            if col == "ttr95":  # censored in most seeds: a hollow marker at the horizon
                cens = g["ttr95_censored_share"].to_numpy(float) >= 0.5
                ax.scatter(g["parameters"][cens], y[cens], s=80, facecolors="white", edgecolors=colours.get(family),
                           zorder=3, label=f"{family}: censored" if cens.any() else None)
        ax.set_xscale("log")
        ax.set_xlabel("trainable parameters")
        ax.set_title(label, fontsize=10)
        if col == "train_s":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8, frameon=False)
    return s
