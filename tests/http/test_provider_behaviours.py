"""Documented provider behaviours a client must survive, in both dialects, in-process and live
(the ``api`` fixture): where a retry hint goes, the three forms of "insufficient credits", API keys
that are an unset variable, image URLs the provider fails, and page 004's 403 and retryable errors.

Every answer is also checked against the published contract by the fixture, told the scenario's
``retry_hint`` (tests/conftest.py).
"""

from __future__ import annotations

import pytest

from mockserver import contract
from tests.conftest import KEY, data_of
from tests.dialects.test_api123 import IMAGE, run_to_end, status, submit, submit_ok, task

BALANCE = "/api/v1/apikeys/current-balance"
GPT = {"mode": "gpt-image-1", "prompt": "a cozy cafe"}


def load(api, doc: dict | None = None, name: str | None = None) -> None:
    r = api.client.put("/__admin/scenario", json=doc, params={"name": name} if name else None)
    assert r.status_code == 200, r.text


def apixo_task(api, model: str, tid: str) -> dict:
    return data_of(api.status(model, tid))


# -- where the retry hint goes --------------------------------------------------------------------

HINTS = [("both", True, True), ("header", True, False), ("body", False, True), ("none", False, False)]


def hinted(mode: str, **extra) -> dict:
    return {
        "retry_hint": mode,
        "rules": [
            {"when": {"endpoint": "submit", "nth": 1}, "respond": {"status": 429, "retry_after": 2}},
            {"when": {"endpoint": "status", "nth": 1}, "respond": {"status": 503, "retry_after": 3}},
        ],
        **extra,
    }


def assert_hint(r, status: int, seconds: int, header: bool, body: bool) -> None:
    assert r.status_code == status, r.text
    assert r.headers.get("retry-after") == (str(seconds) if header else None)
    assert r.json().get("retryAfter") == (seconds if body else None)


@pytest.mark.parametrize(("mode", "header", "body"), HINTS)
def test_retry_hint_of_rule_answers_apixo(api, mode, header, body):
    load(api, hinted(mode))
    assert_hint(api.submit(), 429, 2, header, body)
    tid = api.submit_ok()
    assert_hint(api.status("nano-banana", tid), 503, 3, header, body)
    assert api.status("nano-banana", tid).status_code == 200


@pytest.mark.parametrize(("mode", "header", "body"), HINTS)
def test_retry_hint_of_rule_answers_123api(api, mode, header, body):
    load(api, hinted(mode))
    assert_hint(submit(api), 429, 2, header, body)
    tid = submit_ok(api)
    assert_hint(status(api, tid), 503, 3, header, body)
    assert status(api, tid).status_code == 200


@pytest.mark.parametrize(("mode", "header", "body"), HINTS)
def test_retry_hint_of_the_rate_limiter_both_dialects(api, mode, header, body):
    # The limiter's own 429s: a submit through the full stack, a status poll through the fast path.
    load(api, {"retry_hint": mode, "limits": {"requests_per_minute": 2}})
    tid = api.submit_ok()
    assert api.status("nano-banana", tid).status_code == 200
    r = api.status("nano-banana", tid)
    assert r.status_code == 429 and ("retry-after" in r.headers) == header and ("retryAfter" in r.json()) == body
    r = submit(api)
    assert r.status_code == 429 and ("retry-after" in r.headers) == header and ("retryAfter" in r.json()) == body
    r = status(api, "task-00000000-00000000")
    assert r.status_code == 429 and ("retry-after" in r.headers) == header and ("retryAfter" in r.json()) == body


def test_a_hint_only_in_the_body_is_journaled_and_judged(api):
    # The report's IGNORED_RETRY_AFTER reads the journal: a hint sent only in the body still counts.
    load(api, hinted("body"))
    assert api.submit().status_code == 429
    assert api.submit().status_code == 200  # at once, 2 s too early
    entry = api.admin("GET", "/journal").json()["entries"][0]
    assert entry["status"] == 429 and entry["retryAfter"] == 2
    codes = {f["code"] for f in api.admin("GET", "/report").json()["findings"]}
    assert "IGNORED_RETRY_AFTER" in codes


def test_no_hint_is_no_finding_about_it(api):
    load(api, hinted("none"))
    assert api.submit().status_code == 429
    assert api.submit().status_code == 200
    assert api.admin("GET", "/journal").json()["entries"][0].get("retryAfter") is None
    codes = {f["code"] for f in api.admin("GET", "/report").json()["findings"]}
    assert "IGNORED_RETRY_AFTER" not in codes


