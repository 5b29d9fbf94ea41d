"""Eviction over HTTP, in-process and against a live server (manual clock): a task kept past its
results' lifetime plus --evict-after is forgotten, and every way of asking about it says so."""

from __future__ import annotations

from mockserver.core.config import DEFAULT_EVICT_AFTER_MS
from tests.conftest import KEY

TTL = 1_000
BODY = {"input": {"mode": "text-to-image", "prompt": "a fox"}}


def short_ttl(api, **scenario) -> None:
    r = api.admin("PUT", "/scenario", json={"name": "evict", "results": {"ttl_ms": TTL}, **scenario})
    assert r.status_code == 200, r.text


def evict_all(api) -> None:
    api.advance(to="idle")
    api.advance(TTL + DEFAULT_EVICT_AFTER_MS)


def test_status_admin_journal_and_files_say_an_evicted_task_expired(api):
    short_ttl(api)
    tid = api.submit_ok("nano-banana")
    other = api.submit_ok("nano-banana")
    api.advance(to="idle")
    r = api.status("nano-banana", tid)
    assert r.status_code == 200 and r.json()["data"]["state"] == "success"
    file_url = r.json()["data"]["resultJson"].split('"')[3]
    complete = r.json()["data"]["completeTime"]
    api.advance(to=complete + TTL + DEFAULT_EVICT_AFTER_MS - 1)
    assert api.status("nano-banana", tid).status_code == 200  # kept until the margin is over
    api.advance(1)

    r = api.status("nano-banana", tid)
    assert r.status_code == 404
    body = r.json()
    assert body["message"] == f"Task not found: {tid}"  # what an unknown id hears, in the dialect's envelope
    assert "expired" in body["data"]["error"] and "evicted" in body["data"]["error"]
    # Another key asking learns nothing about it.
    r = api.status("nano-banana", tid, key="sk_someone_else")
    assert r.status_code == 404 and "evicted" not in r.json()["data"]["error"]

    api.advance(60_000)  # the other task ended a little later
    r = api.admin("GET", f"/tasks/{tid}")
    assert r.status_code == 410, r.text
    assert "evicted" in r.json()["data"]["error"]
    assert api.admin("GET", f"/tasks/{tid}/timeline").status_code == 410
    listed = api.admin("GET", "/tasks").json()
    assert listed["tasks"] == [] and listed["evicted"] == 2
    assert api.admin("GET", "/health").json()["evicted"] == 2
    assert api.admin("GET", "/tasks/task_0000000000000000").status_code == 404  # never existed

    notes = [e for e in api.admin("GET", "/journal").json()["entries"] if e["method"] == "EVICT"]
    assert [n["taskId"] for n in notes] == [tid, other] and {n["status"] for n in notes} == {410}
    assert "Evicted 1 task kept" in notes[0]["error"] and tid in notes[0]["error"]

    path = file_url.split("testserver")[-1] if "testserver" in file_url else "/" + file_url.split("/", 3)[3]
    r = api.client.get(path)
    assert r.status_code == 404 and "expired" in r.text


def test_the_report_still_answers_for_evicted_tasks_clients(api):
    short_ttl(api)
    tid = api.submit_ok("nano-banana")
    api.advance(to="idle")
    assert api.status("nano-banana", tid).json()["data"]["state"] == "success"  # and never downloaded
    evict_all(api)
    assert api.admin("GET", "/tasks").json()["evicted"] == 1
    for params in ({}, {"key": KEY}):
        r = api.admin("GET", "/report", params=params)
        assert r.status_code == 200, r.text
        codes = [f["code"] for f in r.json()["findings"]]
        assert codes == ["RESULTS_NOT_DOWNLOADED"], codes  # settled as the task went
    summary = api.admin("GET", "/report").json()["summary"]
    assert summary["evictedTasks"] == 1 and summary["tasks"] == 1
    state = api.mock.conformance
    assert state._tasks == {}


def test_findings_about_an_evicted_task_are_settled_with_it(api):
    """A finding that names a task (polled after its end) is written as the task goes: the report
    answers 200 afterwards, not 500 for a task it can no longer look up."""
    short_ttl(api)
    tid = api.submit_ok("nano-banana")
    api.advance(to="idle")
    for _ in range(3):
        assert api.status("nano-banana", tid).json()["data"]["state"] == "success"
    before = {f["code"]: f for f in api.admin("GET", "/report").json()["findings"]}
    assert set(before) == {"POLLED_AFTER_TERMINAL", "RESULTS_NOT_DOWNLOADED"}
    evict_all(api)
    r = api.admin("GET", "/report")
    assert r.status_code == 200, r.text
    after = {f["code"]: f for f in r.json()["findings"]}
    assert after["POLLED_AFTER_TERMINAL"] == before["POLLED_AFTER_TERMINAL"]  # the same words, kept
    assert set(after) == set(before)
    tracker = api.mock.conformance
    assert tracker._tasks == {} and tracker._by_task == {} and tracker._findings == {}


