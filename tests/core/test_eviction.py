"""Eviction: a task is kept until its end + the results TTL + --evict-after, then forgotten with
everything kept for it, and what is kept per key goes with the key's last task."""

from __future__ import annotations

import pytest

from mockserver.core.config import Settings
from mockserver.core.service import MockService
from mockserver.core.tasks import EVICTED_KEPT, keep_until

TTL = 10_000
MARGIN = 5_000
BODY = {"input": {"mode": "text-to-image", "prompt": "a fox"}}


def service(**kw) -> MockService:
    scenario = {"results": {"ttl_ms": TTL}, "limits": {"concurrent_tasks": 10**6}, **kw.pop("scenario", {})}
    return MockService(Settings(**{"clock": "manual", "seed": 3, "evict_after_ms": MARGIN, "scenario": scenario, **kw}))


def submit(mock: MockService, key: str = "k", **kw):
    dialect = mock.dialects["apixo"]
    mock.admit(key)  # as the HTTP layer does for every API request
    return mock.submit(key, dialect, kw.pop("body", BODY), "nano-banana", **kw)


def test_a_task_is_kept_until_its_end_plus_the_ttl_plus_the_margin():
    mock = service()
    task = submit(mock)
    due = keep_until(task, TTL + MARGIN)
    assert due == task.end_ms + TTL + MARGIN
    mock.advance_to(due - 1)
    assert mock.store.get(task.task_id) is task
    mock.advance_to(due)
    assert mock.store.get(task.task_id) is None
    assert task.task_id in mock.store.evicted and mock.store.evicted_total == 1


def test_evict_after_none_keeps_every_task():
    mock = service(evict_after_ms=None)
    task = submit(mock)
    mock.advance(10**12)
    assert mock.store.get(task.task_id) is task and mock.store.evicted_total == 0


def test_a_task_that_ends_late_waits_for_its_own_end_not_its_creation():
    mock = service()
    quick = submit(mock)
    slow = submit(mock)
    slow.processing_ms += 60_000  # created together, ends a minute later
    mock.advance_to(quick.end_ms + TTL + MARGIN)
    assert mock.store.get(quick.task_id) is None and mock.store.get(slow.task_id) is slow
    mock.advance_to(slow.end_ms + TTL + MARGIN - 1)
    assert mock.store.get(slow.task_id) is slow
    mock.advance(1)
    assert mock.store.get(slow.task_id) is None


def test_a_poll_driven_task_nobody_polled_to_its_end_goes_its_lifetime_after_creation():
    mock = service(scenario={"models": {"nano-banana": {"progression": "polls"}}})
    task = submit(mock)
    assert task.progression == "polls"
    mock.advance_to(task.created_ms + TTL + MARGIN - 1)
    assert mock.store.get(task.task_id) is task
    mock.advance(1)
    assert mock.store.get(task.task_id) is None


def test_a_poll_driven_task_polled_to_its_end_is_kept_from_that_end():
    mock = service(scenario={"models": {"nano-banana": {"progression": "polls"}}})
    task = submit(mock)
    mock.advance(TTL)
    while mock.poll(task)[0] not in ("success", "failed"):
        pass
    ended = task.poll_done_ms
    assert ended == task.created_ms + TTL
    mock.advance_to(task.created_ms + TTL + MARGIN)  # its creation-based due time: it ended since
    assert mock.store.get(task.task_id) is task
    mock.advance_to(ended + TTL + MARGIN)
    assert mock.store.get(task.task_id) is None


def test_a_same_key_resubmit_after_eviction_makes_a_new_task():
    mock = service()
    first = submit(mock, idempotency_key="once")
    assert submit(mock, idempotency_key="once") is first
    mock.advance_to(first.end_ms + TTL + MARGIN)
    assert mock.store.idempotency == {}
    second = submit(mock, idempotency_key="once", body={"input": {"mode": "text-to-image", "prompt": "other"}})
    assert second is not first and mock.store.get(second.task_id) is second


