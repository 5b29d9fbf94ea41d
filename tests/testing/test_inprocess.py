"""mockserver.testing.inprocess: the app driven in the caller's thread, on a private loop."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest

from mockserver.http.app import create_app
from mockserver.testing.inprocess import PrivateLoop, in_process_client

JOB = {"input": {"mode": "text-to-image", "prompt": "a red fox"}}
AUTH = {"Authorization": "Bearer sk_test"}


def test_requests_run_in_the_calling_thread():
    app = create_app(clock="manual")
    seen = []

    async def spy(scope, receive, send):
        seen.append(threading.current_thread())
        await app(scope, receive, send)

    spy.state = app.state  # type: ignore[attr-defined]
    with in_process_client(spy) as http:
        assert http.post("/api/v1/generateTask/nano-banana", json=JOB, headers=AUTH).status_code == 200
    assert seen and all(thread is threading.current_thread() for thread in seen)


def test_a_sync_client_works_inside_a_running_loop():
    """Sync code in an async test: this thread runs a loop already, so a helper runs ours."""
    with in_process_client(create_app(clock="manual")) as http:

        async def inside() -> int:
            return http.post("/api/v1/generateTask/nano-banana", json=JOB, headers=AUTH).status_code

        assert asyncio.run(inside()) == 200


def test_head_answers_carry_no_body_and_the_scope_is_testclients():
    with in_process_client(create_app(clock="manual")) as http:
        head = http.head("/openapi.json")
        assert head.status_code == 200 and head.content == b""
        assert http.get("/openapi.json").json()["openapi"].startswith("3.")
        assert http.headers["user-agent"] == "testclient"


def test_a_coroutine_error_is_raised_in_the_caller_and_the_loop_goes_on():
    loop = PrivateLoop()

    async def boom() -> None:
        raise ValueError("boom")

    async def fine() -> int:
        await asyncio.sleep(0)
        return 7

    with pytest.raises(ValueError, match="boom"):
        loop.run(boom())
    assert loop.run(fine()) == 7
    loop.close()
    assert loop.loop.is_closed()


def test_a_call_from_another_thread_is_served_while_one_runs():
    loop = PrivateLoop()
    release = asyncio.Event()
    entered = threading.Event()

    async def held() -> str:
        entered.set()
        await release.wait()
        return "held"

    async def quick() -> str:
        loop.loop.call_soon(release.set)  # the quick call, served meanwhile, lets the held one end
        return "quick"

    results: dict[str, str] = {}
    runner = threading.Thread(target=lambda: results.update(held=loop.run(held())))
    runner.start()
    assert entered.wait(10)
    results["quick"] = loop.run(quick())
    runner.join(10)
    assert results == {"held": "held", "quick": "quick"}
    loop.close()


def _script(fast: bool) -> tuple[tuple[list[tuple], list[dict]], list[int]]:
    """A client's requests through one transport: answers, the journal, and how often the loop ran."""
    from mockserver.testing.inprocess import InProcessTransport, settler

    app = create_app(clock="manual", seed=7, start_ms=1_700_000_000_000)
    loop = PrivateLoop(settle=settler(app), fast=fast)
    ran = []
    real = loop.loop.run_until_complete
    loop.loop.run_until_complete = lambda f: ran.append(1) or real(f)  # type: ignore[method-assign]
    loop.start_lifespan(app)
    rules = [
        {"respond": {"status": 429, "retry_after": 1}, "when": {"endpoint": "status"}, "times": 1},
        {"fault": "connection_reset", "when": {"endpoint": "status"}, "times": 1},
        {"delay": {"ms": 1}, "when": {"endpoint": "status"}, "times": 1},  # a sleep: the loop runs
    ]
    transport = InProcessTransport(app, loop)
    try:
        return _requests(transport, rules), ran
    finally:
        loop.close()


