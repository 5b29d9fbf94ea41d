"""Every value a strategy draws validates against its schema, and the mock agrees."""

from __future__ import annotations

import contextlib
import json
import re

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from mockserver import contract
from mockserver import strategies as ms
from mockserver.core.catalog import InputInvalid, load_catalog
from mockserver.core.words import STATES
from mockserver.dialects import default_dialects
from mockserver.dialects.apixo import APIXO, Apixo
from mockserver.scenarios import loading as scenario
from tests.conftest import START_MS

CATALOG = load_catalog()
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("model", CATALOG.names())
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_valid_inputs_validate(model, data):
    value = data.draw(ms.model_inputs(model=model))
    CATALOG.get(model).validate(value)


@pytest.mark.parametrize("model", CATALOG.names())
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_invalid_inputs_are_refused_by_the_schema(model, data):
    value = data.draw(ms.model_inputs(model=model, valid=False))
    with pytest.raises(InputInvalid):
        CATALOG.get(model).validate(value)


@FAST
@given(req=ms.generate_requests())
def test_valid_requests_are_accepted_by_the_server(api, req):
    model, body = req
    r = api.client.post(f"/api/v1/generateTask/{model}", json=body, headers=api.headers())
    assert r.status_code == 200, (model, body, r.text)


@FAST
@given(req=ms.generate_requests(valid=False))
def test_invalid_requests_are_refused_with_400(api, req):
    model, body = req
    r = api.client.post(f"/api/v1/generateTask/{model}", json=body, headers=api.headers())
    assert r.status_code == 400, (model, body, r.text)
    assert r.json()["data"]["error"]


@settings(max_examples=50, deadline=None)
@given(env=ms.status_envelopes())
def test_status_envelopes_follow_the_state_field_sets(env):
    d = env["data"]
    expected = {"taskId", "state", "createTime"} | {
        "success": {"resultJson", "completeTime", "costTime"},
        "failed": {"failCode", "failMsg", "completeTime"},
    }.get(d["state"], set())
    assert set(d) == expected and env["code"] == 200
    if d["state"] == "success":
        assert json.loads(d["resultJson"])["resultUrls"]


def test_options_are_checked_at_once():
    with pytest.raises(InvalidArgument, match="not a known model"):
        ms.generate_requests(model="dall-e-9")
    with pytest.raises(InvalidArgument, match="valid"):
        ms.model_inputs(model="nano-banana", valid="yes")
    with pytest.raises(InvalidArgument, match="state"):
        ms.status_envelopes(state="done")
    with pytest.raises(TypeError):
        ms.generate_requests("nano-banana")  # keyword-only


@pytest.mark.parametrize("strategy", [ms.generate_requests, ms.status_envelopes])
def test_the_dialect_option_is_checked_at_once(strategy):
    with pytest.raises(InvalidArgument, match=re.escape("dialect='kie': unknown dialect 'kie' (known: apixo")):
        strategy(dialect="kie")
    with pytest.raises(InvalidArgument, match=re.escape("or a Dialect, got 3 (no status_envelopes, submit_bodies)")):
        strategy(dialect=3)


@pytest.mark.parametrize("state", STATES)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_status_envelopes_keep_to_the_state_asked_for(state, data):
    for dialect in (None, "apixo", APIXO):
        env = data.draw(ms.status_envelopes(state=state, dialect=dialect))
        assert env["data"]["state"] == state


def test_a_dialect_checks_its_own_strategy_options():
    with pytest.raises(InvalidArgument, match="state='done' is not one of"):
        APIXO.status_envelopes(state="done")


class Tagged(Apixo):
    """APIXO, with every envelope and body its strategies draw marked: shows who drew them."""

    name = "tagged"

    def status_envelopes(self, model=None, *, state=None):
        return super().status_envelopes(model, state=state).map(lambda env: {**env, "tagged": True})

    def submit_bodies(self, model, inputs, *, valid=True, invalid_inputs=None):
        bodies = super().submit_bodies(model, inputs, valid=valid, invalid_inputs=invalid_inputs)
        return bodies.map(lambda body: {**body, "tagged": model.name})


