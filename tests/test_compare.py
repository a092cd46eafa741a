"""``recdrift compare``: verdicts that a real regression trips and noise does not."""

import shutil

import pandas as pd
import pytest

from reports.compare import compare_runs, write_compare_report
from sim.cli import EXIT_BAD_INPUT, EXIT_OK, EXIT_REGRESSION, main
from sim.runner import run, write_run
from conftest import tiny


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """v1: popularity and random on 10 seeds of a small abrupt shift; v2: the same
    except that popularity lost its signal (its rows are random's); other: v1's code
    on ten other seeds; renamed: another scenario."""
    root = tmp_path_factory.mktemp("compare")
    sc = tiny("abrupt_shift", users=80, items=100, iterations=16)
    write_run(run(sc, list(range(10)), ["popularity", "random"]), root / "v1", command="v1")
    shutil.copytree(root / "v1", root / "v2")
    m = pd.read_parquet(root / "v2" / "metrics.parquet")
    pop = m.recommender == "popularity"
    rnd = m[m.recommender == "random"].set_index(["seed", "iteration", "metric"])["value"]
    m.loc[pop, "value"] = rnd.reindex(pd.MultiIndex.from_frame(m.loc[pop, ["seed", "iteration", "metric"]])).to_numpy()
    m.to_parquet(root / "v2" / "metrics.parquet", index=False)
    write_run(run(sc, list(range(10, 20)), ["popularity", "random"]), root / "other", command="other")
    write_run(run(sc.replace(name="elsewhere"), [0, 1], ["random"]), root / "renamed", command="renamed")
    return root


def test_a_real_regression_is_worse_and_trips_the_guard(runs, capsys):
    c = compare_runs([runs / "v1", runs / "v2"], guards=["eur"])
    row = c.table.set_index(["recommender", "metric"])
    assert row.loc[("popularity", "eur"), "verdict"] == "worse"
    assert row.loc[("popularity", "eur"), "ci_high"] < 0
    assert row.loc[("popularity", "gini"), "verdict"] == "better"  # random spreads exposure: lower Gini
    assert (row.loc["random", "verdict"] == "identical").all()
    assert list(c.regressions.metric) == ["eur"]
    assert main(["compare", str(runs / "v1"), str(runs / "v2"), "--guard", "eur,ndcg"]) == EXIT_REGRESSION
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "| v2 | popularity | eur ↑ (guard) |" in out
    # the same regression, but not guarded: reported, exit 0
    assert main(["compare", str(runs / "v1"), str(runs / "v2"), "--guard", "ild"]) == EXIT_OK


def test_no_change_where_nothing_changed(runs):
    same = compare_runs([runs / "v1", runs / "v1"], guards=list(("eur", "ndcg", "gini")))
    assert (same.table["verdict"] == "identical").all() and same.regressions.empty
    # the same code on ten other worlds: unpaired (Welch), and no verdict on the guards
    other = compare_runs([runs / "v1", runs / "other"], guards=["eur", "ndcg"])
    assert not other.table["paired"].any()
    assert set(other.table["verdict"]) <= {"no detectable change", "better", "worse"}
    assert other.regressions.empty
    assert any("same seeds" in w for w in other.warnings)


def test_report_has_verdicts_and_figures_embedded(runs, tmp_path):
    c = compare_runs([runs / "v1", runs / "v2"], labels=["before", "after"], guards=["eur"])
    written = write_compare_report(c, tmp_path)
    page = written["html"].read_text()
    assert "id='verdicts'" in page and "REGRESSION" in page and "<strong>worse</strong>" in page
    for fig_id in ("differences", "eur", "ndcg_util", "ild", "coverage"):
        assert f"id='fig-{fig_id}'" in page
    assert "https://" not in page and "http://" not in page
    assert (tmp_path / "figures" / "differences.png").exists() and "| after | popularity |" in written["md"].read_text()


def test_bad_comparisons_are_bad_input(runs, capsys):
    assert main(["compare", str(runs / "v1")]) == EXIT_BAD_INPUT
    assert main(["compare", str(runs / "v1"), str(runs / "renamed")]) == EXIT_BAD_INPUT
    assert "scenario 'elsewhere'" in capsys.readouterr().err
    assert main(["compare", str(runs / "v1"), str(runs / "v2"), "--guard", "accuracy"]) == EXIT_BAD_INPUT
    assert main(["compare", str(runs / "v1"), str(runs / "missing")]) == EXIT_BAD_INPUT
    assert main(["compare", str(runs / "v1"), str(runs / "v2"), "--labels", "a"]) == EXIT_BAD_INPUT
