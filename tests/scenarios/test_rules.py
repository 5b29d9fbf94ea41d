"""Rules: matching, gates, seeded decisions (in-process), and every matcher and action over HTTP."""

from __future__ import annotations

import dataclasses
import json
import statistics

import pytest

from mockserver.scenarios import rules as r
from mockserver.scenarios.loading import parse
from tests.conftest import KEY, data_of


def ruleset(*rules: dict, seed: int = 0) -> r.RuleSet:
    sc = parse({"seed": seed, "rules": list(rules)})
    return r.RuleSet(sc.rules, seed)


def status(**kw) -> r.Facts:
    return r.Facts("status", model="nano-banana", key=KEY, **kw)


# ------------------------------------------------------------------ pure engine


def test_unit_is_fixed_by_its_inputs_and_in_the_open_interval():
    u = r.unit(7, 1, 3, "probability")
    assert u == r.unit(7, 1, 3, "probability") and 0 < u < 1
    others = {
        r.unit(8, 1, 3, "probability"),
        r.unit(7, 2, 3, "probability"),
        r.unit(7, 1, 4, "probability"),
    }
    others.add(r.unit(7, 1, 3, "delay"))
    assert u not in others and len(others) == 4


def test_first_rule_that_acts_wins_and_later_rules_are_not_counted():
    rs = ruleset(
        {"when": {"endpoint": "statusTask"}, "respond": {"status": 503}},
        {"when": {"endpoint": "statusTask"}, "respond": {"status": 500}},
    )
    assert rs.decide(status()).respond.status == 503
    assert rs.matches == [1, 0] and rs.acts == [1, 0]


def test_gated_rule_still_counts_its_match_and_lets_the_next_rule_act():
    rs = ruleset(
        {"when": {"endpoint": "statusTask", "nth": 2}, "respond": {"status": 503}},
        {"when": {"endpoint": "statusTask"}, "respond": {"status": 500}},
    )
    got = [rs.decide(status()).respond.status for _ in range(4)]
    assert got == [500, 503, 500, 500]
    assert rs.matches == [4, 3] and rs.acts == [1, 3]


def test_nth_after_times():
    def statuses(rule: dict, n: int = 6) -> list[int | None]:
        rs = ruleset({"respond": {"status": 503}, **rule})
        return [d.respond.status if (d := rs.decide(status())) else None for _ in range(n)]

    assert statuses({"when": {"nth": 3}}) == [None, None, 503, None, None, None]
    assert statuses({"when": {"after": 4}}) == [None, None, None, None, 503, 503]
    assert statuses({"times": 2}) == [503, 503, None, None, None, None]
    assert statuses({"when": {"after": 1}, "times": 2}) == [None, 503, 503, None, None, None]


def test_probability_is_seeded_by_rule_and_match_count():
    def tape(seed: int) -> list[bool]:
        rs = ruleset({"when": {"probability": 0.5}, "respond": {"status": 503}}, seed=seed)
        return [rs.decide(status()) is not None for _ in range(64)]

    assert tape(1) == tape(1)
    assert tape(1) != tape(2)
    assert 16 < sum(tape(1)) < 48
    rs = ruleset({"when": {"probability": 0}, "respond": {"status": 503}})
    assert all(rs.decide(status()) is None for _ in range(50))
    rs = ruleset({"when": {"probability": 1}, "respond": {"status": 503}})
    assert all(rs.decide(status()) is not None for _ in range(50))


def test_decisions_do_not_depend_on_interleaving():
    """Two keys' requests interleaved two ways: each key's rule decides the same for it."""
    rules = [
        {"when": {"key": "a", "probability": 0.5}, "respond": {"status": 503}},
        {"when": {"key": "b", "probability": 0.5}, "delay": {"uniform": [0, 100]}},
    ]

    def run(order: str) -> dict[str, list]:
        rs = ruleset(*rules, seed=9)
        out: dict[str, list] = {"a": [], "b": []}
        for key in order:
            d = rs.decide(r.Facts("balance", key=key))
            out[key].append(None if d is None else (d.respond and d.respond.status, d.delay_ms))
        return out

    assert run("ab" * 20) == run("a" * 20 + "b" * 20) == run("b" * 7 + "a" * 20 + "b" * 13)