@settings(max_examples=20, deadline=None)
@given(
    env=ms.status_envelopes(dialect=Tagged()),
    valid=ms.generate_requests(model="sora-2", dialect=Tagged()),
    invalid=ms.generate_requests(valid=False, dialect=Tagged()),
)
def test_envelopes_and_bodies_are_drawn_by_the_dialect(env, valid, invalid):
    assert env["tagged"] is True
    assert valid[1]["tagged"] == valid[0] == "sora-2"
    assert invalid[1]["tagged"] == invalid[0]


# -- scenarios() and rules() ----------------------------------------------------------

# The server knows every enabled dialect's models, and rules may name any of them.
NAMES = sorted({name for d in default_dialects() for name in d.catalog().names()})
POLLS = ("pending_polls", "processing_polls")
EVERYTHING = dict(
    endpoints=list(ms.ENDPOINTS), faults=list(ms.FAULTS), clock_control=True, errors_as_200=True, max_rules=6
)


def test_public_surface_is_sorted():
    assert ms.__all__ == sorted(ms.__all__)
    assert all(hasattr(ms, name) for name in ms.__all__)


@settings(max_examples=60, deadline=None)
@given(doc=st.one_of(ms.scenarios(), ms.scenarios(**EVERYTHING), ms.scenarios(models=["sora-2"], max_errors=0)))
def test_every_drawn_scenario_validates_against_the_schema(doc):
    assert contract.validate("scenario", doc) == []
    scenario.parse(doc, NAMES)  # and what the schema cannot say (endpoints an action acts on...)


@settings(max_examples=60, deadline=None)
@given(rule=st.one_of(ms.rules(), ms.rules(endpoints=list(ms.ENDPOINTS), faults=list(ms.FAULTS), clock_control=True)))
def test_every_drawn_rule_validates_against_the_schema(rule):
    assert contract.validate("scenario", {"rules": [rule]}) == []
    scenario.parse_rule(rule, 0, NAMES)


@FAST
@given(doc=ms.scenarios(**EVERYTHING))
def test_drawn_scenarios_are_accepted_by_the_server(api, doc):
    r = api.admin("PUT", "/scenario", json=doc)
    assert r.status_code == 200, r.text
    assert r.json() == doc


@FAST
@given(rule=ms.rules(endpoints=list(ms.ENDPOINTS), faults=list(ms.FAULTS), errors_as_200=True))
def test_drawn_rules_are_accepted_by_the_server(api, rule):
    api.admin("PUT", "/scenario", json={})
    r = api.admin("POST", "/rules", json=rule)
    assert r.status_code == 200, r.text
    assert r.json()["rule"] == rule


@settings(max_examples=200, deadline=None)
@given(doc=ms.scenarios(statuses=[502, 418], faults=["empty_response"], max_errors=4, max_delay_ms=8))
def test_drawn_scenarios_keep_to_their_bounds(doc):
    interrupting = [r for r in doc.get("rules", []) if "respond" in r or "fault" in r]
    assert sum(r["times"] for r in interrupting) <= 4
    for rule in doc.get("rules", []):
        assert {"respond", "fault", "delay", "fail", "timing"} & set(rule) and "callback" not in rule
        if "respond" in rule:
            assert rule["respond"]["status"] in (502, 418) and not rule["respond"].get("as_200")
            assert rule["respond"].get("retry_after", 0) <= 2
        if "fault" in rule:
            assert rule["fault"] == "empty_response"
        if "delay" in rule:
            assert rule["times"] <= 3
            spec = rule["delay"]
            assert spec.get("ms", 0) <= 8 and max(spec.get("uniform", [0])) <= 8
        if "timing" in rule:
            assert rule["timing"]["progression"] == "polls"
    # Without clock control every model ends by polls alone.
    assert doc["models"] == {"*": {"progression": "polls", **{k: doc["models"]["*"][k] for k in POLLS}}}
    assert "errors_as_200" not in doc


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=ms.scenarios(max_errors=3), model=st.sampled_from(["nano-banana", "sora-2", "suno"]))
def test_a_client_that_never_moves_the_clock_finishes_every_default_scenario(make_api, doc, model):
    """Retrying each request up to max_errors + 1 times and polling: every task ends, no clock moved."""
    api = make_api()
    with api.unchecked():  # injected faults and errors are the point
        assert api.admin("PUT", "/scenario", json=doc).status_code == 200

        def call(method: str, url: str, **kw) -> dict:
            for _ in range(4):
                try:
                    r = api.client.request(method, url, headers=api.headers(), **kw)
                    body = r.json()
                except (httpx.HTTPError, ValueError):
                    continue
                if r.status_code == 200 and body["code"] == 200:
                    return body["data"]
                assert r.status_code in (429, 500, 502, 503), r.text
            raise AssertionError(f"more than 3 injected errors on {method} {url}")

        inputs = json.loads(json.dumps(CATALOG.get(model).schema["examples"][0]))
        task_id = call("POST", f"/api/v1/generateTask/{model}", json={"input": inputs})["taskId"]
        for _ in range(20):
            state = call("GET", f"/api/v1/statusTask/{model}", params={"taskId": task_id})["state"]
            if state in ("success", "failed"):
                break
        assert state in ("success", "failed")
    assert api.admin("GET", "/clock").json()["now"] == START_MS


