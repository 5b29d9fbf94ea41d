"""The 123API dialect end to end, in-process and through a live server (the ``api`` fixture): its
routes, bodies, ids and states, every error the mock can give in page 004's body, faults, scenario
rules scoped by dialect, the admin API over its tasks, a server that speaks only 123API, and the
scenario library driven by a 123API client.

Every answer is also checked against the published contract by the fixture (tests/conftest.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from mockserver import contract
from mockserver.contract import validate
from mockserver.dialects.api123.wire import CALLBACK_FIELDS, SHORT_CODES
from tests.conftest import KEY
from tests.http.test_provider import fetch, png_size

ROOT = Path(__file__).resolve().parent.parent.parent
IMAGES = "/v1/images/generations"
VIDEOS = "/v1/videos/generations"
IMAGE = {"model": "gpt-4o-image", "prompt": "a red fox in the snow", "size": "1:1", "n": 1}
VIDEO = {"model": "veo3.1-fast", "prompt": "waves rolling onto a beach at dusk", "duration": 8, "aspect_ratio": "16:9"}
TASK_ID = re.compile(r"task-[0-9a-f]{8}-[0-9a-f]{8}")
TERMINAL = ("completed", "failed")


# -- a 123API client ---------------------------------------------------------------------------


def submit(api, body: dict | None = None, path: str = IMAGES, key: str | None = KEY, headers: dict | None = None):
    return api.client.post(path, json=IMAGE if body is None else body, headers={**api.headers(key), **(headers or {})})


def submit_ok(api, body: dict | None = None, path: str = IMAGES, **kw) -> str:
    r = submit(api, body, path, **kw)
    assert r.status_code == 200, r.text
    return r.json()["task_id"]


def status(api, task_id: str, key: str | None = KEY, **params):
    return api.client.get(f"/v1/tasks/{task_id}", params=params, headers=api.headers(key))


def task(api, task_id: str, key: str | None = KEY) -> dict:
    r = status(api, task_id, key)
    assert r.status_code == 200, r.text
    return r.json()


def load(api, doc: dict) -> None:
    r = api.client.put("/__admin/scenario", json=doc)
    assert r.status_code == 200, r.text


def add_rule(api, rule: dict) -> None:
    r = api.admin("POST", "/rules", json=rule)
    assert r.status_code == 200, r.text


def error_of(r: httpx.Response, status: int, *, as_200: bool = False) -> dict:
    """Page 004's error body, with the short code of ``status``, that keeps schemas/123api/error.json."""
    assert r.status_code == (200 if as_200 else status), r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert validate("123api/error", body) == []
    assert contract.check_httpx_response(r, errors_as_200=as_200) == []
    assert set(body) <= {"error", "message", "retryAfter"}
    assert body["error"] == SHORT_CODES[status] and body["message"]
    return body


def run_to_end(api, task_id: str, *, max_polls: int = 200) -> dict:
    """Page 000's loop on the manual clock: poll at once, then every 2 s, until completed or failed."""
    for _ in range(max_polls):
        body = task(api, task_id)
        if body["status"] in TERMINAL:
            return body
        api.advance(2_000)
    raise AssertionError(f"{task_id} did not end after {max_polls} polls")


# -- routes, bodies, ids, states -----------------------------------------------------------------


def test_image_task_queued_processing_completed_with_two_real_files(api):
    r = submit(api, {**IMAGE, "size": "3:2", "n": 2})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"task_id", "status", "model"}
    assert (body["status"], body["model"]) == ("queued", "gpt-4o-image")
    tid = body["task_id"]
    assert TASK_ID.fullmatch(tid) and "_" not in tid

    assert task(api, tid) == {"task_id": tid, "status": "queued", "model": "gpt-4o-image"}
    api.advance(to="next")
    assert task(api, tid) == {"task_id": tid, "status": "processing", "model": "gpt-4o-image"}
    api.advance(to="next")
    done = task(api, tid)
    assert set(done) == {"task_id", "status", "model", "result"} and done["status"] == "completed"
    urls = done["result"]["urls"]
    assert len(urls) == 2 and done["result"]["url"] == urls[0]
    assert [u.rsplit("/", 2)[-2:] for u in urls] == [[tid, "0.png"], [tid, "1.png"]]
    assert all(f"/v1/files/{tid}/" in u for u in urls)
    for url in urls:
        f = fetch(api, url)  # no key, as a browser would
        assert f.status_code == 200 and f.headers["content-type"] == "image/png"
        width, height = png_size(f.content)
        assert width * 2 == height * 3  # 3:2
    # The language query is accepted and changes nothing.
    assert status(api, tid, language="en").json() == done
    assert status(api, tid, language="zh-CN").json() == done


