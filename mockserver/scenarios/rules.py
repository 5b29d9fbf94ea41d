"""Scenario rules: which request a rule matches, and what it does. Plain Python, no HTTP.

A rule has conditions (``when``) and actions. For each request the rules are tried in
order; the first whose conditions hold and whose gates (nth, after, times,
probability) let it through acts, and no other rule is tried. A rule whose
conditions hold counts the request as one *match* even when a gate stops it.

Every random choice (probability, delay lengths, timing ranges) is drawn from a hash
of (seed, rule index, match count): the same scenario, seed and requests give the
same decisions whatever the interleaving of clients or keys.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from statistics import NormalDist
from typing import Any

from mockserver.core.words import CALLBACK, ENDPOINT_KINDS, FILES, HTTP_KINDS, STATUS, SUBMIT, TASK_KINDS
from mockserver.scenarios.patterns import BoundedPattern

__all__ = [
    "ENDPOINTS",
    "CallbackAction",
    "Decision",
    "Delay",
    "Facts",
    "Fail",
    "Fault",
    "Respond",
    "Rule",
    "RuleSet",
    "Timing",
    "unit",
]

# Rules match on the core's endpoint kinds; scenario files may also use a dialect's own names
# (generateTask for submit), which the loader translates.
ENDPOINTS: tuple[str, ...] = ENDPOINT_KINDS
HTTP_ENDPOINTS = HTTP_KINDS
# Endpoints whose requests concern a task (so model, prompt, provider... are known).
TASK_ENDPOINTS = TASK_KINDS

# Where each action can act, and where a rule that names no endpoint acts by default.
ACTION_ENDPOINTS: dict[str, frozenset[str]] = {
    "respond": HTTP_ENDPOINTS,
    "delay": HTTP_ENDPOINTS,
    "fault": HTTP_ENDPOINTS,
    "fail": frozenset((SUBMIT, STATUS)),
    "timing": frozenset((SUBMIT,)),
    "callback": frozenset((CALLBACK,)),
}
ACTION_DEFAULT_ENDPOINTS: dict[str, frozenset[str]] = {
    **ACTION_ENDPOINTS,
    # A failure or a timing named without an endpoint is about the task being created.
    "fail": frozenset((SUBMIT,)),
}
# Conditions that only make sense on some endpoints (elsewhere they never hold).
CONDITION_ENDPOINTS: dict[str, frozenset[str]] = {
    "model": TASK_ENDPOINTS,
    "prompt": TASK_ENDPOINTS,
    "image_url": frozenset((SUBMIT,)),  # a task keeps no image URLs: only its submit shows them
    "provider": TASK_ENDPOINTS,
    "request_type": TASK_ENDPOINTS,
    "task_state": frozenset((STATUS, FILES, CALLBACK)),
    "header": HTTP_ENDPOINTS,
    "attempt": frozenset((CALLBACK,)),
}

MAX_DELAY_MS = 600_000  # a lognormal tail is capped: no single delay beyond 10 minutes
DEFAULT_CALLBACK_MS = {"drop": 0, "duplicate": 0, "delay": 60_000}
_NORMAL = NormalDist()


def unit(seed: int, index: int, count: int, salt: str) -> float:
    """A number in (0, 1) fixed by (seed, rule index, match count, purpose)."""
    digest = hashlib.blake2b(f"{seed}/{index}/{count}/{salt}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2.0**64


@dataclass(slots=True)
class Facts:
    """What a rule can look at in one request (None: unknown or not applicable)."""

    endpoint: str
    model: str | None = None
    key: str | None = None
    prompt: str | None = None
    provider: str | None = None
    request_type: str | None = None
    task_state: str | None = None
    # Request headers; a Starlette Headers object or any mapping with lower-case names.
    headers: Mapping[str, str] = field(default_factory=dict)
    attempt: int | None = None
    dialect: str | None = None  # the name of the dialect the request (or its task) speaks
    image_urls: tuple[str, ...] = ()  # a submit's image URLs (the strings among them)


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer with this status and envelope instead of the real one."""

    status: int
    message: str | None = None
    retry_after: float | None = None
    headers: tuple[tuple[str, str], ...] = ()
    has_body: bool = False
    body: Any = None  # the envelope's data when has_body
    as_200: bool = False


