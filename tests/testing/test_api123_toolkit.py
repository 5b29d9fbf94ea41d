"""The test toolkit reaches 123API: MockApi in-process and live, the pytest plugin, replay bundles."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from mockserver.http.server import ServerThread
from mockserver.testing.inprocess import in_process_client
from mockserver.testing.mock_api import MockApi
from mockserver.testing.replay import BundleError, bundle_of, describe, load_bundle, replay_app, write_bundle
from tests.conftest import START_MS

IMAGE = {"model": "gpt-4o-image", "prompt": "a red fox", "size": "1:1", "n": 2}
VIDEO = {"model": "sora-2", "prompt": "a wave", "duration": 4}
APIXO_JOB = {"input": {"mode": "text-to-image", "prompt": "a red fox"}}


def submit(mock: MockApi, http: httpx.Client, body: dict = IMAGE) -> str:
    path = "/v1/videos/generations" if body.get("model") in ("sora-2", "veo3.1-fast") else "/v1/images/generations"
    r = http.post(path, json=body, headers=mock.headers)
    assert r.status_code == 200, r.text
    return r.json()["task_id"]


def poll(mock: MockApi, http: httpx.Client, task_id: str) -> dict:
    r = http.get(f"/v1/tasks/{task_id}", headers=mock.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_one_handle_reaches_both_dialects(mock):
    assert mock.dialects == ["apixo", "123api"]
    with mock.client() as http:
        ours = submit(mock, http, VIDEO)
        r = http.post(
            "/api/v1/generateTask/sora-2",
            json={"input": {"mode": "text-to-video", "prompt": "a wave"}},
            headers=mock.headers,
        )
        theirs = r.json()["data"]["taskId"]
        assert poll(mock, http, ours)["status"] == "queued"
    # sora-2 is a model of both: the dialect filter tells the tasks apart.
    assert {t["taskId"] for t in mock.tasks(model="sora-2")} == {ours, theirs}
    assert [t["taskId"] for t in mock.tasks(dialect="123api")] == [ours]
    assert [t["taskId"] for t in mock.tasks(dialect="apixo", state="pending")] == [theirs]


def test_advance_complete_fail_and_files(mock):
    with mock.client() as http:
        a, b, c = submit(mock, http), submit(mock, http), submit(mock, http, VIDEO)
        mock.complete(a)
        mock.fail(b, "CONTENT_VIOLATION", "not here")
        done = poll(mock, http, a)
        assert done["status"] == "completed" and len(done["result"]["urls"]) == 2
        for url in done["result"]["urls"]:
            path = httpx.URL(url).path
            assert re.fullmatch(rf"/v1/files/{a}/[01]\.png", path)
            assert http.get(path).headers["content-type"] == "image/png"
        assert poll(mock, http, b) | {"task_id": "x"} == {
            "task_id": "x",
            "status": "failed",
            "model": "gpt-4o-image",
            "error": "CONTENT_VIOLATION",
            "message": "not here",
        }
        assert mock.advance(to="idle")["unfinished"] == 0
        assert poll(mock, http, c)["status"] == "completed"
    entries = mock.journal()
    assert [e["path"] for e in entries[:3]] == ["/v1/images/generations"] * 2 + ["/v1/videos/generations"]
    assert json.loads(entries[0]["body"]) == IMAGE and entries[0]["taskId"] == a


def test_balance_and_a_scenario_naming_123api_models(mock):
    # The handle takes the scenario's first key, though its rules name a 123API model.
    mock.load(
        {
            "accounts": [{"key": "sk_123_rich", "balance": 6}],
            "rules": [{"when": {"endpoint": "generations", "model": "veo3.1-fast"}, "respond": {"status": 503}}],
        }
    )
    assert mock.api_key == "sk_123_rich"
    with mock.client() as http:
        submit(mock, http)  # 2 images x 3 credits
        assert mock.account()["balance"] == 0
        r = http.post("/v1/images/generations", json=IMAGE, headers=mock.headers)
        assert r.status_code == 402 and r.json()["error"] == "insufficient_balance"
        mock.set_balance(None)
        r = http.post("/v1/videos/generations", json={**VIDEO, "model": "veo3.1-fast"}, headers=mock.headers)
        assert r.status_code == 503 and r.json()["error"] == "service_unavailable"


def test_report_grades_a_hasty_123api_client(mock):
    with mock.client() as http:
        task_id = submit(mock, http, VIDEO)
        for _ in range(4):  # every 500 ms: page 000 says every 2 s
            mock.advance(ms=500)
            poll(mock, http, task_id)
    codes = {f["code"] for f in mock.report()["findings"]}
    assert "POLL_TOO_FAST" in codes
    with pytest.raises(AssertionError, match="POLL_TOO_FAST"):
        mock.assert_conforming()


def test_wait_for_callback_says_at_once_that_a_123api_task_gets_none(mock):
    with mock.client() as http:
        task_id = submit(mock, http)
    with pytest.raises(AssertionError, match=f"{task_id} asked for no callback \\(created through 123api\\)"):
        mock.wait_for_callback(task_id, timeout=30)  # no 30 s wait


def test_in_process_speaks_only_the_dialects_asked_for():
    with MockApi.in_process(dialects="123api") as mock, mock.client() as http:
        assert mock.dialects == ["123api"] and mock.health()["dialect"] == "123api"
        task_id = submit(mock, http)
        assert http.post("/api/v1/generateTask/nano-banana", json=APIXO_JOB, headers=mock.headers).status_code == 404
        assert mock.advance(to="idle", tasks=True)["tasks"][0]["taskId"] == task_id
    with pytest.raises(ValueError, match="unknown dialect 'kie'"):
        MockApi.in_process(dialects="kie")


# -- replay bundles ------------------------------------------------------------------------------

SCENARIO = {
    "name": "replayable-123api",
    "rules": [
        {"when": {"endpoint": "tasks", "probability": 0.3}, "respond": {"status": 503, "retry_after": 1}},
        {"when": {"endpoint": "generations", "nth": 2, "dialect": "123api"}, "fault": "empty_response"},
    ],
}
AUTH = {"Authorization": "Bearer sk_test_replay"}


def session(http: httpx.Client, sleep) -> list:
    """A 123API client's run: three submits, polls between sleeps, downloads. Returns what it saw."""
    seen: list = []
    tasks = []
    for body in (IMAGE, VIDEO, IMAGE):
        path = "/v1/videos/generations" if body is VIDEO else "/v1/images/generations"
        try:
            r = http.post(path, json=body, headers=AUTH)
        except httpx.HTTPError as exc:
            seen.append(type(exc).__name__)
            continue
        seen.append((r.status_code, r.json()))
        tasks.append(r.json()["task_id"])
    seen.append(http.post("/api/v1/generateTask/nano-banana", json=APIXO_JOB, headers=AUTH).status_code)
    for step in (2000, 30000, 200000, 1000):
        sleep(step)
        for task_id in tasks:
            r = http.get(f"/v1/tasks/{task_id}", params={"language": "en"}, headers=AUTH)
            body = r.json()
            for url in (body.get("result") or {}).get("urls", []):
                seen.append(("file", http.get(httpx.URL(url).path).status_code))
            if "result" in body:
                body["result"] = "urls"  # the host differs from one server to the next
            seen.append((r.status_code, body))
    return seen