def test_video_task_on_the_videos_route_gives_an_mp4(api):
    tid = submit_ok(api, VIDEO, VIDEOS)
    assert task(api, tid)["status"] == "queued"
    api.advance(to="idle")
    done = task(api, tid)
    assert done["status"] == "completed" and done["model"] == "veo3.1-fast"
    assert done["result"]["urls"] == [done["result"]["url"]]
    f = fetch(api, done["result"]["url"])
    assert f.status_code == 200 and f.headers["content-type"] == "video/mp4" and f.content[4:8] == b"ftyp"


def test_ids_are_task_hyphen_hex_and_distinct(api):
    ids = {submit_ok(api) for _ in range(5)}
    assert len(ids) == 5 and all(TASK_ID.fullmatch(i) for i in ids)


def test_models_lists_the_123api_models(api):
    r = api.client.get("/v1/models", headers=api.headers())
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["gpt-4o-image", "sora-2", "veo3.1-fast"]
    assert all(m == {"id": m["id"], "object": "model", "owned_by": "123api"} for m in body["data"])
    error_of(api.client.get("/v1/models"), 401)


# -- refused requests: 400 naming the field -----------------------------------------------------


WRONG_ROUTE = [(IMAGES, VIDEO, VIDEOS), (VIDEOS, IMAGE, IMAGES), (IMAGES, {"model": "sora-2", "prompt": "x"}, VIDEOS)]
# (route, body, the field the 400 must name)
BAD_BODIES = [
    (IMAGES, {**IMAGE, "colour": "red"}, "colour"),
    (IMAGES, {**IMAGE, "n": 5}, "n"),
    (IMAGES, {**IMAGE, "n": 0}, "n"),
    (IMAGES, {**IMAGE, "n": "2"}, "n"),
    (IMAGES, {**IMAGE, "size": "4:3"}, "size"),
    (IMAGES, {**IMAGE, "prompt": ""}, "prompt"),
    (IMAGES, {**IMAGE, "prompt": "x" * 4001}, "prompt"),
    (IMAGES, {**IMAGE, "image_urls": []}, "image_urls"),
    (IMAGES, {**IMAGE, "image_urls": ["ftp://x/y.png"]}, "image_urls"),
    (IMAGES, {**IMAGE, "image_urls": ["https://e.com/a.png"] * 6}, "image_urls"),
    (VIDEOS, {**VIDEO, "duration": 5}, "duration"),
    (VIDEOS, {**VIDEO, "aspect_ratio": "1:1"}, "aspect_ratio"),
    (
        VIDEOS,
        {"model": "sora-2", "prompt": "x", "image_urls": ["https://e.com/a.png", "https://e.com/b.png"]},
        "image_urls",
    ),
    (VIDEOS, {"model": "sora-2"}, "prompt"),
    (VIDEOS, {"prompt": "x"}, "model"),
    (VIDEOS, {"model": 7, "prompt": "x"}, "model"),
]


def test_a_model_on_the_other_medias_route_is_400_naming_the_right_one(api):
    for path, body, right in WRONG_ROUTE:
        err = error_of(submit(api, body, path), 400)
        assert body["model"] in err["message"] and f"POST {right}" in err["message"], err
    assert api.admin("GET", "/tasks").json()["tasks"] == []


def test_unknown_fields_and_values_out_of_range_are_400_naming_the_field(api):
    for path, body, field in BAD_BODIES:
        err = error_of(submit(api, body, path), 400)
        assert err["error"] == "invalid_request" and field in err["message"], (body, err)
    assert api.admin("GET", "/tasks").json()["tasks"] == []


