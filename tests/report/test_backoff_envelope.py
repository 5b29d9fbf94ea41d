"""NO_BACKOFF judged by the envelope of the waits, with tenacity's real wait strategies.

A jittered backoff (full jitter: tenacity's ``wait_random_exponential``, the AWS form; equal
jitter; AWS's decorrelated jitter) draws each wait anywhere below a growing bound, so a wait is
often shorter than the one before: judging gap by gap (each 1.2x the last) called most full-jitter
runs NO_BACKOFF. A fixed or linear wait must still be reported.

The client is tenacity itself: ``Retrying`` retries a rule's 503 on the balance endpoint and sleeps
each wait it computes by advancing the mock's manual clock (``sleep=``), over several seeds.
"""

from __future__ import annotations

import random

import pytest
import tenacity
from tenacity import wait as tw

from tests.conftest import KEY
from tests.report.test_report import BALANCE, Feed, codes, findings

SEEDS = range(5)


class wait_decorrelated_jitter(tw.wait_base):
    """AWS's decorrelated jitter (aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter):
    sleep = min(cap, random_between(base, sleep * 3)). tenacity has none; it draws from tenacity's
    own random source, so seeding tenacity seeds it too."""

    def __init__(self, base: float = 1.0, cap: float = 30.0) -> None:
        self.base, self.cap = base, cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        previous = retry_state.upcoming_sleep if retry_state.attempt_number > 1 else self.base
        previous = max(previous, self.base)
        return min(self.cap, tw.random.uniform(self.base, previous * 3))


def full_jitter() -> tw.wait_base:
    return tw.wait_random_exponential(multiplier=1, max=30)


def equal_jitter() -> tw.wait_base:
    # half the exponential bound, plus a random draw below the other half
    return tw.wait_exponential(multiplier=0.5, max=15) + tw.wait_random_exponential(multiplier=0.5, max=15)


def exponential_jitter() -> tw.wait_base:
    return tw.wait_exponential_jitter(initial=1, max=30, jitter=1)


BACKOFFS = {
    "full jitter": full_jitter,
    "equal jitter": equal_jitter,
    "decorrelated jitter": wait_decorrelated_jitter,
    "exponential + jitter": exponential_jitter,
    "exponential x1.5": lambda: tw.wait_exponential(multiplier=1, exp_base=1.5, max=30),
}
NOT_BACKOFFS = {
    "fixed 1 s": lambda: tw.wait_fixed(1),
    "fixed 2 s + random 0-2 s": lambda: tw.wait_fixed(2) + tw.wait_random(0, 2),
    "linear 1 s, 2 s, 3 s...": lambda: tw.wait_incrementing(start=1, increment=1),
    "linear 0.5 s, 1 s, 1.5 s...": lambda: tw.wait_incrementing(start=0.5, increment=0.5),
}


def seeded(monkeypatch, seed: int) -> None:
    """tenacity draws its jitter from the module-level ``random``: give it a seeded one."""
    monkeypatch.setattr(tw, "random", random.Random(seed))


def retry_503s(api, wait: tw.wait_base, failures: int, key: str = KEY) -> list[float]:
    """A rule answers the key's next ``failures`` balance requests 503; tenacity retries until a 200,
    sleeping each wait on the manual clock. Returns the waits it slept."""
    rule = {"when": {"endpoint": "balance", "key": key}, "times": failures, "respond": {"status": 503}}
    assert api.admin("POST", "/rules", json=rule).status_code == 200
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        api.advance(max(1, round(seconds * 1000)))

    retrying = tenacity.Retrying(
        wait=wait,
        sleep=sleep,
        stop=tenacity.stop_after_attempt(failures + 1),
        retry=tenacity.retry_if_result(lambda r: r.status_code == 503),
    )
    r = retrying(api.client.get, BALANCE, headers=api.headers(key))
    assert r.status_code == 200 and len(slept) == failures
    return slept


@pytest.mark.parametrize("name", BACKOFFS)
def test_jittered_backoffs_are_backoff(api, monkeypatch, name):
    """Nine retries (tenacity's usual stop_after_attempt(10)) over five seeds: no NO_BACKOFF, though
    most full-jitter runs have a wait shorter than the one before."""
    shrinking = 0
    for seed in SEEDS:
        seeded(monkeypatch, seed)
        slept = retry_503s(api, BACKOFFS[name](), 9)
        shrinking += any(b < a * 1.2 for a, b in zip(slept, slept[1:], strict=False))
        assert codes(api) == [], (name, seed, slept)
        assert api.admin("POST", "/reset").status_code == 200
    if name == "full jitter":
        assert shrinking >= 4  # what the gap-by-gap rule called no backoff


@pytest.mark.parametrize("name", NOT_BACKOFFS)
def test_fixed_and_linear_waits_are_no_backoff(api, monkeypatch, name):
    """Twelve retries: a constant wait is reported from its 7th retry, a linear one by its 12th."""
    for seed in SEEDS[:2]:
        seeded(monkeypatch, seed)
        slept = retry_503s(api, NOT_BACKOFFS[name](), 12)
        [f] = findings(api, "NO_BACKOFF")
        assert f["severity"] == "error", (name, seed, slept)
        assert "did not slow down" in f["message"]
        assert api.admin("POST", "/reset").status_code == 200


# -- how often: the rule over many seeds, fed straight to the tracker ------------------------------


def flagged_share(make, runs: int, retries: int) -> float:
    """The share of ``runs`` seeded chains of ``retries`` retries that get a NO_BACKOFF finding."""
    flagged = 0
    for seed in range(runs):
        tw.random = random.Random(seed)  # restored by the caller's monkeypatch
        wait = make()
        feed = Feed()
        t = 0
        state = tenacity.RetryCallState(None, None, (), {})
        for attempt in range(1, retries + 2):
            feed.send(t, "GET", BALANCE, 503 if attempt <= retries else 200)
            state.attempt_number = attempt
            state.upcoming_sleep = wait(state)
            t += max(1, round(state.upcoming_sleep * 1000))
        flagged += feed.codes() == ["NO_BACKOFF"]
    return flagged / runs


def test_how_often_each_strategy_is_called_no_backoff(monkeypatch):
    """docs/report.md's figures, over 300 seeds of 10 retries (the docs quote 2,000)."""
    monkeypatch.setattr(tw, "random", tw.random)
    assert flagged_share(full_jitter, 300, 10) <= 0.01
    assert flagged_share(equal_jitter, 300, 10) == 0
    assert flagged_share(exponential_jitter, 300, 10) == 0
    assert flagged_share(wait_decorrelated_jitter, 300, 10) <= 0.03
    for name, make in NOT_BACKOFFS.items():
        assert flagged_share(make, 3, 12) == 1, name