def _answer(path: str, headers: dict, body: bytes, hint: str):
    return contract.check_response(
        "POST", path, 429, {"content-type": "application/json", **headers}, body, retry_hint=hint
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/generateTask/nano-banana", b'{"code":429,"message":"Rate limit exceeded","data":null'),
        ("/v1/images/generations", b'{"error":"rate_limit_exceeded","message":"Rate limit exceeded"'),
    ],
)
def test_the_contract_check_requires_the_hint_where_the_scenario_puts_it(path, body):
    header, in_body, neither = {"retry-after": "2"}, body + b',"retryAfter":2}', body + b"}"
    assert _answer(path, header, in_body, "both") == []
    assert _answer(path, {}, in_body, "both") != []  # the default still wants both
    assert _answer(path, header, neither, "both") != []
    assert _answer(path, header, neither, "header") == []
    assert _answer(path, {}, neither, "header") != []
    assert _answer(path, {}, in_body, "body") == []
    assert _answer(path, header, neither, "body") != []
    assert _answer(path, {}, neither, "none") == []
    assert _answer(path, {"retry-after": "3"}, in_body, "none") != []  # both sent: they must agree
    with pytest.raises(ValueError, match="retry_hint"):
        _answer(path, header, in_body, "sometimes")


# -- insufficient credits: three documented forms -------------------------------------------------

BROKE = {"accounts": [{"key": "sk_broke", "balance": 0}, {"key": KEY, "balance": 100}]}


def test_insufficient_credits_default_is_402_in_both_dialects(api):
    load(api, BROKE)
    r = api.submit(key="sk_broke")
    assert r.status_code == 402 and r.json()["message"] == "Insufficient credits"
    r = submit(api, key="sk_broke")
    assert r.status_code == 402 and r.json()["error"] == "insufficient_balance"
    assert api.admin("GET", "/tasks").json()["tasks"] == []


def test_insufficient_credits_as_page_002s_400_under_apixo_and_402_under_123api(api):
    load(api, {**BROKE, "insufficient_credits": "code_400"})
    r = api.submit(key="sk_broke")
    assert (r.status_code, r.json()) == (400, {"code": 400, "message": "Insufficient credits", "data": None})
    r = submit(api, key="sk_broke")  # page 004 gives 123API no such form
    assert r.status_code == 402 and r.json()["error"] == "insufficient_balance"
    assert api.admin("GET", "/tasks").json()["tasks"] == []
    assert api.submit().status_code == 200  # a key that can pay is unaffected


def test_insufficient_credits_as_a_failed_task_in_both_dialects(api):
    load(api, {**BROKE, "insufficient_credits": "failed_task"})
    apixo = api.submit_ok(key="sk_broke")
    other = submit_ok(api, key="sk_broke")
    paid = api.submit_ok()
    api.advance(to="idle")
    d = data_of(api.status("nano-banana", apixo, key="sk_broke"))
    assert (d["state"], d["failCode"]) == ("failed", "INSUFFICIENT_CREDITS") and d["failMsg"]
    body = task(api, other, key="sk_broke")
    assert (body["status"], body["error"]) == ("failed", "INSUFFICIENT_CREDITS")
    assert api.admin("GET", "/accounts/sk_broke").json()["spent"] == 0
    assert apixo_task(api, "nano-banana", paid)["state"] == "success"


# -- API keys that are an unset variable ----------------------------------------------------------

UNSET = [
    "undefined",
    "null",
    "None",
    "nil",
    "${APIXO_API_KEY}",
    "$APIXO_API_KEY",
    "%APIXO_API_KEY%",
    "{{ api_key }}",
    "YOUR_API_KEY",
    "<API_KEY>",
    "your-api-key",
    "sk-your-api-key-here",
    "sk-...",
    "sk-xxxxxxxxxxxx",
]


@pytest.mark.parametrize("key", UNSET)
def test_a_key_that_is_an_unset_variable_gets_a_401_that_says_so_in_open_mode(api, key):
    r = api.submit(key=key)
    assert r.status_code == 401
    assert "not a key" in r.json()["data"]["error"] and "environment variable" in r.json()["data"]["error"]
    r = submit(api, key=key)
    assert r.status_code == 401 and r.json()["error"] == "invalid_api_key" and "not a key" in r.json()["message"]
    r = status(api, "task-00000000-00000000", key=key)  # the status fast path too
    assert r.status_code == 401 and "not a key" in r.json()["message"]


@pytest.mark.parametrize("key", ["sk_test_key", "sk-proj-4f9a8b7c6d5e", "sk_live_51HxYzQ", "my-key", "key", "k"])
def test_real_looking_keys_are_still_accepted_in_open_mode(api, key):
    assert api.submit(key=key).status_code == 200
    assert submit(api, key=key).status_code == 200


def test_a_placeholder_key_is_refused_with_the_same_words_when_keys_are_listed(api):
    load(api, BROKE)
    r = api.submit(key="undefined")
    assert r.status_code == 401 and "not a key" in r.json()["data"]["error"]
    assert api.submit(key="sk_nobody").json()["message"] == "Invalid API key"