@pytest.mark.parametrize(
    ("when", "facts", "holds"),
    [
        ({"endpoint": "statusTask"}, r.Facts("status"), True),
        ({"endpoint": "statusTask"}, r.Facts("balance"), False),
        ({"endpoint": ["balance", "files"]}, r.Facts("files"), True),
        ({"model": "sora-*"}, r.Facts("submit", model="sora-2-pro"), True),
        ({"model": "sora-*"}, r.Facts("submit", model="nano-banana"), False),
        ({"model": ["veo-*", "wan-*"]}, r.Facts("submit", model="wan-2-5"), True),
        ({"model": "sora-2"}, r.Facts("balance"), False),
        ({"key": "sk_a"}, r.Facts("balance", key="sk_a"), True),
        ({"key": "sk_a"}, r.Facts("balance", key="sk_ab"), False),
        ({"prompt": "(?i)violence"}, r.Facts("submit", prompt="Some VIOLENCE here"), True),
        ({"prompt": "violence"}, r.Facts("submit", prompt="peace"), False),
        ({"prompt": "x"}, r.Facts("submit"), False),
        ({"provider": "value"}, r.Facts("submit", provider="value"), True),
        ({"provider": "value"}, r.Facts("submit", provider="auto"), False),
        ({"request_type": "callback"}, r.Facts("status", request_type="callback"), True),
        ({"request_type": "callback"}, r.Facts("status", request_type="async"), False),
        ({"header": {"X-Chaos": "^on$"}}, r.Facts("balance", headers={"x-chaos": "on"}), True),
        ({"header": {"X-Chaos": "^on$"}}, r.Facts("balance", headers={"x-chaos": "off"}), False),
        ({"header": {"X-Chaos": "."}}, r.Facts("balance"), False),
        ({"task_state": "success"}, r.Facts("status", task_state="success"), True),
        ({"task_state": ["pending", "processing"]}, r.Facts("files", task_state="success"), False),
        ({"task_state": "pending"}, r.Facts("submit"), False),
    ],
)
def test_each_condition(when, facts, holds):
    (rule,) = parse({"rules": [{"when": when, "respond": {"status": 503}}]}).rules
    assert rule.holds(facts) is holds


def test_attempt_condition_and_callback_rules_act_only_on_callbacks():
    (rule,) = parse({"rules": [{"when": {"attempt": 1}, "callback": "drop"}]}).rules
    assert rule.endpoints == {"callback"}
    assert rule.holds(r.Facts("callback", attempt=1)) and not rule.holds(r.Facts("callback", attempt=2))


def test_endpoints_a_rule_acts_on_without_naming_one():
    def endpoints(rule: dict) -> set[str]:
        return set(parse({"rules": [rule]}).rules[0].endpoints)

    http = {"submit", "status", "balance", "files", "models"}
    assert endpoints({"respond": {"status": 503}}) == http
    assert endpoints({"delay": {"ms": 1}, "fault": "hang"}) == http
    assert endpoints({"fail": {"code": "X"}}) == {"submit"}
    assert endpoints({"timing": {"pending_ms": 1}}) == {"submit"}
    assert endpoints({"callback": "duplicate"}) == {"callback"}
    assert endpoints({"when": {"task_state": "success"}, "respond": {"status": 503}}) == {"status", "files"}
    # APIXO's names are the submit and status kinds
    assert endpoints({"when": {"endpoint": "statusTask"}, "fail": {"code": "X"}}) == {"status"}
    assert endpoints({"when": {"endpoint": "status"}, "fail": {"code": "X"}}) == {"status"}
    assert endpoints({"when": {"endpoint": ["generateTask", "submit"]}, "fail": {"code": "X"}}) == {"submit"}


def test_acts_on_a_key_only_when_a_rule_could_hold_for_it():
    keyed = ruleset(
        {"when": {"endpoint": "statusTask", "key": "sk_one"}, "respond": {"status": 503}},
        {"when": {"endpoint": "status", "key": "sk_two"}, "respond": {"status": 502}},
    )
    assert keyed.acts_on("status") and keyed.acts_on("status", "sk_one") and keyed.acts_on("status", "sk_two")
    assert not keyed.acts_on("status", KEY) and not keyed.acts_on("submit", "sk_one")
    # what acts_on promises: with any other key no rule holds, so nothing is decided or counted
    assert keyed.decide(status()) is None and keyed.matches == [0, 0]
    assert keyed.decide(r.Facts("status", key="sk_two")).respond.status == 502
    # one rule that takes any key opens the endpoint to every key, added later too
    anyone = parse({"rules": [{"when": {"endpoint": "status"}, "respond": {"status": 500}}]}).rules[0]
    keyed.add(dataclasses.replace(anyone, index=2))
    assert keyed.acts_on("status", KEY) and keyed.decide(status()).respond.status == 500
    assert ruleset({"when": {"key": "sk_one"}, "respond": {"status": 503}}).acts_on("files", "sk_one")


