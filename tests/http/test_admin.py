"""The /__admin control surface."""

from __future__ import annotations

import pytest

from tests.conftest import START_MS, data_of


def test_health_and_clock(api):
    h = api.admin("GET", "/health").json()
    assert h["status"] == "ok" and h["clock"] == "manual" and h["tasks"] == 0
    c = api.admin("GET", "/clock").json()
    assert c == {"mode": "manual", "now": START_MS, "scale": None, "nextEvent": None, "unfinished": 0}


def test_advance_by_ms_next_and_idle(api):
    t1 = api.submit_ok("nano-banana")
    t2 = api.submit_ok("sora-2")
    c = api.admin("GET", "/clock").json()
    assert c["unfinished"] == 2 and c["nextEvent"] > START_MS
    assert api.advance(ms=1)["now"] == START_MS + 1
    nxt = api.admin("GET", "/clock").json()["nextEvent"]
    assert api.advance(to="next")["now"] == nxt
    out = api.advance(to="idle")
    assert out["unfinished"] == 0 and out["nextEvent"] is None
    for model, tid in (("nano-banana", t1), ("sora-2", t2)):
        assert data_of(api.status(model, tid))["state"] == "success"
    assert api.advance(to="idle")["now"] == out["now"]  # idle when idle: nothing moves


@pytest.mark.parametrize("body", [{}, {"ms": -1}, {"ms": "5"}, {"ms": 1, "to": "next"}, {"to": "later"}, {"hours": 1}])
def test_advance_refuses_bad_bodies(api, body):
    r = api.admin("POST", "/clock/advance", json=body)
    assert r.status_code == 400 and r.json()["data"]["error"]


def test_reset_clears_everything_and_restarts_the_clock(api):
    api.submit_ok()
    api.advance(ms=5000)
    assert api.admin("POST", "/reset").status_code == 200
    assert api.admin("GET", "/tasks").json() == {"tasks": []}
    assert api.admin("GET", "/clock").json()["now"] == START_MS
    assert api.admin("GET", "/journal").json()["entries"] == []


def test_tasks_list_filter_get_complete_fail(api):
    a = api.submit_ok("nano-banana")
    b = api.submit_ok("gpt-image-1")
    tasks = api.admin("GET", "/tasks").json()["tasks"]
    assert [(x["taskId"], x["model"], x["state"]) for x in tasks] == [
        (a, "nano-banana", "pending"),
        (b, "gpt-image-1", "pending"),
    ]
    assert [x["taskId"] for x in api.admin("GET", "/tasks", params={"model": "gpt-image-1"}).json()["tasks"]] == [b]
    assert api.admin("GET", f"/tasks/{a}").json()["taskId"] == a
    assert api.admin("GET", "/tasks/task_nope").status_code == 404
    r = api.admin("POST", f"/tasks/{a}/complete")
    assert r.status_code == 200 and r.json()["state"] == "success"
    assert data_of(api.status("nano-banana", a))["state"] == "success"
    assert api.admin("POST", f"/tasks/{a}/complete").status_code == 409  # already finished
    r = api.admin("POST", f"/tasks/{b}/fail", json={"code": "PROCESSING_TIMEOUT", "message": "too slow"})
    assert r.json()["state"] == "failed"
    d = data_of(api.status("gpt-image-1", b))
    assert (d["failCode"], d["failMsg"]) == ("PROCESSING_TIMEOUT", "too slow")
    assert [x["taskId"] for x in api.admin("GET", "/tasks", params={"state": "failed"}).json()["tasks"]] == [b]
    c = api.submit_ok()
    assert api.admin("POST", f"/tasks/{c}/fail", json={"code": "no spaces allowed"}).status_code == 400


def test_accounts_get_put(api):
    assert api.admin("GET", "/accounts/sk_test_key").json()["unlimited"] is True
    r = api.admin("PUT", "/accounts/sk_test_key", json={"balance": 0})
    assert r.status_code == 200 and r.json()["balance"] == 0
    assert api.submit().status_code == 402
    assert api.admin("PUT", "/accounts/sk_test_key", json={"balance": -1}).status_code == 400
    assert api.admin("PUT", "/accounts/sk_test_key", json={}).status_code == 400
    assert api.admin("PUT", "/accounts/sk_test_key", json={"balance": None}).json()["unlimited"] is True
    assert api.submit().status_code == 200
    listed = api.admin("GET", "/accounts").json()
    assert listed["restricted"] is False and [a["key"] for a in listed["accounts"]] == ["****_key"]  # masked


def test_unknown_account_is_404_in_restricted_mode(make_api):
    api = make_api(api_keys={"sk_a": 5.0})
    assert api.admin("GET", "/accounts/sk_b").status_code == 404
    assert api.admin("GET", "/accounts/sk_a").json()["balance"] == 5


def test_journal_is_bounded(make_api):
    api = make_api(journal_size=3)
    for _ in range(5):
        api.client.get("/api/v1/apikeys/current-balance", headers=api.headers())
    j = api.admin("GET", "/journal").json()
    assert j["size"] == 3 and j["dropped"] == 2 and len(j["entries"]) == 3
    assert len(api.admin("GET", "/journal", params={"limit": 1}).json()["entries"]) == 1
    assert api.admin("GET", "/journal", params={"since": "x"}).status_code == 400


