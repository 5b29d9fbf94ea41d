"""Callbacks: delivery to a real receiver on a loopback port, retries on the virtual clock,
timeouts, Standard Webhooks signatures, callback faults, suno stages and the admin log."""

from __future__ import annotations

import base64
import contextlib
import json
import threading

import httpx
import pytest
import standardwebhooks
from starlette.testclient import TestClient

from mockserver.callbacks import CallbackConfig, sign, webhook_id
from mockserver.callbacks.dispatcher import MANUAL_TIMEOUT_CAP_MS, real_timeout_ms
from mockserver.cli import build_parser, main, settings_from_args
from mockserver.core.clock import ManualClock, RealClock
from mockserver.core.config import Settings
from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from tests.conftest import KEY, data_of, example_input
from tests.receivers import WAIT_S

SECRET = "whsec_" + base64.b64encode(b"mockserver-test-secret-0123456789").decode()


# -- helpers --------------------------------------------------------------------------


def configure(api, **kw) -> None:
    api.mock.callback_config = CallbackConfig(**kw)


def submit_callback(api, url: str, model: str = "nano-banana", **kw) -> str:
    return api.submit_ok(model, request_type="callback", callback_url=url, **kw)


def end_of(api, task_id: str) -> int:
    info = api.admin("GET", f"/tasks/{task_id}").json()
    return info["createTime"] + info["pendingMs"] + info["processingMs"]


def attempts(api, **params) -> list[dict]:
    r = api.admin("GET", "/callbacks", params=params)
    assert r.status_code == 200, r.text
    return r.json()["attempts"]


def same_end(api, model: str = "nano-banana", processing_ms: int = 10_000) -> None:
    """Give every new task of ``model`` the same processing time (deliveries due together)."""
    api.mock.models[model].processing_ms = (processing_ms, processing_ms)


# -- delivery -------------------------------------------------------------------------


def test_success_first_time_posts_the_status_envelope(api, receiver):
    tid = submit_callback(api, receiver.url())
    end = end_of(api, tid)
    api.advance(to=end - 1)
    assert receiver.on() == []  # nothing before the task ends
    api.advance(ms=1)
    got = receiver.on()  # clock/advance returned only after the attempt: no waiting here
    assert len(got) == 1
    assert got[0].headers["content-type"] == "application/json"
    assert got[0].headers["webhook-id"] == webhook_id(tid, None)
    assert "webhook-signature" not in got[0].headers  # unsigned unless a secret is set
    status = api.status("nano-banana", tid)
    assert got[0].json() == status.json()  # exactly what the status endpoint says
    data = got[0].json()["data"]
    assert data["state"] == "success" and data["completeTime"] == end
    urls = json.loads(data["resultJson"])["resultUrls"]
    assert urls and all(u.startswith(str(api.client.base_url).rstrip("/") + "/files/") for u in urls)
    [a] = attempts(api)
    assert (
        a["taskId"],
        a["url"],
        a["attempt"],
        a["time"],
        a["status"],
        a["error"],
        a["outcome"],
    ) == (
        tid,
        receiver.url(),
        1,
        end,
        200,
        None,
        "delivered",
    )
    assert a["durationMs"] >= 0 and a["nextAttemptAt"] is None and a["webhookId"] == webhook_id(tid, None)
    api.advance(to="idle")
    assert len(receiver.on()) == 1  # delivered once, never again


def test_async_tasks_and_other_urls_get_no_callback(api, receiver):
    api.submit_ok("nano-banana", callback_url=receiver.url())  # request_type async: no callback
    api.advance(to="idle")
    assert receiver.on() == [] and attempts(api) == []


