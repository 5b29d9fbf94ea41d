"""Each scenario of the library loads and does what its description says (in-process and live)."""

from __future__ import annotations

import json

import httpx
import pytest

from mockserver.core.clock import monotonic
from mockserver.scenarios import rules as rules
from mockserver.scenarios.loading import library
from tests.conftest import data_of, example_input

BALANCE = "/api/v1/apikeys/current-balance"


def use(api, name: str) -> None:
    resp = api.admin("PUT", "/scenario", params={"name": name})
    assert resp.status_code == 200, resp.text


def envelope_ok(resp: httpx.Response) -> dict:
    body = resp.json()
    assert body["code"] == resp.status_code and "message" in body and "data" in body
    return body


def test_happy_path(api):
    use(api, "happy-path")
    ids = {model: api.submit_ok(model) for model in api.mock.models}
    api.advance(to="idle")
    for model, tid in ids.items():
        d = data_of(api.status(model, tid))
        assert d["state"] == "success", model
        url = json.loads(d["resultJson"])["resultUrls"][0]
        assert api.client.get("/files/" + url.split("/files/", 1)[1]).status_code == 200
    assert {e["status"] for e in api.admin("GET", "/journal").json()["entries"]} == {200}


def test_rate_limited(api):
    use(api, "rate-limited")
    first, second, third = (api.submit() for _ in range(3))
    for r in (first, second):
        assert envelope_ok(r)["retryAfter"] == 2 and r.status_code == 429 and r.headers["retry-after"] == "2"
    assert third.status_code == 200
    assert all(api.submit().status_code == 200 for _ in range(5))


def test_tight_limits(api):
    use(api, "tight-limits")
    a, _ = api.submit_ok(), api.submit_ok()
    r = api.submit()
    assert r.status_code == 429 and envelope_ok(r)["message"] == "Too many concurrent tasks"
    api.admin("POST", f"/tasks/{a}/complete")
    codes = [api.client.get(BALANCE, headers=api.headers()).status_code for _ in range(20)]
    # The window holds what got past the rate limiter: 3 submits (the third was refused later,
    # for concurrency) and 17 balance calls make 20.
    assert codes.count(200) == 17 and codes[-3:] == [429] * 3
    api.advance(ms=60_000)
    assert api.client.get(BALANCE, headers=api.headers()).status_code == 200


def test_insufficient_credits(api):
    use(api, "insufficient-credits")
    assert api.submit(key="sk_test_key").status_code == 401
    r = api.submit(key="sk_test_broke")
    assert r.status_code == 402 and envelope_ok(r)["message"] == "Insufficient credits"
    assert [api.submit(key="sk_test_low").status_code for _ in range(3)] == [200, 200, 402]
    balance = api.client.get(BALANCE, headers=api.headers("sk_test_low")).json()["data"]["balance"]
    assert balance == 1
    assert api.submit(key="sk_test_rich").status_code == 200
    assert api.admin("GET", "/tasks").json()["tasks"].__len__() == 3


def test_content_violation(api):
    use(api, "content-violation")
    violent = api.submit_ok(input={"mode": "text-to-image", "prompt": "Blood on the floor"})
    nsfw = api.submit_ok(input={"mode": "text-to-image", "prompt": "NSFW art"})
    fine = api.submit_ok(input={"mode": "text-to-image", "prompt": "bloodhound puppies"})  # words, not substrings
    api.advance(to="next")  # pending is over
    assert data_of(api.status("nano-banana", violent))["state"] == "processing"
    d = data_of(api.status("nano-banana", nsfw))
    assert (d["state"], d["failCode"], d["failMsg"]) == (
        "failed",
        "NSFW_DETECTED",
        "NSFW content detected in the request or the output",
    )
    api.advance(to="idle")
    d = data_of(api.status("nano-banana", violent))
    assert (d["state"], d["failCode"]) == ("failed", "CONTENT_VIOLATION")
    assert data_of(api.status("nano-banana", fine))["state"] == "success"
    assert api.admin("GET", f"/accounts/{api.key}").json()["spent"] == 2  # both failures refunded