def test_bodies_that_are_not_json_objects_are_400(api):
    for content in (b"[1, 2]", b'"a fox"', b"{not json", b""):
        r = api.client.post(IMAGES, content=content, headers={**api.headers(), "Content-Type": "application/json"})
        error_of(r, 400)


def test_callback_fields_are_400_saying_123api_has_no_callbacks(api):
    for field in CALLBACK_FIELDS:
        err = error_of(submit(api, {**IMAGE, field: "https://example.com/hook"}), 400)
        assert field in err["message"] and "no callbacks" in err["message"]
    assert api.admin("GET", "/tasks").json()["tasks"] == []


def test_unknown_model_is_404(api):
    err = error_of(submit(api, {"model": "gpt-5-image", "prompt": "x"}), 404)
    assert "gpt-5-image" in err["message"]
    # An APIXO model is unknown under 123API as well.
    error_of(submit(api, {"model": "nano-banana", "prompt": "x"}), 404)


def test_a_task_asked_through_the_other_dialect_is_404_naming_the_right_path(api):
    ours = submit_ok(api)
    r = api.client.post(
        "/api/v1/generateTask/nano-banana",
        json={"input": {"mode": "text-to-image", "prompt": "a fox"}},
        headers=api.headers(),
    )
    theirs = r.json()["data"]["taskId"]
    err = error_of(status(api, theirs), 404)
    assert f"/api/v1/statusTask/nano-banana?taskId={theirs}" in err["message"]
    r = api.status("nano-banana", ours)
    assert r.status_code == 404 and r.json()["code"] == 404
    assert f"GET /v1/tasks/{ours}" in r.json()["data"]["error"]


# -- every error the mock can give, in page 004's body -----------------------------------------


def test_401_without_a_usable_key(api):
    for auth in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic c2tfeDp4"}):
        r = api.client.post(IMAGES, json=IMAGE, headers=auth)
        assert error_of(r, 401)["error"] == "invalid_api_key"
    load(api, {"accounts": [{"key": KEY, "balance": 100}]})
    error_of(status(api, "task-00000000-00000000", key="sk_someone_else"), 401)


def test_402_when_the_balance_cannot_pay(api):
    load(api, {"accounts": [{"key": "sk_broke", "balance": 0}, {"key": "sk_low", "balance": 4}]})
    err = error_of(submit(api, key="sk_broke"), 402)
    assert err["error"] == "insufficient_balance"
    assert submit(api, key="sk_low").status_code == 200  # gpt-4o-image costs 3 per image
    error_of(submit(api, {**IMAGE, "n": 2}, key="sk_low"), 402)
    assert len(api.admin("GET", "/tasks").json()["tasks"]) == 1


def test_403_from_a_rule(api):
    add_rule(api, {"when": {"endpoint": "generations"}, "respond": {"status": 403, "message": "Wrong host"}})
    err = error_of(submit(api), 403)
    assert err == {"error": "forbidden", "message": "Wrong host"}


def test_404_for_unknown_tasks_and_files(api):
    err = error_of(status(api, "task-00000000-00000000"), 404)
    assert "task-00000000-00000000" in err["message"]
    tid = submit_ok(api)
    api.advance(to="idle")
    error_of(api.client.get(f"/v1/files/{tid}/7.png"), 404)
    error_of(api.client.get("/v1/files/task-00000000-00000000/0.png"), 404)
    # Another key's task is nobody else's business.
    error_of(status(api, tid, key="sk_other"), 404)


def test_404_for_a_near_miss_path_names_the_real_endpoint(api):
    r = api.client.post("/v1/image/generations", json=IMAGE, headers=api.headers())
    assert r.status_code == 404
    assert "/v1/images/generations" in json.dumps(r.json())


def test_405_for_a_known_path_with_the_wrong_method(api):
    r = api.client.get(IMAGES, headers=api.headers())
    err = error_of(r, 405)
    assert "POST" in r.headers["allow"] and err["error"] == "method_not_allowed"
    error_of(api.client.delete("/v1/tasks/task-00000000-00000000", headers=api.headers()), 405)