def test_two_failures_then_success_retries_with_the_same_body_and_id(api, receiver):
    receiver.reset(hook=[500, 503])
    tid = submit_callback(api, receiver.url())
    end = end_of(api, tid)
    api.advance(to=end)
    assert len(receiver.on()) == 1
    assert api.admin("GET", "/clock").json()["nextEvent"] == end + 30_000  # the retry is the next event
    api.advance(ms=29_999)
    assert len(receiver.on()) == 1
    api.advance(to="next")
    assert len(receiver.on()) == 2
    api.advance(ms=60_000)
    got = receiver.on()
    assert len(got) == 3
    assert got[0].body == got[1].body == got[2].body
    assert {r.headers["webhook-id"] for r in got} == {webhook_id(tid, None)}
    log = attempts(api)
    assert [(a["attempt"], a["time"], a["status"], a["outcome"]) for a in log] == [
        (1, end, 500, "failed"),
        (2, end + 30_000, 503, "failed"),
        (3, end + 90_000, 200, "delivered"),
    ]
    assert [a["nextAttemptAt"] for a in log] == [end + 30_000, end + 90_000, None]
    assert "HTTP 500" in log[0]["error"]


def test_receiver_down_for_good_exhausts_the_retries(api, dead_url):
    tid = submit_callback(api, dead_url)
    end = end_of(api, tid)
    api.advance(to="idle")  # also waits out every retry
    log = attempts(api)
    assert [(a["attempt"], a["time"]) for a in log] == [
        (1, end),
        (2, end + 30_000),
        (3, end + 90_000),
        (4, end + 210_000),
    ]
    assert all(a["status"] is None and a["outcome"] == "failed" and "Connect" in a["error"] for a in log)
    assert log[-1]["nextAttemptAt"] is None
    assert api.admin("GET", "/callbacks").json()["pending"] == []
    assert api.admin("GET", "/clock").json()["nextEvent"] is None
    assert data_of(api.status("nano-banana", tid))["state"] == "success"  # the API is unaffected


def test_retries_and_backoff_follow_the_config(api, receiver):
    configure(api, retries=4, backoff_ms=[1_000, 5_000])
    receiver.reset(hook=[500, 500, 500, 500, 500])
    tid = submit_callback(api, receiver.url())
    end = end_of(api, tid)
    api.advance(to="idle")
    assert [a["time"] - end for a in attempts(api)] == [
        0,
        1_000,
        6_000,
        11_000,
        16_000,
    ]  # last value repeats


def test_slow_receiver_times_out_and_is_retried(api, receiver):
    configure(api, timeout_ms=200, retries=1, backoff_ms=[1_000])
    receiver.reset(hook=["hang"])
    tid = submit_callback(api, receiver.url())
    end = end_of(api, tid)
    api.advance(to=end)
    [a] = attempts(api)
    assert a["status"] is None and a["outcome"] == "failed" and a["error"].startswith("timeout")
    assert a["durationMs"] >= 190 and a["nextAttemptAt"] == end + 1_000
    receiver.release.set()
    api.advance(ms=1_000)
    log = attempts(api)
    assert [(x["attempt"], x["status"]) for x in log] == [(1, None), (2, 200)]


def test_deliveries_run_concurrently(api, receiver):
    """Two deliveries due together: the fast one's arrival releases the slow one.

    Were they sent one after the other, the slow one would time out first.
    """
    same_end(api)
    configure(api, timeout_ms=3_000, retries=0)
    receiver.reset(slow=["hang"])
    slow = submit_callback(api, receiver.url("slow"))
    fast = submit_callback(api, receiver.url("fast"))
    done = threading.Event()

    def release_when_fast_arrives():
        if receiver.wait_for(1, "fast"):
            receiver.release.set()
        done.set()

    waiter = threading.Thread(target=release_when_fast_arrives, daemon=True)
    waiter.start()
    api.advance(to=end_of(api, slow))
    assert done.wait(WAIT_S)
    by_task = {a["taskId"]: a for a in attempts(api)}
    assert by_task[fast]["status"] == 200 and by_task[slow]["status"] == 200


def test_an_unanswering_receiver_never_blocks_the_api(api, receiver):
    configure(api, timeout_ms=3_000, retries=0)
    receiver.reset(hook=["hang"])
    tid = submit_callback(api, receiver.url())
    end = end_of(api, tid)
    advancing = threading.Thread(target=api.advance, kwargs={"to": end}, daemon=True)
    advancing.start()
    assert receiver.wait_for(1)  # the delivery is in flight, the receiver holding it
    other = api.submit_ok("gpt-image-1")  # the API answers meanwhile
    assert data_of(api.status("nano-banana", tid))["state"] == "success"
    assert data_of(api.status("gpt-image-1", other))["state"] == "pending"
    receiver.release.set()
    advancing.join(WAIT_S)
    assert not advancing.is_alive()
    assert attempts(api)[0]["status"] == 200


