"""The published message schemas and mockserver.contract: what they accept, what they refuse, and
that the test suite's response hook really fails a test on a broken answer."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from jsonschema import Draft202012Validator
from starlette.testclient import TestClient

from mockserver import contract
from mockserver.core.catalog import load_catalog, schema_dir
from mockserver.core.errors import BY_STATUS, RateLimited, error_for_status
from mockserver.core.words import FILES, SUBMIT
from mockserver.dialects import builtin
from mockserver.dialects.apixo import APIXO as apixo
from mockserver.dialects.protocol import Dialect
from mockserver.http.app import create_app
from tests.conftest import KEY, Api, data_of

SCHEMAS = contract.load_schemas()
MESSAGES = [
    "generate-request",
    "generate-response",
    "status-response",
    "error",
    "callback",
    "balance-response",
]

SUCCESS = {
    "code": 200,
    "message": "success",
    "data": {
        "taskId": "task_1",
        "state": "success",
        "resultJson": '{"resultUrls":["http://127.0.0.1:8000/files/task_1/0.png"]}',
        "createTime": 1000,
        "completeTime": 5000,
        "costTime": 4000,
    },
}
FAILED = {
    "code": 200,
    "message": "success",
    "data": {
        "taskId": "task_1",
        "state": "failed",
        "failCode": "CONTENT_VIOLATION",
        "failMsg": "no",
        "createTime": 1000,
        "completeTime": 5000,
    },
}


def with_data(doc: dict, **changes) -> dict:
    out = json.loads(json.dumps(doc))
    for key, value in changes.items():
        if value is None:
            out["data"].pop(key, None)
        else:
            out["data"][key] = value
    return out


def paths(problems) -> list[str]:
    return [p.path for p in problems]


# ------------------------------------------------------------------ the schema files


@pytest.mark.parametrize("name", MESSAGES)
def test_message_schema_is_a_documented_2020_12_schema_whose_examples_validate(name):
    doc = json.loads((schema_dir() / f"{name}.json").read_text())
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == f"https://mockserver.local/schemas/{name}.json"
    assert doc["title"] and doc["description"] and doc["examples"]
    for example in doc["examples"]:
        assert contract.validate(name, example) == [], example


def test_names_resolve_from_any_spelling():
    for spelling in ("status-response", "status-response.json", "/schemas/status-response.json",
                     "https://mockserver.local/schemas/status-response.json"):  # fmt: skip
        assert SCHEMAS.resolve(spelling) == "status-response"
    assert SCHEMAS.resolve("models/gpt-image-1.json") == "models/gpt-image-1"
    with pytest.raises(contract.UnknownSchema, match="did you mean status-response"):
        SCHEMAS.resolve("status-respons")
    assert "models/index" not in SCHEMAS.names()  # a data file, not a schema


# ------------------------------------------------------------ status: fields per state


@pytest.mark.parametrize("state", ["pending", "processing"])
def test_unfinished_states_have_exactly_three_fields(state):
    doc = {
        "code": 200,
        "message": "success",
        "data": {"taskId": "t", "state": state, "createTime": 1},
    }
    assert contract.validate("status-response", doc) == []
    assert paths(contract.validate("status-response", with_data(doc, completeTime=2))) == ["$.data.completeTime"]
    assert paths(contract.validate("status-response", with_data(doc, createTime=None))) == ["$.data.createTime"]


def test_success_needs_its_fields_and_nothing_of_failed():
    assert contract.validate("status-response", SUCCESS) == []
    problems = contract.validate("status-response", with_data(SUCCESS, costTime=None, failCode="X"))
    assert [(p.path, p.message) for p in problems] == [
        ("$.data.costTime", "missing required field"),
        (
            "$.data.failCode",
            "unexpected field (allowed: taskId, state, createTime, resultJson, completeTime, costTime)",
        ),
    ]
    assert problems[0].schema == "status-response.json#/$defs/success/required"


def test_failed_needs_its_fields_and_no_results():
    assert contract.validate("status-response", FAILED) == []
    problems = contract.validate("status-response", with_data(FAILED, failMsg=None, resultJson="{}"))
    assert paths(problems) == ["$.data.failMsg", "$.data.resultJson"]


def test_absent_means_absent_not_null():
    nulled = json.loads(json.dumps(SUCCESS))
    nulled["data"]["failCode"] = None
    assert paths(contract.validate("status-response", nulled)) == ["$.data.failCode"]


def test_an_unknown_state_lists_the_states():
    problems = contract.validate("status-response", with_data(SUCCESS, state="done"))
    assert [str(p).split("  [")[0] for p in problems] == [
        '$.data.state: "done" is not one of "pending", "processing", "success", "failed"'
    ]


def test_cost_time_must_be_complete_minus_create():
    problems = contract.validate("status-response", with_data(SUCCESS, costTime=3999))
    assert [str(p) for p in problems] == ["$.data.costTime: 3999 != completeTime - createTime (4000)"]
    problems = contract.validate("status-response", with_data(FAILED, completeTime=999))
    assert paths(problems) == ["$.data.completeTime"]


@pytest.mark.parametrize(
    ("result_json", "fragment"),
    [
        ('{"resultUrls": []}', "should be non-empty"),
        ("{'resultUrls': 1}", "not valid JSON"),
        ('{"resultUrls": ["ftp://x/0.png"]}', "$.resultUrls[0]"),
        ('{"urls": ["http://x/0.png"]}', "$.resultUrls: missing required field"),
    ],
)
def test_result_json_is_checked_as_the_json_it_holds(result_json, fragment):
    problems = contract.validate("status-response", with_data(SUCCESS, resultJson=result_json))
    assert len(problems) >= 1 and all(p.path == "$.data.resultJson" for p in problems)
    assert any(fragment in p.message for p in problems), problems


def test_a_callback_is_a_status_envelope():
    assert contract.validate("callback", SUCCESS) == []
    assert paths(contract.validate("callback", with_data(SUCCESS, costTime=1))) == ["$.data.costTime"]


def test_the_envelope_itself():
    assert paths(contract.validate("status-response", {**SUCCESS, "code": 201})) == ["$.code"]
    assert paths(contract.validate("generate-response", {"code": 200, "message": "success", "data": {}})) == [
        "$.data.taskId"
    ]
    assert paths(contract.validate("balance-response", {"code": 200, "message": "success", "data": {"balance": -1}}))


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("status", sorted(BY_STATUS) + [502, 503])
def test_every_error_the_mock_can_send_validates(status):
    for err in (
        error_for_status(status),
        error_for_status(status, "Custom", error="input.prompt: bad"),
    ):
        if status == 429:
            err.retry_after = 2.5
        assert contract.validate("error", apixo.error_body(err)) == [], apixo.error_body(err)


def test_a_429_needs_retry_after_and_data_is_null_or_an_error():
    body = apixo.error_body(RateLimited())
    assert paths(contract.validate("error", body)) == ["$.retryAfter"]
    bad = {"code": 400, "message": "x", "data": {"detail": "y"}}
    assert paths(contract.validate("error", bad)) == ["$.data.detail", "$.data.error"]
    assert paths(contract.validate("error", {"code": 200, "message": "x", "data": None})) == ["$.code"]


# ------------------------------------------------------------------ generate request


def test_request_schema_composes_the_model_input():
    body = {"input": {"mode": "gpt-image-1", "prompt": "x", "num_images": 3}}
    problems = contract.validate("generate-request", body, model="gpt-image-1")
    assert [(p.path, p.schema) for p in problems] == [
        ("$.input.num_images", "models/gpt-image-1.json#/properties/num_images/enum")
    ]
    assert contract.validate("generate-request", body) == []  # the top level alone is fine


def test_request_schema_top_level_rules():
    problems = contract.validate("generate-request", {"request_type": "callback", "input": {}, "extra": 1})
    assert paths(problems) == ["$.callback_url", "$.extra"]
    assert paths(contract.validate("generate-request", {"callback_url": "not a url", "input": {}})) == [
        "$.callback_url"
    ]


def test_official_only_models_accept_only_official():
    example = load_catalog().get("sora-2").schema["examples"][0]
    assert contract.validate("generate-request", {"input": example}, model="sora-2") == []
    problems = contract.validate("generate-request", {"provider": "auto", "input": example}, model="sora-2")
    assert paths(problems) == ["$.provider"]


@pytest.mark.parametrize("model", load_catalog().names())
def test_every_documented_example_is_a_valid_request_for_its_model(model):
    for example in load_catalog().get(model).schema["examples"]:
        assert contract.validate_request(model, {"request_type": "async", "input": example}) == []


def test_unknown_model_is_an_unknown_schema():
    with pytest.raises(contract.UnknownSchema, match="no model named 'nope'"):
        contract.validate("generate-request", {}, model="nope")


# --------------------------------------------------------------------- answers


def test_which_schema_each_answer_must_match():
    rs = contract.response_schema
    assert rs("POST", "/api/v1/generateTask/nano-banana", 200) == "generate-response"
    assert rs("GET", "/api/v1/statusTask/nano-banana", 200) == "status-response"
    assert rs("GET", "/api/v1/apikeys/current-balance", 200) == "balance-response"
    assert rs("GET", "/api/v1/statusTask/x", 404) == "error"
    assert rs("GET", "/__admin/tasks", 400) == "error"
    assert rs("GET", "/__admin/tasks", 200) is None
    assert rs("GET", "/files/task_1/0.png", 200) is None


def test_paths_are_classified_by_the_dialects_own_routes():
    for dialect in builtin().values():
        assert isinstance(dialect, Dialect)
        for route in dialect.routes:
            path = re.sub(r"\{[^}]+\}", "x1", route.path)
            assert contract.endpoint_of(path) == route.kind, (dialect.name, route)
    assert contract.endpoint_of("/api/v1/generateTask/nano-banana") == SUBMIT
    assert contract.endpoint_of("/files/task_1/0.png") == FILES
    assert contract.endpoint_of("/__admin/tasks") is None
    assert contract.endpoint_of("/api/v1/statusTask/m/extra") is None
    # The schema follows the route's method too: a POST to the status path has no success schema.
    assert contract.response_schema("POST", "/api/v1/statusTask/m", 200) is None


def test_a_dialect_has_no_rules_for_schemas_not_its_own():
    assert apixo.document_problems("error", {"data": {"state": "success", "costTime": 1}}) == []
    assert apixo.answer_problems("status-response", {"code": 1}, 429, {}) == []


def test_the_public_surface_is_sorted_and_resolves():
    assert contract.__all__ == sorted(contract.__all__)
    for name in contract.__all__:
        assert getattr(contract, name) is not None, name
    with pytest.raises(AttributeError, match="nope"):
        contract.nope  # noqa: B018


def _check(status: int, body: object, path="/api/v1/statusTask/m", headers=None, **kw):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    hdrs = httpx.Headers({"content-type": "application/json", **(headers or {})})
    return contract.check_response("GET", path, status, hdrs, raw, **kw)


def test_answer_checks_beyond_the_schema():
    assert _check(200, SUCCESS) == []
    assert paths(_check(200, SUCCESS, headers={"content-type": "text/plain"})) == ["header Content-Type"]
    assert paths(_check(200, b"<html>")) == ["$"]
    err = {"code": 404, "message": "Not found", "data": None}
    assert _check(404, err) == []
    assert paths(_check(400, err)) == ["$.code"]  # the body's code must be the HTTP status
    # A 429 needs the header, and it must agree with the body.
    limited = {"code": 429, "message": "Slow down", "data": None, "retryAfter": 3}
    assert paths(_check(429, limited)) == ["header Retry-After"]
    assert _check(429, limited, headers={"retry-after": "3"}) == []
    assert paths(_check(429, limited, headers={"retry-after": "4"})) == ["$.retryAfter"]
    # errors-as-200 is only allowed when asked for.
    assert _check(200, err, errors_as_200=True) == []
    assert _check(200, err) != []


def test_result_files_must_be_what_they_say():
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    ok = contract.check_result_file("http://x/files/t/0.png", {"content-type": "image/png"}, png)
    assert ok == []
    wrong_type = contract.check_result_file("http://x/files/t/0.png", {"content-type": "video/mp4"}, png)
    assert paths(wrong_type) == ["header Content-Type"]
    wrong_bytes = contract.check_result_file("http://x/files/t/0.png", {"content-type": "image/png"}, b"GIF89a")
    assert paths(wrong_bytes) == ["body"]
    # A provider URL without an extension: the Content-Type decides what the bytes must be.
    assert contract.check_result_file("https://cdn/x", {"content-type": "image/png"}, png) == []


# ------------------------------------------------------------ the suite's own hook


def _broken_app(change):
    """The mock with every statusTask 200 answer passed through ``change``."""
    inner = create_app(clock="manual")

    async def app(scope, receive, send):
        if scope["type"] != "http" or "/statusTask/" not in scope["path"]:
            await inner(scope, receive, send)
            return
        start = {}

        async def capture(message):
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body = json.dumps(change(json.loads(message["body"]))).encode()
            headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await inner(scope, receive, capture)

    app.state = inner.state
    return app


def _null_create_time(body):
    body["data"]["createTime"] = None
    return body


def test_the_hook_fails_a_request_whose_answer_breaks_the_contract():
    app = _broken_app(_null_create_time)
    with TestClient(app) as client:
        api = Api(client, app, "inprocess")
        tid = api.submit_ok()
        with pytest.raises(AssertionError, match=r"\$\.data\.createTime: None is not of type 'integer'"):
            api.status("nano-banana", tid)
        with api.unchecked():
            assert api.status("nano-banana", tid).json()["data"]["createTime"] is None
        assert api.checked == 2  # the submit and the first poll


def test_an_answer_seen_before_is_failed_again_and_a_good_one_passes_again(monkeypatch):
    import tests.conftest as conftest

    monkeypatch.setattr(conftest, "_VERDICTS", {})  # none kept from earlier tests
    calls = []
    real = contract.check_httpx_response
    monkeypatch.setattr(contract, "check_httpx_response", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    app = _broken_app(_null_create_time)
    with TestClient(app) as client:
        api = Api(client, app, "inprocess")
        tid = api.submit_ok()
        for _ in range(2):  # the same broken answer twice: the second is failed on the first's verdict
            with pytest.raises(AssertionError, match=r"\$\.data\.createTime: None is not of type 'integer'"):
                api.status("nano-banana", tid)
        good = [api.client.get("/api/v1/apikeys/current-balance", headers=api.headers()) for _ in range(2)]
    assert [r.status_code for r in good] == [200, 200] and good[0].content == good[1].content
    assert api.checked == 5 and len(calls) == 3  # each answer checked; twins validated once
    assert conftest.contract_problems(good[1], retry_hint="both") == real(good[1], errors_as_200=True)


def test_every_api_answer_is_checked(api):
    before = api.checked
    tid = api.submit_ok()
    data_of(api.status("nano-banana", tid))
    api.client.get("/api/v1/statusTask/nano-banana", params={"taskId": "nope"}, headers=api.headers())
    api.client.get("/nowhere")
    assert api.checked - before == 4
    assert api.key == KEY