@pytest.mark.parametrize("dialects", [None, ["123api"]])
def test_a_123api_client_is_replayed_through_its_own_routes(dialects, tmp_path):
    settings = {"seed": 7, "start_ms": START_MS} | ({"dialects": dialects} if dialects else {})
    with MockApi.in_process(**settings) as mock, mock.client() as http:
        mock.load(SCENARIO)
        seen = session(http, lambda ms: mock.advance(ms=ms))
        bundle = bundle_of(mock, "tests/test_x.py::test_123api", "boom")
    assert bundle["dialects"] == (dialects or ["apixo", "123api"])
    kinds = {x if isinstance(x, str | int) else x[0] for x in seen}
    assert {200, 503, "file", "RemoteProtocolError"} <= kinds  # rules, faults and results were met
    assert seen[3] == (404 if dialects else 200)  # the APIXO submit, where APIXO is off or on
    paths = {re.sub(r"task-[0-9a-f-]+.*", "ID", e["path"]) for e in bundle["journal"]}
    assert paths == {"/v1/images/generations", "/v1/videos/generations", "/api/v1/generateTask/nano-banana"} | {
        "/v1/tasks/ID",
        "/v1/files/ID",
    }
    assert re.fullmatch(r"curl -X GET http://testserver/v1/files/task-[0-9a-f-]+/\d\.(png|mp4)", bundle["lastRequest"])
    text = describe(bundle)
    assert re.search(r"#1 +\+0\.000s POST /v1/images/generations -> 200  \(task-[0-9a-f-]+\)", text)
    assert ("  dialects: 123api" in text.splitlines()) == bool(dialects)
    path = write_bundle(bundle, tmp_path)
    assert load_bundle(path) == bundle
    # Served again, in memory and over a socket, the same requests get the same answers.
    with in_process_client(replay_app(bundle)) as http:
        assert session(http, lambda ms: None) == seen
    with ServerThread(replay_app(load_bundle(path))) as server, httpx.Client(base_url=server.url) as http:
        assert session(http, lambda ms: None) == seen