def test_flaky_5xx(api):
    use(api, "flaky-5xx")
    submits = [api.submit() for _ in range(120)]
    codes = [r.status_code for r in submits]
    assert set(codes) == {200, 429, 500, 502, 503}
    assert 0.07 < (120 - codes.count(200)) / 120 < 0.25
    for r in submits:
        envelope_ok(r)
    assert len(api.admin("GET", "/tasks").json()["tasks"]) == codes.count(200)  # errors created nothing
    tid = next(r.json()["data"]["taskId"] for r in submits if r.status_code == 200)
    polls = [api.status("nano-banana", tid) for _ in range(120)]
    codes = [r.status_code for r in polls]
    assert {500, 502, 503} <= set(codes) <= {200, 429, 500, 502, 503}
    assert 0.07 < (120 - codes.count(200)) / 120 < 0.3
    assert api.admin("GET", f"/tasks/{tid}").json()["polls"] == codes.count(200)
    # Every endpoint kind, each status, Retry-After: tests/http/test_provider_behaviours.py.


def hint_of(r: httpx.Response) -> tuple[str | None, object]:
    """(the Retry-After header, the body's retryAfter) of an answer."""
    return r.headers.get("retry-after"), r.json().get("retryAfter")


def test_retry_after_header_only(api):
    use(api, "retry-after-header-only")
    assert [hint_of(api.submit()) for _ in range(2)] == [("2", None)] * 2
    tid = api.submit_ok()
    assert [api.status("nano-banana", tid).status_code for _ in range(2)] == [200, 200]
    r = api.status("nano-banana", tid)
    assert r.status_code == 503 and hint_of(r) == ("3", None)


def test_retry_after_body_only(api):
    use(api, "retry-after-body-only")
    assert [hint_of(api.submit()) for _ in range(2)] == [(None, 2)] * 2
    tid = api.submit_ok()
    assert [api.status("nano-banana", tid).status_code for _ in range(2)] == [200, 200]
    r = api.status("nano-banana", tid)
    assert r.status_code == 503 and hint_of(r) == (None, 3)


def test_no_retry_hint(api):
    use(api, "no-retry-hint")
    first = api.submit()
    assert first.status_code == 429 and hint_of(first) == (None, None)
    assert api.submit().status_code == 429
    tid = api.submit_ok()
    statuses = [api.status("nano-banana", tid) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 503] and hint_of(statuses[2]) == (None, None)
    codes = [api.client.get(BALANCE, headers=api.headers()).status_code for _ in range(16)]
    assert codes[-2:] == [429, 429]  # the limiter's own 429s say nothing of when either
    assert hint_of(api.client.get(BALANCE, headers=api.headers())) == (None, None)


def test_insufficient_credits_400(api):
    use(api, "insufficient-credits-400")
    r = api.submit(key="sk_test_broke")
    assert (r.status_code, r.json()) == (400, {"code": 400, "message": "Insufficient credits", "data": None})
    assert [api.submit(key="sk_test_low").status_code for _ in range(3)] == [200, 200, 400]
    assert api.submit(key="sk_test_rich").status_code == 200
    assert len(api.admin("GET", "/tasks").json()["tasks"]) == 3


def test_insufficient_credits_failed_task(api):
    use(api, "insufficient-credits-failed-task")
    ids = [api.submit_ok(key="sk_test_low") for _ in range(3)]
    broke = api.submit_ok(key="sk_test_broke")
    api.advance(to="idle")
    states = [data_of(api.status("nano-banana", t, key="sk_test_low")) for t in ids]
    assert [s["state"] for s in states] == ["success", "success", "failed"]
    d = data_of(api.status("nano-banana", broke, key="sk_test_broke"))
    assert (d["state"], d["failCode"], d["failMsg"]) == (
        "failed",
        "INSUFFICIENT_CREDITS",
        "Insufficient credits to complete the task",
    )
    assert states[2]["failCode"] == "INSUFFICIENT_CREDITS"
    assert api.admin("GET", "/accounts/sk_test_low").json()["balance"] == 1
    assert api.admin("GET", "/accounts/sk_test_broke").json()["spent"] == 0


