"""A task's life: its states only move forward, each state has exactly its fields, and the
results are real files. These create tasks: on a paid endpoint they need --allow-spend.
"""

from __future__ import annotations

import json

import httpx
import pytest

from mockserver import contract

from .conftest import ORDER, TERMINAL, Driver, error_of, tls_context

pytestmark = [pytest.mark.dialect("apixo"), pytest.mark.spends_credits]

FIELDS = {
    "pending": {"taskId", "state", "createTime"},
    "processing": {"taskId", "state", "createTime"},
    "success": {"taskId", "state", "createTime", "resultJson", "completeTime", "costTime"},
    "failed": {"taskId", "state", "createTime", "failCode", "failMsg", "completeTime"},
}


@pytest.fixture(scope="module")
def finished(target, client) -> tuple[str, list[dict]]:
    """One task followed from submit to its end: (taskId, every status seen)."""
    d = Driver(target, client)
    task_id = d.submit_ok()
    return task_id, d.follow(task_id)


def test_submit_answers_a_task_id(driver: Driver):
    r = driver.submit()
    assert r.status_code == 200
    body = r.json()
    assert body == {"code": 200, "message": "success", "data": {"taskId": body["data"]["taskId"]}}


def test_lifecycle_only_moves_forward(finished):
    _, seen = finished
    states = [d["state"] for d in seen]
    ranks = [ORDER[s] for s in states]
    assert ranks == sorted(ranks), f"states went backwards: {states}"
    assert states[-1] in TERMINAL
    assert all(s not in TERMINAL for s in states[:-1]), f"a terminal state changed: {states}"


def test_each_state_has_exactly_its_fields(finished):
    _, seen = finished
    for data in seen:
        assert set(data) == FIELDS[data["state"]], data


def test_task_id_and_create_time_never_change(finished):
    task_id, seen = finished
    assert {d["taskId"] for d in seen} == {task_id}
    assert len({d["createTime"] for d in seen}) == 1


def test_terminal_state_is_stable(driver: Driver, finished):
    task_id, seen = finished
    again = driver.data(task_id)
    assert again == seen[-1]


def test_cost_time_is_complete_minus_create(finished):
    _, seen = finished
    last = seen[-1]
    assert last["completeTime"] >= last["createTime"]
    if last["state"] == "success":
        assert last["costTime"] == last["completeTime"] - last["createTime"]


def test_result_json_parses_and_every_url_downloads(finished):
    _, seen = finished
    last = seen[-1]
    if last["state"] != "success":
        pytest.skip(f"the task failed ({last.get('failCode')}): no results to download")
    assert isinstance(last["resultJson"], str)
    urls = json.loads(last["resultJson"])["resultUrls"]
    assert urls
    for url in urls:
        # Result links need no key: fetch them as a browser would.
        r = httpx.get(url, timeout=60, follow_redirects=True, verify=tls_context())
        assert r.status_code == 200, f"{url}: {r.status_code}"
        problems = contract.check_result_file(url, r.headers, r.content)
        assert not problems, f"{url}: " + "; ".join(map(str, problems))


def test_task_asked_for_under_another_model_is_404(driver: Driver, finished):
    task_id, _ = finished
    other = next(m for m in ("nano-banana", "gpt-image-1") if m != driver.model)
    error_of(driver.status(task_id, model=other), 404)


def test_another_keys_task_is_404(driver: Driver, finished):
    task_id, _ = finished
    r = driver.client.get(
        f"/api/v1/statusTask/{driver.model}",
        params={"taskId": task_id},
        headers={"Authorization": f"Bearer {driver.target.key}_other"},
    )
    # A server that knows only some keys refuses the other key itself (401); otherwise the
    # task is not that key's to see (404).
    assert r.status_code in (401, 404), r.text
    error_of(r, r.status_code)


@pytest.mark.needs_admin
def test_each_state_is_seen_in_order_when_the_clock_moves(driver: Driver):
    # The clock moves one task event at a time (any task's), so no state can be skipped.
    states = [d["state"] for d in driver.follow(driver.submit_ok())]
    distinct = [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]
    assert distinct[:2] == ["pending", "processing"], states
    assert len(distinct) == 3 and distinct[2] in TERMINAL, states


@pytest.mark.needs_admin
def test_a_failed_task_has_the_failed_fields(driver: Driver):
    task_id = driver.submit_ok()
    driver.admin("POST", f"/tasks/{task_id}/fail", json={"code": "CONTENT_VIOLATION"})
    data = driver.data(task_id)
    assert set(data) == FIELDS["failed"] and data["state"] == "failed"
    assert data["failCode"] == "CONTENT_VIOLATION" and data["failMsg"]
    r = driver.status(task_id)
    assert r.json()["code"] == 200 and r.json()["message"] == "success"
