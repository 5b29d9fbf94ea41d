"""The provider endpoints, in-process and through a live server (the ``api`` fixture)."""

from __future__ import annotations

import json
import struct

import httpx
import pytest

from tests.conftest import data_of, example_input, ssl_context

PENDING_FIELDS = {"taskId", "state", "createTime"}
SUCCESS_FIELDS = PENDING_FIELDS | {"resultJson", "completeTime", "costTime"}
FAILED_FIELDS = PENDING_FIELDS | {"failCode", "failMsg", "completeTime"}


def png_size(body: bytes) -> tuple[int, int]:
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", body[16:24])


def fetch(api, url: str) -> httpx.Response:
    """Download a result URL as a browser would: no Authorization header."""
    if api.mode == "inprocess":
        url = url.split("://", 1)[1].split("/", 1)[1]
        return api.client.get("/" + url)
    return httpx.get(url, timeout=10, verify=ssl_context())


def test_submit_returns_task_id_envelope(api):
    r = api.submit("gpt-image-1", {"mode": "gpt-image-1", "prompt": "a cafe", "aspect_ratio": "3:2", "num_images": 2})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["code"] == 200 and body["message"] == "success"
    assert set(body["data"]) == {"taskId"}
    assert body["data"]["taskId"].startswith("task_")


def test_lifecycle_fields_per_state_and_real_files(api):
    tid = api.submit_ok(
        "gpt-image-1", {"mode": "gpt-image-1", "prompt": "a cafe", "aspect_ratio": "3:2", "num_images": 2}
    )
    r = api.status("gpt-image-1", tid)
    d = data_of(r)
    assert r.status_code == 200 and set(d) == PENDING_FIELDS and d["state"] == "pending"
    created = d["createTime"]
    api.advance(to="next")
    d = data_of(api.status("gpt-image-1", tid))
    assert set(d) == PENDING_FIELDS and d["state"] == "processing"
    api.advance(to="next")
    d = data_of(api.status("gpt-image-1", tid))
    assert set(d) == SUCCESS_FIELDS and d["state"] == "success"
    assert d["costTime"] == d["completeTime"] - created
    assert isinstance(d["resultJson"], str)
    urls = json.loads(d["resultJson"])["resultUrls"]
    assert len(urls) == 2
    for url in urls:
        f = fetch(api, url)
        assert f.status_code == 200
        assert f.headers["content-type"] == "image/png"
        w, h = png_size(f.content)
        assert w / h == 1.5


def test_result_urls_point_at_the_server(api):
    tid = api.submit_ok()
    api.advance(to="idle")
    url = json.loads(data_of(api.status("nano-banana", tid))["resultJson"])["resultUrls"][0]
    if api.mode == "live":
        assert url.startswith(str(api.client.base_url).rstrip("/") + "/files/")
    else:
        assert url.startswith("http://testserver/files/")


def test_public_url_overrides_result_base(make_api):
    api = make_api(public_url="http://mock:9999/")
    tid = api.submit_ok()
    api.advance(to="idle")
    url = json.loads(data_of(api.status("nano-banana", tid))["resultJson"])["resultUrls"][0]
    assert url == f"http://mock:9999/files/{tid}/0.png"


def test_failed_task_is_http_200_with_fail_fields(api):
    tid = api.submit_ok()
    r = api.admin("POST", f"/tasks/{tid}/fail", json={"code": "CONTENT_VIOLATION"})
    assert r.status_code == 200, r.text
    r = api.status("nano-banana", tid)
    body = r.json()
    assert r.status_code == 200 and body["code"] == 200 and body["message"] == "success"
    d = body["data"]
    assert set(d) == FAILED_FIELDS
    assert d["state"] == "failed" and d["failCode"] == "CONTENT_VIOLATION"
    assert d["failMsg"] == "Content does not meet safety guidelines"