def test_delay_draws():
    assert r.Delay("ms", 25).draw(0.9) == 25
    uniform = r.Delay("uniform", 10, 20)
    assert [uniform.draw(u) for u in (1e-9, 0.5, 1 - 1e-9)] == [10, 15, 20]
    lognormal = r.Delay("lognormal", 200, 0.5)
    assert lognormal.draw(0.5) == 200
    draws = [lognormal.draw(r.unit(1, 0, n, "delay")) for n in range(1, 2001)]
    assert 180 < statistics.median(draws) < 220 and min(draws) > 0
    assert r.Delay("lognormal", 1000, 5).draw(1 - 1e-12) == r.MAX_DELAY_MS


def test_timing_ranges_are_drawn_inside_the_range_and_seeded():
    rs = ruleset({"timing": {"processing_ms": [1000, 2000]}}, seed=4)
    facts = r.Facts("submit", model="nano-banana")
    drawn = [rs.decide(facts).timing.processing_ms for _ in range(50)]
    assert all(lo == hi and 1000 <= lo <= 2000 for lo, hi in drawn)
    assert len(set(drawn)) > 10
    again = ruleset({"timing": {"processing_ms": [1000, 2000]}}, seed=4)
    assert [again.decide(facts).timing.processing_ms for _ in range(50)] == drawn


def test_describe_reports_counts_and_spent():
    rs = ruleset({"times": 1, "respond": {"status": 503}})
    rs.decide(status())
    rs.decide(status())
    (info,) = rs.describe()
    assert (info["matches"], info["acts"], info["spent"]) == (2, 1, True)
    assert info["rule"] == {"times": 1, "respond": {"status": 503}}


# ------------------------------------------------------------------ over HTTP (in-process and live)


def load(api, doc: dict) -> None:
    r_ = api.admin("PUT", "/scenario", json=doc)
    assert r_.status_code == 200, r_.text


def rule(api, when: dict | None = None, **actions) -> None:
    load(api, {"rules": [{"when": when or {}, **actions}]})


def assert_envelope(resp, status: int) -> dict:
    body = resp.json()
    assert resp.status_code == status and body["code"] == status, (resp.status_code, body)
    assert set(body) >= {"code", "message", "data"}
    return body


@pytest.mark.parametrize("endpoint", ["generateTask", "statusTask", "balance", "files"])
def test_endpoint_matcher_over_http(api, endpoint):
    tid = api.submit_ok()
    api.advance(to="idle")
    calls = {
        "generateTask": lambda: api.submit(),
        "statusTask": lambda: api.status("nano-banana", tid),
        "balance": lambda: api.client.get("/api/v1/apikeys/current-balance", headers=api.headers()),
        "files": lambda: api.client.get(f"/files/{tid}/0.png"),
    }
    resp = api.admin("POST", "/rules", json={"when": {"endpoint": endpoint}, "respond": {"status": 503}})
    assert resp.status_code == 200, resp.text
    got = {name: call() for name, call in calls.items()}
    assert {name: x.status_code for name, x in got.items()} == {n: 503 if n == endpoint else 200 for n in calls}
    assert_envelope(got[endpoint], 503)


def test_model_key_provider_request_type_and_header_matchers_over_http(api):
    rule(api, {"model": "sora-*"}, respond={"status": 503})
    assert api.submit("sora-2").status_code == 503
    assert api.submit("nano-banana").status_code == 200

    rule(api, {"key": "sk_other"}, respond={"status": 503})
    assert api.submit().status_code == 200
    assert api.submit(key="sk_other").status_code == 503

    rule(api, {"provider": "value"}, respond={"status": 503})
    assert api.submit(provider="value").status_code == 503
    assert api.submit(provider="auto").status_code == 200
    assert api.submit().status_code == 200  # absent = the model's default, auto

    rule(api, {"request_type": "callback"}, respond={"status": 503})
    assert api.submit(request_type="callback", callback_url="http://127.0.0.1:9/hook").status_code == 503
    assert api.submit().status_code == 200

    rule(api, {"header": {"X-Chaos": "^(on|yes)$"}}, respond={"status": 503})
    assert (
        api.client.get("/api/v1/apikeys/current-balance", headers={**api.headers(), "X-Chaos": "on"}).status_code == 503
    )
    assert (
        api.client.get("/api/v1/apikeys/current-balance", headers={**api.headers(), "X-Chaos": "no"}).status_code == 200
    )