def test_forced_completion_and_failure_deliver_before_the_admin_call_returns(api, receiver):
    a = submit_callback(api, receiver.url("a"))
    b = submit_callback(api, receiver.url("b"), "gpt-image-1")
    api.advance(ms=1_500)
    assert api.admin("POST", f"/tasks/{a}/complete").status_code == 200
    [got] = receiver.on("a")
    assert got.json()["data"]["state"] == "success" and got.json()["data"]["completeTime"] == api.mock.now()
    r = api.admin("POST", f"/tasks/{b}/fail", json={"code": "CONTENT_VIOLATION"})
    assert r.status_code == 200
    [got] = receiver.on("b")
    data = got.json()["data"]
    assert (data["state"], data["failCode"]) == ("failed", "CONTENT_VIOLATION")
    assert got.json() == api.status("gpt-image-1", b).json()
    api.advance(to="idle")  # the natural ends, now void, send nothing
    assert len(receiver.on("a")) == len(receiver.on("b")) == 1


def test_poll_driven_task_calls_back_after_its_terminal_poll(api, receiver):
    api.mock.models["nano-banana"].progression = "polls"
    tid = submit_callback(api, receiver.url())
    states = [data_of(api.status("nano-banana", tid))["state"] for _ in range(3)]
    assert states == ["pending", "processing", "success"]
    terminal = api.status("nano-banana", tid).json()
    api.advance(ms=0)  # the delivery is due at the terminal poll; an advance awaits it
    [got] = receiver.on()
    assert got.json() == terminal
    assert attempts(api)[0]["time"] == terminal["data"]["completeTime"]


def test_a_task_made_longer_after_submit_calls_back_at_its_new_end(api, receiver):
    tid = submit_callback(api, receiver.url())
    old_end = end_of(api, tid)
    api.mock.store.get(tid).processing_ms += 5_000  # as a scenario's timing rule might
    api.advance(to=old_end)
    assert receiver.on() == []
    api.advance(to="idle")
    [got] = receiver.on()
    assert got.json()["data"]["completeTime"] == old_end + 5_000
    assert [a["time"] for a in attempts(api)] == [old_end + 5_000]


def test_reset_forgets_scheduled_callbacks(api, receiver):
    submit_callback(api, receiver.url())
    api.admin("POST", "/reset")
    api.advance(ms=10 * 60_000)
    assert receiver.on() == [] and attempts(api) == []


# -- signing --------------------------------------------------------------------------


def test_signature_verifies_with_standardwebhooks_on_every_retry(api, receiver):
    configure(api, secret=SECRET)
    receiver.reset(hook=[500])
    tid = submit_callback(api, receiver.url())
    api.advance(to="idle")
    got = receiver.on()
    assert len(got) == 2
    wh = standardwebhooks.Webhook(SECRET)
    for r in got:
        assert wh.verify(r.body, r.headers) == r.json()
        assert r.headers["webhook-id"] == webhook_id(tid, None)
        assert r.headers["webhook-signature"] == sign(
            SECRET, r.headers["webhook-id"], int(r.headers["webhook-timestamp"]), r.body
        )
    tampered = got[0].body.replace(b"success", b"failed!")
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        wh.verify(tampered, got[0].headers)
    other = standardwebhooks.Webhook("whsec_" + base64.b64encode(b"another secret").decode())
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        other.verify(got[0].body, got[0].headers)


def test_webhook_secret_setting_signs(make_api, receiver):
    api = make_api(webhook_secret=SECRET)
    assert api.mock.callback_config.secret == SECRET
    submit_callback(api, receiver.url())
    api.advance(to="idle")
    [got] = receiver.on()
    assert standardwebhooks.Webhook(SECRET).verify(got.body, got.headers)["data"]["state"] == "success"


# -- callback faults (scenario rules plug into MockService.callback_decision) ----------


def decide(api, monkeypatch, answers: dict[int, tuple[str, int]]) -> list[tuple[str, int]]:
    calls: list[tuple[str, int]] = []

    def decision(task, attempt):
        calls.append((task.task_id, attempt))
        return answers.get(attempt)

    monkeypatch.setattr(api.mock, "callback_decision", decision)
    return calls