@settings(max_examples=60, deadline=None)
@given(req=ms.generate_requests())
def test_valid_requests_validate_against_the_published_request_schema(req):
    model, body = req
    assert contract.validate("generate-request", body, model=model) == []


@settings(max_examples=60, deadline=None)
@given(req=ms.generate_requests(valid=False))
def test_invalid_requests_break_the_published_request_schema(req):
    model, body = req
    assert contract.validate("generate-request", body, model=model) != []


@settings(max_examples=50, deadline=None)
@given(env=ms.status_envelopes())
def test_status_envelopes_validate_against_the_status_schema(env):
    assert contract.validate("status-response", env) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoints": ["statusTask", "webhook"]}, "endpoints: 'webhook' is not one of"),
        ({"endpoints": "statusTask"}, "endpoints must be a list of names"),
        ({"endpoints": []}, "endpoints must name at least one endpoint"),
        ({"models": ["dall-e-9"]}, "models: 'dall-e-9' is not one of"),
        ({"statuses": [204]}, "statuses: 204 is not an HTTP status a rule can answer"),
        ({"statuses": []}, "statuses must be a non-empty list"),
        ({"faults": ["explode"]}, "faults: 'explode' is not one of"),
        ({"clock_control": 1}, "clock_control must be True or False"),
        ({"max_delay_ms": -1}, "max_delay_ms must be an integer 0..60000"),
        ({"max_retry_after": "2"}, "max_retry_after must be a number of seconds"),
    ],
)
def test_scenario_and_rule_options_are_checked_at_once(kwargs, message):
    for strategy in (ms.scenarios, ms.rules):
        with pytest.raises(InvalidArgument, match=re.escape(message)):
            strategy(**kwargs)
    with pytest.raises(InvalidArgument, match="max_rules must be an integer >= 0"):
        ms.scenarios(max_rules=-1)
    with pytest.raises(InvalidArgument, match="max_errors must be an integer >= 0"):
        ms.scenarios(max_errors=True)
    with pytest.raises(InvalidArgument, match="max_times must be an integer >= 1"):
        ms.rules(max_times=0)
    with pytest.raises(TypeError):
        ms.scenarios(["nano-banana"])  # keyword-only


# -- top-level keys and image_url (issue 13) ------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(doc=ms.scenarios(retry_hints=list(ms.RETRY_HINTS), endpoints=["submit", "status"]))
def test_scenarios_with_every_retry_hint_validate(doc):
    assert contract.validate("scenario", doc) == []
    scenario.parse(doc, NAMES)
    assert doc.get("retry_hint", "both") in ms.RETRY_HINTS


@settings(max_examples=100, deadline=None)
@given(doc=ms.scenarios())
def test_by_default_a_429_keeps_the_documented_retry_hint(doc):
    """Contract checks assume both hints: a default scenario never drops one."""
    assert doc.get("retry_hint", "both") == "both"