def test_a_status_rule_for_another_key_neither_acts_nor_counts_and_one_for_this_key_acts(api):
    load(
        api,
        {
            "rules": [
                {"when": {"endpoint": "statusTask", "key": "sk_other"}, "respond": {"status": 503}},
                {"when": {"endpoint": "statusTask", "key": KEY, "nth": 2}, "respond": {"status": 502}},
            ]
        },
    )
    tid = api.submit_ok()
    assert [api.status("nano-banana", tid).status_code for _ in range(3)] == [200, 502, 200]
    assert api.status("nano-banana", tid, key="sk_other").status_code == 503
    listed = api.admin("GET", "/rules").json()["rules"]
    assert [(x["matches"], x["acts"]) for x in listed] == [(1, 1), (3, 1)]


def test_prompt_matcher_and_fail_action_over_http(api):
    rule(
        api,
        {"endpoint": "generateTask", "prompt": "(?i)violence"},
        fail={"code": "CONTENT_VIOLATION"},
    )
    bad = api.submit_ok(input={"mode": "text-to-image", "prompt": "Violence in the streets"})
    good = api.submit_ok(input={"mode": "text-to-image", "prompt": "a quiet lake"})
    api.advance(to="next")
    assert data_of(api.status("nano-banana", bad))["state"] == "processing"  # fails at the end of processing
    api.advance(to="idle")
    d = data_of(api.status("nano-banana", bad))
    assert (d["state"], d["failCode"], d["failMsg"]) == (
        "failed",
        "CONTENT_VIOLATION",
        "Content does not meet safety guidelines",
    )
    assert data_of(api.status("nano-banana", good))["state"] == "success"
    assert api.admin("GET", f"/accounts/{KEY}").json()["spent"] == 2  # the failed task was refunded


def test_fail_at_pending_with_a_message(api):
    rule(api, fail={"code": "NSFW_DETECTED", "message": "nope", "at": "pending"})
    tid = api.submit_ok()
    api.advance(to="next")
    d = data_of(api.status("nano-banana", tid))
    assert (d["state"], d["failCode"], d["failMsg"]) == ("failed", "NSFW_DETECTED", "nope")


def test_fail_on_a_status_poll_ends_the_task_at_that_poll(api):
    rule(api, {"endpoint": "statusTask", "nth": 2}, fail={"code": "MODEL_UNAVAILABLE"})
    tid = api.submit_ok()
    assert data_of(api.status("nano-banana", tid))["state"] == "pending"
    d = data_of(api.status("nano-banana", tid))
    assert (d["state"], d["failCode"]) == ("failed", "MODEL_UNAVAILABLE")
    assert data_of(api.status("nano-banana", tid))["state"] == "failed"


def test_task_state_matcher_over_http(api):
    rule(api, {"endpoint": "statusTask", "task_state": "success"}, respond={"status": 500})
    tid = api.submit_ok()
    assert api.status("nano-banana", tid).status_code == 200
    api.advance(to="idle")
    assert_envelope(api.status("nano-banana", tid), 500)


def test_task_state_sees_what_the_poll_would_see_on_poll_driven_tasks(api):
    load(
        api,
        {
            "models": {"nano-banana": {"progression": "polls", "pending_polls": 1, "processing_polls": 1}},
            "rules": [
                {
                    "when": {"endpoint": "statusTask", "task_state": "success"},
                    "times": 1,
                    "respond": {"status": 503},
                }
            ],
        },
    )
    tid = api.submit_ok()
    assert data_of(api.status("nano-banana", tid))["state"] == "pending"
    assert data_of(api.status("nano-banana", tid))["state"] == "processing"
    assert api.status("nano-banana", tid).status_code == 503  # this poll would have revealed success
    assert data_of(api.status("nano-banana", tid))["state"] == "success"


def test_respond_with_every_field(api):
    rule(
        api,
        {"endpoint": "balance"},
        respond={
            "status": 429,
            "message": "Slow down",
            "retry_after": 2.5,
            "headers": {"X-Why": "test"},
            "body": {"error": "quota"},
        },
    )
    resp = api.client.get("/api/v1/apikeys/current-balance", headers=api.headers())
    body = assert_envelope(resp, 429)
    assert body == {
        "code": 429,
        "message": "Slow down",
        "data": {"error": "quota"},
        "retryAfter": 3,
    }
    assert resp.headers["retry-after"] == "3" and resp.headers["x-why"] == "test"
    assert resp.headers["content-type"] == "application/json"


