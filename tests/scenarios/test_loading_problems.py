"""scenarios.loading.problems: every problem of a document at once, as parse would word each."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from mockserver import strategies
from mockserver.scenarios.loading import ScenarioError, library, parse, problems, read_file, refusal, source_problems


def test_every_library_scenario_has_none():
    for entry in library():
        assert problems(read_file(entry.path)) == [], entry.name


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.scenarios())
def test_a_drawn_scenario_has_none(doc):
    assert problems(doc) == []


@pytest.mark.parametrize(
    "doc",
    [
        {"seed": "x"},
        {"bogus": 1},
        {"rules": [{"when": {"endpoint": "submit"}, "explode": 1}]},
        {"rules": [{"when": {"prompt": "("}, "respond": {"status": 500}}]},
        {"models": {"gpt-imag": {"price": 1}}},
        {"accounts": [{"key": "a"}, {"key": "a"}]},
        {"rules": 5},
        "not a mapping",
        {"when": float("nan")},
    ],
)
def test_a_single_problem_is_the_one_parse_raises(doc):
    with pytest.raises(ScenarioError) as raised:
        parse(doc)
    assert [str(p) for p in problems(doc)] == [str(raised.value)]


def test_all_problems_at_once_in_document_order():
    doc = {
        "name": "broken",
        "rules": [
            {"when": {"model": "nano-bananna"}, "respond": {"status": 500}},
            {"when": {"endpoint": "submit"}, "explode": 1},
            {"when": {"prompt": "("}, "respond": {"status": 500}},
        ],
        "models": {"gpt-imag": {"price": 1}},
        "accounts": [{"key": "a"}, {"key": "a"}],
        "seed": "x",
    }
    assert [str(p) for p in problems(doc)] == [
        "rules/0/when/model: no model matches 'nano-bananna' (did you mean 'nano-banana'?)",
        "rules/1: unknown key 'explode'",
        "rules/2/when/prompt: invalid regular expression '(': missing ), unterminated subpattern at position 0",
        "models/gpt-imag: no model matches 'gpt-imag' (did you mean 'gpt-image-2'?)",
        "seed: expected integer, got string 'x'",
    ]
    # Accounts are checked once the rest of the document is clean.
    del doc["seed"]
    assert str(problems(doc)[-1]) == "accounts/1/key: duplicate key 'a'"


def test_the_refusal_wording(tmp_path):
    one = [ScenarioError("seed", "expected integer, got string 'x'")]
    assert refusal("s.yaml", one) == "s.yaml: invalid scenario: seed: expected integer, got string 'x'"
    two = [*one, ScenarioError("", "unknown key 'bogus'")]
    assert refusal("s.yaml", two) == (
        "s.yaml: invalid scenario, 2 problems:\n  seed: expected integer, got string 'x'\n  (root): unknown key 'bogus'"
    )
    missing = source_problems(str(tmp_path / "none.yaml"))
    assert refusal(str(tmp_path / "none.yaml"), missing) == f"no such file: {tmp_path / 'none.yaml'}"
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n")
    assert refusal(str(bad), source_problems(str(bad))).startswith(f"{bad}: invalid YAML")
