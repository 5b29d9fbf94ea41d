"""Scenario files: loading, validation with JSON paths, the admin API, what a scenario sets,
the command line, and determinism (same scenario, seed and requests: the same tape)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator
from starlette.testclient import TestClient

from mockserver.callbacks import CallbackConfig
from mockserver.cli import build_parser, main, settings_from_args
from mockserver.core.catalog import schema_dir
from mockserver.core.redact import mask_key
from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from mockserver.scenarios.loading import ScenarioError, library, load, parse
from tests.conftest import KEY, START_MS, data_of, example_input

# The example of SPEC section 4, verbatim: normative for key names.
SPEC_EXAMPLE = """
name: rate-limited
description: The first two submits are rate limited; the client must honour Retry-After.
seed: 7
clock: {mode: manual}              # or {mode: real, scale: 100}
accounts:                          # absent: any bearer key works, unlimited credits; present: only these keys
  - {key: sk_test_rich, balance: 1000}
  - {key: sk_test_broke, balance: 0}
models:                            # per-model overrides of the catalog
  gpt-image-1: {pending_ms: 2000, processing_ms: [20000, 40000], price: 4}
  nano-banana: {progression: polls, pending_polls: 1, processing_polls: 2}
limits: {requests_per_minute: 10000, concurrent_tasks: 1000}   # per key, on the virtual clock
callbacks: {retries: 3, backoff_ms: [30000, 60000, 120000], timeout_ms: 30000, secret: null}
results: {ttl_ms: 1296000000, base_url: null}
errors_as_200: false
rules:
  - when: {endpoint: generateTask}
    times: 2                       # the rule acts on its first 2 matches, then is spent
    respond: {status: 429, retry_after: 2}
  - when: {endpoint: statusTask, probability: 0.1}
    respond: {status: 503}
  - when: {endpoint: generateTask, prompt: "(?i)violence"}
    fail: {code: CONTENT_VIOLATION, at: processing}
  - when: {endpoint: statusTask, nth: 3}
    fault: empty_response
  - when: {endpoint: generateTask, model: "sora-*"}
    delay: {lognormal: {median_ms: 200, sigma: 0.5}}
  - when: {endpoint: callback}
    callback: duplicate