def test_drop_sends_nothing_and_does_not_retry(api, receiver, monkeypatch):
    calls = decide(api, monkeypatch, {1: ("drop", 0)})
    tid = submit_callback(api, receiver.url())
    api.advance(to="idle")
    assert receiver.on() == []
    [a] = attempts(api)
    assert (a["outcome"], a["status"], a["nextAttemptAt"]) == ("dropped", None, None)
    assert calls == [(tid, 1)]
    assert api.admin("GET", "/callbacks").json()["pending"] == []


def test_duplicate_posts_the_same_delivery_twice(api, receiver, monkeypatch):
    decide(api, monkeypatch, {1: ("duplicate", 0)})
    tid = submit_callback(api, receiver.url())
    api.advance(to="idle")
    got = receiver.on()
    assert len(got) == 2 and got[0].body == got[1].body
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"] == webhook_id(tid, None)
    log = attempts(api)
    assert [(a["attempt"], a["status"], a["duplicate"]) for a in log] == [
        (1, 200, False),
        (1, 200, True),
    ]


def test_duplicate_of_a_failing_delivery_is_retried_once(api, receiver, monkeypatch):
    decide(api, monkeypatch, {1: ("duplicate", 0)})
    receiver.reset(hook=[500, 500])
    submit_callback(api, receiver.url())
    api.advance(to="idle")
    assert len(receiver.on()) == 3  # both copies failed: one retry, which succeeds
    assert [(a["attempt"], a["status"]) for a in attempts(api)] == [(1, 500), (1, 500), (2, 200)]


def test_delay_postpones_the_delivery_in_virtual_time(api, receiver, monkeypatch):
    calls = decide(api, monkeypatch, {1: ("delay", 45_000)})
    tid = submit_callback(api, receiver.url())
    end = end_of(api, tid)
    api.advance(to=end)
    assert receiver.on() == []
    assert api.admin("GET", "/callbacks").json()["pending"][0]["due"] == end + 45_000
    api.advance(ms=44_999)
    assert receiver.on() == []
    api.advance(ms=1)
    assert len(receiver.on()) == 1
    log = attempts(api)
    assert [(a["outcome"], a["time"], a["delayMs"]) for a in log] == [
        ("delayed", end, 45_000),
        ("delivered", end + 45_000, None),
    ]
    assert calls == [(tid, 1)]  # a delayed attempt is not decided again


def test_faults_are_decided_per_attempt(api, receiver, monkeypatch):
    calls = decide(api, monkeypatch, {2: ("drop", 0)})
    receiver.reset(hook=[500])
    tid = submit_callback(api, receiver.url())
    api.advance(to="idle")
    assert calls == [(tid, 1), (tid, 2)]
    assert [a["outcome"] for a in attempts(api)] == ["failed", "dropped"]
    assert len(receiver.on()) == 1


def test_a_failing_rule_is_logged_not_lost_silently(api, receiver, monkeypatch):
    def broken(task, attempt):
        raise RuntimeError("rule bug")

    monkeypatch.setattr(api.mock, "callback_decision", broken)
    tid = submit_callback(api, receiver.url())
    api.advance(to="idle")
    [a] = attempts(api)
    assert a["taskId"] == tid and a["outcome"] == "failed" and "rule bug" in a["error"]
    assert data_of(api.status("nano-banana", tid))["state"] == "success"


# -- suno stages ----------------------------------------------------------------------


def suno_input() -> dict:
    return {"mode": "V5", "customMode": False, "instrumental": False, "prompt": "a sea shanty"}