def test_a_failed_task_is_refunded_before_it_is_forgotten():
    mock = service(api_keys={"k": 100.0})
    task = submit(mock)
    mock.plan_failure(task, "CONTENT_POLICY")
    assert mock.accounts.balance("k") == 100 - task.cost
    mock.advance_to(task.end_ms + TTL + MARGIN)  # nobody asked for the balance meanwhile
    assert mock.store.get(task.task_id) is None
    assert mock.accounts.balance("k") == 100  # refunded, and a configured key keeps its account
    assert mock.accounts.describe("k")["spent"] == 0
    assert mock._unrefunded == {}


def test_per_key_state_is_gone_once_every_task_of_many_keys_is_evicted():
    mock = service()
    keys = [f"sk_{n}" for n in range(3000)]  # past the rate windows' scan floor
    last = None
    for key in keys:
        last = submit(mock, key, idempotency_key="i")
        mock.plan_failure(last, "CONTENT_POLICY")  # some refund bookkeeping per key too
    assert len(mock.store.per_key) == len(keys) and len(mock.accounts.spent) == len(keys)
    assert last is not None
    mock.advance_to(last.end_ms + TTL + MARGIN + 60_000)
    assert len(mock.store) == 0 and mock.store.evicted_total == len(keys)
    assert mock.store.per_key == {} and mock.store.idempotency == {} and mock.store._idem_of == {}
    assert mock.accounts.spent == {} and mock._unrefunded == {}
    assert mock.limits._tasks == {}
    newcomer = submit(mock, "sk_new")  # a new key's window makes room: the idle ones go
    assert set(mock.limits._windows) == {"sk_new"}
    assert mock.store.per_key == {"sk_new": 1} and set(mock.accounts.spent) == {"sk_new"}
    assert len(mock.store.evicted) == min(len(keys), EVICTED_KEPT)
    assert mock.store.get(newcomer.task_id) is newcomer


def test_the_evicted_ids_remembered_are_bounded():
    mock = service()
    mock.store.evicted.clear()
    for _ in range(5):
        submit(mock)
    mock.advance(10**9)
    assert len(mock.store.evicted) == 5
    from mockserver.core import tasks

    assert tasks.EVICTED_KEPT >= 1000  # late polls hear "evicted" for a good while


@pytest.mark.parametrize("bad", [-1, True])
def test_settings_refuse_a_negative_margin(bad):
    with pytest.raises(ValueError, match="evict_after_ms"):
        Settings(evict_after_ms=bad)


def test_the_flag_and_the_environment_set_the_margin(capsys, monkeypatch):
    from mockserver.cli import build_parser, main, settings_from_args
    from mockserver.core.config import DEFAULT_EVICT_AFTER_MS

    def settings(argv: list[str], env: dict[str, str]) -> Settings:
        return settings_from_args(build_parser().parse_args(["serve", *argv]), env)

    assert settings([], {}).evict_after_ms == DEFAULT_EVICT_AFTER_MS
    assert settings(["--evict-after", "off"], {}).evict_after_ms is None
    assert settings(["--evict-after", "5000"], {"MOCKSERVER_EVICT_AFTER_MS": "never"}).evict_after_ms == 5000
    assert settings([], {"MOCKSERVER_EVICT_AFTER_MS": "off"}).evict_after_ms is None
    assert settings([], {"MOCKSERVER_EVICT_AFTER_MS": "70"}).evict_after_ms == 70
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["serve", "--evict-after", "soon"])
    assert exc.value.code == 2 and "--evict-after" in capsys.readouterr().err
    monkeypatch.setenv("MOCKSERVER_EVICT_AFTER_MS", "-3")
    assert main(["serve"]) == 2
    assert "MOCKSERVER_EVICT_AFTER_MS" in capsys.readouterr().err
