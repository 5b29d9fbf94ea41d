"""The client conformance report: per check, a client that trips it and a careful one that does not.

Client behaviour is driven through the real HTTP API (the ``api`` fixture: in-process and
against a live server) on the manual clock, so "polled 1 s later" is exact virtual time.
429 and 5xx answers are provoked by making the service instance raise them for the next
call(s) (``answer_next``): the request still goes through routing, the error handler, the
journal middleware and the tracker exactly as a scenario rule's answer would.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from mockserver.core.errors import RateLimited, error_for_status
from mockserver.core.journal import Journal
from mockserver.report import CHECKS, ConformanceTracker, assert_conforming, format_report
from mockserver.report import checks as c
from tests.conftest import KEY, START_MS, data_of
from tests.http.test_provider import fetch

DOCS = Path(__file__).parent.parent.parent / "docs"
TERMINAL = ("success", "failed")


# -- helpers -------------------------------------------------------------------------------


def report(api, key: str | None = KEY) -> dict:
    params = {} if key is None else {"key": key}
    r = api.admin("GET", "/report", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def findings(api, code: str, key: str | None = KEY) -> list[dict]:
    return [f for f in report(api, key)["findings"] if f["code"] == code]


def codes(api, key: str | None = KEY) -> list[str]:
    return sorted(f["code"] for f in report(api, key)["findings"])


def journal_ids(api) -> dict[int, dict]:
    return {e["id"]: e for e in api.admin("GET", "/journal").json()["entries"]}


def answer_next(monkeypatch, api, method: str, *errors) -> None:
    """Make the next calls of a service method raise these ApiErrors (429, 503...), then behave."""
    original = getattr(api.mock, method)
    queue = list(errors)

    def faulty(*args, **kwargs):
        if queue:
            raise queue.pop(0)
        return original(*args, **kwargs)

    monkeypatch.setattr(api.mock, method, faulty)


def poll_until_done(api, model: str, tid: str, *, first_wait: bool = True, download: bool = True) -> dict:
    """A careful client: initial wait, the interval growing x1.5 up to 30 s, results fetched."""
    m = api.mock.models[model]
    if first_wait:
        api.advance(m.initial_wait_ms)
    interval = m.poll_interval_ms
    while True:
        d = data_of(api.status(model, tid))
        if d["state"] in TERMINAL:
            break
        api.advance(interval)
        interval = min(int(interval * 1.5), 30_000)
    if download and d["state"] == "success":
        for url in json.loads(d["resultJson"])["resultUrls"]:
            assert fetch(api, url).status_code == 200
    return d


def submit_body(model: str = "nano-banana", **extra) -> dict:
    from tests.conftest import example_input

    return {"input": example_input(model), **extra}


def post_submit(api, model: str = "nano-banana", body: dict | None = None, headers: dict | None = None):
    return api.client.post(
        f"/api/v1/generateTask/{model}",
        content=json.dumps(body or submit_body(model)),
        headers={**api.headers(), "Content-Type": "application/json", **(headers or {})},
    )


# -- the careful client ----------------------------------------------------------------------


def test_careful_client_gets_no_findings_at_all(api):
    for model in ("nano-banana", "gpt-image-1", "sora-2", "suno"):
        tid = api.submit_ok(model)
        assert poll_until_done(api, model, tid)["state"] == "success"
    failed = api.submit_ok("flux-2")
    assert api.admin("POST", f"/tasks/{failed}/fail", json={"code": "CONTENT_VIOLATION"}).status_code == 200
    assert poll_until_done(api, "flux-2", failed)["state"] == "failed"
    api.advance(to="idle")
    api.advance(10 * 60_000)
    rep = report(api)
    assert rep["findings"] == [], format_report(rep)
    s = rep["summary"]
    assert s["conforming"] is True and s["errors"] == 0 and s["warnings"] == 0
    assert s["tasks"] == 5 and s["requests"] > 10
    everyone = report(api, None)
    assert everyone["findings"] == [] and everyone["summary"]["allKeys"] is True
    assert_conforming(rep, warnings=True)


def test_careful_client_under_faults_gets_no_findings(api, monkeypatch):
    """429 and 5xx on submit and on a poll: Retry-After waited out, backoff, one Idempotency-Key."""
    answer_next(
        monkeypatch,
        api,
        "submit",
        RateLimited(retry_after=3),
        error_for_status(503),
        error_for_status(502),
    )
    answer_next(monkeypatch, api, "find_task", error_for_status(500), error_for_status(503))
    idem = {"Idempotency-Key": "job-42"}
    wait = 1000
    while True:
        r = post_submit(api, "sora-2", headers=idem)
        if r.status_code == 200:
            break
        assert r.status_code in (429, 502, 503)
        retry_after = int(r.headers.get("Retry-After", 0)) * 1000
        api.advance(max(wait, retry_after))
        wait = min(int(wait * 1.5), 30_000)
    tid = r.json()["data"]["taskId"]
    api.advance(60_000)
    interval = 15_000
    while True:
        r = api.status("sora-2", tid)
        if r.status_code == 200 and data_of(r)["state"] in TERMINAL:
            break
        api.advance(interval)
        interval = min(int(interval * 1.5), 30_000)
    for url in json.loads(data_of(r)["resultJson"])["resultUrls"]:
        assert fetch(api, url).status_code == 200
    api.advance(10 * 60_000)
    rep = report(api)
    assert rep["findings"] == [], format_report(rep)
    assert rep["summary"]["requests"] >= 8


# -- one test per check: the careless client, then the careful one -------------------------------


def test_missing_auth(api):
    api.client.get("/api/v1/apikeys/current-balance")
    api.submit(key=None)
    api.client.get(
        "/api/v1/statusTask/nano-banana",
        params={"taskId": "task_x"},
        headers={"Authorization": "Basic abc"},
    )
    everyone = report(api, None)
    [f] = [f for f in everyone["findings"] if f["code"] == "MISSING_AUTH"]
    assert f["severity"] == "error" and f["key"] is None and f["count"] == 3
    assert f["evidence"] == sorted(journal_ids(api))
    assert "Authorization: Bearer" in f["message"] and "401" in f["message"]
    assert "GET /api/v1/apikeys/current-balance" in f["message"] and "APIXO errors page" in f["message"]
    # Keyless requests are reported under key null: the per-key report of KEY stays clean.
    assert report(api)["findings"] == []
    assert [x["code"] for x in report(api, "")["findings"]] == ["MISSING_AUTH"]


def test_missing_auth_names_an_unknown_key(make_api):
    api = make_api(api_keys={KEY: None})
    assert api.submit(key="sk_wrong").status_code == 401
    [f] = [f for f in report(api, "sk_wrong")["findings"] if f["code"] == "MISSING_AUTH"]
    assert "'sk_wrong'" in f["message"] and "does not accept" in f["message"]
    api.submit_ok()
    assert report(api)["findings"] == []


def test_invalid_request(api):
    r = api.submit(input={"mode": "text-to-image"})
    assert r.status_code == 400
    api.client.get("/api/v1/statusTask/nano-banana", headers=api.headers())  # no taskId
    found = findings(api, "INVALID_REQUEST")
    assert len(found) == 2 and all(f["severity"] == "error" for f in found)
    by_path = {f["message"].split(" was refused")[0]: f for f in found}
    submit = by_path["1 request POST /api/v1/generateTask/nano-banana"]
    assert "Missing required field: input.prompt" in submit["message"]
    assert "/schemas/models/nano-banana.json" in submit["message"]
    assert "taskId" in by_path["1 request GET /api/v1/statusTask/nano-banana"]["message"]
    # careful: a valid body
    api.admin("POST", "/reset")
    api.submit_ok()
    assert findings(api, "INVALID_REQUEST") == []


def test_poll_too_fast(api):
    tid = api.submit_ok()
    api.advance(5000)
    for _ in range(4):
        api.status("nano-banana", tid)
        api.advance(1000)
    [f] = findings(api, "POLL_TOO_FAST")
    assert f["taskId"] == tid and f["severity"] == "error" and f["count"] == 3
    assert f["evidence"] == [3, 4, 5]  # journal ids of the 2nd, 3rd and 4th polls
    assert all(journal_ids(api)[i]["path"] == "/api/v1/statusTask/nano-banana" for i in f["evidence"])
    assert "less than 3 s" in f["message"] and "shortest gap 1 s" in f["message"]
    assert "+6 s, +7 s, +8 s" in f["message"]
    assert 'APIXO best practices, "Recommended Intervals", Image (fast)' in f["message"]


def test_polls_at_the_documented_interval_are_not_too_fast(api):
    tid = api.submit_ok("sora-2")
    api.advance(60_000)
    for gap in (15_000, 14_300, 15_000):  # 14.3 s is within the 5 % tolerance for clock jitter
        assert data_of(api.status("sora-2", tid))["state"] == "processing"
        api.advance(gap)
    api.status("sora-2", tid)
    assert findings(api, "POLL_TOO_FAST") == []
    api.advance(14_000)  # 14 s is not
    api.status("sora-2", tid)
    [f] = findings(api, "POLL_TOO_FAST")
    assert f["count"] == 1 and "less than 15 s" in f["message"] and "Video" in f["message"]


def test_poll_before_initial_wait(api):
    tid = api.submit_ok()
    api.advance(1000)
    api.status("nano-banana", tid)
    [f] = findings(api, "POLL_BEFORE_INITIAL_WAIT")
    assert f["severity"] == "warning" and f["taskId"] == tid and f["evidence"] == [2]
    assert "initial wait of 5 s" in f["message"] and "+1 s" in f["message"]
    # gpt-image-1's own page says wait 20 s: a poll after 10 s is early for it
    g = api.submit_ok("gpt-image-1")
    api.advance(10_000)
    api.status("gpt-image-1", g)
    [f] = [f for f in findings(api, "POLL_BEFORE_INITIAL_WAIT") if f["taskId"] == g]
    assert "initial wait of 20 s" in f["message"] and "models.yaml" in f["message"]


def test_first_poll_after_the_initial_wait_is_fine(api):
    tid = api.submit_ok()
    api.advance(5000)
    api.status("nano-banana", tid)
    assert findings(api, "POLL_BEFORE_INITIAL_WAIT") == []


def test_ignored_retry_after(api, monkeypatch):
    answer_next(monkeypatch, api, "submit", RateLimited(retry_after=2))
    assert post_submit(api).status_code == 429
    api.advance(500)
    api.client.get("/api/v1/apikeys/current-balance", headers=api.headers())
    api.advance(500)
    assert post_submit(api).status_code == 200
    [f] = findings(api, "IGNORED_RETRY_AFTER")
    assert f["severity"] == "error" and f["evidence"] == [1, 2, 3] and f["count"] == 2
    msg = f["message"]
    assert "answered 429 with Retry-After 2 s" in msg
    assert "GET /api/v1/apikeys/current-balance 0.5 s later" in msg
    assert "POST /api/v1/generateTask/nano-banana 1 s later" in msg
    assert "use retryAfter" in msg


def test_waiting_out_retry_after_is_fine(api, monkeypatch):
    answer_next(monkeypatch, api, "submit", RateLimited(retry_after=2), RateLimited(retry_after=2))
    idem = {"Idempotency-Key": "order-1"}
    assert post_submit(api, headers=idem).status_code == 429
    api.advance(2000)
    assert post_submit(api, headers=idem).status_code == 429
    api.advance(2000)  # the same wait again: honouring Retry-After is a backoff too
    assert post_submit(api, headers=idem).status_code == 200
    assert codes(api) == []


def test_retried_non_retryable_402(api):
    assert api.admin("PUT", f"/accounts/{KEY}", json={"balance": 0}).status_code == 200
    assert post_submit(api).status_code == 402
    api.advance(1000)
    assert post_submit(api).status_code == 402
    [f] = findings(api, "RETRIED_NON_RETRYABLE")
    assert f["evidence"] == [1, 2] and f["count"] == 1
    assert "answered 402" in f["message"] and "sent again unchanged 1 time (at +1 s; answered 402)" in f["message"]
    assert "do not retry 400, 401, 402, 404" in f["message"]


def test_retrying_402_after_topping_up_is_fine(api):
    api.admin("PUT", f"/accounts/{KEY}", json={"balance": 0})
    assert post_submit(api).status_code == 402
    api.admin("PUT", f"/accounts/{KEY}", json={"balance": 100})
    assert post_submit(api).status_code == 200
    assert findings(api, "RETRIED_NON_RETRYABLE") == []


def test_retried_non_retryable_404_and_400(api):
    for _ in range(3):
        api.status("nano-banana", "task_nope")
    bad = submit_body()
    del bad["input"]["prompt"]
    post_submit(api, body=bad)
    post_submit(api, body=bad)
    found = {f["evidence"][0]: f for f in findings(api, "RETRIED_NON_RETRYABLE")}
    assert found[1]["count"] == 2 and "GET /api/v1/statusTask/nano-banana?taskId=task_nope" in found[1]["message"]
    assert found[4]["count"] == 1 and "input.prompt" in found[4]["message"]
    # a corrected body is a different request, not a retry
    api.admin("POST", "/reset")
    post_submit(api, body=bad)
    assert post_submit(api).status_code == 200
    assert findings(api, "RETRIED_NON_RETRYABLE") == []


def test_no_backoff(api, monkeypatch):
    """A constant 1 s wait: backoff is judged by its envelope (a jittered backoff may well wait less
    than last time), so the first retries are no evidence yet; from the 7th retry, the longest wait
    (1 s) is under a sixth of the 7 s the waits add up to."""
    answer_next(monkeypatch, api, "submit", *(error_for_status(503) for _ in range(8)))
    idem = {"Idempotency-Key": "k1"}
    for n in range(8):
        assert post_submit(api, headers=idem).status_code == 503
        api.advance(1000)
        if n == 5:  # six retries made: none judged too soon yet
            assert findings(api, "NO_BACKOFF") == []
    assert post_submit(api, headers=idem).status_code == 200
    [f] = findings(api, "NO_BACKOFF")
    assert f["severity"] == "error" and f["evidence"] == [1, 8, 9] and f["count"] == 2
    assert "answered 503, 503, 503, 503, 503, 503, 503, 503" in f["message"]
    assert "gaps 1 s, 1 s, 1 s, 1 s, 1 s, 1 s, 1 s, 1 s" in f["message"]
    assert "longest wait (1 s at the last) was under 1/6 of the time the waits added up to (8 s)" in f["message"]
    assert "exponential backoff" in f["message"] and "1.5" in f["message"]


def test_waiting_out_a_retry_after_on_5xx_is_backoff(api):
    """A rule's 503 with Retry-After: 2, eight times: gaps of 2 s honour it (constant, yet no NO_BACKOFF);
    gaps of 1 s do not."""
    rule = {"when": {"endpoint": "balance"}, "times": 8, "respond": {"status": 503, "retry_after": 2}}
    for key, gap in ((KEY, 2000), ("sk_test_hasty", 1000)):
        assert api.admin("POST", "/rules", json={**rule, "when": {**rule["when"], "key": key}}).status_code == 200
        for status in (503,) * 8 + (200,):
            r = api.client.get("/api/v1/apikeys/current-balance", headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == status and (status == 200 or r.headers["Retry-After"] == "2")
            api.advance(gap)
    assert codes(api) == [] and codes(api, "sk_test_hasty") == ["NO_BACKOFF"]


def test_growing_gaps_are_backoff(api, monkeypatch):
    answer_next(monkeypatch, api, "find_task", *(error_for_status(s) for s in (500, 502, 503, 503)))
    tid = api.submit_ok()
    api.advance(5000)
    for gap in (3000, 4500, 6750, 10_125):
        assert api.status("nano-banana", tid).status_code >= 500
        api.advance(gap)
    assert data_of(api.status("nano-banana", tid))["state"] == "success"
    assert codes(api) == ["RESULTS_NOT_DOWNLOADED"]


def test_polled_after_terminal(api):
    tid = api.submit_ok()
    api.advance(5000)
    api.admin("POST", f"/tasks/{tid}/complete")
    assert data_of(api.status("nano-banana", tid))["state"] == "success"
    for _ in range(2):
        api.advance(3000)
        api.status("nano-banana", tid)
    [f] = findings(api, "POLLED_AFTER_TERMINAL")
    assert f["count"] == 2 and f["evidence"] == [3, 4] and f["taskId"] == tid
    assert "answered state success" in f["message"] and "+8 s, +11 s" in f["message"]
    assert "stop polling" in f["message"]


def test_stopping_at_the_terminal_state_is_fine(api):
    tid = api.submit_ok()
    poll_until_done(api, "nano-banana", tid)
    api.advance(60_000)
    assert findings(api, "POLLED_AFTER_TERMINAL") == []


def test_results_not_downloaded(api):
    tid = api.submit_ok("gpt-image-1")
    d = poll_until_done(api, "gpt-image-1", tid, download=False)
    assert d["state"] == "success"
    [f] = findings(api, "RESULTS_NOT_DOWNLOADED")
    assert f["severity"] == "error" and f["taskId"] == tid and f["evidence"] == [1]
    assert re.search(r"a poll at \+[\d.]+ s answered success with \d result files? in resultJson", f["message"])
    assert "before this report" in f["message"]
    assert "Download Results Promptly" in f["message"] and "15 days" in f["message"]
    # fetching one file is enough
    url = json.loads(d["resultJson"])["resultUrls"][0]
    assert fetch(api, url).status_code == 200
    assert findings(api, "RESULTS_NOT_DOWNLOADED") == []


def test_results_downloaded_after_expiry_do_not_count(make_api):
    api = make_api(results_ttl_ms=3_600_000)
    tid = api.submit_ok()
    d = poll_until_done(api, "nano-banana", tid, download=False)
    api.advance(2 * 3_600_000)
    url = json.loads(d["resultJson"])["resultUrls"][0]
    assert fetch(api, url).status_code == 404
    [f] = findings(api, "RESULTS_NOT_DOWNLOADED")
    assert "before they expired" in f["message"] and "1 h after completion" in f["message"]
    assert f"/files/{tid}/0.png -> 404" in f["message"]
    assert len(f["evidence"]) == 2  # the submit and the failed download


def test_failed_tasks_have_nothing_to_download(api):
    tid = api.submit_ok()
    api.admin("POST", f"/tasks/{tid}/fail", json={"code": "NSFW_DETECTED"})
    poll_until_done(api, "nano-banana", tid)
    assert codes(api) == []


def test_submit_retry_without_idempotency_key(api, monkeypatch):
    answer_next(monkeypatch, api, "submit", error_for_status(503), error_for_status(502))
    assert post_submit(api).status_code == 503
    api.advance(1000)
    assert post_submit(api).status_code == 502
    api.advance(2000)
    assert post_submit(api).status_code == 200
    [f] = findings(api, "SUBMIT_RETRY_WITHOUT_IDEMPOTENCY_KEY")
    assert f["severity"] == "warning" and f["count"] == 2 and f["evidence"] == [1, 2, 3]
    assert "was answered 503" in f["message"] and "without an Idempotency-Key" in f["message"]
    assert "+1 s, +3 s" in f["message"] and "duplicate charges" in f["message"]


def test_submit_retry_with_another_idempotency_key(api, monkeypatch):
    answer_next(monkeypatch, api, "submit", error_for_status(500))
    assert post_submit(api, headers={"Idempotency-Key": "a"}).status_code == 500
    api.advance(1000)
    assert post_submit(api, headers={"Idempotency-Key": "b"}).status_code == 200
    [f] = findings(api, "SUBMIT_RETRY_WITHOUT_IDEMPOTENCY_KEY")
    assert "other than the first attempt's ('a')" in f["message"]


def test_submit_retry_with_the_same_idempotency_key_is_fine(api, monkeypatch):
    answer_next(monkeypatch, api, "submit", error_for_status(503))
    assert post_submit(api, headers={"Idempotency-Key": "order-7"}).status_code == 503
    api.advance(1000)
    assert post_submit(api, headers={"Idempotency-Key": "order-7"}).status_code == 200
    assert codes(api) == []
    # and two deliberate submits of the same body (both answered 200) are not retries
    post_submit(api)
    post_submit(api)
    assert findings(api, "SUBMIT_RETRY_WITHOUT_IDEMPOTENCY_KEY") == []


def test_abandoned_task(api):
    tid = api.submit_ok("sora-2")
    api.advance(60_000)
    assert data_of(api.status("sora-2", tid))["state"] == "processing"
    never = api.submit_ok("nano-banana")
    api.advance(to="idle")
    api.advance(60_000)
    assert codes(api) == [
        "ABANDONED_TASK",
        "ABANDONED_TASK",
    ]  # nothing was seen, so no downloads due
    found = {f["taskId"]: f for f in findings(api, "ABANDONED_TASK")}
    assert set(found) == {tid, never}
    f = found[tid]
    assert f["severity"] == "warning" and f["evidence"] == [1, 2]
    assert "last polled at +1 min (answered processing)" in f["message"]
    assert "ended success" in f["message"] and "never saw it" in f["message"]
    assert "every 15 s" in f["message"] and "10 min (max wait)" in f["message"]
    assert "was never polled" in found[never]["message"]


def test_a_client_still_polling_or_done_has_not_abandoned(api):
    done = api.submit_ok()
    poll_until_done(api, "nano-banana", done)
    busy = api.submit_ok("sora-2")
    api.advance(60_000)
    api.status("sora-2", busy)
    api.advance(20_000)  # its last poll was 20 s ago: still within the 30 s backoff cap
    assert findings(api, "ABANDONED_TASK") == []


def test_giving_up_after_max_wait_is_not_abandoning(api):
    import dataclasses

    m = api.mock
    m.models["wan-2-5"] = dataclasses.replace(m.models["wan-2-5"], processing_ms=(900_000, 900_000))
    tid = api.submit_ok("wan-2-5")
    api.advance(60_000)
    while api.mock.now() - START_MS < 600_000:  # poll every 30 s up to the 10 min max wait
        assert data_of(api.status("wan-2-5", tid))["state"] == "processing"
        api.advance(30_000)
    api.status("wan-2-5", tid)
    api.advance(to="idle")
    api.advance(60_000)
    assert findings(api, "ABANDONED_TASK") == []


def test_callback_not_acknowledged(api, receiver):
    # A real receiver that answers 500 to the first delivery and every retry.
    receiver.reset(hook=[500, 500, 500, 500])
    url = receiver.url("hook")
    tid = api.submit_ok(request_type="callback", callback_url=url)
    api.advance(to="idle")  # waits out the dispatcher's retries
    api.advance(60_000)
    by_code = {f["code"]: f for f in report(api)["findings"]}
    f = by_code["CALLBACK_NOT_ACKNOWLEDGED"]
    assert (f["severity"], f["taskId"], f["count"], f["evidence"]) == ("error", tid, 4, [1])
    assert f"receiver at {url}" in f["message"]
    assert "attempt 1 at" in f["message"] and "answered 500" in f["message"]
    # every attempt failed and nobody polled: the result never reached the client
    assert "callback task whose every delivery failed" in by_code["ABANDONED_TASK"]["message"]


def test_unanswered_callbacks_say_so(api):
    tracker = api.mock.conformance  # what the dispatcher calls for each delivery attempt
    tid = api.submit_ok()
    t0 = api.mock.now()
    tracker.callback_attempt(tid, KEY, 1, t0, None, "timeout after 30 s", final=True)
    f = {f["code"]: f for f in report(api)["findings"]}["CALLBACK_NOT_ACKNOWLEDGED"]
    assert "no answer (timeout after 30 s)" in f["message"] and "within 30 s" in f["message"]


def test_acknowledged_callbacks_are_fine_and_count_as_delivery(api, receiver):
    receiver.reset()
    api.submit_ok(request_type="callback", callback_url=receiver.url("hook"))
    api.advance(to="idle")
    assert receiver.wait_for(1)
    api.advance(60_000)
    # delivered, so not abandoned; but the results in the callback were never fetched
    assert codes(api) == ["RESULTS_NOT_DOWNLOADED"]
    [f] = findings(api, "RESULTS_NOT_DOWNLOADED")
    assert "success callback was acknowledged" in f["message"]


def test_a_callback_retry_that_succeeds_still_reports_the_failed_attempt(api, receiver):
    receiver.reset(hook=[503])  # the first delivery fails, the retry gets 200
    tid = api.submit_ok(request_type="callback", callback_url=receiver.url("hook"))
    api.advance(to="idle")
    assert receiver.wait_for(2)
    [f] = findings(api, "CALLBACK_NOT_ACKNOWLEDGED")
    assert (f["count"], f["taskId"]) == (1, tid) and "answered 503" in f["message"]
    assert findings(api, "ABANDONED_TASK") == []


# -- the report endpoint -------------------------------------------------------------------------


def test_report_per_key_and_overall(api):
    api.submit(input={"mode": "text-to-image"})
    api.submit(input={"mode": "text-to-image"}, key="sk_other")
    mine = report(api)
    # Grouped by the real key; shown masked (the last 4 characters of keys longer than 8).
    assert [f["key"] for f in mine["findings"]] == ["****_key"]
    assert mine["summary"]["key"] == "****_key" and mine["summary"]["allKeys"] is False
    everyone = report(api, None)
    assert {f["key"] for f in everyone["findings"]} == {"****_key", "****"}
    keys = {k["key"]: k for k in everyone["summary"]["keys"]}
    assert keys["****"] == {"key": "****", "requests": 1, "errors": 1, "warnings": 0}
    assert everyone["summary"]["errors"] == 2 and everyone["summary"]["conforming"] is False
    assert everyone["summary"]["byCode"] == {"INVALID_REQUEST": 2}
    assert report(api, "sk_nobody")["findings"] == []
    assert everyone["summary"]["journal"] == {"size": 10_000, "kept": 2, "dropped": 0, "firstId": 1}


def test_reset_clears_the_report(api):
    api.client.get("/api/v1/apikeys/current-balance")
    assert report(api, None)["findings"]
    api.admin("POST", "/reset")
    rep = report(api, None)
    assert rep["findings"] == [] and rep["summary"]["requests"] == 0


def test_report_needs_the_admin_token(make_api):
    api = make_api(admin_token="s3cret")
    assert api.admin("GET", "/report").status_code == 401
    assert api.admin("GET", "/report", headers={"X-Admin-Token": "s3cret"}).status_code == 200


def test_reading_the_report_changes_nothing(api):
    tid = api.submit_ok()
    api.advance(1000)
    api.status("nano-banana", tid)
    first = report(api)
    assert report(api) == first
    assert api.admin("GET", f"/tasks/{tid}").json()["polls"] == 1


def test_findings_outlive_the_journal_ring_buffer(make_api):
    api = make_api(journal_size=5)
    tid = api.submit_ok()
    for _ in range(40):
        api.status("nano-banana", tid)
        api.advance(100)
    rep = report(api)
    j = rep["summary"]["journal"]
    assert j["kept"] == 5 and j["dropped"] == 36 and j["firstId"] == 37
    by_code = {f["code"]: f for f in rep["findings"]}
    assert by_code["POLL_TOO_FAST"]["count"] == 39
    assert by_code["POLL_TOO_FAST"]["evidence"] == list(range(3, 13))  # the first 10, now dropped
    assert rep["summary"]["requests"] == 41


# -- the tracker on its own: concurrency, bounds, thresholds --------------------------------------


class Feed:
    """Synthetic journal entries straight into a tracker (no HTTP): for edge cases and bounds."""

    def __init__(self, **kw) -> None:
        from mockserver.core.catalog import load_catalog

        self.catalog = load_catalog()
        self.tracker = ConformanceTracker(lambda _dialect, name: self.catalog.get(name), lambda: 15 * 86_400_000, **kw)
        self.journal = Journal(1000, observer=self.tracker.observe)

    def send(
        self,
        time: int,
        method: str,
        path: str,
        status: int,
        *,
        key: str | None = "k",
        query: str = "",
        **kw,
    ):
        arrival = kw.pop("arrival", None) or self.journal.arrive()
        return self.journal.record(
            **kw,
            time=time,
            method=method,
            path=path,
            query=query,
            key=key,
            status=status,
            arrival=arrival,
        )

    def report(self, now: int = 10**9, **kw) -> dict:
        return self.tracker.report(now, **kw)

    def codes(self) -> list[str]:
        return sorted(f["code"] for f in self.report()["findings"])


SUBMIT = "/api/v1/generateTask/nano-banana"
BALANCE = "/api/v1/apikeys/current-balance"


def test_requests_in_flight_during_a_429_are_not_ignoring_it():
    feed = Feed()
    first = feed.journal.arrive()
    second = feed.journal.arrive()  # sent in parallel, before the 429 went out
    feed.send(0, "POST", SUBMIT, 429, retry_after=5, arrival=first, body_hash="a")
    feed.send(10, "POST", SUBMIT, 200, arrival=second, body_hash="b", task_id="t1", model="nano-banana")
    assert feed.codes() == []
    feed.send(20, "GET", BALANCE, 200)  # sent after the 429 answer: too soon
    assert feed.codes() == ["IGNORED_RETRY_AFTER"]


def test_retry_after_is_per_key():
    feed = Feed()
    feed.send(0, "GET", BALANCE, 429, retry_after=5)
    feed.send(100, "GET", BALANCE, 200, key="other")
    assert feed.codes() == []


def test_backoff_rules_cap_and_retry_after():
    feed = Feed()
    # 30 s between retries is the backoff cap: constant gaps there are fine
    for i, t in enumerate((0, 30_000, 60_000, 90_000)):
        feed.send(t, "GET", BALANCE, 503 if i < 3 else 200)
    # constant gaps that honour the answer's Retry-After are fine too
    for i, t in enumerate((0, 2_000, 4_000)):
        feed.send(t, "GET", BALANCE, 429 if i < 2 else 200, key="k2", retry_after=2 if i < 2 else None)
    assert feed.codes() == []
    # a run broken by a success starts over: 1 s, then 1 s again after the 200 is a new run
    for t, s in ((0, 503), (1000, 200), (2000, 503), (3000, 200)):
        feed.send(t, "GET", BALANCE, s, key="k3")
    assert feed.codes() == []
    # waiting out a Retry-After, then the client's own growing backoff: fine
    for t, s, ra in ((0, 429, 3), (3000, 503, None), (4000, 503, None), (5500, 200, None)):
        feed.send(t, "GET", BALANCE, s, key="k4", retry_after=ra)
    assert feed.codes() == []
    # ... but a constant delay after it is still no backoff (the Retry-After wait counts in
    # neither the envelope nor the time added up: the 7th own wait of 1 s is the first judged too short)
    times = [0, 3000, *(3000 + 1000 * n for n in range(1, 8))]
    for t in times:
        feed.send(
            t, "GET", BALANCE, 200 if t == times[-1] else 503 if t else 429, key="k5", retry_after=3 if t == 0 else None
        )
    [f] = feed.report()["findings"]
    assert (f["code"], f["key"], f["count"]) == ("NO_BACKOFF", "k5", 1)
    assert "gaps 3 s, 1 s, 1 s, 1 s, 1 s, 1 s, 1 s, 1 s" in f["message"]


def test_findings_per_code_and_evidence_are_capped():
    feed = Feed(max_findings_per_code=3)
    for n in range(10):  # ten distinct invalid requests: ten INVALID_REQUEST findings, 3 kept
        feed.send(n, "POST", SUBMIT, 400, error=f"problem {n}", body_hash=str(n))
    for n in range(25):  # one repeated invalid request: one finding, 25 occurrences
        feed.send(100 + n, "POST", SUBMIT, 400, error="same", body_hash="same", key="k2")
    rep = feed.report()
    mine = [f for f in rep["findings"] if f["key"] == "k"]
    assert len(mine) == 3 and rep["summary"]["suppressed"] == {"INVALID_REQUEST": 7}
    [same] = [f for f in rep["findings"] if f["key"] == "k2" and f["code"] == "INVALID_REQUEST"]
    assert same["count"] == 25 and len(same["evidence"]) == c.EVIDENCE_CAP
    [repeat] = [f for f in rep["findings"] if f["code"] == "RETRIED_NON_RETRYABLE"]
    assert repeat["count"] == 24 and len(repeat["evidence"]) == c.EVIDENCE_CAP


def test_recent_requests_table_is_bounded():
    feed = Feed(recent_requests=8)
    for n in range(100):
        feed.send(n, "GET", BALANCE, 404, query=f"q={n}")
    assert len(feed.tracker._recent) == 8
    feed.send(200, "GET", BALANCE, 404, query="q=99")  # still remembered: a repeat
    feed.send(201, "GET", BALANCE, 404, query="q=0")  # forgotten: not recognised
    [f] = [f for f in feed.report()["findings"] if f["code"] == "RETRIED_NON_RETRYABLE"]
    assert "q=99" in f["message"]


def test_a_long_run_keeps_bounded_state():
    feed = Feed()
    for n in range(200):
        tid = f"task_{n}"
        t0 = n * 1000
        feed.send(t0, "POST", SUBMIT, 200, task_id=tid, model="nano-banana", body_hash=str(n))
        for p in range(50):
            feed.send(
                t0 + p,
                "GET",
                "/api/v1/statusTask/nano-banana",
                200,
                query=f"taskId={tid}",
                task_id=tid,
                state="pending",
            )
    rep = feed.report(now=0)
    assert rep["summary"]["requests"] == 200 * 51
    per_code = {}
    for f in rep["findings"]:
        per_code[f["code"]] = per_code.get(f["code"], 0) + 1
        assert len(f["evidence"]) <= c.EVIDENCE_CAP
    assert per_code == {
        "POLL_TOO_FAST": c.MAX_FINDINGS_PER_CODE,
        "POLL_BEFORE_INITIAL_WAIT": c.MAX_FINDINGS_PER_CODE,
    }
    assert rep["summary"]["suppressed"]["POLL_TOO_FAST"] == 180 * 49
    assert len(feed.tracker._recent) <= c.RECENT_REQUESTS


def test_endpoint_names():
    t = Feed().tracker
    assert t.endpoint("/api/v1/statusTask/sora-2") == "statusTask"
    assert t.endpoint("/api/v1/generateTask/sora-2") == "generateTask"
    assert t.endpoint("/api/v1/apikeys/current-balance") == "balance"
    assert t.endpoint("/files/task_1/0.png") == "files"
    assert t.endpoint("/api/v1/statusTasks/sora-2") is None


# -- using a report: assert_conforming and the table ---------------------------------------------


def _sloppy_report() -> dict:
    feed = Feed()
    feed.send(0, "GET", BALANCE, 401, key=None)
    feed.send(1, "POST", SUBMIT, 200, task_id="t1", model="nano-banana", body_hash="x")
    feed.send(
        2,
        "GET",
        "/api/v1/statusTask/nano-banana",
        200,
        query="taskId=t1",
        task_id="t1",
        state="pending",
    )
    return feed.report(now=100)


def test_assert_conforming_lists_every_failing_finding():
    rep = _sloppy_report()
    with pytest.raises(AssertionError) as err:
        assert_conforming(rep)
    text = str(err.value)
    assert text.startswith("the client does not conform: 1 finding")
    assert "ERROR    MISSING_AUTH  key (no key)  evidence #1" in text
    assert "Authorization: Bearer" in text
    assert "POLL_BEFORE_INITIAL_WAIT" not in text  # a warning
    with pytest.raises(AssertionError, match="POLL_BEFORE_INITIAL_WAIT"):
        assert_conforming(rep, allow=["MISSING_AUTH"], warnings=True)
    assert_conforming(rep, allow=["MISSING_AUTH"])
    with pytest.raises(ValueError, match="MISING_AUTH"):
        assert_conforming(rep, allow=["MISING_AUTH"])


def test_format_report():
    text = format_report(_sloppy_report())
    assert "MISSING_AUTH" in text and "POLL_BEFORE_INITIAL_WAIT" in text
    assert text.rstrip().endswith("1 error, 1 warning (MISSING_AUTH 1, POLL_BEFORE_INITIAL_WAIT 1)")
    assert all(len(line) <= 100 for line in text.splitlines() if line.startswith("    "))
    assert "No findings" in format_report(Feed().report())


def test_every_check_cites_a_provider_page():
    for check in CHECKS.values():
        assert check.severity in ("error", "warning")
        assert re.search(r"\b00[1-4]\b|contract-notes", check.source), check.code
    issue_codes = (
        "MISSING_AUTH INVALID_REQUEST POLL_TOO_FAST POLL_BEFORE_INITIAL_WAIT IGNORED_RETRY_AFTER "
        "RETRIED_NON_RETRYABLE NO_BACKOFF POLLED_AFTER_TERMINAL RESULTS_NOT_DOWNLOADED "
        "SUBMIT_RETRY_WITHOUT_IDEMPOTENCY_KEY ABANDONED_TASK CALLBACK_NOT_ACKNOWLEDGED"
    ).split()
    assert set(issue_codes) <= set(CHECKS)
    warnings = {code for code, check in CHECKS.items() if check.severity == "warning"}
    assert warnings == {
        "POLL_BEFORE_INITIAL_WAIT",
        "SUBMIT_RETRY_WITHOUT_IDEMPOTENCY_KEY",
        "ABANDONED_TASK",
    }


def test_journal_entries_carry_body_hash_arrival_and_state(api):
    tid = api.submit_ok()
    post_submit(api, body={"input": {"mode": "text-to-image", "prompt": "a fox"}})
    post_submit(api, body={"input": {"mode": "text-to-image", "prompt": "a fox"}})
    api.status("nano-banana", tid)
    entries = api.admin("GET", "/journal").json()["entries"]
    assert [e["arrival"] for e in entries] == [1, 2, 3, 4]
    assert entries[1]["bodyHash"] == entries[2]["bodyHash"] != entries[0]["bodyHash"]
    assert entries[3]["bodyHash"] is None and entries[3]["state"] == "pending"
    assert entries[0]["state"] is None


# -- mockserver report ---------------------------------------------------------------------------


def test_cli_report_exit_codes(capsys, monkeypatch):
    import httpx

    from mockserver.cli import main
    from mockserver.http.app import create_app
    from mockserver.http.server import ServerThread, bind_socket

    monkeypatch.delenv("MOCKSERVER_URL", raising=False)
    monkeypatch.delenv("MOCKSERVER_ADMIN_TOKEN", raising=False)
    with ServerThread(create_app(clock="manual", start_ms=START_MS, admin_token="t0k")) as server:
        assert main(["report", "--url", server.url]) == 2  # the admin token is required
        assert "answered 401" in capsys.readouterr().err
        assert main(["report", "--url", server.url, "--admin-token", "t0k"]) == 0
        assert "No findings" in capsys.readouterr().out
        httpx.get(f"{server.url}/api/v1/apikeys/current-balance", timeout=10)  # no key: an error finding
        monkeypatch.setenv("MOCKSERVER_ADMIN_TOKEN", "t0k")
        monkeypatch.setenv("MOCKSERVER_URL", server.url)
        assert main(["report"]) == 1
        out = capsys.readouterr().out
        assert "MISSING_AUTH" in out and out.rstrip().endswith("1 error, 0 warnings (MISSING_AUTH 1)")
        assert main(["report", "--key", "sk_someone"]) == 0  # that key did nothing wrong
        capsys.readouterr()
        assert main(["report", "--key", ""]) == 1  # requests without a key
        capsys.readouterr()
        assert main(["report", "--json"]) == 1
        body = json.loads(capsys.readouterr().out)
        assert body["summary"]["errors"] == 1 and body["findings"][0]["code"] == "MISSING_AUTH"
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    assert main(["report", "--url", f"http://127.0.0.1:{port}"]) == 2
    assert "cannot reach" in capsys.readouterr().err


def test_cli_report_as_a_process():
    import subprocess
    import sys

    import httpx

    from mockserver.http.app import create_app
    from mockserver.http.server import ServerThread

    with ServerThread(create_app(clock="manual", start_ms=START_MS)) as server:
        httpx.post(f"{server.url}/api/v1/generateTask/nano-banana", json={"input": {}}, timeout=10)
        out = subprocess.run(
            [sys.executable, "-m", "mockserver", "report", "--url", server.url],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1, out.stderr
    assert out.stdout.startswith("Client conformance report (all keys): 1 request, 0 tasks")
    assert "MISSING_AUTH" in out.stdout and "Traceback" not in out.stderr


# -- docs/report.md ----------------------------------------------------------------------------


def test_docs_example_prints_the_output_shown():
    import contextlib
    import io

    from tests.docs_blocks import block

    code = block("report-example").code
    shown = block("report-example-output").code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/report.md", "exec"), {})
    assert out.getvalue() == shown
    for code in (
        "RESULTS_NOT_DOWNLOADED",
        "POLL_TOO_FAST",
        "MISSING_AUTH",
        "POLL_BEFORE_INITIAL_WAIT",
    ):
        assert code in shown


def test_the_docs_list_every_check_with_its_severity_threshold_and_source():
    section = (DOCS / "report.md").read_text().split("\n## Checks\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z_]+)` \| (error|warning) \| (.*?) \| (.*?) \| (.*?) \|$", section, flags=re.M)
    assert [r[0] for r in rows] == list(CHECKS)
    for code, severity, flags, threshold, source in rows:
        check = CHECKS[code]
        assert (severity, flags, threshold, source) == (
            check.severity,
            check.flags,
            check.threshold,
            check.source,
        )
    assert "| GET | `/__admin/report` |" in (DOCS / "admin.md").read_text()


@pytest.mark.skipif(shutil.which("curl") is None, reason="the commands call curl")
def test_the_docs_report_commands_run(tmp_path):
    import httpx

    from mockserver.http.app import create_app
    from mockserver.http.server import ServerThread
    from tests.docs_blocks import block, run_shell

    script = block("report-commands").code
    with ServerThread(create_app(clock="manual")) as server:
        clean = run_shell(script, server.url, tmp_path)  # no request yet: no finding, exit 0
        httpx.get(f"{server.url}/api/v1/apikeys/current-balance")  # no key: MISSING_AUTH
        flagged = run_shell(script, server.url, tmp_path)
    assert clean.returncode == 0, clean.stderr
    table, answers = clean.stdout.split("\n{\n", 1)
    assert table.startswith("Client conformance report (all keys): 0 requests") and "No findings" in table
    from_cli, from_curl = ("{\n" + answers).rsplit("\n", 1)
    assert json.loads(from_cli) == json.loads(from_curl)  # --key sk_test_demo --json, and the admin API
    assert json.loads(from_curl)["summary"]["key"] == "****demo"
    assert flagged.returncode == 1 and "MISSING_AUTH" in flagged.stdout  # exit 1: an error finding


def test_public_surface():
    import mockserver.report as conformance

    assert conformance.__all__ == sorted(conformance.__all__)
    assert all(hasattr(conformance, name) for name in conformance.__all__)


@pytest.mark.parametrize("fault", ["malformed_json", "truncated_body", "connection_reset", "empty_response"])
def test_an_answer_the_client_never_read_whole_is_no_poll_and_no_download(fault):
    """A garbled or cut status answer showed the client no state: its quick retry is no poll too soon,
    and a poll after a garbled terminal answer is not after the end; a garbled file is no download."""
    feed = Feed()
    status = "/api/v1/statusTask/nano-banana"
    feed.send(0, "POST", SUBMIT, 200, task_id="t1", model="nano-banana")
    feed.send(5_000, "GET", status, 200, task_id="t1", state="processing")
    feed.send(8_000, "GET", status, 200, task_id="t1", state="processing", fault=fault)
    feed.send(9_000, "GET", status, 200, task_id="t1", state="success")  # the retry, 1 s later
    feed.send(9_500, "GET", "/files/t1/0.png", 200, key=None, task_id="t1", fault=fault)
    assert feed.codes() == [] and feed.tracker._tasks["t1"].downloads == 0
    feed.send(10_000, "GET", "/files/t1/0.png", 200, key=None, task_id="t1")
    assert feed.tracker._tasks["t1"].downloads == 1
    # A garbled terminal answer: the poll after it is the client reading the end, not polling past it.
    feed.send(20_000, "POST", SUBMIT, 200, task_id="t2", model="nano-banana", key="k2")
    feed.send(25_000, "GET", status, 200, task_id="t2", state="success", fault=fault, key="k2")
    feed.send(28_000, "GET", status, 200, task_id="t2", state="success", key="k2")
    assert [f["code"] for f in feed.report()["findings"] if f["key"] == "k2"] == []
    # The same polls unfaulted: the 1 s retry is too fast, and the second poll is after the end.
    feed.send(30_000, "POST", SUBMIT, 200, task_id="t3", model="nano-banana", key="k3")
    feed.send(35_000, "GET", status, 200, task_id="t3", state="success", key="k3")
    feed.send(36_000, "GET", status, 200, task_id="t3", state="success", key="k3")
    assert "POLLED_AFTER_TERMINAL" in [f["code"] for f in feed.report()["findings"] if f["key"] == "k3"]