def test_suno_sends_text_first_and_complete(api, receiver):
    tid = submit_callback(api, receiver.url(), "suno", input=suno_input())
    info = api.admin("GET", f"/tasks/{tid}").json()
    start = info["createTime"] + info["pendingMs"]
    p = info["processingMs"]
    api.advance(to=start + p // 3)
    [text] = receiver.on()
    assert text.json()["data"] == {**data_of(api.status("suno", tid)), "callbackType": "text"}
    api.advance(to="idle")
    got = receiver.on()
    assert [r.json()["data"]["callbackType"] for r in got] == ["text", "first", "complete"]
    assert [r.json()["data"]["state"] for r in got] == ["processing", "processing", "success"]
    assert "resultJson" not in got[1].json()["data"]
    final = got[2].json()["data"]
    assert final == {**data_of(api.status("suno", tid)), "callbackType": "complete"}
    assert len(json.loads(final["resultJson"])["resultUrls"]) == 2
    assert len({r.headers["webhook-id"] for r in got}) == 3  # one delivery per stage
    assert [(a["stage"], a["time"]) for a in attempts(api)] == [
        ("text", start + p // 3),
        ("first", start + 2 * p // 3),
        ("complete", start + p),
    ]


def test_suno_stage_retries_keep_their_stage(api, receiver):
    receiver.reset(hook=[500])
    tid = submit_callback(api, receiver.url(), "suno", input=suno_input())
    api.advance(to="idle")
    got = receiver.on()
    assert [r.json()["data"]["callbackType"] for r in got] == ["text", "text", "first", "complete"]
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"] == webhook_id(tid, "text")


def test_suno_forced_end_skips_the_stages_not_reached(api, receiver):
    a = submit_callback(api, receiver.url("a"), "suno", input=suno_input())
    info = api.admin("GET", f"/tasks/{a}").json()
    api.advance(to=info["createTime"] + info["pendingMs"] + info["processingMs"] // 2)
    api.admin("POST", f"/tasks/{a}/complete")
    b = submit_callback(api, receiver.url("b"), "suno", input=suno_input())
    api.admin("POST", f"/tasks/{b}/fail", json={"code": "SensitiveContent"})
    api.advance(to="idle")
    assert [r.json()["data"]["callbackType"] for r in receiver.on("a")] == ["text", "complete"]
    [failed] = receiver.on("b")
    assert failed.json()["data"]["callbackType"] == "complete"
    assert (failed.json()["data"]["state"], failed.json()["data"]["failCode"]) == (
        "failed",
        "SensitiveContent",
    )


# -- the admin log --------------------------------------------------------------------


def test_admin_callbacks_filters_and_pending(api, receiver, dead_url):
    same_end(api)
    ok = submit_callback(api, receiver.url())
    down = submit_callback(api, dead_url)
    api.advance(to=end_of(api, ok))
    body = api.admin("GET", "/callbacks").json()
    assert body["config"] == {
        "retries": 3,
        "backoff_ms": [30_000, 60_000, 120_000],
        "timeout_ms": 30_000,
        "secret": None,
    }
    assert {a["taskId"] for a in body["attempts"]} == {ok, down}
    assert [(p["taskId"], p["attempt"], p["url"]) for p in body["pending"]] == [(down, 2, dead_url)]
    assert [a["taskId"] for a in attempts(api, taskId=down)] == [down]
    first_id = body["attempts"][0]["id"]
    assert [a["id"] for a in attempts(api, since=first_id)] == [first_id + 1]
    assert len(attempts(api, limit=1)) == 1
    assert api.admin("GET", "/callbacks", params={"since": "x"}).status_code == 400


def test_admin_callbacks_log_is_bounded(make_api, dead_url):
    api = make_api(journal_size=3, callbacks={"retries": 4, "backoff_ms": [1000]})
    submit_callback(api, dead_url)
    api.advance(to="idle")
    body = api.admin("GET", "/callbacks").json()
    assert body["size"] == 3 and body["dropped"] == 2
    assert [a["attempt"] for a in body["attempts"]] == [3, 4, 5]


def test_only_http_and_https_callback_urls(api):
    for url in ("ftp://example.com/hook", "file:///etc/passwd", "example.com/hook", "http://"):
        r = api.submit(request_type="callback", callback_url=url)
        assert r.status_code == 400 and "callback_url" in r.json()["data"]["error"], url


# -- real clock: deliveries without any admin call ------------------------------------


@pytest.mark.parametrize("mode", ["live", "inprocess"])
def test_real_clock_delivers_and_retries_on_its_own(receiver, mode):
    receiver.reset(hook=[500])
    app = create_app(clock="real", time_scale=1000, seed=3)  # a nano-banana task: ~15 ms
    server = ServerThread(app) if mode == "live" else None
    client = httpx.Client(base_url=server.url, timeout=WAIT_S) if server else TestClient(app)
    with server or contextlib.nullcontext(), client:
        r = client.post(
            "/api/v1/generateTask/nano-banana",
            headers={"Authorization": f"Bearer {KEY}"},
            json={
                "request_type": "callback",
                "callback_url": receiver.url(),
                "input": example_input("nano-banana"),
            },
        )
        assert r.status_code == 200, r.text
        tid = r.json()["data"]["taskId"]
        # The retry is 30 virtual seconds later: 30 ms of real time at this scale.
        assert receiver.wait_for(2), "the runner did not deliver and retry by itself"
        got = receiver.on()
        assert got[0].body == got[1].body and got[0].json()["data"]["taskId"] == tid
        # The receiver has answered; an advance by 0 waits for the attempt in flight to be logged.
        assert client.post("/__admin/clock/advance", json={"ms": 0}).status_code == 200
        log = client.get("/__admin/callbacks").json()["attempts"]
        assert [(a["attempt"], a["status"]) for a in log[:2]] == [(1, 500), (2, 200)]
        assert log[1]["time"] >= log[0]["time"] + 30_000


# -- configuration --------------------------------------------------------------------


def test_callback_config_from_a_scenario_mapping():
    assert CallbackConfig.from_dict(None) == CallbackConfig()
    c = CallbackConfig.from_dict({"retries": 1, "backoff_ms": [5], "timeout_ms": 100, "secret": SECRET})
    assert (c.retries, c.backoff_ms, c.timeout_ms, c.secret) == (1, (5,), 100, SECRET)
    assert CallbackConfig.from_dict({"secret": None}, secret=SECRET).secret == SECRET  # null keeps --webhook-secret
    assert CallbackConfig.from_dict({}, secret=SECRET).secret == SECRET
    assert c.to_dict()["secret"] == "(set)"  # never echoed


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"retries": -1}, "callbacks.retries"),
        ({"retries": True}, "callbacks.retries"),
        ({"backoff_ms": []}, "callbacks.backoff_ms"),
        ({"backoff_ms": [1, "2"]}, "callbacks.backoff_ms[1]"),
        ({"timeout_ms": 0}, "callbacks.timeout_ms"),
        ({"secret": "not base64!"}, "webhook secret"),
        ({"secret": "whsec_"}, "webhook secret"),
        ({"retry": 3}, "unknown key 'retry'"),
        ([1], "callbacks: expected an object"),
    ],
)
def test_callback_config_refuses_bad_values(raw, path):
    with pytest.raises(ValueError, match=path.replace("[", r"\[").replace("]", r"\]")):
        CallbackConfig.from_dict(raw)