def test_admin_token(make_api):
    api = make_api(admin_token="s3cret")
    assert api.admin("GET", "/health").status_code == 401
    assert api.admin("GET", "/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert api.admin("GET", "/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert api.admin("GET", "/health", headers={"X-Admin-Token": "s3cret"}).status_code == 200
    assert api.admin("GET", "/nowhere").status_code == 401  # no route discovery without the token
    assert api.submit().status_code == 200  # the API itself is unaffected


def test_seeded_jitter_is_reproducible(make_api):
    def run(seed):
        api = make_api(seed=seed)
        ids = [api.submit_ok("gpt-image-1") for _ in range(5)]
        return ids, [api.admin("GET", f"/tasks/{i}").json()["processingMs"] for i in ids]

    assert run(7) == run(7)
    ids7, times7 = run(7)
    ids8, times8 = run(8)
    assert ids7 != ids8 and times7 != times8
    lo, hi = make_api().mock.models["gpt-image-1"].processing_ms
    assert all(lo <= x <= hi for x in times7)


def test_poll_progression_model(make_api):
    import dataclasses

    api = make_api()
    m = api.mock
    m.models["nano-banana"] = dataclasses.replace(
        m.models["nano-banana"], progression="polls", pending_polls=1, processing_polls=2
    )
    tid = api.submit_ok()
    states = [data_of(api.status("nano-banana", tid))["state"] for _ in range(5)]
    assert states == ["pending", "processing", "processing", "success", "success"]
    assert api.admin("GET", f"/tasks/{tid}").json()["polls"] == 5  # admin views do not count


def test_health_says_what_a_replay_needs(api):
    h = api.admin("GET", "/health").json()
    assert (h["seed"], h["start"], h["scenario"]) == (1, START_MS, None)
    api.admin("PUT", "/scenario", json={"name": "mine", "seed": 9, "clock": {"start_ms": 5000}})
    h = api.admin("GET", "/health").json()
    assert (h["seed"], h["start"], h["scenario"]) == (9, 5000, "mine")


def test_resolved_scenario_writes_in_the_settings_it_relies_on(api, make_api):
    rule = {"when": {"endpoint": "statusTask", "nth": 2}, "respond": {"status": 503}}
    api.admin("PUT", "/scenario", json={"name": "s", "rules": [rule]})
    api.admin("POST", "/rules", json={"respond": {"status": 502}, "times": 1})
    plain = api.admin("GET", "/scenario").json()
    resolved = api.admin("GET", "/scenario", params={"resolved": "true"}).json()
    assert plain == {"name": "s", "rules": [rule, {"respond": {"status": 502}, "times": 1}]}
    assert resolved == {
        **plain,
        "seed": 1,
        "clock": {"mode": "manual", "start_ms": START_MS},
        "callbacks": {"retries": 3, "backoff_ms": [30000, 60000, 120000], "timeout_ms": 30000, "secret": None},
        "results": {"ttl_ms": 1296000000},
    }
    # Restricted keys and a real clock come from the settings too; the document loads as it is.
    other = make_api(clock="real", time_scale=50, api_keys={"sk_a": 3.0}, seed=4)
    doc = other.admin("GET", "/scenario", params={"resolved": "1"}).json()
    assert doc["accounts"] == [{"key": "****", "balance": 3.0}] and doc["seed"] == 4  # short keys hidden whole
    doc["accounts"] = [{"key": "sk_a", "balance": 3.0}]
    assert doc["clock"]["mode"] == "real" and doc["clock"]["scale"] == 50
    again = make_api(scenario=doc)
    assert again.mock.seed == 4 and again.mock.accounts.restricted and again.mock.clock.mode == "real"


def test_keys_are_masked_unless_revealed_with_the_admin_token(make_api):
    api = make_api(api_keys={"sk_live_abcdef1234": None}, webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    key = "sk_live_abcdef1234"
    assert api.submit(key=key).status_code == 200
    views = {
        "journal": lambda d: d["entries"][0]["key"],
        "accounts": lambda d: d["accounts"][0]["key"],
        "tasks": lambda d: d["tasks"][0]["key"],
        "report": lambda d: d["summary"]["keys"][0]["key"],
        "scenario?resolved=true": lambda d: d["accounts"][0]["key"],
    }
    for path, shown in views.items():
        assert shown(api.admin("GET", f"/{path}").json()) == "****1234", path
    # Without an admin token nobody may see them whole.
    r = api.admin("GET", "/journal", params={"reveal": "true"})
    assert r.status_code == 403 and "admin token" in r.json()["data"]["error"]
    # The webhook secret is never returned, masked or not.
    assert api.admin("GET", "/scenario", params={"resolved": "true"}).json()["callbacks"]["secret"] is None

    guarded = make_api(api_keys={key: None}, admin_token="adm1n-token")
    assert guarded.submit(key=key).status_code == 200
    token = {"Authorization": "Bearer adm1n-token"}
    for path, shown in views.items():
        sep = "&" if "?" in path else "?"
        d = guarded.admin("GET", f"/{path}{sep}reveal=true", headers=token).json()
        assert shown(d) == key, path
        assert shown(guarded.admin("GET", f"/{path}", headers=token).json()) == "****1234", path