@pytest.mark.parametrize(
    ("model", "ctype", "check"),
    [
        ("sora-2", "video/mp4", lambda b: b[4:8] == b"ftyp"),
        ("wan-2-5", "video/mp4", lambda b: b[4:8] == b"ftyp"),
        ("suno", "audio/wav", lambda b: b[:4] == b"RIFF" and b[8:12] == b"WAVE"),
        ("midjourney", "image/png", lambda b: b[:4] == b"\x89PNG"),
    ],
)
def test_media_kinds(api, model, ctype, check):
    tid = api.submit_ok(model)
    api.advance(to="idle")
    d = data_of(api.status(model, tid))
    assert d["state"] == "success"
    for url in json.loads(d["resultJson"])["resultUrls"]:
        f = fetch(api, url)
        assert f.status_code == 200 and f.headers["content-type"] == ctype
        assert check(f.content)


def test_result_files_expire_after_ttl(api):
    tid = api.submit_ok()
    api.advance(to="idle")
    url = json.loads(data_of(api.status("nano-banana", tid))["resultJson"])["resultUrls"][0]
    assert fetch(api, url).status_code == 200
    api.advance(ms=15 * 24 * 3600 * 1000 - 1)
    assert fetch(api, url).status_code == 200
    api.advance(ms=1)
    r = fetch(api, url)
    assert r.status_code == 404 and r.json()["code"] == 404
    assert "expired" in r.json()["data"]["error"]


def test_files_of_unfinished_unknown_or_wrong_name_are_404(api):
    tid = api.submit_ok()
    for path in (f"/files/{tid}/0.png", "/files/task_nope/0.png"):
        r = api.client.get(path)
        assert r.status_code == 404 and r.json()["code"] == 404
    api.advance(to="idle")
    for name in ("5.png", "0.mp4", "x.png", "0"):
        r = api.client.get(f"/files/{tid}/{name}")
        assert r.status_code == 404, name
        assert "0.png" in r.json()["data"]["error"]


# -- auth ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}]
)
def test_missing_or_empty_key_is_401(api, headers):
    for r in (
        api.client.post("/api/v1/generateTask/nano-banana", json={"input": {}}, headers=headers),
        api.client.get("/api/v1/statusTask/nano-banana", params={"taskId": "task_x"}, headers=headers),
        api.client.get("/api/v1/apikeys/current-balance", headers=headers),
    ):
        assert r.status_code == 401
        body = r.json()
        assert body == {"code": 401, "message": body["message"], "data": None}


def test_restricted_keys(make_api):
    api = make_api(api_keys={"sk_rich": 100.0, "sk_free": None})
    assert api.submit(key="sk_unknown").status_code == 401
    assert api.submit(key="sk_rich").status_code == 200
    assert api.submit(key="sk_free").status_code == 200


# -- validation ------------------------------------------------------------------


def test_unknown_model_is_404(api):
    r = api.submit("no-such-model", {"prompt": "x"})
    assert r.status_code == 404 and r.json()["code"] == 404
    assert "nano-banana" in r.json()["data"]["error"]  # lists the known models
    r = api.status("no-such-model", "task_x")
    assert r.status_code == 404


