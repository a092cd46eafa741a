"""``recdrift report SWEEP_DIR``: the page of a finished sweep.

What was run (cells complete and failed, variants), then — for any sweep with a
size axis (:mod:`reports.size_study`) — the size study: a table per size, the
verdict per scenario and encoder, and per scenario one figure of utility ratio,
NDCG, TTR95 and seconds per retrain against parameter count.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from reports.figures import palette, plt
from reports.page import Figure, render_png, write_page
from reports.size_study import plot_size_study, render_markdown, size_study


def build_sweep_report(sweep_dir: str | Path, out: str | Path | None = None,
                       formats: tuple[str, ...] = ("html", "md")) -> dict[str, Path]:
    sweep_dir = Path(sweep_dir)
    info_path = sweep_dir / "sweep.json"
    if not info_path.exists():
        raise FileNotFoundError(f"{sweep_dir}: no sweep.json (not a finished sweep directory)")
    info = json.loads(info_path.read_text())
    out = Path(out) if out is not None else sweep_dir / "report"
    cells = pd.DataFrame(info["cells"])
    spec = info.get("sweep") or {}
    about = [("sweep", spec.get("name", sweep_dir.name)),
             ("cells", f"{info['complete']} complete, {info['failed']} failed, of {len(cells)}"),
             ("scenarios", ", ".join(sorted(cells["scenario"].unique()))),
             ("variants", ", ".join(dict.fromkeys(cells["variant"]))),
             ("recommenders", ", ".join(sorted(cells["recommender"].unique()))),
             ("seeds", f"{cells['seed'].nunique()} ({cells['seed'].min()}–{cells['seed'].max()})"),
             ("seconds", f"{info.get('seconds', float('nan')):.0f} (this invocation; cells skipped as complete cost nothing)")]
    sections = []
    failed = cells[cells["status"].str.startswith("failed")]
    if len(failed):
        rows = "\n".join(f"| {r.key} | {r.status} |" for r in failed.itertuples())
        sections.append(("failed", "Failed cells", "| cell | error |\n|---|---|\n" + rows))
    figures = []
    study = size_study(sweep_dir)
    if study is not None:
        sections.append(("size", "Model size", render_markdown(study)))
        colours = palette(sorted(study.sizes["family"].unique()))
        for scenario in sorted(study.sizes["scenario"].unique()):
            fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
            data = plot_size_study(axes, study, scenario, colours)
            fig.suptitle(f"{scenario}: metrics against encoder size (95 % intervals across seeds)", fontsize=11)
            figures.append(Figure(f"size-{scenario}", f"Model size — {scenario}", render_png(fig), {"sizes": data}))
    else:
        sections.append(("size", "Model size", "> This sweep has no size axis (no encoder takes more than one size)."))
    return write_page(out, "report", f"recdrift sweep report: {about[0][1]}", about, sections, figures, formats)
