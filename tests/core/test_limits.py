"""Rate limits on the virtual clock: requests per minute and concurrent unfinished tasks."""

from __future__ import annotations

from mockserver.core.limits import WINDOW_MS, Limits, end_time
from mockserver.core.media import MediaSpec
from mockserver.core.redact import mask_key
from mockserver.core.tasks import Task
from tests.conftest import KEY, data_of


def task(task_id: str, created: int = 0, pending: int = 100, processing: int = 900, **kw) -> Task:
    return Task(
        task_id,
        "nano-banana",
        "apixo",
        kw.pop("key", "k"),
        created,
        pending,
        processing,
        1,
        MediaSpec("png", 1, 1),
        0,
        **kw,
    )


# ------------------------------------------------------------------ unit


def test_sliding_window_refuses_until_the_oldest_request_leaves():
    lim = Limits(requests_per_minute=3)
    assert [lim.admit("k", t) for t in (0, 10, 20)] == [None, None, None]
    assert lim.admit("k", 30) == WINDOW_MS - 30  # the request at 0 leaves the window at 60000
    assert lim.admit("other", 30) is None  # per key
    assert lim.admit("k", WINDOW_MS - 1) == 1
    assert lim.admit("k", WINDOW_MS) is None  # a slot freed exactly when promised
    assert lim.admit("k", WINDOW_MS) == 10  # and now the one at 10 is the oldest


def test_refused_requests_do_not_fill_the_window():
    lim = Limits(requests_per_minute=1)
    assert lim.admit("k", 0) is None
    for t in range(1, 50):
        assert lim.admit("k", t) == WINDOW_MS - t
    assert lim.admit("k", WINDOW_MS) is None


def test_concurrent_tasks_and_when_a_slot_frees():
    lim = Limits(concurrent_tasks=2)
    a, b = task("a", created=0, processing=900), task("b", created=0, processing=400)
    assert lim.slot_wait("k", 0) is None
    lim.track(a)
    lim.track(b)
    assert lim.unfinished("k", 0) == 2
    assert lim.slot_wait("k", 0) == 500  # b ends at 100 + 400
    assert lim.slot_wait("k", 499) == 1
    assert lim.slot_wait("k", 500) is None and lim.unfinished("k", 500) == 1
    assert lim.unfinished("k", 1000) == 0


def test_an_end_that_moves_is_followed():
    lim = Limits(concurrent_tasks=1)
    a = task("a", created=0, processing=10_000)
    lim.track(a)
    assert lim.slot_wait("k", 0) == 10_100
    a.forced_ms = 50  # an admin force, or a status rule's fail
    lim.update(a)
    assert lim.slot_wait("k", 0) == 50
    assert lim.slot_wait("k", 50) is None


def test_poll_driven_tasks_have_no_known_end_until_their_last_poll():
    lim = Limits(concurrent_tasks=1)
    a = task("a", progression="polls")
    lim.track(a)
    assert end_time(a) is None and lim.slot_wait("k", 10**9) == -1
    a.poll_done_ms = 70
    lim.update(a)
    assert lim.slot_wait("k", 70) is None


def test_many_tasks_stay_cheap():
    """Ending tasks are reaped from a heap: a large backlog costs a log per task, not a scan."""
    lim = Limits(concurrent_tasks=100_000)
    for i in range(20_000):
        lim.track(task(f"t{i}", created=i, pending=0, processing=1000))
    assert lim.unfinished("k", 0) == 20_000
    assert lim.unfinished("k", 10_999) == 10_000  # tasks created before 10000 have ended
    assert lim.unfinished("k", 21_000) == 0


# ------------------------------------------------------------------ over HTTP


def test_defaults_are_the_providers(api):
    assert (api.mock.limits.requests_per_minute, api.mock.limits.concurrent_tasks) == (
        10_000,
        1_000,
    )


def test_requests_per_minute_gives_429_with_retry_after(api):
    assert api.admin("PUT", "/scenario", json={"limits": {"requests_per_minute": 3}}).status_code == 200
    balance = "/api/v1/apikeys/current-balance"
    for _ in range(3):
        assert api.client.get(balance, headers=api.headers()).status_code == 200
        api.advance(ms=1000)
    r = api.client.get(balance, headers=api.headers())
    body = r.json()
    assert r.status_code == 429 and body["code"] == 429 and body["message"] == "Rate limit exceeded"
    assert body["retryAfter"] == 57 and r.headers["retry-after"] == "57"  # the first request leaves at 60 s
    assert "3 requests per minute" in body["data"]["error"]
    assert api.client.get(balance, headers=api.headers("sk_someone_else")).status_code == 200
    api.advance(ms=56_999)
    assert api.client.get(balance, headers=api.headers()).status_code == 429
    api.advance(ms=1)
    assert api.client.get(balance, headers=api.headers()).status_code == 200
    entry = api.admin("GET", "/journal").json()["entries"][-2]  # 1 ms to go: Retry-After rounds up
    assert (entry["status"], entry["retryAfter"]) == (429, 1)