def test_missing_prompt_names_the_path(api):
    inp = example_input("gpt-image-1")
    del inp["prompt"]
    r = api.submit("gpt-image-1", inp)
    assert r.status_code == 400
    assert r.json() == {
        "code": 400,
        "message": "Invalid request",
        "data": {"error": "Missing required field: input.prompt"},
    }


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"{not json", "Malformed JSON"),
        (b"", "empty"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"input": {"prompt": "x"}, "explode": 1}', "Unknown field: explode"),
        (b'{"request_type": "sync", "input": {}}', "request_type"),
        (b'{"provider": "cheap", "input": {}}', "provider"),
        (b'{"request_type": "callback", "input": {}}', "callback_url"),
        (b'{"request_type": "callback", "callback_url": "ftp://x", "input": {}}', "callback_url"),
        (b'{"request_type": "callback", "callback_url": 5, "input": {}}', "callback_url"),
        (b'{"request_type": "async"}', "Missing required field: input"),
        (b'{"input": "draw a cat"}', "input"),
        (b"\xff\xfe\x00garbage", "Malformed JSON"),
        (b"[" * 100_000, "JSON"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(api, content, needle):
    r = api.client.post(
        "/api/v1/generateTask/nano-banana",
        content=content,
        headers={**api.headers(), "Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == 400 and needle in body["data"]["error"]


def test_body_over_1_mib_is_413(api):
    big = json.dumps({"input": {"prompt": "x" * (1024 * 1024)}}).encode()
    r = api.client.post("/api/v1/generateTask/nano-banana", content=big, headers=api.headers())
    assert r.status_code == 413 and r.json()["code"] == 413

    def chunks():  # no Content-Length: the limit holds for streamed bodies too
        for _ in range(20):
            yield b"x" * 65536

    r = api.client.post("/api/v1/generateTask/nano-banana", content=chunks(), headers=api.headers())
    assert r.status_code == 413


def test_callback_url_is_stored(api):
    tid = api.submit_ok(request_type="callback", callback_url="https://example.com/hook")
    info = api.admin("GET", f"/tasks/{tid}").json()
    assert info["requestType"] == "callback" and info["callbackUrl"] == "https://example.com/hook"


def test_sora_accepts_only_official_provider(api):
    assert api.submit("sora-2", provider="value").status_code == 400
    assert "official" in api.submit("sora-2", provider="auto").json()["data"]["error"]
    tid = api.submit_ok("sora-2")  # absent: the model's default, official
    assert api.admin("GET", f"/tasks/{tid}").json()["provider"] == "official"
    assert api.submit("sora-2", provider="official").status_code == 200
    assert api.submit("sora-2-pro", provider="value").status_code == 400
    assert api.submit("nano-banana", provider="value").status_code == 200


# -- status lookups --------------------------------------------------------------


def test_unknown_task_and_missing_task_id(api):
    r = api.status("nano-banana", "task_doesnotexist")
    assert r.status_code == 404 and r.json()["code"] == 404
    r = api.client.get("/api/v1/statusTask/nano-banana", headers=api.headers())
    assert r.status_code == 400 and "taskId" in r.json()["data"]["error"]


def test_task_under_another_models_path_says_so(api):
    tid = api.submit_ok("nano-banana")
    r = api.status("gpt-image-1", tid)
    assert r.status_code == 404
    err = r.json()["data"]["error"]
    assert "nano-banana" in err and f"/api/v1/statusTask/nano-banana?taskId={tid}" in err


def test_another_keys_task_is_not_found(api):
    tid = api.submit_ok()
    assert api.status("nano-banana", tid, key="sk_someone_else").status_code == 404


def test_unknown_route_names_the_closest_endpoint(api):
    r = api.client.get("/api/v1/statusTasks/nano-banana", params={"taskId": "x"}, headers=api.headers())
    assert r.status_code == 404
    assert "/api/v1/statusTask/{model}" in r.json()["data"]["error"]
    r = api.client.post("/api/v1/generate/nano-banana", json={}, headers=api.headers())
    assert "/api/v1/generateTask/{model}" in r.json()["data"]["error"]
    r = api.client.get("/api/v1/generateTask/nano-banana", headers=api.headers())
    assert r.status_code == 405 and r.headers["allow"] == "POST"


# -- credits and idempotency -------------------------------------------------------


def test_balance_open_mode(api):
    r = api.client.get("/api/v1/apikeys/current-balance", headers=api.headers())
    assert r.status_code == 200 and r.json()["data"] == {"balance": 1_000_000}


def test_charges_402_and_refunds(make_api):
    api = make_api(api_keys={"sk_a": 10.0})
    price = api.mock.models["nano-banana"].price
    balance = lambda: data_of(api.client.get("/api/v1/apikeys/current-balance", headers=api.headers("sk_a")))["balance"]  # noqa: E731
    n = int(10 // price)
    tids = [api.submit_ok(key="sk_a") for _ in range(n)]
    assert balance() == pytest.approx(10 - n * price)
    r = api.submit(key="sk_a")
    assert r.status_code == 402 and r.json()["code"] == 402
    assert len(api.mock.store) == n  # no task for a refused submit
    api.admin("POST", f"/tasks/{tids[0]}/fail", json={"code": "GENERATION_FAILED"})
    assert balance() == pytest.approx(10 - (n - 1) * price)  # a failed task is refunded
    api.advance(to="idle")
    assert balance() == pytest.approx(10 - (n - 1) * price)


def test_charge_is_price_times_outputs(make_api):
    api = make_api(api_keys={"sk_a": 1000.0})
    model = api.mock.models["gpt-image-1"]
    api.submit_ok("gpt-image-1", {"mode": "gpt-image-1", "prompt": "p", "num_images": 4}, key="sk_a")
    acct = api.admin("GET", "/accounts/sk_a").json()
    assert acct["balance"] == pytest.approx(1000 - 4 * model.price)


def test_idempotency_key(make_api):
    api = make_api(api_keys={"sk_a": 1000.0})
    h = {**api.headers("sk_a"), "Idempotency-Key": "abc"}
    body = {"input": example_input("nano-banana")}
    r1 = api.client.post("/api/v1/generateTask/nano-banana", json=body, headers=h)
    r2 = api.client.post("/api/v1/generateTask/nano-banana", json=body, headers=h)
    assert r1.status_code == r2.status_code == 200
    assert r1.json()["data"]["taskId"] == r2.json()["data"]["taskId"]
    assert len(api.mock.store) == 1
    assert api.admin("GET", "/accounts/sk_a").json()["spent"] == api.mock.models["nano-banana"].price
    other = {"input": {**example_input("nano-banana"), "prompt": "something else"}}
    r3 = api.client.post("/api/v1/generateTask/nano-banana", json=other, headers=h)
    assert r3.status_code == 409 and r3.json()["code"] == 409


# -- midjourney follow-ups -----------------------------------------------------------


def test_midjourney_follow_up_needs_an_earlier_successful_task_of_the_key(api):
    first = api.submit_ok("midjourney")
    vary = {**_follow_up("vary"), "taskId": first, "imageIndex": 1}
    r = api.submit("midjourney", vary)
    assert r.status_code == 400 and "input.taskId" in r.json()["data"]["error"]  # not finished yet
    api.advance(to="idle")
    assert api.submit("midjourney", vary).status_code == 200
    assert api.submit("midjourney", vary, key="sk_other").status_code == 400
    r = api.submit("midjourney", {**vary, "taskId": "task_missing"})
    assert r.status_code == 400 and "task_missing" in r.json()["data"]["error"]
    r = api.submit("midjourney", {**vary, "imageIndex": 9})
    assert r.status_code == 400 and "imageIndex" in r.json()["data"]["error"]
    nb = api.submit_ok("nano-banana")
    api.advance(to="idle")
    assert api.submit("midjourney", {**vary, "taskId": nb}).status_code == 400


def _follow_up(mode: str) -> dict:
    from mockserver.core.catalog import load_catalog

    for ex in load_catalog().get("midjourney").schema["examples"]:
        if ex.get("mode") == mode:
            return {k: v for k, v in ex.items() if k not in ("taskId", "imageIndex")}
    return {"mode": mode}


# -- journal ---------------------------------------------------------------------------


def test_journal_records_client_requests(api):
    tid = api.submit_ok()
    api.status("nano-banana", tid)
    api.client.get("/api/v1/apikeys/current-balance")
    entries = api.admin("GET", "/journal").json()["entries"]
    assert [(e["method"], e["status"]) for e in entries] == [("POST", 200), ("GET", 200), ("GET", 401)]
    assert entries[0]["taskId"] == tid and entries[0]["key"] == "****_key" and entries[0]["model"] == "nano-banana"
    assert entries[1]["path"] == "/api/v1/statusTask/nano-banana" and entries[1]["taskId"] == tid
    assert entries[2]["key"] is None
    assert all(isinstance(e["time"], int) for e in entries)


def test_every_model_runs_to_success(api):
    from mockserver.core.catalog import load_catalog

    for name in load_catalog().names():
        if name == "midjourney":
            continue
        tid = api.submit_ok(name)
        api.advance(to="idle")
        d = data_of(api.status(name, tid))
        assert d["state"] == "success", name
        for url in json.loads(d["resultJson"])["resultUrls"]:
            assert fetch(api, url).status_code == 200
