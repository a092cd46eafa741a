"""The report: every section and figure, images embedded, plotted data = the metric table."""

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

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


def test_exposure_totals_match_the_slates_and_the_lorenz_figure_plots_them():
    exposure = pd.read_parquet(RUN / "exposure.parquet")
    metrics = pd.read_parquet(RUN / "metrics.parquet")
    active = metrics[metrics.metric == "active_users"].groupby(["recommender", "seed"])["value"].sum()
    shown = exposure.groupby(["recommender", "seed"])["exposure"].sum()
    np.testing.assert_allclose(shown.sort_index(), 5 * active.sort_index())  # k = 5 items per slate, no warm-up
    figs, _ = make_figures(RUN)
    lorenz = {f.fig_id: f for f in figs}["lorenz"].data["curves"]
    gini_rows = metrics[metrics.metric == "gini_exposure"]
    for rec, c in lorenz.items():
        assert c.exposure_share[0] == 0 and c.exposure_share[-1] == pytest.approx(1)
        assert np.all(np.diff(c.exposure_share) >= -1e-12) and np.all(c.exposure_share <= c.item_share + 1e-12)
    # random spreads impressions, popularity concentrates them: the curves and their Gini say so
    assert lorenz["random"].gini < 0.3 < lorenz["popularity"].gini
    assert lorenz["random"].exposure_share[100] > lorenz["popularity"].exposure_share[100] + 0.2
    assert gini_rows[gini_rows.recommender == "random"].value.mean() < gini_rows[gini_rows.recommender == "popularity"].value.mean()


def test_pattern_figure_shows_the_full_pipelines_shares():
    figs, _ = make_figures(RUN)
    sizes = {f.fig_id: f for f in figs}["pattern_sizes"].data["sizes"]
    metrics = pd.read_parquet(RUN / "metrics.parquet")
    rows = metrics[(metrics.recommender == "full") & (metrics.seed == 0) & metrics.metric.str.startswith("rec:pattern_share[")]
    assert sizes.recommender == "full" and len(sizes.iteration) == rows.iteration.nunique()
    np.testing.assert_allclose(np.nansum(sizes.shares, axis=1), 1.0)  # shares of users sum to one at each update


def test_best_value_per_column_is_bold_and_the_oracle_never_is(tmp_path):
    written = build_report(RUN, tmp_path, ("md",))
    md = written["md"].read_text()
    table = [line for line in md.splitlines() if line.startswith("| ") and "[" in line and "vs" not in line]
    rows = {line.split("|")[1].strip(): line.split("|")[2:] for line in table if line.split("|")[1].strip() in
            ("full", "cf", "popularity", "random", "oracle")}
    eur_final = {r: float(cells[0].strip("* ").split()[0]) for r, cells in rows.items()}
    best = max((r for r in eur_final if r != "oracle"), key=eur_final.get)
    assert rows[best][0].strip().startswith("**")
    assert not any(rows[r][0].strip().startswith("**") for r in rows if r != best)
    gini_col = 7  # gini_exposure mean ↓: lowest is best (random spreads exposure)
    assert rows["random"][gini_col].strip().startswith("**")
    assert "<strong>" in build_report(RUN, tmp_path / "h", ("html",))["html"].read_text()


def _chromium():
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip("headless Chromium not installed (Debian: apt install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,2000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)


def _render(driver, page: Path, screenshot: Path):
    """(images as [complete, naturalWidth], severe console messages) after loading ``page``."""
    driver.get(page.as_uri())
    images = driver.execute_script("return Array.from(document.images).map(i => [i.complete, i.naturalWidth]);")
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    driver.save_screenshot(str(screenshot))
    return images, errors


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path):
    driver = _chromium()
    try:
        # the check itself must see a broken page: a missing image and a script error
        bad = tmp_path / "bad.html"
        bad.write_text("<html><body><img src='missing.png'><script>undefined_function()</script></body></html>")
        images, errors = _render(driver, bad, tmp_path / "bad.png")
        assert errors and not all(w > 0 for _, w in images)
        page = build_report(RUN, tmp_path / "report", ("html",))["html"]
        images, errors = _render(driver, page, tmp_path / "report.png")
        n_figures = len(make_figures(RUN)[0])
        assert len(images) == n_figures and all(done and width > 0 for done, width in images), images
        assert errors == []
        assert (tmp_path / "report.png").stat().st_size > 10_000
    finally:
        driver.quit()