def test_image_url_failures(api):
    use(api, "image-url-failures")
    gpt = {"mode": "gpt-image-1", "prompt": "a cozy cafe"}
    plain = api.submit_ok("gpt-image-1", gpt)  # no images: no rule matches
    ids = [api.submit_ok("gpt-image-1", {**gpt, "image_urls": ["https://example.com/a.png"]}) for _ in range(5)]
    gif = api.submit_ok("gpt-image-1", {**gpt, "image_urls": ["https://example.com/a.gif"]})
    api.advance(to="idle")
    codes = [data_of(api.status("gpt-image-1", t)).get("failCode") for t in ids]
    assert codes == ["INVALID_IMAGE_URL", "IMAGE_TOO_LARGE", "UNSUPPORTED_FORMAT", "IMAGE_DOWNLOAD_FAILED", None]
    assert data_of(api.status("gpt-image-1", gif))["failCode"] == "UNSUPPORTED_FORMAT"  # the extension, always
    assert data_of(api.status("gpt-image-1", plain))["state"] == "success"
    paid = sum(api.admin("GET", f"/tasks/{t}").json()["cost"] for t in (plain, ids[4]))
    assert api.admin("GET", f"/accounts/{api.key}").json()["spent"] == paid  # the failures are refunded


def test_forbidden(api):
    use(api, "forbidden")
    tid = api.submit_ok()
    for r in (
        api.submit(key="sk_test_forbidden"),
        api.client.get(BALANCE, headers=api.headers("sk_test_forbidden")),
        api.submit("sora-2"),
        api.submit("veo-3-1"),
    ):
        assert r.status_code == 403 and envelope_ok(r)["message"].startswith("Forbidden"), r.text
    assert [t["taskId"] for t in api.admin("GET", "/tasks").json()["tasks"]] == [tid]
    api.advance(to="idle")
    assert data_of(api.status("nano-banana", tid))["state"] == "success"


def test_processing_timeout(api):
    use(api, "processing-timeout")
    tid = api.submit_ok("sora-2")
    info = api.admin("GET", f"/tasks/{tid}").json()
    api.advance(ms=info["pendingMs"] + 299_999)
    assert data_of(api.status("sora-2", tid))["state"] == "processing"
    api.advance(ms=1)
    d = data_of(api.status("sora-2", tid))
    assert (d["state"], d["failCode"], d["failMsg"]) == (
        "failed",
        "PROCESSING_TIMEOUT",
        "Processing timed out, please retry",
    )
    assert api.admin("GET", f"/accounts/{api.key}").json()["spent"] == 0


def test_slow_video(api):
    use(api, "slow-video")
    start = monotonic()
    tid = api.submit_ok("sora-2")
    waited = monotonic() - start
    expected = rules.Delay("lognormal", 200, 0.5).draw(rules.unit(3, 0, 1, "delay"))
    assert waited >= expected / 1000 * 0.9  # the seeded latency, felt by the client
    info = api.admin("GET", f"/tasks/{tid}").json()
    assert 420_000 <= info["processingMs"] <= 570_000
    assert info["pendingMs"] + info["processingMs"] < api.mock.models["sora-2"].max_wait_ms
    assert api.submit_ok("nano-banana")
    entries = api.admin("GET", "/journal").json()["entries"]
    assert [e["rule"] for e in entries] == [0, None]  # only the video submit was delayed
    api.advance(ms=info["pendingMs"] + info["processingMs"])
    assert data_of(api.status("sora-2", tid))["state"] == "success"


@pytest.mark.unchecked_responses  # malformed JSON on purpose
def test_network_chaos(api):
    """Every fault the scenario names, seen by the client (a live httpx client in live mode)."""
    use(api, "network-chaos")
    tid = None
    while tid is None:  # a submit may be reset after the task was made: use an Idempotency-Key
        try:
            r = api.client.post(
                "/api/v1/generateTask/nano-banana",
                json={"input": example_input("nano-banana")},
                headers={**api.headers(), "Idempotency-Key": "k"},
            )
            tid = r.json()["data"]["taskId"]
        except httpx.ReadError:
            pass
    seen = set()
    for _ in range(80):
        try:
            api.status("nano-banana", tid).json()
            seen.add("ok")
        except httpx.RemoteProtocolError as exc:
            seen.add("truncated_body" if "complete message body" in str(exc) else "empty_response")
        except httpx.ReadError:
            seen.add("connection_reset")
        except json.JSONDecodeError:
            seen.add("malformed_json")
    assert seen == {"ok", "empty_response", "connection_reset", "malformed_json", "truncated_body"}
    faults = [e["fault"] for e in api.admin("GET", "/journal").json()["entries"] if e["fault"]]
    assert "slow_body" in faults and 0.1 < len(faults) / 80 < 0.35


