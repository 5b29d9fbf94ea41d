"""The submit fast path (a submit handed to its handler without the middleware and the router)
answers and journals exactly as the full Starlette stack does (the reference), for good and bad
submits of both dialects, with and without scenario rules."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from mockserver.http import journaling
from mockserver.http.app import create_app
from tests.conftest import START_MS, data_of, example_input, in_process
from tests.http.spies import paths_through

AUTH = {"Authorization": "Bearer sk_a"}
JSON_CT = {"Content-Type": "application/json"}
NANO = "/api/v1/generateTask/nano-banana"
IMAGES = "/v1/images/generations"
GOOD = json.dumps({"input": example_input("nano-banana")})
OTHER = json.dumps({"input": {**example_input("nano-banana"), "prompt": "other"}})
GOOD_123 = json.dumps({"model": "gpt-4o-image", "prompt": "a fox", "size": "1:1", "n": 1})

# (path, raw body, headers): every way a submit can go, right and wrong.
SUBMITS: list[tuple[str, bytes | str, dict]] = [
    (NANO, GOOD, {**AUTH, **JSON_CT}),
    (NANO, GOOD, {**AUTH, **JSON_CT, "Idempotency-Key": "k1"}),
    (NANO, GOOD, {**AUTH, **JSON_CT, "Idempotency-Key": "k1"}),  # the same task again
    (NANO, OTHER, {**AUTH, "Idempotency-Key": "k1"}),  # the same key, another body: 409
    (NANO, GOOD, {**AUTH, "Idempotency-Key": ""}),
    (NANO, GOOD, {}),
    (NANO, GOOD, {"Authorization": "Bearer "}),
    (NANO, GOOD, {"Authorization": "Bearer undefined"}),
    ("/api/v1/generateTask/nope", GOOD, AUTH),
    (NANO, b"", AUTH),
    (NANO, b"{not json", AUTH),
    (NANO, b"\xff\xfe\x00", AUTH),
    (NANO, b"[" * 100 + b"]" * 100, AUTH),
    (NANO, b"NaN", AUTH),
    (NANO, json.dumps({"input": {"mode": "text-to-image"}}), AUTH),
    (NANO, json.dumps({"input": {"mode": "text-to-image", "prompt": "x", "aspectRatio": "1:1"}}), AUTH),
    (NANO, json.dumps({"input": {"mode": "text-to-image", "prompt": "x", "aspect_ratio": 3}}), AUTH),
    (NANO, json.dumps({"input": []}), AUTH),
    (NANO, json.dumps({"input": {"mode": "text-to-image", "prompt": "x"}, "callback_url": "ftp://x"}), AUTH),
    (NANO, json.dumps({"input": {"mode": "text-to-image", "prompt": "x" * 6000}}), AUTH),
    (NANO, json.dumps({"input": {"mode": "text-to-image", "prompt": "é ☃"}}), AUTH),
    (NANO, GOOD, {**AUTH, "Content-Length": "abc"}),
    (NANO, b"{" + b" " * 2_000_000 + b"}", AUTH),
    (IMAGES, GOOD_123, AUTH),
    (IMAGES, json.dumps({"model": "nope", "prompt": "x"}), AUTH),
    (IMAGES, json.dumps({"prompt": "x"}), AUTH),
    (IMAGES, json.dumps({"model": "gpt-4o-image", "prompt": "x", "n": 99}), AUTH),
    (NANO + "/", GOOD, AUTH),  # not the route: the router's 404 either way
]

ACTS_ON_SUBMITS = {"rules": [{"when": {"endpoint": "generateTask", "nth": 2}, "respond": {"status": 503}}]}
ACTS_ON_POLLS = {"rules": [{"when": {"endpoint": "statusTask", "key": "nobody"}, "respond": {"status": 503}}]}


def run(scenario: dict, fast_path: bool = True, starlette: bool = False) -> list:
    """The tape, in process: through the thread-free client (mockserver.testing), or through
    Starlette's TestClient with ``starlette``."""
    app = create_app(clock="manual", seed=5, start_ms=START_MS, scenario=scenario, fast_path=fast_path)
    tape: list = []
    with in_process(app, starlette) as c:
        for path, raw, headers in SUBMITS:
            r = c.post(path, content=raw, headers=headers)
            tape.append(
                (
                    path,
                    r.status_code,
                    r.headers.get("content-type"),
                    r.headers.get("content-length"),
                    r.headers.get("retry-after"),
                    r.content,
                )
            )
        tape.append(("journal", c.get("/__admin/journal").json()["entries"]))
        tape.append(("report", c.get("/__admin/report").json()))
    return tape