def test_409_for_an_idempotency_key_reused_with_another_body(api):
    idem = {"Idempotency-Key": "job-1"}
    first = submit_ok(api, headers=idem)
    assert submit_ok(api, headers=idem) == first  # the same body: the same task, charged once
    assert len(api.admin("GET", "/tasks").json()["tasks"]) == 1
    err = error_of(submit(api, {**IMAGE, "prompt": "a grey wolf"}, headers=idem), 409)
    assert err["error"] == "idempotency_conflict"


def test_413_for_a_body_over_the_size_limit(api):
    limit = api.mock.settings.max_body_bytes
    err = error_of(submit(api, {**IMAGE, "prompt": "x" * limit}), 413)
    assert err["error"] == "payload_too_large"


def test_429_from_the_limits_with_retry_after_in_body_and_header(api):
    load(api, {"limits": {"requests_per_minute": 2}})
    submit_ok(api)
    submit_ok(api)
    r = submit(api)
    err = error_of(r, 429)
    assert err["error"] == "rate_limit_exceeded"
    assert isinstance(err["retryAfter"], int) and 0 < err["retryAfter"] <= 60
    assert r.headers["retry-after"] == str(err["retryAfter"])
    api.advance(err["retryAfter"] * 1000)
    assert submit(api).status_code == 200


def test_429_for_too_many_unfinished_tasks(api):
    load(api, {"limits": {"concurrent_tasks": 1}})
    submit_ok(api)
    err = error_of(submit(api), 429)
    assert err["retryAfter"] >= 1


def test_429_from_a_rule(api):
    add_rule(api, {"when": {"endpoint": "tasks"}, "respond": {"status": 429, "retry_after": 7}})
    tid = submit_ok(api)
    r = status(api, tid)
    assert error_of(r, 429)["retryAfter"] == 7 and r.headers["retry-after"] == "7"


@pytest.mark.parametrize("code", [500, 502, 503])
def test_5xx_from_rules(api, code):
    add_rule(api, {"when": {"endpoint": "submit", "nth": 1}, "respond": {"status": code}})
    error_of(submit(api), code)
    assert submit(api).status_code == 200  # the rule acted once
    assert len(api.admin("GET", "/tasks").json()["tasks"]) == 1  # the 5xx created no task


def test_a_rule_body_replaces_the_whole_answer(api):
    add_rule(
        api, {"when": {"endpoint": "submit"}, "respond": {"status": 402, "body": {"error": "Insufficient balance."}}}
    )
    r = submit(api)
    assert r.status_code == 402 and r.json() == {"error": "Insufficient balance."}  # page 004's first example


def test_errors_as_200(api):
    load(api, {"errors_as_200": True, "rules": [{"when": {"endpoint": "tasks", "nth": 1}, "respond": {"status": 503}}]})
    tid = submit_ok(api)
    assert error_of(status(api, tid), 503, as_200=True)["error"] == "service_unavailable"
    assert task(api, tid)["status"] == "queued"
    error_of(submit(api, key=None), 401, as_200=True)
    error_of(submit(api, {**IMAGE, "n": 9}), 400, as_200=True)
    error_of(status(api, "task-00000000-00000000"), 404, as_200=True)
    # The admin API keeps its statuses.
    assert api.admin("GET", "/tasks/task-00000000-00000000").status_code == 404


@pytest.mark.unchecked_responses
@pytest.mark.parametrize(
    ("fault", "raised"),
    [
        ("connection_reset", httpx.ReadError),
        ("empty_response", httpx.RemoteProtocolError),
        ("truncated_body", httpx.RemoteProtocolError),
        ("malformed_json", None),
    ],
)
def test_network_faults_on_123api_routes(api, fault, raised):
    add_rule(api, {"when": {"endpoint": "tasks", "nth": 1}, "fault": fault})
    tid = submit_ok(api)
    if raised is not None:
        with pytest.raises(raised):
            status(api, tid)
    else:
        r = status(api, tid)
        assert r.status_code == 200
        with pytest.raises(ValueError):
            r.json()
        assert r.content.startswith(b'{"task_id":"')
    assert task(api, tid)["status"] == "queued"  # the next poll is whole


@pytest.mark.unchecked_responses
def test_a_fault_on_submit_loses_the_answer_not_the_task(api):
    add_rule(api, {"when": {"endpoint": "generations", "nth": 1}, "fault": "connection_reset"})
    with pytest.raises(httpx.ReadError):
        submit(api)
    [made] = api.admin("GET", "/tasks").json()["tasks"]
    assert made["dialect"] == "123api" and TASK_ID.fullmatch(made["taskId"])