"""  # noqa: E501 - verbatim from the SPEC


def schema() -> dict:
    return json.loads((schema_dir() / "scenario.schema.json").read_text())


# ------------------------------------------------------------------ loading and validation


def test_the_schema_is_valid_2020_12_and_the_spec_example_fits_it():
    Draft202012Validator.check_schema(schema())
    doc = yaml.safe_load(SPEC_EXAMPLE)
    assert list(Draft202012Validator(schema()).iter_errors(doc)) == []
    sc = parse(doc)
    assert (sc.name, sc.seed, sc.clock_mode, len(sc.rules)) == ("rate-limited", 7, "manual", 6)
    assert sc.accounts == {"sk_test_rich": 1000, "sk_test_broke": 0}
    assert CallbackConfig.from_dict(sc.document["callbacks"]).to_dict() == {
        "retries": 3,
        "backoff_ms": [30000, 60000, 120000],
        "timeout_ms": 30000,
        "secret": None,
    }


def test_every_key_is_optional_and_callbacks_have_defaults():
    sc = parse({})
    assert sc.rules == () and sc.seed is None and sc.accounts is None
    assert CallbackConfig.from_dict(sc.document.get("callbacks")).to_dict() == {
        "retries": 3,
        "backoff_ms": [30000, 60000, 120000],
        "timeout_ms": 30000,
        "secret": None,
    }
    doc = parse({"callbacks": {"retries": 5, "secret": "whsec_abc"}}).document
    assert CallbackConfig.from_dict(doc["callbacks"]).retries == 5


def test_the_empty_scenario_which_parse_takes_without_a_validator_is_valid_by_the_schema():
    # Every mock without a scenario parses {}; parse skips the schema for it (no jsonschema at start).
    assert list(Draft202012Validator(schema()).iter_errors({})) == []
    from mockserver.scenarios.loading import _validator

    assert _validator().is_valid({})


def test_load_from_yaml_json_a_path_a_name_or_nothing(tmp_path):
    (tmp_path / "a.yaml").write_text(SPEC_EXAMPLE)
    (tmp_path / "b.json").write_text(json.dumps(yaml.safe_load(SPEC_EXAMPLE)))
    (tmp_path / "empty.yaml").write_text("")
    assert load(str(tmp_path / "a.yaml")).document == load(tmp_path / "b.json").document
    assert load(str(tmp_path / "empty.yaml")).document == {}
    assert load("rate-limited").name == "rate-limited"
    assert load(None).document == {}
    with pytest.raises(ScenarioError, match="no scenario named 'nope'.*happy-path"):
        load("nope")
    with pytest.raises(ScenarioError, match="no such file"):
        load(str(tmp_path / "missing.yaml"))
    (tmp_path / "bad.yaml").write_text("rules: [\n")
    with pytest.raises(ScenarioError, match=r"invalid YAML at line \d+"):
        load(str(tmp_path / "bad.yaml"))
    (tmp_path / "bad.json").write_text("{'single': 1}")
    with pytest.raises(ScenarioError, match="invalid JSON"):
        load(str(tmp_path / "bad.json"))


INVALID = [
    (
        {"rules": [{"when": {"endpoint": "generateTask"}, "explode": 1}]},
        "rules/0: unknown key 'explode'",
    ),
    (
        {"rules": [{"when": {"endpoint": "statusTask"}}]},
        "rules/0: a rule needs at least one action: respond, fail, timing, delay, fault or callback",
    ),
    (
        {"rules": [{"fault": "explode"}]},
        "rules/0/fault: 'explode' is not one of empty_response, connection_reset, "
        "malformed_json, truncated_body, slow_body, hang",
    ),
    (
        {"rules": [{"fault": {"slow_body": {"chunk_bytes": 0}}}]},
        "rules/0/fault/slow_body/chunk_bytes: must be >= 1, got 0",
    ),
    ({"rules": [{"fault": {"slow_body": {}, "hang": {}}}]}, "rules/0/fault: exactly one fault"),
    (
        {"rules": [{"callback": "later"}]},
        "rules/0/callback: 'later' is not one of drop, duplicate, delay",
    ),
    (
        {"rules": [{"callback": {"delay": {"ms": -1}}}]},
        "rules/0/callback/delay/ms: must be >= 0, got -1",
    ),
    ({"rules": [{"delay": {}}]}, "rules/0/delay: exactly one of ms, uniform, lognormal"),
    (
        {"rules": [{"delay": {"ms": 1, "uniform": [1, 2]}}]},
        "rules/0/delay: exactly one of ms, uniform, lognormal",
    ),
    (
        {"rules": [{"delay": {"uniform": [5, 2]}}]},
        "rules/0/delay/uniform: [lo, hi] needs lo <= hi, got [5, 2]",
    ),
    (
        {"rules": [{"delay": {"lognormal": {"median_ms": 3}}}]},
        "rules/0/delay/lognormal: missing key 'sigma'",
    ),
    (
        {"rules": [{"respond": {"status": 204}}]},
        "rules/0/respond/status: status must be 200..599 and carry a body (not 204, 205 or 304)",
    ),
    ({"rules": [{"respond": {"status": 700}}]}, "rules/0/respond/status: must be <= 599, got 700"),
    (
        {"rules": [{"respond": {"status": "503"}}]},
        "rules/0/respond/status: expected integer, got string '503'",
    ),
    ({"rules": [{"respond": {}}]}, "rules/0/respond: missing key 'status'"),
    (
        {"rules": [{"respond": {"status": 503, "headers": {"Content-Length": "3"}}}]},
        "rules/0/respond/headers: invalid key 'Content-Length'",
    ),
    (
        {"rules": [{"when": {"endpoint": "balance"}, "fail": {"code": "X"}}]},
        "rules/0/fail: fail cannot act on balance (only on submit, status)",
    ),
    (
        {"rules": [{"when": {"endpoint": "callback"}, "respond": {"status": 503}}]},
        "rules/0/respond: respond cannot act on callback",
    ),
    (
        {"rules": [{"when": {"endpoint": "nope"}, "respond": {"status": 503}}]},
        "rules/0/when/endpoint: 'nope' is not one of submit, status, balance, files, models, callback, "
        "generateTask, statusTask, generations, tasks",
    ),
    (
        {"rules": [{"when": {"endpoint": ["statusTask", "nope"]}, "respond": {"status": 503}}]},
        "rules/0/when/endpoint/1: 'nope' is not one of",
    ),
    (
        {"rules": [{"when": {"prompt": "(unclosed"}, "respond": {"status": 503}}]},
        "rules/0/when/prompt: invalid regular expression '(unclosed'",
    ),
    (
        {"rules": [{"when": {"header": {"X-A": "["}}, "respond": {"status": 503}}]},
        "rules/0/when/header/X-A: invalid regular expression",
    ),
    (
        {"rules": [{"when": {"model": "sora-3"}, "respond": {"status": 503}}]},
        "rules/0/when/model: no model matches 'sora-3' (did you mean 'sora-2'?)",
    ),
    (
        {"rules": [{"when": {"task_state": "done"}, "respond": {"status": 503}}]},
        "rules/0/when/task_state: 'done' is not one of pending, processing, success, failed",
    ),
    (
        {
            "rules": [
                {
                    "when": {"endpoint": "balance", "task_state": "success"},
                    "respond": {"status": 503},
                }
            ]
        },
        "rules/0/when/task_state: task_state never holds on balance requests",
    ),
    (
        {"rules": [{"when": {"probability": 1.5}, "respond": {"status": 503}}]},
        "rules/0/when/probability: must be <= 1, got 1.5",
    ),
    (
        {"rules": [{"when": {"nth": 0}, "respond": {"status": 503}}]},
        "rules/0/when/nth: must be >= 1, got 0",
    ),
    ({"rules": [{"times": 0, "respond": {"status": 503}}]}, "rules/0/times: must be >= 1, got 0"),
    (
        {"rules": [{"timing": {"processing_ms": "x"}}]},
        "rules/0/timing/processing_ms: expected milliseconds: an integer >= 0, or [lo, hi]",
    ),
    (
        {"rules": [{"timing": {"processing_ms": [5, 1]}}]},
        "rules/0/timing/processing_ms: [lo, hi] needs lo <= hi, got [5, 1]",
    ),
    (
        {"rules": [{"fail": {"code": "X"}, "callback": "drop"}]},
        "rules/0: no endpoint can take all of fail, callback: split the rule",
    ),
    (
        {"rules": [{"fail": {"code": "not a code"}}]},
        "rules/0/fail/code: 'not a code' does not match",
    ),
    ({"rules": {"when": {}}}, "rules: expected array, got object"),
    (
        {"models": {"sora-3": {"price": 1}}},
        "models/sora-3: no model matches 'sora-3' (did you mean 'sora-2'?)",
    ),
    (
        {"models": {"nano-banana": {"prize": 1}}},
        "models/nano-banana: unknown key 'prize' (did you mean 'price'?)",
    ),
    (
        {"models": {"nano-banana": {"progression": "random"}}},
        "models/nano-banana/progression: 'random' is not one of time, polls",
    ),
    ({"clock": {"mode": "fast"}}, "clock/mode: 'fast' is not one of real, manual"),
    ({"clock": {"mode": "real", "scale": 0}}, "clock/scale: must be > 0, got 0"),
    ({"accounts": [{"key": "a"}, {"key": "a"}]}, "accounts/1/key: duplicate key 'a'"),
    ({"accounts": [{"balance": 5}]}, "accounts/0: missing key 'key'"),
    ({"accounts": [{"key": "a", "balance": -1}]}, "accounts/0/balance: must be >= 0, got -1"),
    ({"limits": {"requests_per_minute": 0}}, "limits/requests_per_minute: must be >= 1, got 0"),
    ({"callbacks": {"backoff_ms": []}}, "callbacks/backoff_ms: expected at least 1 items, got 0"),
    ({"results": {"base_url": "ftp://x"}}, "results/base_url: expected an absolute http(s) URL"),
    ({"errors_as_200": "yes please"}, "errors_as_200: expected boolean, got string 'yes please'"),
    ({"explode": 1}, "(root): unknown key 'explode'"),
    ({"seed": "x"}, "seed: expected integer, got string 'x'"),
    ([1], "(root): expected object, got array [1]"),
    ({"name": yaml.safe_load("2024-01-01")}, "name: expected a JSON value, got date 2024-01-01"),
    ({"models": {1: {}}}, "models: keys must be strings, got 1"),
]


@pytest.mark.parametrize(
    ("doc", "message"), INVALID, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(INVALID)]
)
def test_invalid_scenarios_name_the_path_and_the_reason(doc, message):
    with pytest.raises(ScenarioError) as info:
        parse(doc)
    assert str(info.value).startswith(message), str(info.value)
    # Whatever the loader refuses for being malformed, the schema refuses too (one definition).
    if not any(
        k in message
        for k in (
            "no model",
            "regular expression",
            "lo <= hi",
            "duplicate",
            "cannot act",
            "never holds",
            "split the rule",
            "JSON value",
            "keys must",
        )
    ):
        assert list(Draft202012Validator(schema()).iter_errors(doc)), "the schema itself should refuse this"


def test_every_library_scenario_validates_against_the_schema_alone():
    validator = Draft202012Validator(schema())
    entries = library()
    assert len(entries) >= 10
    for entry in entries:
        doc = yaml.safe_load(entry.path.read_text())
        assert list(validator.iter_errors(doc)) == [], entry.name
        assert doc["name"] == entry.name and entry.description
        assert entry.path.read_text().startswith(f"# {entry.name}:"), "each file starts by documenting itself"


# ------------------------------------------------------------------ the admin API


def test_get_put_scenario_round_trip(api):
    assert api.admin("GET", "/scenario").json() == {}
    doc = yaml.safe_load(SPEC_EXAMPLE)
    resp = api.admin("PUT", "/scenario", json=doc)
    shown = {**doc, "accounts": [{**a, "key": mask_key(a["key"])} for a in doc["accounts"]]}  # keys masked
    assert resp.status_code == 200 and resp.json() == shown
    assert api.admin("GET", "/scenario").json() == shown
    assert api.submit(key="sk_test_rich").status_code == 429  # the rules are live
    assert api.submit(key="sk_nobody").status_code == 401  # only the scenario's accounts exist


def test_put_refuses_an_invalid_scenario_and_keeps_the_old_one(api):
    api.admin("PUT", "/scenario", json={"name": "keep", "errors_as_200": True})
    resp = api.admin(
        "PUT",
        "/scenario",
        json={"rules": [{"when": {"endpoint": "generateTask"}, "explode": True}]},
    )
    assert resp.status_code == 400  # admin errors keep their status, even with errors_as_200
    assert resp.json() == {
        "code": 400,
        "message": "Invalid scenario",
        "data": {"error": "rules/0: unknown key 'explode'"},
    }
    assert api.admin("GET", "/scenario").json()["name"] == "keep"
    resp = api.admin("PUT", "/scenario", content=b"{not json")
    assert resp.status_code == 400 and resp.json()["data"]["error"].startswith("(root): invalid JSON")


def test_put_yaml_and_by_library_name(api):
    resp = api.admin(
        "PUT",
        "/scenario",
        content=SPEC_EXAMPLE.encode(),
        headers={"Content-Type": "application/yaml"},
    )
    assert resp.status_code == 200 and resp.json()["name"] == "rate-limited"
    resp = api.admin("PUT", "/scenario", params={"name": "errors-as-200"})
    assert resp.status_code == 200 and resp.json()["errors_as_200"] is True
    resp = api.admin("PUT", "/scenario", params={"name": "../../etc/passwd"})
    assert resp.status_code == 404 and "library" in resp.json()["data"]["error"]


def test_put_resets_state_and_clock_and_reset_returns_to_the_loaded_scenario(api):
    api.submit_ok()
    api.advance(ms=5000)
    api.admin(
        "PUT",
        "/scenario",
        json={
            "name": "x",
            "rules": [{"when": {"endpoint": "balance"}, "respond": {"status": 418}}],
        },
    )
    assert api.admin("GET", "/tasks").json()["tasks"] == []
    assert api.admin("GET", "/clock").json()["now"] == START_MS
    api.admin("POST", "/rules", json={"when": {"endpoint": "generateTask"}, "respond": {"status": 503}})
    assert api.submit().status_code == 503
    api.advance(ms=10)
    api.admin("POST", "/reset")
    assert api.admin("GET", "/clock").json()["now"] == START_MS
    assert api.submit().status_code == 200  # the added rule is gone
    assert api.client.get("/api/v1/apikeys/current-balance", headers=api.headers()).status_code == 418
    assert api.admin("GET", "/scenario").json()["name"] == "x"


# ------------------------------------------------------------------ what a scenario sets


def test_clock_seed_accounts_and_start_from_the_scenario(make_api):
    api = make_api(scenario={"seed": 3, "clock": {"mode": "real", "scale": 50, "start_ms": 1_000_000}})
    mock = api.mock
    assert (mock.clock.mode, mock.clock.scale, mock.seed) == ("real", 50, 3)
    assert 1_000_000 <= mock.now() < 1_000_000 + 60_000
    same = make_api(scenario={"seed": 3})
    other = make_api(scenario={"seed": 4})
    assert same.submit_ok() == make_api(seed=3).submit_ok() != other.submit_ok()


def test_model_overrides_apply_by_glob_later_keys_winning(make_api):
    api = make_api(
        scenario={
            "models": {
                "*": {"price": 7},
                "sora-*": {"price": 11, "pending_ms": 5, "processing_ms": 10},
            }
        }
    )
    models = api.mock.models
    assert (models["nano-banana"].price, models["sora-2"].price, models["sora-2-pro"].price) == (
        7,
        11,
        11,
    )
    assert models["sora-2"].processing_ms == (10, 10) and models["gpt-image-1"].pending_ms == 2000
    tid = api.submit_ok("sora-2")
    assert api.admin("GET", f"/accounts/{KEY}").json()["spent"] == 11
    api.advance(ms=15)
    assert data_of(api.status("sora-2", tid))["state"] == "success"


def test_results_ttl_and_base_url(make_api):
    api = make_api(scenario={"results": {"ttl_ms": 1000, "base_url": "http://mock:9000/"}})
    tid = api.submit_ok()
    api.advance(to="idle")
    url = json.loads(data_of(api.status("nano-banana", tid))["resultJson"])["resultUrls"][0]
    assert url == f"http://mock:9000/files/{tid}/0.png"
    assert api.client.get(f"/files/{tid}/0.png").status_code == 200
    api.advance(ms=1000)
    r = api.client.get(f"/files/{tid}/0.png")
    assert r.status_code == 404 and r.json()["message"] == "File expired"


def test_errors_as_200_turns_every_api_error_into_http_200(api):
    api.admin("PUT", "/scenario", json={"errors_as_200": True})
    cases = [
        api.submit(key=None),  # 401
        api.submit(input={"mode": "text-to-image"}),  # 400
        api.submit("no-such-model", input={"prompt": "x"}),  # 404
        api.status("nano-banana", "task_nope"),  # 404
        api.client.get("/api/v1/statusTasks/nano-banana"),  # near-miss route, 404
        api.client.delete("/api/v1/apikeys/current-balance"),  # 405
    ]
    assert [r.status_code for r in cases] == [200] * 6
    assert [r.json()["code"] for r in cases] == [401, 400, 404, 404, 404, 405]
    assert cases[1].json()["data"]["error"] == "Missing required field: input.prompt"
    assert api.submit().json()["code"] == 200
    assert api.admin("GET", "/tasks/task_nope").status_code == 404  # the control plane is not the API


# ------------------------------------------------------------------ determinism


CHAOS = {
    "results": {"base_url": "http://mock"},  # the same result URLs in-process and live
    "rules": [
        {"when": {"endpoint": "generateTask", "probability": 0.25}, "respond": {"status": 503}},
        {
            "when": {"endpoint": "generateTask", "probability": 0.3},
            "fail": {"code": "GENERATION_FAILED"},
        },
        {"when": {"endpoint": "generateTask"}, "timing": {"processing_ms": [1000, 30000]}},
        {"when": {"endpoint": "statusTask", "probability": 0.15}, "fault": "empty_response"},
        {"when": {"endpoint": "statusTask", "probability": 0.15}, "respond": {"status": 500}},
        {"when": {"endpoint": "statusTask", "probability": 0.1}, "fault": "malformed_json"},
        {"when": {"probability": 0.1}, "delay": {"uniform": [0, 3]}},
    ],
}


def tape(client: httpx.Client, seed: int) -> list:
    """A fixed client script; the tape is everything it saw."""
    resp = client.put("/__admin/scenario", json={**CHAOS, "seed": seed})
    assert resp.status_code == 200, resp.text
    out: list = []
    auth = {"Authorization": f"Bearer {KEY}"}

    def record(call):
        try:
            r = call()
            out.append((r.status_code, r.text))
            return r
        except httpx.HTTPError as exc:
            out.append(type(exc).__name__)
            return None

    tasks = []
    for _ in range(12):
        r = record(
            lambda: client.post(
                "/api/v1/generateTask/nano-banana",
                json={"input": example_input("nano-banana")},
                headers=auth,
            )
        )
        if r is not None and r.status_code == 200:
            tasks.append(r.json()["data"]["taskId"])
    for _ in range(4):
        client.post("/__admin/clock/advance", json={"ms": 9000})
        for tid in tasks:
            record(lambda tid=tid: client.get("/api/v1/statusTask/nano-banana", params={"taskId": tid}, headers=auth))
    return out


@pytest.mark.unchecked_responses  # the tape includes malformed JSON on purpose
def test_same_scenario_seed_and_requests_give_the_same_tape(make_api, live_server):
    inprocess = tape(make_api().client, 42)
    assert inprocess == tape(make_api().client, 42)
    with httpx.Client(base_url=live_server.url, timeout=10) as client:
        live = tape(client, 42)
        assert live == tape(client, 42)
    assert live == inprocess  # in-process faults raise what a live client sees
    statuses = {x if isinstance(x, str) else x[0] for x in live}
    assert {200, 503, 500, "RemoteProtocolError"} <= statuses
    other = tape(make_api().client, 43)
    shape = [x if isinstance(x, str) else x[0] for x in other]
    assert shape != [x if isinstance(x, str) else x[0] for x in inprocess]  # not only the task ids differ


# ------------------------------------------------------------------ command line


def test_scenarios_command_lists_the_library_one_per_line(capsys):
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(library()) >= 10
    for line, entry in zip(lines, library(), strict=True):
        name, description = line.split(None, 1)
        assert (name, description) == (entry.name, entry.description)
    assert main(["scenarios", "rate-limited"]) == 0
    assert "times: 2" in capsys.readouterr().out
    assert main(["scenarios", "nope"]) == 2
    assert "no scenario named 'nope'" in capsys.readouterr().err


def test_find_reads_only_the_named_file_and_a_changed_description_is_read_again(tmp_path, monkeypatch):
    from mockserver.scenarios import loading

    (tmp_path / "a.yaml").write_text("description: first\n")
    (tmp_path / "b.json").write_text('{"description": "  spaced\\n out  "}')
    (tmp_path / "b.yaml").write_text("description: shadowed by b.json, which sorts first\n")
    (tmp_path / "broken.yaml").write_text("description: [unclosed\n")
    (tmp_path / "notes.txt").write_text("not a scenario")
    monkeypatch.setattr(loading, "library_dir", lambda: tmp_path)
    read: list[str] = []
    real = loading.read_file
    monkeypatch.setattr(loading, "read_file", lambda path: read.append(path.name) or real(path))

    entry = loading.find("b")
    assert entry is not None and (entry.name, entry.description, entry.path.name) == ("b", "spaced out", "b.json")
    assert read == ["b.json"]  # the one file, not the library
    assert loading.find("notes") is None and loading.find("nope") is None
    assert [(e.name, e.description) for e in library()] == [
        ("a", "first"), ("b", "spaced out"), ("b", "shadowed by b.json, which sorts first"), ("broken", "")
    ]  # fmt: skip
    read.clear()
    assert loading.find("a").description == "first" and read == []  # the file has not changed: not read again
    (tmp_path / "a.yaml").write_text("description: second, longer\n")
    assert loading.find("a").description == "second, longer" and read == ["a.yaml"]


def test_serve_refuses_an_invalid_scenario_with_exit_2_and_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - when: {endpoint: generateTask}\n    explode: 1\n")
    assert main(["serve", "--port", "0", "--scenario", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err == f"mockserver serve: error: {bad}: invalid scenario: rules/0: unknown key 'explode'\n"
    assert main(["serve", "--port", "0", "--scenario", "no-such-scenario"]) == 2
    assert "no scenario named 'no-such-scenario'" in capsys.readouterr().err


def test_explicit_flags_win_over_the_scenario_file():
    args = build_parser().parse_args(["serve", "--scenario", "fast-clock", "--clock", "manual", "--seed", "9"])
    s = settings_from_args(args, {})
    sc = load(s.scenario)
    assert (sc.clock_mode, sc.seed, sc.name) == ("manual", 9, "fast-clock")
    s = settings_from_args(build_parser().parse_args(["serve"]), {"MOCKSERVER_SCENARIO": "insufficient-credits"})
    assert load(s.scenario).accounts["sk_test_low"] == 5
    args = build_parser().parse_args(["serve", "--scenario", "insufficient-credits", "--api-key", "mine:3"])
    assert load(settings_from_args(args, {}).scenario).accounts == {"mine": 3}


def test_serve_with_a_library_scenario(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--scenario", "rate-limited"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        first = proc.stdout.readline()
        assert "scenario rate-limited" in first and "seed 7" in first, first
        url = re.search(r"listening on (\S+)", first).group(1)
        body = {"input": {"mode": "text-to-image", "prompt": "a fox"}}
        codes = [
            httpx.post(
                f"{url}/api/v1/generateTask/nano-banana",
                json=body,
                headers={"Authorization": "Bearer k"},
                timeout=10,
            ).status_code
            for _ in range(3)
        ]
        assert codes == [429, 429, 200]
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_create_app_refuses_an_invalid_scenario():
    with pytest.raises(ScenarioError, match="rules/0: unknown key 'explode'"):
        create_app(scenario={"rules": [{"explode": 1}]})


def test_docs_runtime_rule_example_runs(tmp_path):
    """docs/scenarios.md's curl walk-through of adding one rule at run time, run as written."""
    from tests.docs_blocks import block, run_shell

    with ServerThread(create_app(clock="manual")) as server:
        out = run_shell(block("scenario-rule").code, server.url, tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    rule = {
        "when": {"endpoint": "statusTask", "nth": 1},
        "respond": {"status": 503, "retry_after": 5},
    }
    assert json.loads(lines[0]) == {"index": 0, "rule": rule}
    assert "503" in lines[1] and "retryAfter" in lines[1]
    assert '"state":"pending"' in lines[2]


def test_test_client_in_process_with_a_library_scenario():
    client = TestClient(create_app(clock="manual", scenario="content-violation"))
    h = {"Authorization": "Bearer k"}
    tid = client.post(
        "/api/v1/generateTask/nano-banana",
        headers=h,
        json={"input": {"mode": "text-to-image", "prompt": "graphic violence"}},
    ).json()["data"]["taskId"]
    client.post("/__admin/clock/advance", json={"to": "idle"})
    d = client.get("/api/v1/statusTask/nano-banana", params={"taskId": tid}, headers=h).json()["data"]
    assert (d["state"], d["failCode"]) == ("failed", "CONTENT_VIOLATION")


# ------------------------------------------------------------------ hostile documents


def test_hostile_documents_are_refused_not_fatal(api):
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    )
    yaml_type = {"Content-Type": "application/yaml"}
    for body in (bomb, "[" * 1500, "{a: " * 1500):
        resp = api.admin("PUT", "/scenario", content=body.encode(), headers=yaml_type)
        assert resp.status_code == 400, resp.text
        assert "too large" in resp.text or "nested too deeply" in resp.text
    resp = api.admin("PUT", "/scenario", content=b"[" * 1500)
    assert resp.status_code == 400 and "nested too deeply" in resp.text
    # Header values a client library could not decode (TestClient insists on UTF-8, HTTP on
    # Latin-1) or that would split the header are refused up front.
    for value in ("snow \u2603", "caf\u00e9", "a\r\nX-Injected: 1"):
        doc = {"rules": [{"respond": {"status": 503, "headers": {"X-A": value}}}]}
        error = api.admin("PUT", "/scenario", json=doc).json()["data"]["error"]
        assert error == "rules/0/respond/headers/X-A: a header value: printable ASCII, no line breaks"
    respond = {"status": 503, "headers": {"X-A": "a\tb ~"}}
    doc = {"rules": [{"when": {"endpoint": "balance"}, "respond": respond}]}
    assert api.admin("PUT", "/scenario", json=doc).status_code == 200
    resp = api.client.get("/api/v1/apikeys/current-balance", headers=api.headers())
    assert resp.status_code == 503 and resp.headers["x-a"] == "a\tb ~"