@pytest.mark.parametrize(
    ("dialects", "message"),
    [
        ("123api", "{path}: 'dialects' is not a non-empty JSON array of dialect names"),
        ([], "{path}: 'dialects' is not a non-empty JSON array of dialect names"),
        (["kie"], "{path}: dialects: unknown dialect 'kie' (known: apixo, 123api)"),
    ],
)
def test_a_bundle_with_bad_dialects_is_refused_in_one_line(tmp_path, dialects, message):
    path = tmp_path / "bundle.json"
    path.write_text(
        json.dumps(
            {"format": "mockserver-replay/1", "scenario": {}, "journal": [], "clock": {}} | {"dialects": dialects}
        )
    )
    with pytest.raises(BundleError) as caught:
        load_bundle(path)
    assert str(caught.value) == message.format(path=path)


def test_a_bundle_whose_rules_name_123api_models_loads(tmp_path):
    doc = {"rules": [{"when": {"endpoint": "tasks", "model": "gpt-4o-image"}, "respond": {"status": 500}}]}
    bundle = {"format": "mockserver-replay/1", "scenario": doc, "journal": [], "clock": {}}
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert load_bundle(path)["scenario"] == doc
    path.write_text(json.dumps(bundle | {"dialects": ["apixo"]}))
    with pytest.raises(BundleError, match="no model matches 'gpt-4o-image'"):
        load_bundle(path)  # APIXO alone has no such model


# -- the pytest plugin ---------------------------------------------------------------------------

PLUGIN_TESTS = """
import httpx

IMAGE = {"model": "gpt-4o-image", "prompt": "it's a fox"}

def test_speaks_123api(mock_api):
    assert mock_api.dialects == EXPECTED
    with mock_api.client() as http:
        r = http.post("/v1/images/generations", json=IMAGE, headers=mock_api.headers)
        task_id = r.json()["task_id"]
        mock_api.advance(to="idle")
        body = http.get(f"/v1/tasks/{task_id}", headers=mock_api.headers).json()
        assert body["status"] == "completed"
        assert http.get(httpx.URL(body["result"]["url"]).path).status_code == 200
        apixo = http.post("/api/v1/generateTask/nano-banana", json={"input": {"prompt": "x"}}, headers=mock_api.headers)
        assert (apixo.status_code == 404) == (EXPECTED == ["123api"])
    assert mock_api.tasks(dialect="123api")[0]["taskId"] == task_id

def test_client_survives(mock_api):
    rule = {"when": {"endpoint": "tasks", "nth": 2}, "respond": {"status": 503}}
    mock_api.load({"name": "second-poll-503", "rules": [rule]})
    with mock_api.client() as http:
        task_id = http.post("/v1/images/generations", json=IMAGE, headers=mock_api.headers).json()["task_id"]
        for _ in range(2):
            http.get(f"/v1/tasks/{task_id}", headers=mock_api.headers).raise_for_status()
"""


@pytest.mark.parametrize("option", [None, "123api"])
def test_the_plugin_serves_123api_and_bundles_its_failures(pytester, option):
    expected = ["123api"] if option else ["apixo", "123api"]
    pytester.makepyfile(test_api123=f"EXPECTED = {expected!r}\n" + PLUGIN_TESTS)
    args = ["--mockserver-seed", "3"] + (["--mockserver-dialect", option] if option else [])
    result = pytester.runpytest("-p", "mockserver.pytest_plugin", "-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*last request: curl -X GET http://127.0.0.1:*/v1/tasks/task-*"])
    (path,) = (pytester.path / ".mockserver" / "failures").glob("*.json")
    bundle = load_bundle(path)
    assert bundle["dialects"] == expected and bundle["seed"] == 3
    assert [(e["method"], e["path"].split("/task-")[0], e["status"]) for e in bundle["journal"]] == [
        ("POST", "/v1/images/generations", 200),
        ("GET", "/v1/tasks", 200),
        ("GET", "/v1/tasks", 503),
    ]
    # The replay gives a 123API client the same answers: the same task id, the same 503.
    task_id = bundle["journal"][0]["taskId"]
    with in_process_client(replay_app(bundle)) as http:
        r = http.post("/v1/images/generations", json={"model": "gpt-4o-image", "prompt": "it's a fox"}, headers=AUTH)
        assert r.json()["task_id"] == task_id
        assert [http.get(f"/v1/tasks/{task_id}", headers=AUTH).status_code for _ in range(2)] == [200, 503]


def test_an_unknown_dialect_option_is_a_usage_error(pytester):
    pytester.makepyfile("def test_nothing(mock_api):\n    pass\n")
    result = pytester.runpytest(
        "-p", "mockserver.pytest_plugin", "-p", "no:cacheprovider", "--mockserver-dialect", "kie"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mockserver-dialect=kie: unknown dialect 'kie' (known: apixo, 123api)*"])
