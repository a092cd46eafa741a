"""``recdrift report RUN_DIR``: a self-contained HTML page and a Markdown version.

Built from the run's files only (``manifest.json``, ``metrics.parquet``,
``events.parquet``, ``event_curves.parquet``, ``timings.parquet``), so a report can
be rebuilt without rerunning. The HTML embeds every figure as a base64 PNG (one
file, no network needed); the Markdown links the same PNGs written beside it.
Order: what was run → headline table → figures.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from reports import figures as F
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
    ("patterns", "rec:pattern_switch_share", "Interest-pattern dynamics (full pipeline)", "share of users changing pattern"),
]


@dataclass
class Figure:
    fig_id: str
    title: str
    png: bytes
    data: dict = field(repr=False, default_factory=dict)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    F.plt.close(fig)
    return buf.getvalue()


def _legend(ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)


def make_figures(run_dir: str | Path) -> tuple[list[Figure], dict]:
    """Every figure of a run (with the data each one plotted) and the summary tables."""
    run_dir = Path(run_dir)
    metrics, events, manifest = load_run(run_dir)
    sc = manifest["scenario"]
    recs = list(manifest["recommenders"])
    colours = F.palette(recs)
    onsets = sorted({int(d.get("onset", d.get("start", 0))) for d in sc.get("drift", []) if d["type"] in ("abrupt", "directed")})
    out: list[Figure] = []
    for fig_id, metric, title, ylabel in OVER_TIME:
        metric = metric.format(k=sc["k"])
        curves = F.curve_data(metrics, metric)
        if not curves:
            continue
        fig, ax = F.new_axes()
        F.plot_metric_over_time(ax, curves, colours, title=title, ylabel=ylabel, onsets=onsets)
        _legend(ax)
        out.append(Figure(fig_id, title, _png(fig), {"metric": metric, "curves": curves}))
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
            _legend(ax)
            out.append(Figure(f"event{event_id}", title, _png(fig), {"curves": data}))
    tables = summarise(metrics, events, manifest)
    head = tables["headline"]
    if {"eur mean", "ild_emb mean"} <= set(head.columns):
        pts = head.rename(columns=lambda c: c.replace(" mean", ""))[["eur", "eur lo", "eur hi", "ild_emb", "ild_emb lo", "ild_emb hi"]]
        fig, ax = F.new_axes(6.5, 4.2)
        F.plot_tradeoff(ax, pts.astype(float), colours, x="ild_emb", y="eur")
        out.append(Figure("tradeoff", "Accuracy–diversity trade-off", _png(fig), {"points": pts}))
    timings_path = run_dir / "timings.parquet"
    if timings_path.exists():
        t = pd.read_parquet(timings_path)
        train = t[t["metric"] == "train_seconds"]
        curves = F.curve_data(train, "train_seconds")
        if curves and any(np.nanmax(c.mean) > 0 for c in curves.values()):
            fig, ax = F.new_axes()
            F.plot_metric_over_time(ax, curves, colours, title="Training cost", ylabel="seconds per update", onsets=onsets)
            _legend(ax)
            out.append(Figure("training", "Training cost", _png(fig), {"curves": curves}))
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
    ]


def build_report(run_dir: str | Path, out: str | Path | None = None, formats: tuple[str, ...] = ("html", "md")) -> dict[str, Path]:
    """Write ``report.html`` and/or ``report.md`` (with ``figures/*.png``); returns their paths."""
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    figs, ctx = make_figures(run_dir)
    manifest = ctx["manifest"]
    summary_md = render_markdown(ctx["tables"], manifest)
    written: dict[str, Path] = {}
    if "md" in formats:
        (out / "figures").mkdir(exist_ok=True)
        lines = [f"# recdrift report: {manifest['scenario']['name']}", "", "## What was run", ""]
        lines += [f"- **{k}**: {v}" for k, v in _what_was_run(manifest)]
        lines += ["", "## Headline", "", summary_md, "## Figures", ""]
        for f in figs:
            (out / "figures" / f"{f.fig_id}.png").write_bytes(f.png)
            lines += [f"### {f.title}", "", f"![{f.title}](figures/{f.fig_id}.png)", ""]
        written["md"] = out / "report.md"
        written["md"].write_text("\n".join(lines))
    if "html" in formats:
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in _what_was_run(manifest))
        body = [f"<h1>recdrift report: {html.escape(manifest['scenario']['name'])}</h1>",
                "<h2 id='what'>What was run</h2>", f"<table class='kv'>{rows}</table>",
                "<h2 id='headline'>Headline</h2>", _markdown_tables_to_html(summary_md), "<h2 id='figures'>Figures</h2>"]
        for f in figs:
            b64 = base64.b64encode(f.png).decode()
            body.append(f"<figure id='fig-{f.fig_id}'><img alt='{html.escape(f.title)}' src='data:image/png;base64,{b64}'>"
                        f"<figcaption>{html.escape(f.title)}</figcaption></figure>")
        page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>recdrift: "
                f"{html.escape(manifest['scenario']['name'])}</title><style>{_CSS}</style></head><body>"
                + "\n".join(body) + "</body></html>")
        written["html"] = out / "report.html"
        written["html"].write_text(page)
    return written


def _markdown_tables_to_html(md: str) -> str:
    """The summary's Markdown (paragraphs and pipe tables) as HTML."""
    out, table = [], []

    def flush():
        if table:
            head, *rows = [r for r in table if not set(r.replace("|", "").strip()) <= {"-"}]
            cells = lambda r: [c.strip() for c in r.strip().strip("|").split("|")]  # noqa: E731
            out.append("<table><thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cells(head)) + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells(r)) + "</tr>" for r in rows)
                       + "</tbody></table>")
            table.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("## "):
            out.append(f"<h3>{html.escape(line[3:])}</h3>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    flush()
    return "\n".join(out)


_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}
thead th{background:#f3f3f3}table.kv th{background:#fafafa;width:9em}figure{margin:1.5em 0}img{max-width:100%}
figcaption{font-size:13px;color:#555}"""