# -- scenario rules and dialects -----------------------------------------------------------------


def apixo_submit(api) -> httpx.Response:
    return api.client.post(
        "/api/v1/generateTask/nano-banana",
        json={"input": {"mode": "text-to-image", "prompt": "a red fox"}},
        headers=api.headers(),
    )


def test_dialect_condition_scopes_a_rule(api):
    load(api, {"rules": [{"when": {"dialect": "123api"}, "respond": {"status": 503}}]})
    error_of(submit(api), 503)
    assert apixo_submit(api).status_code == 200
    load(api, {"rules": [{"when": {"dialect": "apixo"}, "respond": {"status": 503}}]})
    assert apixo_submit(api).status_code == 503
    tid = submit_ok(api)
    assert task(api, tid)["status"] == "queued"


def test_submit_rules_by_any_of_their_names_act_on_both_submit_routes(api):
    for endpoint in ("submit", "generations", "generateTask"):
        load(api, {"rules": [{"when": {"endpoint": endpoint}, "respond": {"status": 502}}]})
        error_of(submit(api), 502)
        error_of(submit(api, VIDEO, VIDEOS), 502)
    for endpoint in ("status", "tasks", "statusTask"):
        load(api, {"rules": [{"when": {"endpoint": endpoint}, "respond": {"status": 500}}]})
        error_of(status(api, submit_ok(api)), 500)


def test_model_globs_match_123api_model_names(api):
    load(api, {"rules": [{"when": {"model": "veo3.*"}, "respond": {"status": 503}}]})
    assert submit(api).status_code == 200
    error_of(submit(api, VIDEO, VIDEOS), 503)


def test_apixo_only_conditions_see_a_123api_task_as_auto_and_async(api):
    """docs/123api.md, scenario keys: provider and request_type are APIXO's fields."""
    for when in ({"provider": "official"}, {"provider": "value"}, {"request_type": "callback"}):
        load(api, {"rules": [{"when": {"endpoint": "submit", **when}, "respond": {"status": 503}}]})
        assert submit(api).status_code == 200, when
    for when in ({"provider": "auto"}, {"request_type": "async"}):
        load(api, {"rules": [{"when": {"endpoint": "submit", **when}, "respond": {"status": 503}}]})
        error_of(submit(api), 503)


def test_task_state_uses_the_core_names_and_models_is_an_endpoint(api):
    load(
        api,
        {
            "rules": [
                {"when": {"endpoint": "tasks", "task_state": "success"}, "respond": {"status": 502}},
                {"when": {"endpoint": "models"}, "respond": {"status": 503, "as_200": True}},
            ]
        },
    )
    tid = submit_ok(api)
    assert task(api, tid)["status"] == "queued"
    api.advance(to="idle")
    error_of(status(api, tid), 502)
    error_of(api.client.get("/v1/models", headers=api.headers()), 503, as_200=True)


def test_fail_code_fails_the_task_with_error_and_message_and_refunds(api):
    load(
        api,
        {
            "accounts": [{"key": KEY, "balance": 10}],
            "rules": [{"when": {"prompt": "(?i)violence"}, "fail": {"code": "CONTENT_VIOLATION"}}],
        },
    )
    tid = submit_ok(api, {**IMAGE, "prompt": "graphic violence", "n": 2})
    assert api.admin("GET", f"/accounts/{KEY}").json()["balance"] == 4
    done = run_to_end(api, tid)
    assert set(done) == {"task_id", "status", "model", "error", "message"}
    assert (done["status"], done["error"]) == ("failed", "CONTENT_VIOLATION")
    assert done["message"] and done["message"] != "CONTENT_VIOLATION"
    assert api.admin("GET", f"/accounts/{KEY}").json()["balance"] == 10
    ok = submit_ok(api)
    assert run_to_end(api, ok)["status"] == "completed"