def test_expiring_results(api):
    use(api, "expiring-results")
    tid = api.submit_ok()
    api.advance(to="idle")
    d = data_of(api.status("nano-banana", tid))
    done = d["completeTime"]
    api.advance(to=done + 59_999)
    assert api.client.get(f"/files/{tid}/0.png").status_code == 200
    api.advance(ms=1)
    r = api.client.get(f"/files/{tid}/0.png")
    assert r.status_code == 404 and envelope_ok(r)["message"] == "File expired"


def test_errors_as_200(api):
    use(api, "errors-as-200")
    tid = api.submit_ok()
    assert data_of(api.status("nano-banana", tid))["state"] == "pending"
    second = api.status("nano-banana", tid)
    assert second.status_code == 200 and second.json() == {
        "code": 503,
        "message": "Service Unavailable",
        "data": None,
    }
    unauthorized = api.submit(key=None)
    assert unauthorized.status_code == 200 and unauthorized.json()["code"] == 401


def test_callback_chaos(make_api):
    api = make_api(scenario="callback-chaos")
    mock = api.mock
    # Async tasks: callback_decision is plain rule matching, and no dispatcher (which would
    # ask for its own decisions) gets involved.
    tasks = [mock.store.get(api.submit_ok()) for _ in range(40)]
    api.advance(to="idle")

    def run() -> list:
        mock.reset()  # fresh counts, same seed: the same decisions
        return [mock.callback_decision(task, attempt) for task in tasks for attempt in (1, 2)]

    first = run()
    assert first == run()
    assert {d for d in first} == {("drop", 0), ("duplicate", 0), ("delay", 45_000), None}
    drops = [i % 2 + 1 for i, d in enumerate(first) if d == ("drop", 0)]
    assert set(drops) == {1}  # only first attempts are lost
    assert 0.1 < len(drops) / 40 < 0.45


def test_poll_driven(api):
    use(api, "poll-driven")
    for model in ("nano-banana", "sora-2", "suno"):
        tid = api.submit_ok(model)
        states = [data_of(api.status(model, tid))["state"] for _ in range(5)]
        assert states == ["pending", "processing", "processing", "success", "success"], model
    assert api.admin("GET", "/clock").json()["nextEvent"] is None  # time plays no part


@pytest.mark.wall_clock  # half a second of real time at most
def test_fast_clock(make_api):
    api = make_api(scenario="fast-clock")
    clock = api.mock.clock
    assert (clock.mode, clock.scale) == ("real", 100)
    start_wall, start = monotonic(), clock.now_ms()
    while clock.now_ms() - start < 1000:  # one virtual second
        assert monotonic() - start_wall < 2, "the clock is not running fast"
    assert monotonic() - start_wall < 0.5  # about 10 ms of wall time at 100x


def test_model_outage(api):
    use(api, "model-outage")
    r = api.submit("sora-2")
    assert r.status_code == 503 and envelope_ok(r)["message"] == "Model temporarily unavailable"
    pro = api.submit_ok("sora-2-pro")
    ok = api.submit_ok("nano-banana")
    api.advance(to="idle")
    d = data_of(api.status("sora-2-pro", pro))
    assert (d["state"], d["failCode"]) == ("failed", "MODEL_UNAVAILABLE")
    assert data_of(api.status("nano-banana", ok))["state"] == "success"
    assert len(api.admin("GET", "/tasks").json()["tasks"]) == 2


def test_every_library_scenario_has_a_test_here():
    tested = {name[len("test_") :].replace("_", "-") for name in globals() if name.startswith("test_")}
    assert {e.name for e in library()} <= tested