def test_every_api_endpoint_counts_but_files_and_admin_do_not(api):
    api.admin("PUT", "/scenario", json={"limits": {"requests_per_minute": 3}})
    tid = api.submit_ok()
    api.advance(to="idle")
    assert api.status("nano-banana", tid).status_code == 200
    for _ in range(3):
        assert api.client.get(f"/files/{tid}/0.png").status_code == 200
        assert api.admin("GET", "/health").status_code == 200
    assert api.client.get("/api/v1/apikeys/current-balance", headers=api.headers()).status_code == 200
    assert api.submit().status_code == 429


def test_concurrent_tasks_gives_429_until_a_task_ends(api):
    api.admin("PUT", "/scenario", json={"limits": {"concurrent_tasks": 2}})
    first = api.submit_ok()
    api.advance(ms=500)
    api.submit_ok()
    r = api.submit()
    body = r.json()
    assert r.status_code == 429 and body["code"] == 429 and body["message"] == "Too many concurrent tasks"
    end = api.admin("GET", f"/tasks/{first}").json()
    wait_ms = end["createTime"] + end["pendingMs"] + end["processingMs"] - api.admin("GET", "/clock").json()["now"]
    assert body["retryAfter"] == -(-wait_ms // 1000) and r.headers["retry-after"] == str(body["retryAfter"])
    assert api.admin("GET", "/tasks").json()["tasks"].__len__() == 2  # refused: no task, no charge
    api.advance(ms=wait_ms - 1)
    assert api.submit().status_code == 429
    api.advance(ms=1)
    assert api.submit().status_code == 200


def test_forcing_a_task_frees_its_slot(api):
    api.admin("PUT", "/scenario", json={"limits": {"concurrent_tasks": 1}})
    tid = api.submit_ok()
    assert api.submit().status_code == 429
    assert api.admin("POST", f"/tasks/{tid}/fail", json={"code": "GENERATION_FAILED"}).status_code == 200
    assert api.submit().status_code == 200


def test_poll_driven_task_frees_its_slot_on_its_last_poll(api):
    api.admin(
        "PUT",
        "/scenario",
        json={
            "limits": {"concurrent_tasks": 1},
            "models": {"nano-banana": {"progression": "polls", "pending_polls": 1, "processing_polls": 1}},
        },
    )
    tid = api.submit_ok()
    r = api.submit()
    assert r.status_code == 429 and r.json()["retryAfter"] == 1
    assert "polled to its end" in r.json()["data"]["error"]
    assert [data_of(api.status("nano-banana", tid))["state"] for _ in range(3)] == [
        "pending",
        "processing",
        "success",
    ]
    assert api.submit().status_code == 200


def test_idempotent_replay_needs_no_free_slot(api):
    api.admin("PUT", "/scenario", json={"limits": {"concurrent_tasks": 1}})
    headers = {**api.headers(), "Idempotency-Key": "k1"}
    body = {"input": {"mode": "text-to-image", "prompt": "a fox"}}
    first = api.client.post("/api/v1/generateTask/nano-banana", json=body, headers=headers)
    again = api.client.post("/api/v1/generateTask/nano-banana", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["data"] == again.json()["data"]


def test_429_with_errors_as_200_keeps_retry_after(api):
    api.admin("PUT", "/scenario", json={"errors_as_200": True, "limits": {"requests_per_minute": 1}})
    assert api.submit().status_code == 200
    r = api.submit()
    assert r.status_code == 200 and r.json()["code"] == 429 and r.json()["retryAfter"] == 60
    assert r.headers["retry-after"] == "60"
    assert mask_key(KEY) in {e["key"] for e in api.admin("GET", "/journal").json()["entries"]}


def test_the_window_stays_small_when_the_clock_does_not_move():
    from mockserver.core.limits import Limits

    limits = Limits(requests_per_minute=10**9)
    for _ in range(50_000):
        assert limits.admit("k", 1_000) is None
    window = limits._windows["k"]
    assert window.total == 50_000 and len(window.buckets) == 1
    assert limits.admit("k", 61_000) is None  # the whole minute-old bucket left at once
    assert window.total == 1 and len(window.buckets) == 1