def _requests(transport: httpx.BaseTransport, rules: list[dict]) -> tuple[list[tuple], list[dict]]:
    answers: list[tuple] = []
    with httpx.Client(transport=transport, base_url="http://testserver", headers={"user-agent": "testclient"}) as http:
        polls = {"progression": "polls", "pending_polls": 1, "processing_polls": 1}
        put = http.put("/__admin/scenario", json={"name": "s", "models": {"nano-banana": polls}, "rules": rules})
        answers.append((put.status_code, put.json()["name"]))
        submit = http.post("/api/v1/generateTask/nano-banana", json=JOB, headers={**AUTH, "Idempotency-Key": "k1"})
        answers.append((submit.status_code, submit.headers.multi_items(), submit.content))
        task_id = submit.json()["data"]["taskId"]
        data: dict = {}
        for _ in range(10):
            try:
                poll = http.get("/api/v1/statusTask/nano-banana", params={"taskId": task_id}, headers=AUTH)
            except httpx.ReadError as exc:
                answers.append(("ReadError", str(exc)))
                continue
            answers.append((poll.status_code, poll.headers.multi_items(), poll.content))
            data = poll.json().get("data") or {}
            if data.get("state") == "success":
                break
        url = json.loads(data["resultJson"])["resultUrls"][0]
        for method in ("GET", "HEAD"):
            file = http.request(method, url)
            answers.append((file.status_code, file.headers.multi_items(), file.content))
        journal = http.get("/__admin/journal").json()["entries"]
    return answers, journal


def test_the_fast_step_answers_exactly_as_the_loop_does():
    """Requests that never suspend skip the loop; one that sleeps (a delay rule) still runs on it."""
    (answers, journal), fast_runs = _script(fast=True)
    (slow_answers, slow_journal), slow_runs = _script(fast=False)
    assert answers == slow_answers
    assert journal == slow_journal
    assert any(a[0] == "ReadError" for a in answers) and any(a[0] == 429 for a in answers)
    runs_fast, runs_slow = len(fast_runs), len(slow_runs)
    # At least the submit, the three polls without a delay and both downloads skipped the loop;
    # the lifespan, the delayed poll and the scenario upload (a thread-pool handler) ran it.
    assert runs_slow - runs_fast >= 6


def test_the_fast_step_runs_inside_a_task_on_the_private_loop():
    loop = PrivateLoop()
    seen = []

    async def where() -> None:
        seen.append((asyncio.get_running_loop(), asyncio.current_task() is not None))

    loop.run(where())
    assert seen == [(loop.loop, True)]
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()  # set only while the step ran
    loop.close()


def test_work_left_on_the_loop_is_run_before_the_call_returns():
    loop = PrivateLoop()
    done = []

    async def schedule() -> str:
        asyncio.get_running_loop().call_soon(done.append, "later")
        return "now"

    assert loop.run(schedule()) == "now"
    assert done == ["later"]
    loop.close()


def test_a_submit_in_process_needs_no_pass_of_the_loop():
    """The body is in hand: reading it arms no timeout (whose cancelled timer the loop would have
    to clear), so a submit is answered in its first step like a poll."""
    from mockserver.testing.inprocess import InProcessTransport, settler

    app = create_app(clock="manual")
    loop = PrivateLoop(settle=settler(app))
    loop.start_lifespan(app)
    ran = []
    real = loop.loop.run_until_complete
    loop.loop.run_until_complete = lambda f: ran.append(1) or real(f)  # type: ignore[method-assign]
    try:
        with httpx.Client(transport=InProcessTransport(app, loop), base_url="http://testserver") as http:
            for n in range(3):
                headers = {**AUTH, "Idempotency-Key": f"k{n}"}
                r = http.post("/api/v1/generateTask/nano-banana", json=JOB, headers=headers)
                assert r.status_code == 200, r.text
            assert ran == []
            assert not loop.loop._scheduled  # type: ignore[attr-defined]
    finally:
        loop.close()


def test_a_body_that_is_not_in_hand_still_times_out():
    """Only the in-process transport says the body is in hand; without that, a body that does not
    come is refused when the timeout passes, as a server's requests are."""
    from starlette.requests import Request

    from mockserver.core.errors import RequestTimeout
    from mockserver.http.requests import BODY_IN_HAND, read_body

    async def never() -> dict:
        await asyncio.Event().wait()  # a body that never comes: only the timeout ends the read
        raise AssertionError("unreachable")

    async def at_once() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    with pytest.raises(RequestTimeout):
        asyncio.run(read_body(Request(scope, never), 100, 0.01))
    assert asyncio.run(read_body(Request({**scope, BODY_IN_HAND: True}, at_once), 100, 0.01)) == b"{}"
