"""The report on a real clock sped up by --time-scale: no false findings from scheduling jitter.

The server reads its clock when it answers, so a request delayed on a busy machine (the
scheduler, the GIL) is timed late by that delay times the scale: at x100, 15 ms of wall time
is 1.5 s of virtual time, and the next gap of a conforming client looks that much shorter. The
tracker allows ``WALL_SLACK_MS`` of wall time times the scale on "too soon" comparisons (none on a
manual clock).

Simulated deterministically (a conforming client's requests fed to the tracker at jittered
times), then once for real: a live server at x100, a conforming client, a busy thread.
"""

from __future__ import annotations

import json
import random
import threading
import time

import httpx

from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from mockserver.report import checks as c
from tests.report.test_report import Feed

SUBMIT = "/api/v1/generateTask/nano-banana"
POLL = "/api/v1/statusTask/nano-banana"
SCALE = 100


def conforming_run(feed: Feed, delay) -> None:
    """A client that follows APIXO's guidance to the letter, each request timed ``delay()`` late:
    two 503s on submit (backoff 1 s, 1.5 s, one Idempotency-Key), a 429 with Retry-After 2 s, the
    initial wait of 5 s, polls every 3 s growing x1.5 with a 503 retried after 1 s, one download."""
    t = 0

    def send(method: str, path: str, status: int, **kw) -> None:
        feed.send(t + int(delay()), method, path, status, **kw)

    submit = {"body_hash": "b", "idempotency_key": "job-1"}
    for status, wait in ((503, 1000), (503, 1500), (429, 2000)):
        send("POST", SUBMIT, status, retry_after=2 if status == 429 else None, **submit)
        t += wait
    send("POST", SUBMIT, 200, task_id="t1", model="nano-banana", **submit)
    t += 5000
    interval = 3000
    for status, state in ((200, "pending"), (503, None), (200, "processing"), (200, "processing"), (200, "success")):
        send("GET", POLL, status, query="taskId=t1", task_id="t1", state=state)
        t += 1000 if status == 503 else interval
        interval = min(int(interval * 1.5), 30_000) if status == 200 else interval
    send("GET", "/files/t1/0.png", 200, key=None, task_id="t1")


def jitter(seed: int, wall_ms: float):
    rng = random.Random(seed)
    return lambda: rng.uniform(0, wall_ms * SCALE)


def test_scheduling_jitter_at_x100_makes_no_findings():
    """Up to 19 ms of wall delay per request (1.9 s of virtual time at x100), over 200 seeds."""
    for seed in range(200):
        feed = Feed(time_scale=SCALE)
        conforming_run(feed, jitter(seed, c.WALL_SLACK_MS * 0.95))
        assert feed.codes() == [], seed


def test_without_the_slack_the_same_runs_had_false_findings():
    """What the report said before: the same jittered runs judged with no slack (a manual clock's)."""
    false = set()
    for seed in range(200):
        feed = Feed()
        conforming_run(feed, jitter(seed, c.WALL_SLACK_MS * 0.95))
        false.update(feed.codes())
    assert {"POLL_TOO_FAST", "IGNORED_RETRY_AFTER"} <= false


def test_on_time_requests_are_judged_exactly_as_before():
    feed = Feed(time_scale=SCALE)
    conforming_run(feed, lambda: 0)
    assert feed.codes() == []


def test_a_hasty_client_at_x100_is_still_caught():
    """Polls 0.5 s apart (5 ms of wall time) are too fast whatever the slack (2 s at x100)."""
    feed = Feed(time_scale=SCALE)
    feed.send(0, "POST", SUBMIT, 200, task_id="t1", model="nano-banana", body_hash="b")
    for n in range(10):
        feed.send(5000 + 500 * n, "GET", POLL, 200, query="taskId=t1", task_id="t1", state="pending")
    assert feed.codes() == ["POLL_TOO_FAST"]


def test_a_real_clock_x100_run_under_cpu_load_has_no_findings():
    """A live server at x100, a conforming client sleeping its waits / 100 on the wall clock (the
    point of a real clock), and a busy thread contending for the CPU and the GIL. Under a second."""
    app = create_app(clock="real", time_scale=SCALE, seed=1)
    stop = threading.Event()

    def busy() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    def sleep(virtual_ms: float) -> None:
        time.sleep(virtual_ms / SCALE / 1000)

    loader = threading.Thread(target=busy, daemon=True)
    auth = {"Authorization": "Bearer sk_test_busy"}
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        rules = [
            {"when": {"endpoint": "generateTask"}, "times": 2, "respond": {"status": 503}},
            {"when": {"endpoint": "statusTask"}, "times": 2, "respond": {"status": 503}},
        ]
        for rule in rules:
            assert client.post("/__admin/rules", json=rule).status_code == 200
        loader.start()
        try:
            for _ in range(2):
                body = {"input": {"mode": "text-to-image", "prompt": "a fox"}}
                wait = 1000
                while True:
                    r = client.post(SUBMIT, json=body, headers={**auth, "Idempotency-Key": f"k{_}"})
                    if r.status_code == 200:
                        break
                    assert r.status_code == 503
                    sleep(wait)
                    wait = min(wait * 1.5, 30_000)
                tid = r.json()["data"]["taskId"]
                sleep(5000)
                interval, retry = 3000, 1000
                while True:
                    r = client.get(POLL, params={"taskId": tid}, headers=auth)
                    if r.status_code != 200:
                        sleep(retry)
                        retry = min(retry * 1.5, 30_000)
                        continue
                    data = r.json()["data"]
                    if data["state"] in ("success", "failed"):
                        break
                    sleep(interval)
                    interval = min(interval * 1.5, 30_000)
                for url in json.loads(data["resultJson"])["resultUrls"]:
                    assert client.get(url.replace(server.url.rstrip("/"), "")).status_code == 200
        finally:
            stop.set()
            loader.join()
        report = client.get("/__admin/report").json()
    assert report["summary"]["tasks"] == 2
    assert report["findings"] == [], json.dumps(report["findings"], indent=1)
