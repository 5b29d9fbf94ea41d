"""The client report for a 123API client: judged by 123API's guidance (page 000's polling loop,
page 004's retry rules), cited from those pages, and written in 123API's words.

Driven through the real HTTP API (the ``api`` fixture: in-process and live) on the manual clock.
"""

from __future__ import annotations

import re

from mockserver.dialects.api123 import API123
from mockserver.report import format_report
from mockserver.report.checks import check_table
from tests.dialects.test_api123 import IMAGE, IMAGES, VIDEOS, add_rule, status, submit, submit_ok, task
from tests.http.test_provider import fetch
from tests.report.test_report import report

SORA = {"model": "sora-2", "prompt": "a paper boat on a river", "duration": 4, "aspect_ratio": "16:9"}
# Words a 123API client never sees: APIXO's fields, states and endpoints.
APIXO_WORDS = re.compile(
    r"taskId|resultJson|resultUrl|failCode|completeTime|statusTask|generateTask|"
    r"current-balance|callback|\bsuccess\b|\bpending\b|\bstate\b|models\.yaml,|/files/"
)


def by_code(api) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for f in report(api)["findings"]:
        assert f["code"] not in found, format_report(report(api))
        found[f["code"]] = f
    return found


def speaks_123api(message: str) -> None:
    assert not APIXO_WORDS.search(message), message


def page_000_loop(api, task_id: str, *, interval_ms: int = 2_000, download: bool = True) -> dict:
    """wait_for_completion of page 000: poll at once, then every 2 s, until completed or failed;
    then fetch the results (its "Best Practices" 1)."""
    while True:
        body = task(api, task_id)
        if body["status"] in ("completed", "failed"):
            break
        api.advance(interval_ms)
    if download and body["status"] == "completed":
        for url in body["result"]["urls"]:
            assert fetch(api, url).status_code == 200
    return body


def test_page_000s_loop_gets_no_findings(api):
    image = submit_ok(api, {**IMAGE, "n": 2})
    video = submit_ok(api, SORA, VIDEOS)
    assert page_000_loop(api, image)["status"] == "completed"
    assert page_000_loop(api, video)["status"] == "completed"
    failed = submit_ok(api)
    assert api.admin("POST", f"/tasks/{failed}/fail", json={"code": "CONTENT_VIOLATION"}).status_code == 200
    assert page_000_loop(api, failed)["error"] == "CONTENT_VIOLATION"
    api.advance(10 * 60_000)
    rep = report(api)
    assert rep["findings"] == [], format_report(rep)
    assert rep["summary"]["tasks"] == 3 and rep["summary"]["conforming"] is True


def test_polling_at_the_task_status_pages_5_s_is_fine_too(api):
    tid = submit_ok(api)
    page_000_loop(api, tid, interval_ms=5_000)
    assert report(api)["findings"] == []


def test_polling_every_half_second_is_too_fast_citing_page_000(api):
    add_rule(api, {"when": {"endpoint": "submit"}, "timing": {"processing_ms": 5_000}})  # a short task
    tid = submit_ok(api)
    page_000_loop(api, tid, interval_ms=500)
    found = by_code(api)
    assert set(found) == {"POLL_TOO_FAST"}
    f = found["POLL_TOO_FAST"]
    assert f["severity"] == "error" and f["taskId"] == tid and f["count"] == 14  # polls at +0, +0.5 ... +7 s
    assert "came less than 2 s after the previous answered poll (shortest gap 0.5 s;" in f["message"]
    assert '123API development guide (page 000), "Polling example"' in f["message"]
    # Page 000 polls at a steady interval: no APIXO backoff between polls.
    assert "poll every 2 s (123API development guide (page 000)" in f["message"]
    assert "backing off" not in f["message"]
    speaks_123api(f["message"])


def test_polling_at_once_is_no_early_poll(api):
    """Page 000's loop polls right after the submit: the initial wait is 0."""
    tid = submit_ok(api)
    assert status(api, tid).status_code == 200  # at +0 s
    assert all(f["code"] != "POLL_BEFORE_INITIAL_WAIT" for f in report(api)["findings"])
    assert API123.catalog().get("gpt-4o-image").initial_wait_ms == 0


def test_giving_up_before_300_s_abandons_the_task(api):
    """ABANDONED_TASK: the last poll is before submit + max wait (300 s), no poll for 30 s (the
    backoff cap, longer than the 2 s interval), and the task has ended since."""
    tid = submit_ok(api, SORA, VIDEOS)
    for _ in range(30):  # 60 s of polling, then the client gives up; sora-2 takes 65 s or more
        assert task(api, tid)["status"] in ("queued", "processing")
        api.advance(2_000)
    api.advance(20_000)
    assert "ABANDONED_TASK" not in by_code(api)  # ended or not, 30 s have not passed yet
    api.advance(to="idle")
    api.advance(30_000)
    found = by_code(api)
    assert set(found) == {"ABANDONED_TASK"}
    f = found["ABANDONED_TASK"]
    assert f["severity"] == "warning" and f["taskId"] == tid
    assert "was last polled at +58 s (answered processing), then no more; it ended completed at" in f["message"]
    assert "keep polling every 2 s until completed or failed, for up to 5 min (max wait)." in f["message"]
    assert '123API development guide (page 000), "Polling example"' in f["message"]
    speaks_123api(f["message"])  # and no "callback mode": 123API has none