@pytest.mark.parametrize(
    ("strategy", "found"),
    [
        (ms.scenarios(retry_hints=["none"]), lambda d: d.get("retry_hint") == "none"),
        (ms.scenarios(), lambda d: d.get("insufficient_credits") == "failed_task"),
        (ms.scenarios(), lambda d: any("image_url" in r["when"] for r in d.get("rules", []))),
        (ms.scenarios(), lambda d: any(r["when"].get("probability") == 0.9 for r in d.get("rules", []))),
        (ms.scenarios(), lambda d: any(r["when"].get("endpoint") == ["files", "submit"] for r in d.get("rules", []))),
    ],
)
def test_the_new_and_the_flattened_keys_are_drawn(strategy, found):
    from hypothesis import find

    doc = find(strategy, found, settings=settings(max_examples=2000, database=None))
    assert contract.validate("scenario", doc) == []
    scenario.parse(doc, NAMES)


@FAST
@given(doc=ms.scenarios(retry_hints=list(ms.RETRY_HINTS), endpoints=["submit", "status", "files"]))
def test_scenarios_with_image_url_and_top_level_keys_are_accepted_by_the_server(api, doc):
    r = api.admin("PUT", "/scenario", json=doc)
    assert r.status_code == 200, r.text
    assert r.json() == doc


def test_image_url_is_drawn_only_where_a_submit_is_left():
    """image_url holds on submits alone: never beside task_state or attempt, never without submit."""

    @settings(max_examples=200, deadline=None)
    @given(rule=ms.rules(endpoints=list(ms.ENDPOINTS), faults=list(ms.FAULTS)))
    def check(rule):
        when = rule["when"]
        if "image_url" in when:
            endpoints = [when["endpoint"]] if isinstance(when["endpoint"], str) else when["endpoint"]
            assert "submit" in endpoints and "task_state" not in when and "attempt" not in when
            re.compile(when["image_url"])

    check()


def test_changing_a_drawn_scenario_leaves_later_draws_alone():
    seen = []

    @settings(max_examples=50, deadline=None, database=None)
    @given(doc=ms.scenarios(models=["nano-banana"]))
    def spoil(doc):
        seen.append(json.dumps(doc, sort_keys=True))
        for value in doc["models"].values():
            value["pending_polls"] = -1
        for rule in doc.get("rules", []):
            rule["when"]["endpoint"] = "spoilt"
            for part in rule.values():
                if isinstance(part, dict):
                    part["spoilt"] = True
        doc.update(retry_hint="spoilt", insufficient_credits="spoilt")

    spoil()
    assert not any("spoilt" in text or '"pending_polls": -1' in text for text in seen)


def test_retry_hints_are_checked_at_once():
    with pytest.raises(InvalidArgument, match="retry_hints: 'sometimes' is not one of both, header, body, none"):
        ms.scenarios(retry_hints=["sometimes"])
    with pytest.raises(InvalidArgument, match="retry_hints must be a list of names"):
        ms.scenarios(retry_hints="both")


# -- few choices a scenario, every part still drawn (issue 13) ------------------------------


def test_a_scenario_is_three_choices_and_a_rule_four():
    """Each Hypothesis choice costs its engine tens of microseconds, more than building the
    scenario: a seed, the top-level keys with the poll counts, the number of rules, then per rule
    its action and times, the action's details, endpoints with a model, conditions with a gate
    (a delay's shape is one more; a slow_body fault's chunk size and interval two)."""
    from hypothesis.control import current_build_context

    counted = []

    @settings(max_examples=150, deadline=None, database=None)
    @given(doc=ms.scenarios(models=["nano-banana"]))
    def check(doc):
        extra = sum(2 for r in doc.get("rules", []) if isinstance(r.get("fault"), dict))
        extra += sum(1 for r in doc.get("rules", []) if "delay" in r)
        expected = 3 + 4 * len(doc.get("rules", [])) + extra
        assert len(current_build_context().data.choices) == expected, doc
        counted.append(expected)

    check()
    assert max(counted) >= 3 + 4 * 3  # scenarios with several rules were drawn and counted