@dataclass(frozen=True, slots=True)
class Fail:
    """The task ends failed with this code (at pending or processing)."""

    code: str
    message: str | None = None
    at: str = "processing"


@dataclass(frozen=True, slots=True)
class Timing:
    """This task's own timing: fields left None keep the model's."""

    pending_ms: int | None = None
    processing_ms: tuple[int, int] | None = None
    progression: str | None = None
    pending_polls: int | None = None
    processing_polls: int | None = None

    def resolve(self, u: float) -> Timing:
        """The same timing with the processing range drawn (``u`` in (0, 1))."""
        if self.processing_ms is None or self.processing_ms[0] == self.processing_ms[1]:
            return self
        lo, hi = self.processing_ms
        value = min(hi, lo + int(u * (hi - lo + 1)))
        return Timing(
            self.pending_ms,
            (value, value),
            self.progression,
            self.pending_polls,
            self.processing_polls,
        )


@dataclass(frozen=True, slots=True)
class Delay:
    """Wall-clock latency before the answer: fixed ``ms``, ``uniform`` [a, b] or ``lognormal``."""

    kind: str  # "ms" | "uniform" | "lognormal"
    a: float  # ms; uniform low; lognormal median
    b: float = 0.0  # uniform high; lognormal sigma

    def draw(self, u: float) -> int:
        if self.kind == "ms":
            ms = self.a
        elif self.kind == "uniform":
            ms = self.a + u * (self.b - self.a)
        else:
            ms = self.a * math.exp(self.b * _NORMAL.inv_cdf(u))
        return int(min(MAX_DELAY_MS, max(0.0, round(ms))))


@dataclass(frozen=True, slots=True)
class Fault:
    """A network fault; the parameters matter only to slow_body and hang."""

    kind: str
    chunk_bytes: int = 16
    interval_ms: int = 500
    max_ms: int = 600_000


@dataclass(frozen=True, slots=True)
class CallbackAction:
    """drop | duplicate | delay, and the virtual ms that goes with it."""

    action: str
    ms: int = 0