def test_respond_429_always_carries_retry_after(api):
    rule(api, {"endpoint": "generateTask"}, respond={"status": 429})
    resp = api.submit()
    assert assert_envelope(resp, 429)["retryAfter"] == 1 and resp.headers["retry-after"] == "1"


def test_respond_as_200_and_a_2xx_body(api):
    rule(api, {"endpoint": "balance", "nth": 1}, respond={"status": 503, "as_200": True})
    resp = api.client.get("/api/v1/apikeys/current-balance", headers=api.headers())
    assert resp.status_code == 200 and resp.json() == {
        "code": 503,
        "message": "Service Unavailable",
        "data": None,
    }
    rule(api, {"endpoint": "balance"}, respond={"status": 200, "body": {"balance": 0}})
    resp = api.client.get("/api/v1/apikeys/current-balance", headers=api.headers())
    assert resp.json() == {"code": 200, "message": "success", "data": {"balance": 0}}


def test_injected_answers_create_no_task_and_charge_nothing(api):
    rule(api, {"endpoint": "generateTask"}, times=1, respond={"status": 503})
    assert api.submit().status_code == 503
    assert api.admin("GET", "/tasks").json()["tasks"] == []
    assert api.submit().status_code == 200
    assert len(api.admin("GET", "/tasks").json()["tasks"]) == 1


def test_injected_status_answers_do_not_count_as_polls(api):
    rule(api, {"endpoint": "statusTask"}, times=2, respond={"status": 503})
    tid = api.submit_ok()
    assert [api.status("nano-banana", tid).status_code for _ in range(3)] == [503, 503, 200]
    assert api.admin("GET", f"/tasks/{tid}").json()["polls"] == 1


def test_rules_come_after_auth(api):
    rule(api, respond={"status": 503})
    assert api.submit(key=None).status_code == 401
    assert api.admin("GET", "/rules").json()["rules"][0]["matches"] == 0


def test_timing_action_over_http(api):
    rule(
        api,
        {"endpoint": "generateTask", "model": "gpt-image-1"},
        timing={"pending_ms": 10, "processing_ms": 20},
    )
    tid = api.submit_ok("gpt-image-1")
    info = api.admin("GET", f"/tasks/{tid}").json()
    assert (info["pendingMs"], info["processingMs"]) == (10, 20)
    api.advance(ms=30)
    assert data_of(api.status("gpt-image-1", tid))["state"] == "success"
    rule(api, timing={"progression": "polls", "pending_polls": 0, "processing_polls": 1})
    tid = api.submit_ok()
    assert [data_of(api.status("nano-banana", tid))["state"] for _ in range(3)] == [
        "processing",
        "success",
        "success",
    ]


def test_delay_action_over_http(api):
    from mockserver.core.clock import monotonic

    rule(api, {"endpoint": "balance", "nth": 1}, delay={"ms": 40})
    t0 = monotonic()
    assert api.client.get("/api/v1/apikeys/current-balance", headers=api.headers()).status_code == 200
    slow = monotonic() - t0
    assert slow >= 0.035  # a lower bound only: the delay happened
    entry = api.admin("GET", "/journal").json()["entries"][-1]
    assert entry["rule"] == 0 and entry["status"] == 200


@pytest.mark.wall_clock  # the fast request must finish inside the slow one's 1.5 s
def test_delay_reorders_concurrent_answers(live_server, wall_clock_done):
    """A delayed request started first finishes after an undelayed one started later."""
    import threading

    import httpx

    from mockserver.core.clock import monotonic

    base = live_server.url
    auth = {"Authorization": f"Bearer {KEY}"}
    # 1.5 s: long enough that the fast request finishes within it on a busy machine (300 ms was not).
    doc = {"rules": [{"when": {"endpoint": "balance", "header": {"X-Slow": "1"}}, "delay": {"ms": 1500}}]}
    assert httpx.put(f"{base}/__admin/scenario", json=doc).status_code == 200
    done: list[str] = []

    def call(name: str, extra: dict) -> None:
        with httpx.Client(base_url=base, timeout=10) as c:
            assert c.get("/api/v1/apikeys/current-balance", headers={**auth, **extra}).status_code == 200
        done.append(name)

    slow = threading.Thread(target=call, args=("slow", {"X-Slow": "1"}))
    slow.start()
    # Start the fast one only once the slow one has been decided (and is being held back).
    deadline = monotonic() + 5
    while httpx.get(f"{base}/__admin/rules").json()["rules"][0]["acts"] == 0:
        assert monotonic() < deadline, "the slow request never reached the server"
    call("fast", {})
    assert slow.is_alive()  # still held back when the later request is answered
    wall_clock_done()  # what is left is waiting out the delay: other workers' tests may run meanwhile
    slow.join(10)
    assert done == ["fast", "slow"]