def test_fail_with_a_message_of_its_own(api):
    load(api, {"rules": [{"when": {"endpoint": "tasks"}, "fail": {"code": "NSFW_DETECTED", "message": "nope"}}]})
    tid = submit_ok(api)
    assert task(api, tid) == {
        "task_id": tid,
        "status": "failed",
        "model": "gpt-4o-image",
        "error": "NSFW_DETECTED",
        "message": "nope",
    }


# -- the admin API over 123API tasks ---------------------------------------------------------------


def test_admin_lists_forces_and_journals_123api_tasks(api):
    one, two = submit_ok(api), submit_ok(api, VIDEO, VIDEOS)
    listed = {t["taskId"]: t for t in api.admin("GET", "/tasks").json()["tasks"]}
    assert {t["dialect"] for t in listed.values()} == {"123api"}
    assert (listed[one]["model"], listed[two]["model"]) == ("gpt-4o-image", "veo3.1-fast")
    assert api.admin("GET", f"/tasks/{one}").json()["dialect"] == "123api"

    assert api.admin("POST", f"/tasks/{one}/complete").status_code == 200
    assert task(api, one)["status"] == "completed"
    assert api.admin("POST", f"/tasks/{two}/fail", json={"code": "GENERATION_FAILED"}).status_code == 200
    failed = task(api, two)
    assert (failed["status"], failed["error"]) == ("failed", "GENERATION_FAILED")

    entries = api.admin("GET", "/journal").json()["entries"]
    paths = [(e["method"], e["path"], e["status"]) for e in entries]
    assert ("POST", IMAGES, 200) in paths and ("GET", f"/v1/tasks/{two}", 200) in paths
    [sub] = [e for e in entries if e["path"] == VIDEOS]
    assert sub["taskId"] == two and sub["model"] == "veo3.1-fast"


def test_accounts_are_shared_across_dialects(api):
    load(api, {"accounts": [{"key": KEY, "balance": 5}]})
    assert submit(api).status_code == 200  # 3 credits under 123API
    assert apixo_submit(api).status_code == 200  # 2 under APIXO
    assert api.admin("GET", f"/accounts/{KEY}").json()["balance"] == 0
    error_of(submit(api), 402)
    assert apixo_submit(api).status_code == 402
    assert api.admin("PUT", f"/accounts/{KEY}", json={"balance": 3}).status_code == 200
    assert submit(api).status_code == 200


def test_rate_limits_are_per_key_across_dialects(api):
    load(api, {"limits": {"requests_per_minute": 2}})
    assert apixo_submit(api).status_code == 200
    submit_ok(api)
    error_of(submit(api), 429)


# -- a server that speaks only 123API --------------------------------------------------------------


def test_only_123api(make_api):
    api = make_api(dialects=["123api"])
    tid = submit_ok(api)
    api.advance(to="idle")
    assert task(api, tid)["status"] == "completed"
    for method, path in (
        ("POST", "/api/v1/generateTask/nano-banana"),
        ("GET", "/api/v1/statusTask/nano-banana?taskId=x"),
        ("GET", "/api/v1/apikeys/current-balance"),
    ):
        # Checked by the fixture too: a 404 of a dialect the server does not speak may be in its own.
        r = api.client.request(method, path, headers=api.headers(), json={})
        assert r.status_code == 404 and validate("123api/error", r.json()) == []
    for path in ("/schemas/", "/schemas/123api/error.json", "/__admin/health", "/__admin/tasks"):
        assert api.client.get(path).status_code == 200, path


def test_only_123api_serves_its_openapi_document(make_api):
    pytest.importorskip("mockserver.dialects.api123.openapi", reason="123API's OpenAPI document is not built yet")
    api = make_api(dialects=["123api"])
    r = api.client.get("/openapi.json")
    assert r.status_code == 200
    assert "/v1/tasks/{task_id}" in r.json()["paths"]


# -- the scenario library under 123API ---------------------------------------------------------------

RICH = "sk_test_rich"


def load_library(api, name: str) -> None:
    r = api.admin("PUT", "/scenario", params={"name": name})
    assert r.status_code == 200, r.text


def _happy_path(api):
    assert run_to_end(api, submit_ok(api))["status"] == "completed"


def _rate_limited(api):
    for _ in range(2):
        r = submit(api)
        assert error_of(r, 429)["retryAfter"] == 2 and r.headers["retry-after"] == "2"
        api.advance(2_000)
    assert run_to_end(api, submit_ok(api))["status"] == "completed"