@dataclass(slots=True)
class Decision:
    """What the acting rule asks for on this request (random parts already drawn)."""

    rule: int
    respond: Respond | None = None
    fail: Fail | None = None
    timing: Timing | None = None
    delay_ms: int | None = None
    fault: Fault | None = None
    callback: CallbackAction | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule (scenario.py builds these from the validated document)."""

    index: int
    doc: Mapping[str, Any]
    endpoints: frozenset[str]
    models: tuple[str, ...] | None = None  # globs
    key: str | None = None
    prompt: BoundedPattern | None = None
    image_url: BoundedPattern | None = None
    provider: str | None = None
    request_type: str | None = None
    headers: tuple[tuple[str, BoundedPattern], ...] = ()
    task_states: frozenset[str] | None = None
    attempt: int | None = None
    dialects: frozenset[str] | None = None
    nth: int | None = None
    after: int | None = None
    probability: float | None = None
    times: int | None = None
    respond: Respond | None = None
    fail: Fail | None = None
    timing: Timing | None = None
    delay: Delay | None = None
    fault: Fault | None = None
    callback: CallbackAction | None = None

    def holds(self, f: Facts) -> bool:
        """Whether the conditions hold (the gates nth/after/times/probability aside)."""
        if f.endpoint not in self.endpoints:
            return False
        if self.models is not None and (f.model is None or not any(fnmatchcase(f.model, glob) for glob in self.models)):
            return False
        if self.key is not None and f.key != self.key:
            return False
        if self.provider is not None and f.provider != self.provider:
            return False
        if self.request_type is not None and f.request_type != self.request_type:
            return False
        if self.task_states is not None and f.task_state not in self.task_states:
            return False
        if self.attempt is not None and f.attempt != self.attempt:
            return False
        if self.dialects is not None and f.dialect not in self.dialects:
            return False
        if self.prompt is not None and (f.prompt is None or not self.prompt.search(f.prompt)):
            return False
        if self.image_url is not None and not any(self.image_url.search(url) for url in f.image_urls):
            return False
        for name, pattern in self.headers:
            value = f.headers.get(name)
            if value is None or not pattern.search(value):
                return False
        return True

    def decision(self, seed: int, count: int) -> Decision:
        delay = None
        if self.delay is not None:
            delay = self.delay.draw(unit(seed, self.index, count, "delay"))
        timing = None
        if self.timing is not None:
            timing = self.timing.resolve(unit(seed, self.index, count, "timing"))
        return Decision(
            rule=self.index,
            respond=self.respond,
            fail=self.fail,
            timing=timing,
            delay_ms=delay,
            fault=self.fault,
            callback=self.callback,
        )


class RuleSet:
    """The running rules of a scenario with their match and act counts."""

    __slots__ = ("seed", "rules", "matches", "acts", "endpoints", "_keys")

    def __init__(self, rules: tuple[Rule, ...] | list[Rule] = (), seed: int = 0) -> None:
        self.seed = seed
        self.rules: list[Rule] = []
        self.matches: list[int] = []
        self.acts: list[int] = []
        self.endpoints: frozenset[str] = frozenset()  # every endpoint some rule can act on
        # Per endpoint, the keys its rules are limited to (``when.key``); None once one takes any key.
        self._keys: dict[str, frozenset[str] | None] = {}
        for rule in rules:
            self.add(rule)

    def add(self, rule: Rule) -> None:
        if rule.index != len(self.rules):
            raise ValueError(f"rule index {rule.index} does not follow {len(self.rules) - 1}")
        self.rules.append(rule)
        self.matches.append(0)
        self.acts.append(0)
        self.endpoints = self.endpoints | rule.endpoints
        for endpoint in rule.endpoints:
            if rule.key is None:
                self._keys[endpoint] = None
            elif endpoint not in self._keys:
                self._keys[endpoint] = frozenset((rule.key,))
            elif (keys := self._keys[endpoint]) is not None:
                self._keys[endpoint] = keys | {rule.key}

    def acts_on(self, endpoint: str, key: str | None = None) -> bool:
        """Whether any rule can act on requests to ``endpoint`` (if not, decide() is always None);
        with ``key``, on that key's requests (facts with another key: no rule holds, nothing counts)."""
        if endpoint not in self.endpoints:
            return False
        if key is None:
            return True
        keys = self._keys[endpoint]
        return keys is None or key in keys

    def decide(self, facts: Facts) -> Decision | None:
        """The decision of the first rule that acts on this request, or None."""
        for rule in self.rules:
            if not rule.holds(facts):
                continue
            i = rule.index
            self.matches[i] += 1
            count = self.matches[i]
            if rule.nth is not None and count != rule.nth:
                continue
            if rule.after is not None and count <= rule.after:
                continue
            if rule.times is not None and self.acts[i] >= rule.times:
                continue
            if rule.probability is not None and unit(self.seed, i, count, "probability") >= rule.probability:
                continue
            self.acts[i] += 1
            return rule.decision(self.seed, count)
        return None

    def describe(self) -> list[dict]:
        """Each rule with its counts (for GET /__admin/rules)."""
        return [
            {
                "index": r.index,
                "rule": dict(r.doc),
                "matches": self.matches[r.index],
                "acts": self.acts[r.index],
                "spent": r.times is not None and self.acts[r.index] >= r.times,
            }
            for r in self.rules
        ]

    def __len__(self) -> int:
        return len(self.rules)

    def __bool__(self) -> bool:
        return bool(self.rules)
