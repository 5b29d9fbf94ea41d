"""The strategies for 123API: every body and envelope drawn keeps 123API's schemas, and the mock agrees."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from mockserver import contract
from mockserver import strategies as ms
from mockserver.core.words import STATES
from mockserver.dialects import default_dialects
from mockserver.dialects.api123 import API123
from mockserver.dialects.api123.wire import ROUTE_MEDIA, STATUS_WORDS
from mockserver.scenarios import loading as scenario

CATALOG = API123.catalog()
MODELS = CATALOG.names()
ROUTE = {media: path for path, media in ROUTE_MEDIA.items()}
NAMES = sorted({name for d in default_dialects() for name in d.catalog().names()})  # what the server knows
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def route(model: str) -> str:
    return ROUTE[CATALOG.get(model).media]


@pytest.mark.parametrize("model", MODELS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_valid_bodies_keep_the_model_schema_and_invalid_ones_break_it(model, data):
    body = data.draw(ms.submit_bodies(model=model, dialect="123api"))
    assert body["model"] == model
    assert contract.validate(f"123api/models/{model}", body) == []
    bad = data.draw(ms.submit_bodies(model=model, dialect="123api", valid=False))
    assert contract.validate(f"123api/models/{model}", bad) != [], bad
    inputs = data.draw(ms.model_inputs(model=model, dialect="123api"))  # the whole body, for 123API
    assert contract.validate(f"123api/models/{model}", inputs) == []


@FAST
@given(req=ms.generate_requests(dialect="123api"))
def test_valid_requests_are_accepted_on_their_route(api, req):
    model, body = req
    r = api.client.post(route(model), json=body, headers=api.headers())
    assert r.status_code == 200, (model, body, r.text)
    assert r.json()["model"] == model


@FAST
@given(req=ms.generate_requests(dialect="123api", valid=False))
def test_invalid_requests_are_refused_with_400(api, req):
    model, body = req
    r = api.client.post(route(model), json=body, headers=api.headers())
    assert r.status_code == 400, (model, body, r.text)
    assert r.json()["error"] == "invalid_request" and r.json()["message"]


@settings(max_examples=60, deadline=None)
@given(env=ms.status_envelopes(dialect="123api"), one=ms.status_envelopes(dialect="123api", model="veo3.1-fast"))
def test_status_envelopes_keep_the_task_schema(env, one):
    for doc in (env, one):
        assert contract.validate("123api/status-response", doc) == []
        assert re.fullmatch(r"task-[0-9a-f]{8}-[0-9a-f]{8}", doc["task_id"])
    assert env["model"] in MODELS and one["model"] == "veo3.1-fast"


@pytest.mark.parametrize("state", STATES)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_status_envelopes_keep_to_the_state_asked_for(state, data):
    for dialect in ("123api", API123):
        env = data.draw(ms.status_envelopes(state=state, dialect=dialect))
        assert env["status"] == STATUS_WORDS[state]
        assert ("result" in env) == (state == "success") and ("error" in env) == (state == "failed")


def test_options_name_the_dialect_and_its_models():
    with pytest.raises(ValueError, match=re.escape("dialect='kie': unknown dialect 'kie' (known: apixo, 123api)")):
        ms.submit_bodies(model="gpt-4o-image", dialect="kie")
    # A model of the other dialect says which one it is; both are ValueErrors and InvalidArguments.
    message = "model='gpt-4o-image' is not a known model of APIXO (a model of dialect='123api'); known: "
    for call in (
        lambda: ms.generate_requests(model="gpt-4o-image"),
        lambda: ms.submit_bodies(model="gpt-4o-image"),
        lambda: ms.model_inputs(model="gpt-4o-image"),
        lambda: ms.status_envelopes(model="gpt-4o-image"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)) as caught:
            call()
        assert isinstance(caught.value, InvalidArgument)
    with pytest.raises(ValueError, match=re.escape("'nano-banana' is not a known model of 123API (a model of dialect")):
        ms.generate_requests(model="nano-banana", dialect="123api")
    with pytest.raises(ValueError, match="known: gpt-4o-image, sora-2, veo3.1-fast"):
        ms.scenarios(models=["dall-e-9"], dialect="123api")
    with pytest.raises(InvalidArgument, match=re.escape("'balance' is not an endpoint of 123API (its endpoints: ")):
        ms.rules(endpoints=["balance"], dialect="123api")
    with pytest.raises(InvalidArgument, match="state='completed' is not one of"):
        ms.status_envelopes(state="completed", dialect="123api")  # the core's state names
    with pytest.raises(TypeError):
        ms.submit_bodies("gpt-4o-image")  # keyword-only


@settings(max_examples=60, deadline=None)
@given(
    doc=st.one_of(
        ms.scenarios(models=["gpt-4o-image", "veo3.1-fast"]),
        ms.scenarios(dialect="123api", endpoints=["generations", "tasks", "files", "models", "callback"]),
        ms.scenarios(dialect=API123, models=["sora-2"], clock_control=True, errors_as_200=True),
    ),
    rule=ms.rules(dialect="123api", faults=list(ms.FAULTS)),
)
def test_scenarios_and_rules_for_123api_validate(doc, rule):
    assert contract.validate("scenario", doc) == []
    scenario.parse(doc, NAMES)
    assert contract.validate("scenario", {"rules": [rule]}) == []
    scenario.parse_rule(rule, 0, NAMES)
    for r in [*doc.get("rules", []), rule]:
        assert r["when"].get("dialect", "123api") == "123api"


@settings(max_examples=100, deadline=None)
@given(rule=ms.rules(dialect="123api", endpoints=None))
def test_rules_for_123api_act_where_123api_has_routes(rule):
    when = rule["when"]
    endpoints = [when["endpoint"]] if isinstance(when["endpoint"], str) else when["endpoint"]
    assert set(endpoints) <= {"submit", "status", "files", "models"}
    models = [when["model"]] if isinstance(when.get("model"), str) else when.get("model", [])
    assert set(models) <= set(MODELS)


@FAST
@given(doc=ms.scenarios(dialect="123api", errors_as_200=True, clock_control=True))
def test_drawn_123api_scenarios_are_accepted_by_the_server(api, doc):
    r = api.admin("PUT", "/scenario", json=doc)
    assert r.status_code == 200, r.text
    assert r.json() == doc
