"""``recdrift report RUN_DIR``: a self-contained HTML page and a Markdown version.

Built from the run's files only (``manifest.json``, ``metrics.parquet``,
``events.parquet``, ``event_curves.parquet``, ``timings.parquet``), so a report can
be rebuilt without rerunning. The HTML embeds every figure as a base64 PNG (one
file, no network needed); the Markdown links the same PNGs written beside it.
Order: what was run → headline table → figures.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from reports import figures as F
from reports.page import Figure, legend_outside, render_png, write_page
from sim.summary import load_run, render_markdown, summarise

#: (figure id, metric id — {k} is the slate length, title, y label)
OVER_TIME = [
    ("eur", "eur", "Expected utility ratio (1 = oracle)", "Σ utility / Σ oracle utility"),
    ("ndcg_util", "ndcg@{k}[util]", "Graded NDCG of slates", "NDCG@k, gain = true utility"),
    ("ctr", "ctr_item", "Click-through rate", "clicks / shown items"),
    ("ild", "ild_emb", "Intra-list diversity", "mean pairwise 1 − cos (true item vectors)"),
    ("coverage", "coverage_cum", "Cumulative catalogue coverage", "share of items ever shown"),
    ("gini", "gini_exposure", "Exposure concentration", "Gini of exposure (0 = equal)"),
    ("homogenisation", "hom_int", "Homogenisation of consumption", "mean Jaccard of consumed sets"),
    ("patterns", "rec:pattern_switch_share", "Users changing interest pattern at each update", "share of users re-assigned"),
]


def make_figures(run_dir: str | Path) -> tuple[list[Figure], dict]:
    """Every figure of a run (with the data each one plotted) and the summary tables."""
    run_dir = Path(run_dir)
    metrics, events, manifest = load_run(run_dir)
    sc = manifest["scenario"]
    recs = list(manifest["recommenders"])
    colours = F.palette(recs)
    onsets = F.drift_onsets(sc)
    out: list[Figure] = []
    for fig_id, metric, title, ylabel in OVER_TIME:
        metric = metric.format(k=sc["k"])
        curves = F.curve_data(metrics, metric)
        if not curves:
            continue
        fig, ax = F.new_axes()
        F.plot_metric_over_time(ax, curves, colours, title=title, ylabel=ylabel, onsets=onsets)
        legend_outside(ax)
        out.append(Figure(fig_id, title, render_png(fig), {"metric": metric, "curves": curves}))
    curves_path = run_dir / "event_curves.parquet"
    if curves_path.exists() and not events.empty:
        ec = pd.read_parquet(curves_path)
        agg = events[events["aggregate"]]
        for event_id in sorted(agg["event_id"].unique())[:4]:
            rows = agg[agg["event_id"] == event_id].set_index("recommender")
            if rows["skipped"].astype(bool).all():
                continue
            data = F.event_curve_data(ec, event_id)
            kind, onset = rows["kind"].iloc[0], int(rows["onset"].iloc[0])
            fig, ax = F.new_axes()
            title = f"Adaptation after event {event_id} ({kind} at t={onset})"
            F.plot_event_aligned(ax, data, colours, rows[["b", "ttr95"]].astype(float), title=title)
            legend_outside(ax)
            out.append(Figure(f"event{event_id}", title, render_png(fig), {"curves": data}))
    tables = summarise(metrics, events, manifest)
    head = tables["headline"]
    if {"eur mean", "ild_emb mean"} <= set(head.columns):
        pts = head.rename(columns=lambda c: c.replace(" mean", ""))[["eur", "eur lo", "eur hi", "ild_emb", "ild_emb lo", "ild_emb hi"]]
        fig, ax = F.new_axes(6.5, 4.2)
        F.plot_tradeoff(ax, pts.astype(float), colours, x="ild_emb", y="eur")
        legend_outside(ax)
        out.append(Figure("tradeoff", "Accuracy–diversity trade-off", render_png(fig), {"points": pts}))
    exposure_path = run_dir / "exposure.parquet"
    if exposure_path.exists():
        lorenz = F.lorenz_data(pd.read_parquet(exposure_path))
        if lorenz:
            fig, ax = F.new_axes(6.5, 4.6)
            F.plot_lorenz(ax, lorenz, colours)
            legend_outside(ax)
            out.append(Figure("lorenz", "Exposure Lorenz curves", render_png(fig), {"curves": lorenz}))
    with_patterns = [r for r in recs if (metrics["metric"].str.startswith("rec:pattern_share[")
                                         & (metrics["recommender"] == r)).any()]
    if with_patterns:
        rec = "full" if "full" in with_patterns else with_patterns[0]
        sizes = F.pattern_size_data(metrics, rec)
        fig, ax = F.new_axes()
        F.plot_pattern_sizes(ax, sizes, onsets)
        if sizes.shares.shape[1] <= 16:
            legend_outside(ax)
        out.append(Figure("pattern_sizes", f"Interest-pattern sizes ({rec})", render_png(fig), {"sizes": sizes}))
    timings_path = run_dir / "timings.parquet"
    if timings_path.exists():
        t = pd.read_parquet(timings_path)
        train = t[t["metric"] == "train_seconds"]
        # seed means only (a t-band has no meaning on a log axis); recommenders that (almost)
        # never train are left out
        curves = {r: replace(c, n_seeds=1) for r, c in F.curve_data(train, "train_seconds").items()
                  if np.nanmax(c.mean) >= 1e-2}
        if curves:  # log scale: first fits dwarf the updates
            fig, ax = F.new_axes()
            F.plot_metric_over_time(ax, curves, colours, title="Training cost (recommenders that train)",
                                    ylabel="seconds per update (log)", onsets=onsets)
            ax.set_yscale("log")
            legend_outside(ax)
            out.append(Figure("training", "Training cost", render_png(fig), {"curves": curves}))
    return out, {"tables": tables, "manifest": manifest}


def _what_was_run(manifest: dict) -> list[tuple[str, str]]:
    sc = manifest["scenario"]
    w = sc["world"]
    return [
        ("scenario", f"{sc['name']} v{sc.get('version', 1)}: {sc.get('description', '')}"),
        ("world", f"{w['users']['n']} users, {w['items']['n']} items, d = {w['dim']}, k = {sc['k']}, {sc['iterations']} iterations"),
        ("drift", ", ".join(f"{d['type']}" + (f" at t={d['onset']}" if "onset" in d else "") for d in sc.get("drift", [])) or "none"),
        ("seeds", f"{len(manifest['seeds'])} ({', '.join(map(str, manifest['seeds'][:12]))}{'…' if len(manifest['seeds']) > 12 else ''})"),
        ("recommenders", ", ".join(manifest["recommenders"])),
        ("versions", ", ".join(f"{k} {v}" for k, v in manifest.get("versions", {}).items())),
        ("duration", f"{manifest.get('seconds', 0):.0f} s, {manifest.get('started', '')} → {manifest.get('finished', '')}"),
        ("status", manifest.get("status", "complete")),
    ] + ([("calibration", _calibration(manifest["calibration"]))] if "calibration" in manifest else []) + (
        [("encoders", "; ".join(f"{r}: {e['parameters']:,} trainable parameters, trained on {e['device']}"
                                for r, e in manifest["encoders"].items()))] if "encoders" in manifest else [])


def _calibration(c: dict) -> str:
    return (f"{c['source']} ({c['users']} users, {c['items']} items, {c['interactions']} interactions): {c['method']}, "
            f"d = {c['dim']}; held-out AUC {c['holdout_auc']:.3f}; simulated vs real item popularity Spearman "
            f"{c['popularity_spearman']:.3f}; engagement (ratings ≥ 4) {c['engagement']:.3f} → mean μ of logged "
            f"pairs {c['mean_mu_logged']:.3f} (T = {c['temperature']:.3g}, no-click utility {c['no_click_utility']:.3g})")


def build_report(run_dir: str | Path, out: str | Path | None = None, formats: tuple[str, ...] = ("html", "md")) -> dict[str, Path]:
    """Write ``report.html`` and/or ``report.md`` (with ``figures/*.png``); returns their paths."""
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "report"
    figs, ctx = make_figures(run_dir)
    manifest = ctx["manifest"]
    summary_md = render_markdown(ctx["tables"], manifest)
    return write_page(out, "report", f"recdrift report: {manifest['scenario']['name']}", _what_was_run(manifest),
                      [("headline", "Headline", summary_md)], figs, formats)
