
import pytest

from scenarios import shipped_scenarios
from sim.scenario import ScenarioError, load_scenario, scenario_from_dict
from conftest import needs_fetched_data


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.stem)
def test_every_shipped_scenario_is_valid_and_documented(path):
    if why := needs_fetched_data(path):
        pytest.skip(why)
    sc = load_scenario(path)
    assert sc.name == path.stem and sc.description
    text = path.read_text()
    assert text.startswith("#") and "Expect" in text
    for line in text.splitlines():  # every key carries a comment with its meaning
        if "=" in line and not line.lstrip().startswith("#") and not line.startswith("description"):
            assert "#" in line, f"{path.name}: uncommented key: {line}"


CASES = [
    ({"name": "x", "iteratons": 5}, "iteratons", "did you mean 'iterations'"),
    ({"name": "x", "world": {"users": {"n": -3}}}, "world.users.n", "greater than or equal to 1"),
    ({"name": "x", "k": "ten"}, "k", "valid integer"),
    ({"iterations": 5}, "name", "required"),
    ({"name": "x", "iterations": 10, "drift": [{"type": "abrupt", "onset": 12}]}, "drift[0].onset", "past the horizon"),
    ({"name": "x", "drift": [{"type": "abrupt", "onset": 3, "fraction": 1.5}]}, "drift[0].fraction", "less than or equal to 1"),
    ({"name": "x", "k": 50, "world": {"items": {"n": 20}}}, "k", "larger than the eligible catalogue"),
    ({"name": "x", "choice": {"temperature": float("nan")}}, "choice.temperature", "finite"),
    ({"name": "x", "drift": [{"type": "abrubt", "onset": 3}]}, "drift[0]", "did you mean 'abrupt'"),
    ({"name": "x", "world": {"users": {"n": 10**12}}}, "world.users.n", "less than or equal"),
]


@pytest.mark.parametrize("doc,field,expect", CASES)
def test_bad_documents_name_the_field_and_the_expectation(doc, field, expect):
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(doc, "bad.toml")
    msg = str(info.value)
    assert msg.startswith(f"bad.toml: {field}: "), msg
    assert expect in msg and "\n" not in msg


@pytest.mark.parametrize(
    "content,expect",
    [(b"", "empty scenario"), (b"name = \n", "TOML syntax error"), (b"\x00\xff\xfe garbage", "not a UTF-8"), (b"name = 'x'\nk = inf\n", "finite")],
)
def test_unreadable_files_get_one_line_errors(tmp_path, content, expect):
    p = tmp_path / "broken.toml"
    p.write_bytes(content)
    with pytest.raises(ScenarioError, match=expect) as info:
        load_scenario(p)
    assert str(p) in str(info.value)


def test_scenario_is_frozen_and_hash_is_stable():
    sc = load_scenario("stable")
    with pytest.raises(Exception):
        sc.k = 3
    assert sc.digest() == load_scenario("stable").digest() != sc.replace(k=5).digest()
