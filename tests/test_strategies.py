"""Every value a strategy draws validates against its schema, and the mock agrees."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from mockserver import strategies as ms
from mockserver.catalog import InputInvalid, load_catalog

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
