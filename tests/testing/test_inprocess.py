"""mockserver.testing.inprocess: the app driven in the caller's thread, on a private loop."""

from __future__ import annotations

import asyncio
import threading

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