def _tight_limits(api):
    submit_ok(api)
    submit_ok(api)
    assert error_of(submit(api), 429)["retryAfter"] >= 1


def _insufficient_credits(api):
    error_of(submit(api, key="sk_test_broke"), 402)
    error_of(submit(api, key="sk_nobody"), 401)
    tid = submit_ok(api, key=RICH)
    assert task(api, tid, key=RICH)["status"] == "queued"


def _content_violation(api):
    bad = submit_ok(api, {**IMAGE, "prompt": "blood everywhere"})
    nsfw = submit_ok(api, {**IMAGE, "prompt": "nsfw art"})
    fine = submit_ok(api)
    api.advance(to="idle")
    assert task(api, bad)["error"] == "CONTENT_VIOLATION"
    assert task(api, nsfw)["error"] == "NSFW_DETECTED"
    assert task(api, fine)["status"] == "completed"


def _flaky_5xx(api):
    seen = set()
    tid = None
    for _ in range(50):
        r = submit(api)
        if r.status_code == 200:
            tid = r.json()["task_id"]
            break
        seen.add(error_of(r, r.status_code)["error"])
    assert tid is not None
    for _ in range(200):
        r = status(api, tid)
        if r.status_code != 200:
            seen.add(error_of(r, r.status_code)["error"])
        elif r.json()["status"] == "completed":
            break
        api.advance(2_000)
    assert r.json()["status"] == "completed"
    assert seen and seen <= {"server_error", "bad_gateway", "service_unavailable", "rate_limit_exceeded"}


def _processing_timeout(api):
    tid = submit_ok(api)
    api.advance(299_000)
    assert task(api, tid)["status"] == "processing"
    done = run_to_end(api, tid)
    assert (done["status"], done["error"]) == ("failed", "PROCESSING_TIMEOUT")


def _slow_video(api):
    tid = submit_ok(api, {"model": "sora-2", "prompt": "a slow pan"}, VIDEOS)
    assert api.admin("GET", f"/tasks/{tid}").json()["processingMs"] >= 420_000  # sora-2's override
    api.advance(415_000)
    assert task(api, tid)["status"] == "processing"
    api.advance(to="idle")
    assert task(api, tid)["status"] == "completed"


def _network_chaos(api):
    tid = None
    for _ in range(50):  # a submit may be reset after its task was made: retry with one key
        try:
            tid = submit_ok(api, headers={"Idempotency-Key": "chaos-1"})
            break
        except httpx.TransportError:
            continue
    assert tid is not None
    faults = 0
    for _ in range(200):
        try:
            body = status(api, tid).json()
        except (httpx.TransportError, ValueError):
            faults += 1
            continue
        if body["status"] == "completed":
            break
        api.advance(2_000)
    assert body["status"] == "completed" and faults > 0


def _expiring_results(api):
    done = run_to_end(api, submit_ok(api))
    assert fetch(api, done["result"]["url"]).status_code == 200
    api.advance(61_000)
    error_of(fetch(api, done["result"]["url"]), 404)


def _errors_as_200(api):
    tid = submit_ok(api)
    assert task(api, tid)["status"] == "queued"
    error_of(status(api, tid), 503, as_200=True)
    error_of(submit(api, key=None), 401, as_200=True)


def _poll_driven(api):
    tid = submit_ok(api)
    seen = [task(api, tid)["status"] for _ in range(4)]
    assert seen == ["queued", "processing", "processing", "completed"]


def _fast_clock(api):
    clock = api.admin("GET", "/clock").json()
    assert (clock["mode"], clock["scale"]) == ("real", 100)
    tid = submit_ok(api)
    api.advance(to="idle")  # the real clock jumps too: no wall-clock wait
    assert task(api, tid)["status"] == "completed"


def _model_outage(api):
    error_of(submit(api, {"model": "sora-2", "prompt": "x"}, VIDEOS), 503)
    assert run_to_end(api, submit_ok(api))["status"] == "completed"


