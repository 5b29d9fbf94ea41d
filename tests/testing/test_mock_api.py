"""mockserver.testing.mock_api: the MockApi handle, in-process (no sockets) and over HTTP, and curl_for."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import httpx
import pytest

from mockserver import testing
from mockserver.testing.mock_api import DEFAULT_KEY, IN_PROCESS_URL, MockApi, curl_for
from tests.conftest import START_MS

JOB = {"input": {"mode": "text-to-image", "prompt": "a red fox"}}


def submit(mock: MockApi, http: httpx.Client, model: str = "nano-banana", **body) -> str:
    r = http.post(f"/api/v1/generateTask/{model}", json={**JOB, **body}, headers=mock.headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]["taskId"]


def poll(mock: MockApi, http: httpx.Client, task_id: str, model: str = "nano-banana") -> dict:
    return http.get(f"/api/v1/statusTask/{model}", params={"taskId": task_id}, headers=mock.headers).json()


def test_public_surface_is_sorted():
    assert testing.__all__ == sorted(testing.__all__)
    assert all(hasattr(testing, name) for name in testing.__all__)


def test_load_takes_a_library_name_a_path_a_dict_or_none_and_resets(mock, tmp_path):
    with mock.client() as http:
        submit(mock, http)
    assert len(mock.tasks()) == 1
    assert mock.load("rate-limited")["name"] == "rate-limited"
    assert mock.tasks() == [] and mock.journal() == []  # loading resets
    yaml_file = tmp_path / "mine.yaml"
    yaml_file.write_text("name: from-yaml\nrules:\n  - when: {endpoint: balance}\n    respond: {status: 503}\n")
    assert mock.load(yaml_file)["name"] == "from-yaml"
    assert mock.load(str(yaml_file))["rules"][0]["respond"] == {"status": 503}
    json_file = tmp_path / "mine.json"
    json_file.write_text(json.dumps({"name": "from-json", "seed": 5}))
    assert mock.load(json_file) == {"name": "from-json", "seed": 5}
    assert mock.health()["seed"] == 5
    assert mock.load({"name": "from-dict"}) == {"name": "from-dict"}
    assert mock.load(None) == {} and mock.health()["seed"] == 1
    with pytest.raises(AssertionError, match=r"answered 400: .*rules/0: unknown key 'explode'"):
        mock.load({"rules": [{"explode": 1}]})
    with pytest.raises(AssertionError, match="answered 404"):
        mock.load("no-such-scenario")
    with pytest.raises(TypeError):
        mock.load(42)  # type: ignore[arg-type]


def test_api_key_follows_a_scenario_that_restricts_keys(mock):
    assert mock.api_key == DEFAULT_KEY
    mock.load({"accounts": [{"key": "sk_rich", "balance": 10}, {"key": "sk_broke", "balance": 0}]})
    assert mock.api_key == "sk_rich" and mock.headers == {"Authorization": "Bearer sk_rich"}
    with mock.client() as http:
        submit(mock, http)
    assert mock.account()["balance"] == 8
    mock.load(None)
    assert mock.api_key == DEFAULT_KEY


def test_in_process_handle_of_a_restricted_server_starts_with_its_key():
    with MockApi.in_process(api_keys={"sk_only": None}) as mock, mock.client() as http:
        assert mock.api_key == "sk_only" and mock.in_memory
        submit(mock, http)


def test_advance_tasks_and_journal(mock):
    with mock.client() as http:
        task_id = submit(mock, http)
        assert poll(mock, http, task_id)["data"]["state"] == "pending"
        (task,) = mock.tasks()
        assert task["taskId"] == task_id and task["polls"] == 1
        assert mock.advance(ms=1000)["now"] == START_MS + 1000 == mock.now()
        assert mock.advance(to="idle")["unfinished"] == 0
        assert mock.tasks(state="success")[0]["taskId"] == task_id and mock.tasks(state="pending") == []
        assert poll(mock, http, task_id)["data"]["state"] == "success"
    with pytest.raises(TypeError):
        mock.advance()
    with pytest.raises(TypeError):
        mock.advance(ms=1, to="next")
    entries = mock.journal()
    assert [(e["method"], e["status"]) for e in entries] == [("POST", 200), ("GET", 200), ("GET", 200)]
    assert json.loads(entries[0]["body"]) == JOB
    assert [e["id"] for e in mock.journal(since=entries[0]["id"])] == [entries[1]["id"], entries[2]["id"]]


def test_complete_fail_and_balance(mock):
    with mock.client() as http:
        a, b = submit(mock, http), submit(mock, http)
        mock.complete(a)
        mock.fail(b, "NSFW_DETECTED", "not here")
        assert poll(mock, http, a)["data"]["state"] == "success"
        data = poll(mock, http, b)["data"]
    assert (data["state"], data["failCode"], data["failMsg"]) == ("failed", "NSFW_DETECTED", "not here")
    assert mock.set_balance(3)["balance"] == 3
    with mock.client() as http:
        video = {"input": {"mode": "text-to-video", "prompt": "a wave"}}
        r = http.post("/api/v1/generateTask/sora-2", json=video, headers=mock.headers)
    assert r.status_code == 402


def test_report_and_assert_conforming(mock):
    with mock.client() as http:
        task_id = submit(mock, http)
        for _ in range(3):  # a hasty client: no initial wait, a poll every second
            mock.advance(ms=1000)
            poll(mock, http, task_id)
    codes = {f["code"] for f in mock.report()["findings"]}
    assert {"POLL_TOO_FAST", "POLL_BEFORE_INITIAL_WAIT"} <= codes
    assert mock.report(key="sk_someone_else")["findings"] == []
    with pytest.raises(AssertionError, match="POLL_TOO_FAST"):
        mock.assert_conforming()
    mock.assert_conforming(allow=["POLL_TOO_FAST"])  # the rest are warnings
    with pytest.raises(AssertionError, match="POLL_BEFORE_INITIAL_WAIT"):
        mock.assert_conforming(allow=["POLL_TOO_FAST"], warnings=True)


def test_wait_for_callback_moves_a_manual_clock_to_the_delivery(mock, receiver):
    with mock.client() as http:
        task_id = submit(mock, http, request_type="callback", callback_url=receiver.url())
    attempt = mock.wait_for_callback(task_id)
    assert attempt["taskId"] == task_id and attempt["outcome"] == "delivered" and attempt["status"] == 200
    assert receiver.wait_for(1) and receiver.on()[0].json()["data"]["taskId"] == task_id
    assert [a["taskId"] for a in mock.callbacks()] == [task_id] == [a["taskId"] for a in mock.callbacks(task_id)]


def test_wait_for_callback_gives_up_at_its_deadline(mock, receiver):
    # Poll-driven: the task ends only when polled, so no clock move brings the callback.
    mock.load({"models": {"nano-banana": {"progression": "polls"}}})
    with mock.client() as http:
        task_id = submit(mock, http, request_type="callback", callback_url=receiver.url())
    with pytest.raises(AssertionError, match=f"no callback attempt for {task_id} within 0.05 s"):
        mock.wait_for_callback(task_id, timeout=0.05)


def test_async_client_reaches_the_same_mock(mock):
    async def run() -> str:
        async with mock.async_client() as http:
            r = await http.post("/api/v1/generateTask/nano-banana", json=JOB, headers=mock.headers)
            task_id = r.json()["data"]["taskId"]
            r = await http.get("/api/v1/statusTask/nano-banana", params={"taskId": task_id}, headers=mock.headers)
            return r.json()["data"]["state"]

    assert asyncio.run(run()) == "pending"
    assert len(mock.tasks()) == 1


def test_in_process_clients_raise_what_a_socket_client_would_on_a_fault():
    with MockApi.in_process() as mock:
        mock.load({"rules": [{"when": {"endpoint": "generateTask"}, "fault": "connection_reset"}]})
        with mock.client() as http, pytest.raises(httpx.ReadError):
            http.post("/api/v1/generateTask/nano-banana", json=JOB, headers=mock.headers)

        async def run() -> None:
            async with mock.async_client() as http:
                await http.post("/api/v1/generateTask/nano-banana", json=JOB, headers=mock.headers)

        with pytest.raises(httpx.ReadError):
            asyncio.run(run())
        assert list(mock.app.state.errors) == []  # a fault is not a bug of the mock


def test_admin_token_is_sent():
    with MockApi.in_process(admin_token="s3cret") as mock:
        assert mock.health()["status"] == "ok"
        bare = MockApi(mock.url, _admin=mock._admin)
        with pytest.raises(AssertionError, match="answered 401"):
            bare.health()


def test_curl_for_hides_the_key_and_quotes_for_a_shell():
    entry = {
        "method": "POST",
        "path": "/api/v1/generateTask/nano-banana",
        "query": "",
        "key": "sk_live_secret",
        "idempotencyKey": "k-1",
        "body": json.dumps({"input": {"prompt": "it's a fox"}}),
    }
    line = curl_for(entry, "http://127.0.0.1:9/")
    assert "sk_live_secret" not in line
    assert line == (
        "curl -X POST http://127.0.0.1:9/api/v1/generateTask/nano-banana"
        " -H \"Authorization: Bearer $MOCKSERVER_API_KEY\" -H 'Idempotency-Key: k-1'"
        ' -H \'Content-Type: application/json\' --data-raw \'{"input": {"prompt": "it\'"\'"\'s a fox"}}\''
    )
    get = {"method": "GET", "path": "/api/v1/statusTask/x", "query": "taskId=t&a=b", "key": None}
    assert curl_for(get, "http://h") == "curl -X GET 'http://h/api/v1/statusTask/x?taskId=t&a=b'"
    assert curl_for({**entry, "bodyTruncated": True}, "http://h").endswith("  # body cut to its first 2 KB")


def test_a_curl_line_repeats_the_request(handle_server):
    with MockApi(handle_server.url) as mock, mock.client() as http:
        mock.load(None)
        body = {"input": {"mode": "text-to-image", "prompt": 'it\'s a "fox" & more'}}
        http.post("/api/v1/generateTask/nano-banana", json=body, headers={**mock.headers, "Idempotency-Key": "i1"})
        first = mock.journal()[-1]
        env = {**os.environ, "MOCKSERVER_API_KEY": mock.api_key}
        out = subprocess.run(["bash", "-c", curl_for(first, mock.url)], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        again = mock.journal()[-1]
    assert json.loads(out.stdout)["data"]["taskId"] == first["taskId"]  # same key, same body: the same task
    assert (again["key"], again["bodyHash"], again["idempotencyKey"]) == (first["key"], first["bodyHash"], "i1")


def test_advance_can_answer_the_tasks_in_the_same_call(mock):
    with mock.client() as http:
        task_id = submit(mock, http)
    answer = mock.advance(to="idle", tasks=True)
    assert answer["unfinished"] == 0 and answer["tasks"] == mock.tasks()
    assert answer["tasks"][0]["taskId"] == task_id and answer["tasks"][0]["state"] == "success"
    assert "tasks" not in mock.advance(ms=1)
    with pytest.raises(AssertionError, match=r"answered 400: .*Invalid value for ms"):
        mock.advance(ms=-1)


def test_in_process_admin_answers_as_the_same_calls_over_http(mock):
    """The in-process handle calls the service directly; its answers are the HTTP ones."""
    with mock.client() as http:
        submit(mock, http)
        over_http = MockApi(IN_PROCESS_URL, _admin=http) if mock.in_memory else MockApi(mock.url)
        with over_http:
            assert over_http._service is None
            assert mock.tasks() == over_http.tasks() and mock.journal() == over_http.journal()
            assert mock.clock() == over_http.clock() and mock.health() == over_http.health()
            assert mock.advance(ms=500, tasks=True)["tasks"] == over_http.advance(ms=0, tasks=True)["tasks"]
            assert mock.load({"name": "x", "seed": 3}) == over_http.load({"name": "x", "seed": 3})
            for handle in (mock, over_http):
                with pytest.raises(AssertionError, match=r"PUT /__admin/scenario answered 400: .*rules/0"):
                    handle.load({"rules": [{"explode": 1}]})
                with pytest.raises(AssertionError, match=r"POST /__admin/clock/advance answered 400: .*tasks"):
                    handle._call("POST", "/clock/advance", json={"ms": 1, "tasks": "yes"})


def test_http_clients_of_a_handle_share_one_pool(handle_server):
    with MockApi(handle_server.url) as mock:
        with mock.client() as a, mock.client() as b:
            assert a._transport.pool is b._transport.pool is mock._admin._transport.pool
            a.get("/__admin/health")
        # Closing a client leaves the pool to the handle: the next client reuses its connection.
        with mock.client() as c:
            assert c.get("/__admin/health").status_code == 200
        with mock.client(verify=False) as own:  # a transport option: a client of its own
            assert not hasattr(own._transport, "pool")


# -- a handle on a server thread of this process: admin calls through its loop, no HTTP -----------


def _admin_paths(handle: MockApi) -> list[str]:
    """Record the admin requests the handle sends over HTTP from now on."""
    sent: list[str] = []
    real = handle._admin.request

    def spy(method: str, url: str, **kw):
        sent.append(f"{method} {url}")
        return real(method, url, **kw)

    handle._admin.request = spy  # type: ignore[method-assign]
    return sent


def _admin_script(handle: MockApi) -> list:
    """Admin calls a fuzz loop makes, and their answers (refusals included)."""
    out: list = [
        handle.load(
            {
                "name": "s",
                "seed": 3,
                "rules": [{"when": {"endpoint": "submit"}, "times": 1, "respond": {"status": 503}}],
            }
        )
    ]
    with handle.client() as http:
        assert http.post("/api/v1/generateTask/nano-banana", json=JOB, headers=handle.headers).status_code == 503
        task_id = submit(handle, http)
    out.append(handle.advance(ms=1500, tasks=True))
    out += [handle.advance(ms=250), handle.advance(to="next")]
    out += [handle.clock(), handle.tasks(), handle.journal(), handle.health()["tasks"], task_id]
    for bad in (
        lambda: handle.advance(ms=1.5),  # type: ignore[arg-type]
        lambda: handle.advance(ms=True),
        lambda: handle.advance(to="sometime"),
        lambda: handle.load({"nope": 1}),
    ):
        with pytest.raises(AssertionError) as refused:
            bad()
        out.append(str(refused.value))
    handle.reset()
    out.append(handle.tasks())
    return out


def test_a_handle_on_a_server_thread_calls_its_app_without_http_and_answers_alike(handle_server):
    direct = MockApi(handle_server.url, app=handle_server.app)
    over_http = MockApi(handle_server.url)  # no app: every admin call is an HTTP request
    with direct, over_http:
        over_http.health()  # answered: the server has started (until then a handle asks over HTTP)
        sent_direct, sent_http = _admin_paths(direct), _admin_paths(over_http)
        assert _admin_script(direct) == _admin_script(over_http)
    assert sent_direct == []
    assert len(sent_http) >= 9


def test_a_handle_with_a_token_the_server_refuses_still_asks_over_http():
    from mockserver.http.app import create_app
    from mockserver.http.server import ServerThread

    app = create_app(clock="manual", admin_token="s3cret")
    with ServerThread(app) as server:
        httpx.get(f"{server.url}/__admin/health", headers={"Authorization": "Bearer s3cret"})  # started
        with MockApi(server.url, app=app, admin_token="wrong") as wrong:
            sent = _admin_paths(wrong)
            with pytest.raises(AssertionError, match="401"):
                wrong.reset()
            assert sent == ["POST /__admin/reset"]
        with MockApi(server.url, app=app, admin_token="s3cret") as right:
            sent = _admin_paths(right)
            right.reset()
            assert right.advance(ms=5)["now"] >= 5 and sent == []