def _parts_of(doc: dict) -> set[str]:
    seen = {f"top.{k}" for k in ("errors_as_200", "retry_hint", "insufficient_credits") if k in doc}
    seen |= {f"models.{v['progression']}" for v in doc["models"].values()}
    for rule in doc.get("rules", []):
        action = next(k for k in rule if k not in ("when", "times"))
        value = rule[action]
        seen.add(f"action.{action}")
        seen.add(f"times.{rule.get('times')}")
        if action == "respond":
            seen |= {f"respond.{value['status']}"} | {f"respond.{k}" for k in value if k != "status"}
        elif action == "fault":
            seen.add(f"fault.{value if isinstance(value, str) else next(iter(value))}")
        elif action in ("delay", "timing"):
            seen |= {f"{action}.{k}" for k in value}
        elif action == "fail":
            seen.add(f"fail.{value.get('at', 'now')}")
        else:
            seen.add(f"callback.{value if isinstance(value, str) else next(iter(value))}")
        when = rule["when"]
        seen.add("when.two_endpoints" if isinstance(when["endpoint"], list) else "when.one_endpoint")
        for key, v in when.items():
            seen.add(f"when.{key}" + (f".{v}" if key in ("task_state", "nth", "after", "probability") else ""))
    return seen


class _AllSeen(Exception):
    """Raised once every expected part has been drawn: the rest of the run could not change the verdict."""


def test_every_kind_of_part_is_drawn():
    """Folding choices together keeps every action, fault, status, variant, timing, condition
    and gate value in what is drawn (a fixed run of Hypothesis: derandomized, at most 1,500
    examples; it ends early once everything has been seen, ~570 here)."""
    expected = {f"action.{a}" for a in ("respond", "fault", "delay", "fail", "timing", "callback")}
    expected |= {f"fault.{f}" for f in ms.FAULTS} | {f"respond.{s}" for s in ms.TRANSIENT_STATUSES}
    expected |= {"respond.retry_after", "respond.as_200", "fail.now", "fail.pending", "fail.processing"}
    expected |= {"delay.ms", "delay.uniform", "delay.lognormal", "callback.drop", "callback.duplicate"}
    expected |= {"callback.delay", "timing.pending_polls", "timing.processing_polls", "timing.pending_ms"}
    expected |= {"timing.processing_ms", "models.polls", "models.time", "top.errors_as_200"}
    expected |= {"top.retry_hint", "top.insufficient_credits", "times.None", "times.1", "times.2", "times.3"}
    expected |= {"when.one_endpoint", "when.two_endpoints", "when.model", "when.attempt", "when.image_url"}
    expected |= {"when.dialect"} | {f"when.task_state.{s}" for s in STATES}
    expected |= {f"when.nth.{n}" for n in range(1, 5)} | {f"when.after.{n}" for n in range(4)}
    expected |= {f"when.probability.{p}" for p in (0.1, 0.25, 0.5, 0.75, 0.9)}
    seen: set[str] = set()

    # Generation alone: the early end is an exception, which Hypothesis must not try to shrink.
    @settings(max_examples=1500, deadline=None, database=None, derandomize=True, phases=[Phase.generate])
    @given(
        doc=ms.scenarios(
            endpoints=["submit", "status", "balance", "files", "callback"],
            faults=list(ms.FAULTS),
            clock_control=True,
            errors_as_200=True,
            retry_hints=list(ms.RETRY_HINTS),
            dialect="apixo",
        )
    )
    def collect(doc):
        seen.update(_parts_of(doc))
        if expected <= seen:
            raise _AllSeen

    with contextlib.suppress(_AllSeen):
        collect()
    assert expected - seen == set()


@pytest.mark.parametrize(
    ("found", "key"),
    [
        (lambda r: "task_state" in r["when"], "task_state"),
        (lambda r: "nth" in r["when"], "nth"),
        (lambda r: "model" in r["when"], "model"),
        (lambda r: "image_url" in r["when"], "image_url"),
    ],
)
def test_shrinking_moves_towards_the_simplest_scenario(found, key):
    """A choice that stands for several parts shrinks each: what a failure needs stays, the
    rest goes back to the simplest (no other condition, one time, seed 0, no polls)."""
    from hypothesis import find

    doc = find(
        ms.scenarios(models=["nano-banana"]),
        lambda d: any(found(r) for r in d.get("rules", [])),
        settings=settings(max_examples=2000, database=None),
    )
    assert doc["seed"] == 0 and doc["models"]["nano-banana"] == {
        "progression": "polls",
        "pending_polls": 0,
        "processing_polls": 0,
    }
    (rule,) = doc["rules"]
    assert set(rule["when"]) == {"endpoint", key}, rule
    assert rule.get("times", 1) == 1 and isinstance(rule["when"]["endpoint"], str), rule