def _callback_chaos(api):
    # Its rules act only on callbacks, which a 123API task cannot ask for: nothing changes.
    assert run_to_end(api, submit_ok(api))["status"] == "completed"
    assert all(r["matches"] == 0 for r in api.admin("GET", "/rules").json()["rules"])


def _hints(header: str | None, body: int | None):
    def check(api):
        for _ in range(2):
            r = submit(api)
            assert r.status_code == 429 and r.json()["error"] == "rate_limit_exceeded"
            assert (r.headers.get("retry-after"), r.json().get("retryAfter")) == (header, body)
        tid = submit_ok(api)
        answers = [status(api, tid) for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 503]
        assert (answers[2].headers.get("retry-after"), answers[2].json().get("retryAfter")) == (
            None if header is None else "3",
            None if body is None else 3,
        )

    return check


def _retry_after_header_only(api):
    _hints("2", None)(api)


def _retry_after_body_only(api):
    _hints(None, 2)(api)


def _no_retry_hint(api):
    _hints(None, None)(api)


def _insufficient_credits_400(api):
    # page 002's 400 form is APIXO's; page 004 gives 123API a 402.
    error_of(submit(api, key="sk_test_broke"), 402)
    assert submit_ok(api, key=RICH)


def _insufficient_credits_failed_task(api):
    tid = submit_ok(api, key="sk_test_broke")
    api.advance(to="idle")
    done = task(api, tid, key="sk_test_broke")
    assert (done["status"], done["error"]) == ("failed", "INSUFFICIENT_CREDITS")


def _image_url_failures(api):
    ids = [submit_ok(api, {**IMAGE, "image_urls": ["https://example.com/ref.png"]}) for _ in range(5)]
    api.advance(to="idle")
    assert [task(api, t).get("error") for t in ids] == [
        "INVALID_IMAGE_URL",
        "IMAGE_TOO_LARGE",
        "UNSUPPORTED_FORMAT",
        "IMAGE_DOWNLOAD_FAILED",
        None,
    ]


def _forbidden(api):
    error_of(submit(api, key="sk_test_forbidden"), 403)
    error_of(api.client.get("/v1/models", headers=api.headers("sk_test_forbidden")), 403)
    error_of(submit(api, VIDEO, VIDEOS), 403)
    assert run_to_end(api, submit_ok(api))["status"] == "completed"


# name -> (applies to 123API, what a 123API client sees under it)
LIBRARY = {
    "happy-path": (True, _happy_path),
    "rate-limited": (True, _rate_limited),
    "tight-limits": (True, _tight_limits),
    "insufficient-credits": (True, _insufficient_credits),
    "content-violation": (True, _content_violation),
    "flaky-5xx": (True, _flaky_5xx),
    "processing-timeout": (True, _processing_timeout),
    "slow-video": (True, _slow_video),
    "network-chaos": (True, _network_chaos),
    "expiring-results": (True, _expiring_results),
    "errors-as-200": (True, _errors_as_200),
    "poll-driven": (True, _poll_driven),
    "fast-clock": (True, _fast_clock),
    "model-outage": (True, _model_outage),
    "callback-chaos": (False, _callback_chaos),
    "retry-after-header-only": (True, _retry_after_header_only),
    "retry-after-body-only": (True, _retry_after_body_only),
    "no-retry-hint": (True, _no_retry_hint),
    "insufficient-credits-400": (True, _insufficient_credits_400),
    "insufficient-credits-failed-task": (True, _insufficient_credits_failed_task),
    "image-url-failures": (True, _image_url_failures),
    "forbidden": (True, _forbidden),
}


def test_every_library_scenario_is_classified():
    assert set(LIBRARY) == {p.stem for p in (ROOT / "scenarios").glob("*.yaml")}


@pytest.mark.unchecked_responses  # network-chaos breaks answers on purpose; error_of checks the rest
@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_library_scenario_under_123api(api, name):
    load_library(api, name)
    LIBRARY[name][1](api)


def test_the_docs_list_the_apixo_only_scenarios():
    doc = (ROOT / "docs" / "123api.md").read_text(encoding="utf-8")
    table = doc.split("<!-- library -->", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (yes|no)\b", table, flags=re.M)
    assert {name: answer == "yes" for name, answer in rows} == {name: ok for name, (ok, _) in LIBRARY.items()}