_KEYS = [
    "name",
    "seed",
    "clock",
    "mode",
    "scale",
    "accounts",
    "key",
    "balance",
    "models",
    "nano-banana",
    "sora-*",
    "price",
    "processing_ms",
    "limits",
    "requests_per_minute",
    "results",
    "ttl_ms",
    "base_url",
    "rules",
    "when",
    "endpoint",
    "model",
    "prompt",
    "header",
    "task_state",
    "nth",
    "after",
    "probability",
    "times",
    "respond",
    "status",
    "headers",
    "body",
    "fail",
    "code",
    "at",
    "timing",
    "delay",
    "ms",
    "uniform",
    "lognormal",
    "median_ms",
    "sigma",
    "fault",
    "slow_body",
    "hang",
    "max_ms",
    "callback",
    "duplicate",
    "errors_as_200",
]


def test_any_document_either_loads_or_is_a_scenario_error():
    """Property: the loader never fails with anything but ScenarioError (no crash, no 500)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    leaves = (
        st.none()
        | st.booleans()
        | st.integers(-5, 700)
        | st.floats(allow_nan=False)
        | st.sampled_from(
            [
                "generateTask",
                "statusTask",
                "callback",
                "hang",
                "drop",
                "[",
                "(?i)x",
                "sora-*",
                "polls",
                "manual",
                "x",
            ]
        )
    )
    docs = st.recursive(
        leaves,
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.sampled_from(_KEYS), kids, max_size=5),
        max_leaves=30,
    )

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(docs)
    def check(doc):
        try:
            parse(doc)
        except ScenarioError:
            pass

    check()


# -- validation part by part (a fuzz loop's loads) ---------------------------------------------


def test_the_schema_bounds_the_rules_as_the_part_check_assumes():
    from mockserver.scenarios.loading import MAX_RULES, _schema

    schema = _schema()
    rules = schema["properties"]["rules"]
    assert rules == {"type": "array", "maxItems": MAX_RULES, "items": {"$ref": "#/$defs/rule"}}
    others = {k for k in schema if k not in ("$schema", "$id", "title", "description", "$defs", "properties")}
    assert others == {"type", "additionalProperties"}  # nothing else looks at the rules


@pytest.mark.parametrize(
    "doc",
    [
        {"name": "ok", "rules": [{"when": {"endpoint": "submit"}, "respond": {"status": 503}}]},
        {"name": "ok", "rules": [{"when": {"endpoint": "submit"}, "respond": {"status": 503}}, {"fault": "boom"}]},
        {"name": 5, "rules": [{"when": {"endpoint": "submit"}, "respond": {"status": 503}}]},
        {"nmae": "typo", "rules": []},
        {"name": "ok", "rules": {"not": "a list"}},
        {"name": "ok", "rules": [{"when": {"endpoint": "submit"}, "respond": {"status": 503}}] * 1001},
        ["not", "an", "object"],
        # Each part is an object checked by its key set and its values apart (_split):
        {"name": "ok", "rules": [{"when": {"endpoint": "submit"}, "respond": {"status": 503}, "oops": 1}]},
        {"name": "ok", "rules": [{"when": {"endpoint": "submit"}}]},  # no action
        {"name": "ok", "rules": [{"when": {"endpoint": "nowhere"}, "respond": {"status": 503}}]},
        {"name": "ok", "rules": [{"times": 0, "respond": {"status": 503}}]},
        {"name": "ok", "rules": ["not a rule"]},
        {"name": "ok", "seed": "one"},
        {"name": "ok", "seed": 1.5},
        {"name": "ok", "retry_hint": "body", "clock": {"mode": "manual"}},
        {"name": "ok", "clock": {"mode": "sundial"}},
    ],
)
def test_a_document_seen_part_by_part_is_valid_exactly_when_the_schema_says(doc):
    from mockserver.scenarios.loading import _seen_valid, _validator

    for _ in range(2):  # the second time from the parts it remembers
        assert _seen_valid(doc) == _validator().is_valid(doc)


def test_only_small_parts_are_remembered():
    from mockserver.scenarios import loading

    rule = {"when": {"endpoint": "submit"}, "respond": {"status": 503}}
    accounts = [{"key": f"key-{i:03}-" + "k" * 60, "balance": 10} for i in range(60)]
    big = {"accounts": accounts, "seed": 1, "name": "y" * 200, "rules": [rule]}
    assert len(json.dumps(accounts)) > loading._VALID_PART_BYTES
    loading._VALID_PARTS.clear()
    assert loading._seen_valid(big)
    kept = [kind for kind, _ in loading._VALID_PARTS]
    assert "doc.accounts" not in kept  # past the bound: checked again next time, never kept
    assert sorted(kept) == ["doc", "doc.name", "doc.seed", "rule", "rule.respond", "rule.when"]
    assert all(len(text) <= loading._VALID_PART_BYTES for _, text in loading._VALID_PARTS)


def test_a_value_seen_valid_in_one_rule_is_not_checked_again_in_another():
    from mockserver.scenarios import loading

    loading._VALID_PARTS.clear()
    when = {"endpoint": "status", "model": "nano-banana"}
    assert loading._seen_valid({"rules": [{"when": when, "respond": {"status": 500}}]})
    split = loading._rule_split()
    assert split is not None
    checked = []
    real = split.values["when"]

    class Counting:
        def is_valid(self, value):
            checked.append(value)
            return real.is_valid(value)

    split.values["when"] = Counting()  # type: ignore[assignment]
    try:
        assert loading._seen_valid({"rules": [{"when": when, "fault": "hang"}]})
    finally:
        split.values["when"] = real
    assert checked == []  # the same `when` beside another action: remembered


def test_a_rule_loaded_again_is_the_rule_compiled_anew():
    from mockserver.scenarios import loading

    rules = [
        {"when": {"endpoint": "status", "model": "nano-banana", "nth": 2}, "respond": {"status": 503}},
        {"when": {"endpoint": "submit", "prompt": "fox"}, "delay": {"uniform": [1, 5]}, "times": 2},
    ]
    doc = {"name": "again", "rules": rules}
    loading._RULES.clear()
    first = parse(doc)
    again = parse(json.loads(json.dumps(doc)))
    assert again.rules == first.rules  # from the memo: every field as compiled
    assert len(loading._RULES) == 2
    loading._RULES.clear()
    assert parse(doc).rules == first.rules  # compiled anew: the same
    # At another place, the same text is that place's rule.
    moved = parse({"rules": [rules[1], rules[0]]})
    assert [rule.index for rule in moved.rules] == [0, 1]
    assert [rule.doc for rule in moved.rules] == [rules[1], rules[0]]
    # With other models known, a rule is compiled for them: a model they lack is refused.
    with pytest.raises(ScenarioError, match="no model matches 'nano-banana'"):
        parse(doc, ["flux-kontext"])


def test_a_rule_refused_is_refused_again_and_not_remembered():
    from mockserver.scenarios import loading

    loading._RULES.clear()
    doc = {"rules": [{"when": {"model": "nano-bananna"}, "respond": {"status": 500}}]}
    errors = []
    for _ in range(2):
        with pytest.raises(ScenarioError) as caught:
            parse(doc)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] and "did you mean 'nano-banana'" in errors[0]
    assert loading._RULES == {}


def test_remembered_rules_stay_few_and_small(monkeypatch):
    from mockserver.scenarios import loading

    monkeypatch.setattr(loading, "_RULES_SIZE", 3)
    loading._RULES.clear()
    for n in range(1, 8):
        parse({"rules": [{"when": {"endpoint": "submit", "nth": n}, "respond": {"status": 503}}]})
        assert 1 <= len(loading._RULES) <= 3
    big = {"when": {"endpoint": "submit"}, "respond": {"status": 503, "message": "m" * loading._VALID_PART_BYTES}}
    loading._RULES.clear()
    assert parse({"rules": [big]}).rules[0].respond.message == "m" * loading._VALID_PART_BYTES
    assert loading._RULES == {}  # past the bound: compiled each time, never kept


@pytest.mark.parametrize(
    ("pattern", "model", "applies"),
    [
        ("nano-banana", "nano-banana", True),
        ("nano-banana", "nano-banana-pro", False),
        ("nano-*", "nano-banana", True),
        ("sora-?", "sora-2", True),
        ("sora-[12]", "sora-2", True),
        ("sora-[3]", "sora-2", False),
        ("*", "gpt-image-1", True),
        ("gpt-image", "gpt-image-1", False),
    ],
)
def test_an_override_applies_to_the_models_its_pattern_matches(pattern, model, applies):
    from fnmatch import fnmatchcase

    from mockserver.scenarios.loading import Scenario

    scenario = Scenario(models=((pattern, {"price": 1.0}), ("*", {"pending_ms": 5})))
    expected = {"price": 1.0, "pending_ms": 5} if applies else {"pending_ms": 5}
    assert scenario.model_overrides(model) == expected
    assert applies == fnmatchcase(model, pattern)


NESTED_VALUES = [
    {"endpoint": "status", "nth": 2},
    {"endpoint": ["submit", "files"], "model": "nano-*", "probability": 0.5},
    {"endpoint": "status", "nth": 0},  # below the minimum
    {"endpoint": "status", "nth": "2"},
    {"endpoint": ["submit", "submit"]},  # not unique
    {"endpoint": []},
    {"endpoint": "nowhere"},
    {"endpoint": "status", "bogus": 1},  # an unknown condition
    {"task_state": ["pending", "failed"], "after": 3},
    {"probability": 1.5},
    {"header": {"X-Trace": "a+"}},
    {"header": {"bad name": "a"}},
    {},
    "status",
    None,
    [{"endpoint": "status"}],
]


@pytest.mark.parametrize("value", NESTED_VALUES)
@pytest.mark.parametrize("field", ["when", "respond", "delay", "timing", "fail"])
def test_a_rule_value_checked_field_by_field_is_valid_exactly_when_its_schema_says(field, value):
    from mockserver.scenarios import loading

    split = loading._rule_split()
    assert split is not None
    checker = split.values[field]
    whole = loading._rule_validator()
    rule = {"respond": {"status": 503}} if field != "respond" else {"fault": "hang"}
    loading._VALID_FIELDS.clear()
    for _ in range(2):  # the second time from the fields it remembers
        assert checker.is_valid(value) == whole.is_valid({**rule, field: value}), (field, value)


def test_a_new_when_made_of_conditions_seen_before_is_not_validated_whole():
    from mockserver.scenarios import loading

    split = loading._rule_split()
    assert split is not None
    checker = split.values["when"]
    assert isinstance(checker, loading._ByFields)
    loading._VALID_PARTS.clear()
    loading._VALID_FIELDS.clear()
    assert loading._seen_valid({"rules": [{"when": {"endpoint": "status", "nth": 2}, "respond": {"status": 500}}]})
    assert loading._seen_valid({"rules": [{"when": {"model": "nano-banana", "nth": 3}, "respond": {"status": 500}}]})
    checked = []
    real = checker.split.values

    class Counting(dict):
        def __getitem__(self, key):
            validator = real[key]

            class Spy:
                def is_valid(self, value):
                    checked.append((key, value))
                    return validator.is_valid(value)

            return Spy()

    checker.split = loading._Split(checker.split.shape, Counting(real))
    try:
        # A new combination: its key set is new, each condition was seen in another `when`.
        doc = {"rules": [{"when": {"endpoint": "status", "nth": 3}, "fault": "hang"}]}
        assert loading._seen_valid(doc)
    finally:
        checker.split = loading._Split(checker.split.shape, real)
    assert checked == []
    assert loading._validator().is_valid(doc)
