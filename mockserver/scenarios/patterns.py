"""Rule patterns (``when.prompt``, ``when.header``): regular expressions that cannot stall the server.

A backtracking engine can take exponential time on a nested repeat (``^(a+)+$`` and 26 letters
took 3.9 s) and polynomial time on adjacent ones (``.*.*x`` on 5,000 letters took 100 s), while the
server answers every client on one thread. Two guards:

- when a scenario is loaded, a repeat inside a repeat (``(a+)+``, ``(\\w+\\s?)*``, ``(a|ab)*``) is
  refused with the rule's JSON path; the possessive and atomic forms Python 3.11 has
  (``(a+)++``, ``(?>a+)+``) do not backtrack and are accepted;
- every search runs on the ``regex`` engine with a time bound (MATCH_TIMEOUT_S): a search that
  runs out of time counts as "no match". A static check cannot see the polynomial cases without
  refusing everyday patterns such as ``.*foo.*bar``; only a clock can.

Patterns are compiled by both ``re`` (the syntax users know, and its parser for the static check)
and ``regex`` in its re-compatible VERSION0 mode, which runs them.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import regex

__all__ = ["MATCH_TIMEOUT_S", "MAX_PATTERN_LENGTH", "BoundedPattern", "PatternError", "compile_pattern"]

MATCH_TIMEOUT_S = 0.02  # one search; a rule has at most a prompt and a few header patterns
MAX_PATTERN_LENGTH = 1000  # the scenario schema says the same

# The parser behind re.compile (Python 3.11+), used read-only to look at a pattern's shape; private,
# so typeshed does not describe it.
_c: Any = importlib.import_module("re._constants")
_sre_parse: Any = importlib.import_module("re._parser")


class PatternError(ValueError):
    """A pattern refused when loaded: the message says why and how to rewrite it."""


@dataclass(frozen=True, slots=True)
class BoundedPattern:
    """A compiled rule pattern whose searches stop after ``timeout_s`` (then: no match)."""

    pattern: str
    _compiled: regex.Pattern = field(repr=False, compare=False)
    timeout_s: float = MATCH_TIMEOUT_S

    def search(self, text: str) -> bool:
        try:
            return self._compiled.search(text, timeout=self.timeout_s) is not None
        except TimeoutError:
            return False


def compile_pattern(pattern: str, timeout_s: float = MATCH_TIMEOUT_S) -> BoundedPattern:
    """A rule pattern, checked: PatternError when it does not compile or can backtrack exponentially."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"the pattern is {len(pattern)} characters; at most {MAX_PATTERN_LENGTH}")
    try:
        re.compile(pattern)
        parsed = _sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise PatternError(f"invalid regular expression {pattern!r}: {exc}") from None
    culprit = _nested_repeat(parsed, inside=False)
    if culprit is not None:
        raise PatternError(
            f"{pattern!r} repeats {culprit} inside a repeat, which can take exponential time; "
            "rewrite it without the nesting, or make the inner part possessive (a++) or atomic (?>...)"
        )
    import regex  # here: most starts of the server compile no pattern, and importing it costs ~15 ms

    try:
        compiled = regex.compile(pattern, regex.VERSION0)
    except (regex.error, RecursionError, OverflowError) as exc:  # pragma: no cover - re accepted it
        raise PatternError(f"invalid regular expression {pattern!r}: {exc}") from None
    return BoundedPattern(pattern, compiled, timeout_s)


_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT)


def _nested_repeat(parsed, inside: bool) -> str | None:
    """The first thing that can match in many ways under a variable repeat ("a repeat", "an alternation")."""
    for op, av in parsed:
        if op in _REPEATS:
            lo, hi, body = av
            variable = hi != lo
            if inside and variable:
                return "a repeat"
            found = _nested_repeat(body, inside or (variable and hi > 1))
            if found is not None:
                return found
        elif op is _c.BRANCH:
            if inside:
                return "an alternation"
            for alternative in av[1]:
                found = _nested_repeat(alternative, inside)
                if found is not None:
                    return found
        elif op is _c.SUBPATTERN:
            found = _nested_repeat(av[-1], inside)
            if found is not None:
                return found
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            found = _nested_repeat(av[1], inside)
            if found is not None:
                return found
        elif op is _c.GROUPREF_EXISTS:
            for branch in av[1:]:
                if branch is not None:
                    found = _nested_repeat(branch, inside)
                    if found is not None:
                        return found
        # ATOMIC_GROUP and POSSESSIVE_REPEAT never backtrack into themselves: safe anywhere.
    return None