# -- image URLs the provider fails ----------------------------------------------------------------

IMAGE_FAILURES = [
    ("https://example.com/ref.gif", "UNSUPPORTED_FORMAT"),
    ("https://example.com/scan.BMP", "UNSUPPORTED_FORMAT"),
    ("https://example.com/notes.txt?v=1", "UNSUPPORTED_FORMAT"),
    ("https://cdn.image-too-large.example/ref.png", "IMAGE_TOO_LARGE"),
    ("https://image-download-failed.example/ref.jpg", "IMAGE_DOWNLOAD_FAILED"),
    ("https://invalid-image-url.example/ref.webp", "INVALID_IMAGE_URL"),
    ("http://images.invalid/ref.png", "INVALID_IMAGE_URL"),
]


@pytest.mark.parametrize(("url", "code"), IMAGE_FAILURES)
def test_an_image_url_the_provider_cannot_use_fails_the_task_in_both_dialects(api, url, code):
    good = "https://example.com/ok.jpg"
    apixo = api.submit_ok("gpt-image-1", {**GPT, "image_urls": [good, url]})
    other = submit_ok(api, {**IMAGE, "image_urls": [url]})
    api.advance(to="idle")  # the provider fetched the images when pending ended
    d = apixo_task(api, "gpt-image-1", apixo)
    assert (d["state"], d["failCode"]) == ("failed", code) and d["failMsg"].startswith("image_urls[1]: ")
    body = task(api, other)
    assert (body["status"], body["error"]) == ("failed", code) and body["message"].startswith("image_urls[0]: ")
    assert api.admin("GET", f"/accounts/{KEY}").json()["spent"] == 0  # refunded


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a.jpg",
        "https://example.com/a.JPEG",
        "https://example.com/a.png",
        "https://example.com/a.webp",
        "https://example.com/image",  # no extension: the format is not known from the URL
        "https://example.com/render?format=gif",
        "https://example.com/",
    ],
)
def test_supported_or_unknown_image_urls_succeed(api, url):
    tid = api.submit_ok("gpt-image-1", {**GPT, "image_urls": [url]})
    other = submit_ok(api, {**IMAGE, "image_urls": [url]})
    api.advance(to="idle")
    assert apixo_task(api, "gpt-image-1", tid)["state"] == "success"
    assert task(api, other)["status"] == "completed"


def test_a_rule_matches_image_urls_on_submits_only(api):
    load(api, {"rules": [{"when": {"image_url": r"(?i)\.heic$"}, "fail": {"code": "UNSUPPORTED_FORMAT"}}]})
    tid = submit_ok(api, {**IMAGE, "image_urls": ["https://example.com/a.jpg", "https://example.com/b.HEIC"]})
    fine = submit_ok(api, {**IMAGE, "image_urls": ["https://example.com/a.jpg"]})
    assert run_to_end(api, tid)["error"] == "UNSUPPORTED_FORMAT"
    assert run_to_end(api, fine)["status"] == "completed"
    r = api.client.put(
        "/__admin/scenario",
        json={"rules": [{"when": {"endpoint": "status", "image_url": "x"}, "respond": {"status": 503}}]},
    )
    assert r.status_code == 400 and "image_url never holds on status requests" in r.text


# -- page 004's 403 and every retryable status on every endpoint ---------------------------------


def test_flaky_5xx_serves_every_retryable_status_on_every_endpoint_kind(api):
    load(api, name="flaky-5xx")
    tid = None
    while tid is None:
        r = api.submit()
        tid = r.json()["data"]["taskId"] if r.status_code == 200 else None
    other = None
    while other is None:
        r = submit(api)
        other = r.json()["task_id"] if r.status_code == 200 else None
    api.advance(to="idle")
    url = None
    while url is None:
        r = api.status("nano-banana", tid)
        url = r.json()["data"]["resultJson"] if r.status_code == 200 else None
    file = "/files/" + url.split("/files/", 1)[1].split('"', 1)[0]
    kinds = {
        "submit": lambda: api.submit(),
        "status": lambda: api.status("nano-banana", tid),
        "files": lambda: api.client.get(file),
        "balance": lambda: api.client.get(BALANCE, headers=api.headers()),
        "models": lambda: api.client.get("/v1/models", headers=api.headers()),
        "123api status": lambda: status(api, other),
    }
    for kind, request in kinds.items():
        answers = [request() for _ in range(200)]
        codes = [r.status_code for r in answers]
        assert {500, 502, 503, 429} <= set(codes) <= {200, 429, 500, 502, 503}, kind
        assert 0.07 < (200 - codes.count(200)) / 200 < 0.3, kind
        for r in answers:
            if r.status_code in (429, 503):
                assert r.headers["retry-after"] == ("1" if r.status_code == 429 else "2"), kind
            elif r.status_code != 200:
                assert "retry-after" not in r.headers, kind
