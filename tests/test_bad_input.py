"""Every malformed scenario gets exit code 2 and one line naming file, field and expectation."""

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from sim import resources
from sim.cli import main
from sim.scenario import Scenario, ScenarioError, scenario_from_dict

CORPUS = Path(__file__).parent / "data" / "bad_scenarios"
CASES = [line.split("\t") for line in (CORPUS / "expectations.txt").read_text().splitlines() if line]


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 40
    assert {f for f, *_ in CASES} == {p.name for p in CORPUS.glob("*.toml")}


@pytest.mark.parametrize("name,field,expect", CASES, ids=[c[0] for c in CASES])
def test_bad_scenario_is_rejected_with_one_clear_line(name, field, expect, capsys, monkeypatch):
    monkeypatch.setattr(resources, "available_bytes", lambda: 16 * 2**30)  # the same verdict on any machine
    path = str(CORPUS / name)
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert "Traceback" not in err
    assert line.startswith(f"recdrift: error: {path}: " + (f"{field}:" if field else "")), line
    assert expect in line, line


VALID = {"name": "fuzz", "iterations": 8, "k": 3, "world": {"users": {"n": 20}, "items": {"n": 30}}}
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=8), st.lists(st.integers(-3, 50), max_size=3))
keys = st.sampled_from(["name", "k", "iterations", "world", "users", "items", "n", "dim", "drift", "type", "onset",
                        "fraction", "choice", "temperature", "metrics", "families", "schedule", "bogus"])
documents = st.recursive(st.dictionaries(keys, scalars, max_size=5), lambda inner: st.dictionaries(keys, inner | scalars, max_size=5), max_leaves=20)


@st.composite
def mutated(draw):
    """A valid document with one path replaced by arbitrary data."""
    import copy

    doc = copy.deepcopy(VALID)
    path = draw(st.sampled_from([("k",), ("iterations",), ("world", "users", "n"), ("world", "items"), ("drift",),
                                 ("choice",), ("world", "dim"), ("name",), ("metrics",), ("extra",)]))
    target = doc
    for p in path[:-1]:
        target = target.setdefault(p, {})
    target[path[-1]] = draw(documents | scalars | st.lists(documents, max_size=2))
    return doc


@given(st.one_of(documents, mutated()))
@settings(max_examples=200)
def test_loader_returns_a_scenario_or_raises_its_own_error(doc):
    try:
        sc = scenario_from_dict(doc, "fuzz.toml")
    except ScenarioError as exc:
        assert str(exc).startswith("fuzz.toml: ") and "\n" not in str(exc)
    else:
        assert isinstance(sc, Scenario)


def test_memory_guard_refuses_with_the_estimate_and_the_remedy(monkeypatch):
    sc = Scenario.model_validate({"name": "big", "world": {"users": {"n": 1000}}})
    with pytest.raises(ScenarioError, match=r"estimated peak memory .* GiB exceeds .*reduce it with"):
        resources.check_fits(sc, ["random"], available=10 * 2**20)
    assert resources.check_fits(sc, ["random"], available=64 * 2**30)["total"] > 0
    small = resources.estimate_peak_bytes(sc)["total"]
    bigger = resources.estimate_peak_bytes(sc.replace(world={**sc.world.model_dump(), "users": {"n": 100_000}}))["total"]
    assert bigger > small  # grows with users, and linearly (no users × items term)