@pytest.mark.parametrize(
    "scenario",
    [
        {},
        {"errors_as_200": True},
        {"limits": {"requests_per_minute": 12, "concurrent_tasks": 3}},
        {"limits": {"requests_per_minute": 12}, "retry_hint": "body"},
        {"accounts": [{"key": "sk_a", "balance": 2}]},
        ACTS_ON_POLLS,
        ACTS_ON_SUBMITS,
    ],
    ids=["plain", "errors-as-200", "rate-limited", "retry-hint-body", "low-balance", "poll-rule", "submit-rule"],
)
def test_fast_and_full_paths_give_the_same_answers_and_journal(scenario):
    assert run(scenario) == run(scenario, fast_path=False)


def test_starlettes_testclient_gets_the_same_answers_and_journal_on_both_paths():
    """The tapes above are taken with the thread-free client, ten times faster a request;
    Starlette's TestClient, as a user may drive the app, gets the same."""
    scenario = {"limits": {"requests_per_minute": 12}, "retry_hint": "body", **ACTS_ON_SUBMITS}
    assert run(scenario, starlette=True) == run(scenario) == run(scenario, fast_path=False, starlette=True)


def test_submits_skip_the_stack_unless_strict_or_a_rule_could_act_on_them(monkeypatch):
    seen = paths_through(monkeypatch, journaling.JournalMiddleware)
    app = create_app(clock="manual")
    with TestClient(app) as c:
        assert c.post(NANO, content=GOOD, headers=AUTH).status_code == 200
        assert c.post(IMAGES, content=GOOD_123, headers=AUTH).status_code == 200
        assert seen == []
        c.put("/__admin/scenario", json=ACTS_ON_POLLS)  # cannot act on submits: still fast
        assert c.post(NANO, content=GOOD, headers=AUTH).status_code == 200
        assert [p for p in seen if not p.startswith("/__admin")] == []
        c.put("/__admin/scenario", json=ACTS_ON_SUBMITS)  # could act: the full stack
        assert c.post(NANO, content=GOOD, headers=AUTH).status_code == 200
        assert NANO in seen
    seen.clear()
    with TestClient(create_app(clock="manual", strict=True)) as c:
        c.post(NANO, content=GOOD, headers={**AUTH, **JSON_CT})
        assert seen == [NANO]


def test_a_bug_on_the_submit_fast_path_is_kept_journaled_and_raised(monkeypatch):
    app = create_app(clock="manual")

    def broken(*a, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(app.state.mock, "submit", broken)
    with TestClient(app) as c:
        with pytest.raises(RuntimeError, match="boom"):
            c.post(NANO, content=GOOD, headers=AUTH)
        assert [str(e) for e in app.state.errors] == ["boom"]
        last = c.get("/__admin/journal").json()["entries"][-1]
        assert last["status"] == 500 and last["error"] == "mockserver bug: RuntimeError: boom"
        assert last["body"] == GOOD and last["bodyHash"] is not None


def test_a_submit_is_answered_and_journaled_in_process_and_live(api):
    """Through the fast path, in-process and over a socket: the answer, then the journal entry
    with the body as sent, its hash, the task and the model."""
    r = api.client.post(NANO, content=GOOD, headers={**api.headers(), **JSON_CT, "Idempotency-Key": "same"})
    task_id = data_of(r)["taskId"]
    again = api.client.post(NANO, content=GOOD, headers={**api.headers(), **JSON_CT, "Idempotency-Key": "same"})
    assert data_of(again)["taskId"] == task_id
    bad = api.client.post(NANO, content=b"{oops", headers=api.headers())
    assert bad.status_code == 400 and bad.json()["data"]["error"].startswith("Malformed JSON: ")
    entries = api.admin("GET", "/journal").json()["entries"][-3:]
    assert [(e["status"], e["taskId"], e["model"], e["idempotencyKey"]) for e in entries] == [
        (200, task_id, "nano-banana", "same"),
        (200, task_id, "nano-banana", "same"),
        (400, None, "nano-banana", None),
    ]
    assert entries[0]["body"] == GOOD and entries[0]["bodyHash"] == entries[1]["bodyHash"]
    assert entries[2]["body"] == "{oops" and entries[2]["bodyHash"] != entries[0]["bodyHash"]
