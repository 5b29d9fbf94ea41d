"""Rule patterns cannot stall the server: nested repeats are refused at load, every search has a time bound."""

from __future__ import annotations

import time

import pytest

from mockserver.scenarios.loading import ScenarioError, parse
from mockserver.scenarios.patterns import MATCH_TIMEOUT_S, PatternError, compile_pattern


@pytest.mark.parametrize(
    "pattern",
    [r"^(a+)+$", r"(a*)*", r"(\w+\s?)*$", r"(a|ab)*c", r"((ab)+c?)+", r"(?:x(?:y+))*", r"(a{1,3}){2,}"],
)
def test_nested_repeats_are_refused(pattern):
    with pytest.raises(PatternError, match="inside a repeat"):
        compile_pattern(pattern)


@pytest.mark.parametrize(
    "pattern",
    [r"(?i)violence", r"^(?:draw|paint) ", r".*foo.*bar", r"(ab){3}", r"(a++)+", r"(?>a+)+$", r"[a-z]+\d*", r"(a+)?"],
)
def test_everyday_patterns_are_accepted(pattern):
    assert compile_pattern(pattern).pattern == pattern


def test_a_pattern_too_long_or_invalid_is_refused():
    with pytest.raises(PatternError, match="at most 1000"):
        compile_pattern("a" * 1001)
    with pytest.raises(PatternError, match="invalid regular expression"):
        compile_pattern("(")


def test_a_polynomial_search_stops_at_its_time_bound():
    # .*.*x on 5,000 letters takes ~100 s on a backtracking engine; here it is cut short.
    pattern = compile_pattern(r".*.*x")
    started = time.perf_counter()
    assert pattern.search("a" * 5000) is False
    assert time.perf_counter() - started < MATCH_TIMEOUT_S + 0.5
    assert pattern.search("a" * 50 + "x") is True


def test_the_loader_names_the_rule_and_field():
    with pytest.raises(ScenarioError) as err:
        parse({"rules": [{"when": {"prompt": "^(a+)+$"}, "fail": {"code": "CONTENT_VIOLATION"}}]})
    assert err.value.path == "rules/0/when/prompt"
    with pytest.raises(ScenarioError) as err:
        parse({"rules": [{"when": {"header": {"x-a": "(b*)*"}}, "respond": {"status": 500}}]})
    assert err.value.path == "rules/0/when/header/x-a"
