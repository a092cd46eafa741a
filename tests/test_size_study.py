"""Sweep variants and the size study: a sweep with an encoder-size axis gets a
size section (table, verdict, figure); one without says it has none."""

import json

import numpy as np
import pytest

from sim.cli import EXIT_BAD_INPUT, main
from sim.sweep import load_sweep, run_sweep

SIZE_SWEEP = """
name = "sizes"
scenarios = ["abrupt_shift"]
recommenders = ["full"]
seeds = 3
[shrink]
users = 60
items = 50
iterations = 20
[set]
"recommenders.full.epochs" = 2
"recommenders.full.sequence_length" = 5
[[variants]]
name = "dae-small"
"recommenders.full.dim" = 2
"recommenders.full.hidden" = [4]
[[variants]]
name = "dae-big"
"recommenders.full.dim" = 32
"recommenders.full.hidden" = [128]
[[variants]]
name = "att-small"
"recommenders.full.encoder" = "attention"
"recommenders.full.dim" = 4
"recommenders.full.layers" = 1
"recommenders.full.heads" = 1
[[variants]]
name = "att-big"
"recommenders.full.encoder" = "attention"
"recommenders.full.dim" = 32
"recommenders.full.layers" = 2
"recommenders.full.heads" = 4
"""


def test_variants_are_crossed_with_the_grid_and_set_applies_to_all(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SIZE_SWEEP + '[grid]\n"choice.temperature" = [0.1, 0.2]\n')
    spec, cells = load_sweep(path)
    assert len(cells) == 4 * 2 * 3
    variants = {c.variant for c in cells}
    assert "att-big,choice.temperature=0.2" in variants and len(variants) == 8
    big = next(c for c in cells if c.variant.startswith("att-big"))
    f = big.scenario.recommenders.full
    assert (f.encoder, f.dim, f.layers, f.heads, f.epochs, f.sequence_length) == ("attention", 32, 2, 4, 2, 5)
    assert next(c for c in cells if c.variant.startswith("dae-small")).scenario.recommenders.full.epochs == 2


@pytest.mark.parametrize("extra, field", [
    ('[[variants]]\nname = "dae-big"\n"recommenders.full.dim" = 8\n', "variants.4"),
    ('[[variants]]\nname = "odd"\n"recommenders.full.encoder" = "attention"\n"recommenders.full.dim" = 6\n'
     '"recommenders.full.heads" = 4\n', "heads"),
])
def test_bad_variants_name_the_problem(tmp_path, capsys, extra, field):
    path = tmp_path / "s.toml"
    path.write_text(SIZE_SWEEP + extra)
    assert main(["sweep", str(path), "--out", str(tmp_path / "o")]) == EXIT_BAD_INPUT
    assert field in capsys.readouterr().err


@pytest.mark.slow
def test_a_sweep_with_a_size_axis_gets_a_size_study(tmp_path):
    from reports.size_study import size_study

    path = tmp_path / "s.toml"
    path.write_text(SIZE_SWEEP)
    spec, cells = load_sweep(path)
    result = run_sweep(cells, tmp_path / "out", scheduler="serial", spec=spec)
    assert not result.failed
    study = size_study(tmp_path / "out")
    sizes = study.sizes.set_index("variant")
    assert sizes.loc["dae-big", "parameters"] > 10 * sizes.loc["dae-small", "parameters"]
    assert sizes.loc["att-big", "parameters"] > 10 * sizes.loc["att-small", "parameters"]
    assert (sizes["n_seeds"] == 3).all() and sizes["eur"].between(0, 1).all()
    assert sizes["ttr95"].notna().all() and (sizes["train_s"] > 0).all()
    # the verdict compares the largest with the smallest size of each encoder, paired by seed
    t = study.tests
    assert set(t["family"]) == {"dae", "attention", "attention vs dae"}
    assert set(t["question"]) == {"accuracy", "adaptation"}
    acc = t[(t["family"] == "dae") & (t["comparison"] == "range") & (t["question"] == "accuracy")].iloc[0]
    ps = study.per_seed.set_index(["variant", "seed"])["eur"]
    expected = np.mean([ps["dae-big", s] - ps["dae-small", s] for s in range(3)])
    assert acc["mean_diff"] == pytest.approx(expected) and acc["n_seeds"] == 3
    answers = set(study.verdicts.set_index("family").loc[["dae", "attention"], "size buys"])
    assert answers <= {"both", "accuracy only", "adaptation speed only", "neither", "accuracy (adaptation not measured)",
                       "neither (adaptation not measured)"}
    assert main(["report", str(tmp_path / "out"), "--out", str(tmp_path / "rep")]) == 0
    page = (tmp_path / "rep" / "report.md").read_text()
    assert "## Model size" in page and "size buys" in page and (tmp_path / "rep" / "figures" / "size-abrupt_shift-small.png").exists()
    manifest = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert manifest["scenarios"]["abrupt_shift-small/att-big"]["recommenders"]["full"]["encoder"] == "attention"


def test_a_sweep_without_a_size_axis_says_so(tmp_path):
    from reports.size_study import size_study

    path = tmp_path / "s.toml"
    path.write_text('name = "plain"\nscenarios = ["stable"]\nrecommenders = ["popularity"]\nseeds = 1\n'
                    '[shrink]\nusers = 30\nitems = 30\niterations = 4\n')
    spec, cells = load_sweep(path)
    run_sweep(cells, tmp_path / "out", scheduler="serial", spec=spec)
    assert size_study(tmp_path / "out") is None
    assert main(["report", str(tmp_path / "out"), "--out", str(tmp_path / "rep")]) == 0
    assert "no size axis" in (tmp_path / "rep" / "report.md").read_text()