def test_add_rule_at_run_time_and_reset_drops_it(api):
    assert api.submit().status_code == 200
    resp = api.admin("POST", "/rules", json={"when": {"endpoint": "generateTask"}, "respond": {"status": 502}})
    assert resp.status_code == 200 and resp.json()["index"] == 0
    assert api.submit().status_code == 502
    listed = api.admin("GET", "/rules").json()["rules"]
    assert listed[0]["matches"] == 1 and listed[0]["acts"] == 1
    assert api.admin("GET", "/scenario").json()["rules"] == [
        {"when": {"endpoint": "generateTask"}, "respond": {"status": 502}}
    ]
    api.admin("POST", "/reset")
    assert api.submit().status_code == 200
    assert api.admin("GET", "/scenario").json() == {}


def test_add_rule_refuses_a_bad_rule_naming_its_path(api):
    load(api, {"rules": [{"respond": {"status": 503}, "when": {"endpoint": "balance"}}]})
    resp = api.admin("POST", "/rules", json={"when": {"endpoint": "statusTask"}, "explode": 1})
    body = assert_envelope(resp, 400)
    assert body["data"]["error"] == "rules/1: unknown key 'explode'"
    resp = api.admin("POST", "/rules", content=b"{nope")
    assert resp.status_code == 400 and "invalid JSON" in resp.json()["data"]["error"]
    assert len(api.admin("GET", "/rules").json()["rules"]) == 1


def test_callback_decision_on_the_service(make_api):
    api = make_api(
        scenario={
            "seed": 2,
            "rules": [
                {"when": {"endpoint": "callback", "attempt": 1}, "times": 1, "callback": "drop"},
                {
                    "when": {"endpoint": "callback", "model": "gpt-image-1"},
                    "callback": {"delay": {"ms": 5000}},
                },
                {"when": {"endpoint": "callback", "task_state": "failed"}, "callback": "duplicate"},
            ],
        }
    )
    mock = api.mock
    # Async tasks: the rules are asked directly, as the callback dispatcher does per attempt
    # (with callback tasks the dispatcher would ask first and use up `times`).
    a = mock.store.get(api.submit_ok("nano-banana"))
    b = mock.store.get(api.submit_ok("gpt-image-1"))
    api.advance(to="idle")
    assert mock.callback_decision(a, 1) == ("drop", 0)
    assert mock.callback_decision(a, 1) is None  # spent; nothing else holds for a's success
    assert mock.callback_decision(b, 1) == ("delay", 5000)
    c = mock.store.get(api.submit_ok("nano-banana"))
    mock.force(c, "failed", "GENERATION_FAILED")
    assert mock.callback_decision(c, 2) == ("duplicate", 0)
    assert json.dumps(mock.callback_config.to_dict()) == json.dumps(
        {"retries": 3, "backoff_ms": [30000, 60000, 120000], "timeout_ms": 30000, "secret": None}
    )


def test_callback_decision_asks_only_rules_that_can_act_on_callbacks(make_api):
    """Rules on other endpoints, or on callbacks of another key, never decide a callback (the
    service skips building facts for them: a storm asks once per attempt); nor do they count."""
    api = make_api(
        scenario={
            "rules": [
                {"when": {"endpoint": "balance"}, "respond": {"status": 503}},
                {"when": {"endpoint": "callback", "key": "sk_someone_else"}, "callback": "drop"},
            ]
        }
    )
    mock = api.mock
    task = mock.store.get(api.submit_ok("nano-banana"))
    api.advance(to="idle")
    assert mock.callback_decision(task, 1) is None
    assert mock.rules.matches == [0, 0]
    r = api.admin("POST", "/rules", json={"when": {"endpoint": "callback", "key": KEY}, "callback": "duplicate"})
    assert r.status_code == 200, r.text
    assert mock.callback_decision(task, 1) == ("duplicate", 0)  # a rule added later is asked
    assert mock.rules.matches == [0, 0, 1]
