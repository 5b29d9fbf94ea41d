"""A 123API task's life: queued, processing, then completed (with result) or failed (with error);
states only move forward, each has exactly its fields, and the results are real files. These
create tasks: on a paid endpoint they need --allow-spend.
"""

from __future__ import annotations

import re

import httpx
import pytest

from mockserver import contract
from mockserver.dialects import builtin

from ..conftest import tls_context
from .conftest import ORDER, TERMINAL, Driver123, error_of, example_body

pytestmark = [pytest.mark.dialect("123api"), pytest.mark.spends_credits]

FIELDS = {
    "queued": {"task_id", "status", "model"},
    "processing": {"task_id", "status", "model"},
    "completed": {"task_id", "status", "model", "result"},
    "failed": {"task_id", "status", "model", "error", "message"},
}


@pytest.fixture(scope="module")
def finished(target, client) -> tuple[str, list[dict]]:
    """One task followed from submit to its end: (task_id, every status seen)."""
    d = Driver123(target, client)
    task_id = d.submit_ok()
    return task_id, d.follow(task_id)


def test_submit_answers_the_queued_task(driver: Driver123):
    r = driver.submit()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {"task_id": body["task_id"], "status": "queued", "model": driver.model}
    # 123api-notes.md: ids are task- with hyphens ("task-unified-123456").
    assert re.fullmatch(r"task-[A-Za-z0-9-]+", body["task_id"]), body


def test_lifecycle_only_moves_forward(finished):
    _, seen = finished
    states = [d["status"] for d in seen]
    ranks = [ORDER[s] for s in states]
    assert ranks == sorted(ranks), f"states went backwards: {states}"
    assert states[-1] in TERMINAL
    assert all(s not in TERMINAL for s in states[:-1]), f"a terminal state changed: {states}"


def test_each_state_has_exactly_its_fields(finished):
    _, seen = finished
    for doc in seen:
        assert set(doc) == FIELDS[doc["status"]], doc


def test_task_id_and_model_never_change(finished, driver: Driver123):
    task_id, seen = finished
    assert {(d["task_id"], d["model"]) for d in seen} == {(task_id, driver.model)}


def test_terminal_state_is_stable_and_language_changes_nothing(driver: Driver123, finished):
    task_id, seen = finished
    assert driver.data(task_id) == seen[-1]
    # 123api-notes.md: an optional ?language= on the task route.
    r = driver.status(task_id, params={"language": "en"})
    assert r.status_code == 200 and r.json() == seen[-1]


def test_result_url_is_the_first_of_urls_and_every_url_downloads(finished):
    _, seen = finished
    last = seen[-1]
    if last["status"] != "completed":
        pytest.skip(f"the task failed ({last.get('error')}): no results to download")
    urls = last["result"]["urls"]
    assert urls and last["result"]["url"] == urls[0]
    for url in urls:
        # Result links need no key: fetch them as a browser would.
        r = httpx.get(url, timeout=60, follow_redirects=True, verify=tls_context())
        assert r.status_code == 200, f"{url}: {r.status_code}"
        problems = contract.check_result_file(url, r.headers, r.content)
        assert not problems, f"{url}: " + "; ".join(map(str, problems))


def test_another_keys_task_is_404(driver: Driver123, finished):
    task_id, _ = finished
    r = driver.status(task_id, headers={"Authorization": f"Bearer {driver.target.key}_other"})
    # A server that knows only some keys refuses the other key itself (401); otherwise the
    # task is not that key's to see (404).
    assert r.status_code in (401, 404), r.text
    error_of(r, r.status_code)


@pytest.mark.needs_admin
def test_each_state_is_seen_in_order_when_the_clock_moves(driver: Driver123):
    # The clock moves one task event at a time (any task's), so no state can be skipped.
    states = [d["status"] for d in driver.follow(driver.submit_ok())]
    distinct = [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]
    assert distinct[:2] == ["queued", "processing"], states
    assert len(distinct) == 3 and distinct[2] in TERMINAL, states


@pytest.mark.needs_admin
def test_a_failed_task_carries_its_error_and_message(driver: Driver123):
    task_id = driver.submit_ok()
    driver.admin("POST", f"/tasks/{task_id}/fail", json={"code": "CONTENT_VIOLATION"})
    r = driver.status(task_id)
    # A failed task is an answer about the task, not an error: HTTP 200.
    assert r.status_code == 200, r.text
    doc = r.json()
    assert set(doc) == FIELDS["failed"] and doc["status"] == "failed"
    assert doc["error"] == "CONTENT_VIOLATION" and doc["message"]


@pytest.mark.needs_admin
def test_a_video_task_on_the_video_route_ends_in_a_video(driver: Driver123):
    video = next(m.name for m in builtin()["123api"].catalog() if m.media == "video")
    r = driver.client.post("/v1/videos/generations", json=example_body(video))
    assert r.status_code == 200, r.text
    last = driver.follow(r.json()["task_id"])[-1]
    if last["status"] == "failed":
        pytest.skip(f"the task failed ({last['error']}): no video to download")
    assert last["status"] == "completed" and last["model"] == video, last
    url = last["result"]["url"]
    f = httpx.get(url, timeout=60, verify=tls_context())
    assert f.status_code == 200 and f.headers["content-type"] == "video/mp4", url
    assert contract.check_result_file(url, f.headers, f.content) == []