def test_giving_up_after_300_s_is_not_abandoning(api):
    add_rule(api, {"when": {"endpoint": "submit"}, "timing": {"processing_ms": 600_000}})
    tid = submit_ok(api)
    for _ in range(61):  # every 5 s (the task-status page's slowest) up to page 000's max_wait=300
        assert task(api, tid)["status"] in ("queued", "processing")
        api.advance(5_000)
    api.advance(to="idle")
    assert report(api)["findings"] == []


def test_retrying_a_400_unchanged_cites_page_004(api):
    bad = {**IMAGE, "n": 9}
    for _ in range(3):
        assert submit(api, bad).status_code == 400
        api.advance(2_000)
    found = by_code(api)
    assert set(found) == {"INVALID_REQUEST", "RETRIED_NON_RETRYABLE"}
    f = found["RETRIED_NON_RETRYABLE"]
    assert f["count"] == 2 and f["severity"] == "error"
    assert f"POST {IMAGES} was answered 400 (n is too large: 9, at most 4)" in f["message"]
    assert (
        "errors page (page 004), best practices 3: do not retry 400, 401, 402, 404 without fixing the request "
        "or account; retry only 429, 500, 502, 503." in f["message"]
    )
    invalid = found["INVALID_REQUEST"]["message"]
    assert "Check the request against /schemas/123api/models/gpt-4o-image.json before sending it." in invalid
    assert "errors page (page 004): 400 means an invalid body" in invalid
    for f in found.values():
        speaks_123api(f["message"])


def test_ignoring_retry_after_is_reported_in_123api_words(api):
    add_rule(api, {"when": {"endpoint": "tasks", "nth": 1}, "respond": {"status": 429, "retry_after": 5}})
    tid = submit_ok(api)
    assert status(api, tid).status_code == 429
    api.advance(1_000)
    task(api, tid)
    found = by_code(api)
    assert "IGNORED_RETRY_AFTER" in found
    f = found["IGNORED_RETRY_AFTER"]
    assert f"GET /v1/tasks/{tid} was answered 429 with Retry-After 5 s" in f["message"]
    assert f"GET /v1/tasks/{tid} 1 s later" in f["message"]
    assert 'errors page (page 004), "Common error cases": on 429 back off and use retryAfter' in f["message"]


def test_waiting_out_retry_after_is_fine(api):
    add_rule(api, {"when": {"endpoint": "tasks", "nth": 1}, "respond": {"status": 429, "retry_after": 5}})
    tid = submit_ok(api)
    r = status(api, tid)
    api.advance(int(r.headers["retry-after"]) * 1000)
    page_000_loop(api, tid)
    assert report(api)["findings"] == []


def test_terminal_polls_and_missing_downloads_in_123api_words(api):
    tid = submit_ok(api)
    page_000_loop(api, tid, download=False)
    task(api, tid)
    found = by_code(api)
    assert set(found) == {"POLLED_AFTER_TERMINAL", "RESULTS_NOT_DOWNLOADED"}
    after = found["POLLED_AFTER_TERMINAL"]["message"]
    assert "answered status completed, then 1 more poll followed" in after
    assert (
        "123API development guide (page 000), wait_for_completion: stop polling once status is completed "
        "(read result.urls) or failed (read error)." in after
    )
    missing = found["RESULTS_NOT_DOWNLOADED"]["message"]
    assert re.search(r"a poll at \+[\d.]+ s answered completed with 1 result file in result\.urls", missing)
    assert '"Best Practices" 1: fetch every URL of result.urls right away' in missing
    for f in found.values():
        speaks_123api(f["message"])


def test_missing_auth_cites_page_004(api):
    submit(api, key=None)
    [f] = report(api, None)["findings"]
    assert f["code"] == "MISSING_AUTH"
    assert f"(POST {IMAGES})" in f["message"] and 'errors page (page 004), "Common error cases": 401' in f["message"]


def test_check_table_in_123api_words():
    t = check_table(API123)
    assert t["MISSING_AUTH"].threshold == "any 401 on generations or tasks"  # no balance route
    assert "a missing task_id," in t["INVALID_REQUEST"].flags
    assert t["POLL_TOO_FAST"].threshold.endswith("`poll_interval_ms` (quality image 2 s, video 2 s)")
    assert t["POLL_BEFORE_INITIAL_WAIT"].threshold.endswith("(quality image 0 s, video 0 s)")
    assert t["POLLED_AFTER_TERMINAL"].flags.endswith("already answered completed or failed")
    assert t["RESULTS_NOT_DOWNLOADED"].threshold.startswith("no GET /v1/files/{task_id}/... answered 200")
    assert "retryAfter" in t["IGNORED_RETRY_AFTER"].threshold
    assert t["ABANDONED_TASK"].source == '000 "Polling example": max_wait=300 s'
    for check in t.values():
        assert check.source, check.code