def test_settings_env_and_cli_take_a_webhook_secret():
    assert Settings(webhook_secret=SECRET).webhook_secret == SECRET
    with pytest.raises(ValueError, match="whsec_"):
        Settings(webhook_secret="nope!")
    with pytest.raises(ValueError, match="callbacks.retries"):
        Settings(callbacks={"retries": "3"})
    args = build_parser().parse_args(["serve"])
    assert settings_from_args(args, {"MOCKSERVER_WEBHOOK_SECRET": SECRET}).webhook_secret == SECRET
    args = build_parser().parse_args(["serve", "--webhook-secret", SECRET])
    assert settings_from_args(args, {"MOCKSERVER_WEBHOOK_SECRET": "whsec_b3RoZXI="}).webhook_secret == SECRET


def test_cli_refuses_a_bad_webhook_secret(capsys):
    assert main(["serve", "--port", "0", "--webhook-secret", "not-a-secret!"]) == 2
    assert "webhook secret" in capsys.readouterr().err


def test_real_timeout_rule():
    assert real_timeout_ms(30_000, ManualClock(0)) == MANUAL_TIMEOUT_CAP_MS
    assert real_timeout_ms(200, ManualClock(0)) == 200
    assert real_timeout_ms(30_000, RealClock(1)) == 30_000
    assert real_timeout_ms(30_000, RealClock(100)) == 1_000  # the floor: 300 ms would be harsh
    assert real_timeout_ms(30_000, RealClock(10)) == 3_000
    assert real_timeout_ms(200, RealClock(1000)) == 200
