"""The report: every section and figure, images embedded, plotted data = the metric table."""

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from reports.build import OVER_TIME, build_report, make_figures
from sim.cli import main

RUN = Path(__file__).parent / "data" / "tiny_run"


def test_report_has_every_section_and_figure_with_images_embedded(tmp_path):
    written = build_report(RUN, tmp_path)
    page = written["html"].read_text()
    for section in ("what", "headline", "figures"):
        assert f"id='{section}'" in page
    for fig_id in ("eur", "ndcg_util", "ctr", "ild", "coverage", "gini", "homogenisation", "event0", "tradeoff"):
        assert f"id='fig-{fig_id}'" in page, fig_id
    srcs = re.findall(r"src='([^']*)'", page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)  # nothing external
    assert "http://" not in page and "https://" not in page
    md = written["md"].read_text()
    for link in re.findall(r"\]\((figures/[^)]+)\)", md):
        assert (tmp_path / link).exists()
    assert "## Headline" in md and "| recommender |" in md


def test_plotted_curves_equal_the_metric_table():
    figs, _ = make_figures(RUN)
    metrics = pd.read_parquet(RUN / "metrics.parquet")
    by_id = {f.fig_id: f for f in figs}
    for fig_id, metric, *_ in OVER_TIME:
        metric = metric.format(k=5)
        if fig_id not in by_id:
            assert metric not in set(metrics.metric)
            continue
        expected = metrics[metrics.metric == metric].groupby(["recommender", "iteration"])["value"].mean()
        for rec, curve in by_id[fig_id].data["curves"].items():
            np.testing.assert_allclose(curve.mean, expected.loc[rec].to_numpy(), rtol=1e-12, err_msg=f"{fig_id}/{rec}")
    event = by_id["event0"].data["curves"]
    curves = pd.read_parquet(RUN / "event_curves.parquet")
    pop = curves[(curves.recommender == "popularity") & (curves.event_id == 0)]
    q = (pop.eu_sum / pop.eu_oracle_sum).groupby(pop.tau).mean()
    np.testing.assert_allclose(event["popularity"][1], q.to_numpy())


def test_report_command_writes_and_prints_paths(tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    assert main(["report", str(run), "--format", "html"]) == 0
    assert (run / "report" / "report.html").exists() and "report.html" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["report", str(run), "--format", "pdf"]) == 2