def test_tasks_evicted_before_anyone_followed_them_leave_the_report_too(api):
    """Never polled, then evicted: settled as abandoned, and nothing kept of them."""
    short_ttl(api)
    for _ in range(3):
        api.submit_ok("nano-banana")
    evict_all(api)
    report = api.admin("GET", "/report").json()
    assert [f["code"] for f in report["findings"]] == ["ABANDONED_TASK"] * 3
    assert report["summary"]["evictedTasks"] == 3 and report["summary"]["tasks"] == 3
    assert api.mock.conformance._tasks == {}


def test_a_well_behaved_keys_report_state_goes_with_its_last_task(api):
    short_ttl(api)
    keys = [f"sk_client_{n}" for n in range(20)]
    for key in keys:
        tid = api.submit("nano-banana", key=key).json()["data"]["taskId"]
        api.advance(to="idle")
        data = api.status("nano-banana", tid, key=key).json()["data"]
        assert data["state"] == "success"
        url = data["resultJson"].split('"')[3]
        assert api.client.get("/" + url.split("/", 3)[3]).status_code == 200
    evict_all(api)
    tracker = api.mock.conformance
    assert tracker._tasks == {}
    assert not set(keys) & set(tracker._requests)
    summary = api.admin("GET", "/report").json()["summary"]
    assert summary["forgottenKeys"] == len(keys) and summary["requests"] >= 3 * len(keys)
    assert api.mock.store.per_key == {} and api.mock.accounts.spent == {}


def test_an_idempotent_resubmit_after_eviction_makes_a_new_task(api):
    short_ttl(api)
    headers = {**api.headers(), "Idempotency-Key": "order-1"}
    first = api.client.post("/api/v1/generateTask/nano-banana", json=BODY, headers=headers).json()["data"]["taskId"]
    again = api.client.post("/api/v1/generateTask/nano-banana", json=BODY, headers=headers).json()["data"]["taskId"]
    assert again == first
    evict_all(api)
    changed = {"input": {**BODY["input"], "prompt": "another fox"}}  # not a conflict: the record went too
    r = api.client.post("/api/v1/generateTask/nano-banana", json=changed, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["taskId"] != first


def test_a_callback_retry_due_after_eviction_is_dropped_quietly(api, dead_url):
    short_ttl(api, callbacks={"retries": 1, "backoff_ms": [TTL + DEFAULT_EVICT_AFTER_MS + 60_000]})
    tid = api.submit_ok("nano-banana", request_type="callback", callback_url=dead_url)
    api.advance(to="idle")  # first attempt refused; the retry is due after the task is evicted
    assert api.admin("GET", f"/tasks/{tid}").status_code == 410
    assert api.admin("GET", "/health").status_code == 200
    attempts = api.admin("GET", "/callbacks").json()["attempts"]
    assert [a["attempt"] for a in attempts if a["taskId"] == tid] == [1]
    assert api.mock.callbacks._gen == {} and api.mock.callbacks._started == {}


def test_a_task_only_submitted_costs_the_report_an_int_until_it_is_followed(api):
    tid = api.submit_ok("nano-banana")
    tracker = api.mock.conformance
    assert type(tracker._tasks[tid]) is int  # its submit's journal id; the task tells the rest
    api.advance(to="idle")
    assert api.status("nano-banana", tid).json()["data"]["state"] == "success"
    track = tracker._tasks[tid]
    assert track.polls == 1 and track.terminal == "success" and track.key == api.headers()["Authorization"][7:]


def test_keys_with_no_task_and_nothing_to_report_do_not_pile_up_in_the_report(api, monkeypatch):
    """A client sending from ever new keys (balance checks here): past a scan floor the report folds
    the keys with no live task and no finding into its totals; nothing is lost from the counts."""
    monkeypatch.setattr(api.mock.conformance, "_key_scan_at", 16)  # the floor (1,024) made small
    tid = api.submit_ok("nano-banana")  # a key with a live task stays
    keys = [f"sk_passerby_{n}" for n in range(40)]
    for key in keys:
        assert api.client.get("/api/v1/apikeys/current-balance", headers=api.headers(key)).status_code == 200
    tracker = api.mock.conformance
    assert KEY in tracker._requests and len(tracker._requests) <= 32
    summary = api.admin("GET", "/report").json()["summary"]
    assert summary["requests"] == 1 + len(keys)  # every request still counted, folded or not
    assert summary["forgottenKeys"] == len(keys) + 1 - len(tracker._requests)
    assert api.status("nano-banana", tid).status_code == 200


def test_findings_past_the_cap_are_counted_not_kept(api, monkeypatch):
    """A client trying many keys makes a MISSING_AUTH finding each: past the cap on findings in all,
    they are counted in summary.suppressed and nothing more is kept."""
    monkeypatch.setattr(api.mock.conformance, "_max_total", 5)
    for n in range(12):  # an unexpanded variable is refused even in open mode: a 401 each
        assert api.submit(key=f"${{APIXO_KEY_{n}}}").status_code == 401
    tracker = api.mock.conformance
    summary = api.admin("GET", "/report").json()["summary"]
    assert len(tracker._findings) == 5
    assert summary["byCode"]["MISSING_AUTH"] == 5 and summary["suppressed"]["MISSING_AUTH"] == 7
