"""The Idempotency-Key header holds what both OpenAPI documents publish for it (a string of 1-255
characters): outside that it is a 400 naming the header, in each dialect's error body, and no task
is created. An empty key used to count as a real key: two different submits gave 200, then 409."""

from __future__ import annotations

import pytest

from mockserver import contract
from mockserver.dialects import builtin
from tests.conftest import example_input

APIXO = ("/api/v1/generateTask/nano-banana", {"input": example_input("nano-banana")})
API123 = ("/v1/images/generations", {"model": "gpt-4o-image", "prompt": "a red fox in the snow"})
SUBMITS = {"apixo": APIXO, "123api": API123}


def _published(dialect: str) -> dict:
    """The header's schema in ``dialect``'s document, on every operation that takes it."""
    d = builtin()[dialect]
    doc = d.openapi(d.catalog(), contract.load_schemas())
    found = [
        p["schema"]
        for item in doc["paths"].values()
        for op in item.values()
        for p in op.get("parameters", [])
        if p["name"] == "Idempotency-Key"
    ]
    assert found and all(s == found[0] for s in found)
    return found[0]


def _detail(dialect: str, body: dict) -> str:
    """What the error body says about the cause: data.error (APIXO), message (123API)."""
    return body["data"]["error"] if dialect == "apixo" else body["message"]


@pytest.mark.parametrize("dialect", ["apixo", "123api"])
def test_a_key_outside_the_published_length_is_a_400_naming_the_header(api, dialect):
    schema = _published(dialect)
    low, high = schema["minLength"], schema["maxLength"]
    path, body = SUBMITS[dialect]
    for bad in ("", "k" * (high + 1), "k" * 300):
        assert not low <= len(bad) <= high
        r = api.client.post(path, json=body, headers={**api.headers(), "Idempotency-Key": bad})
        assert r.status_code == 400, (len(bad), r.text)
        detail = _detail(dialect, r.json())
        assert "Idempotency-Key" in detail and f"{low} to {high}" in detail, detail
        if dialect == "123api":
            assert r.json()["error"] == "invalid_request"
        else:
            assert r.json()["code"] == 400
    assert api.admin("GET", "/tasks").json()["tasks"] == []  # nothing created, nothing charged
    # The bounds themselves are keys.
    for good in ("k" * low, "k" * high):
        r = api.client.post(path, json=body, headers={**api.headers(), "Idempotency-Key": good})
        assert r.status_code == 200, r.text
        again = api.client.post(path, json=body, headers={**api.headers(), "Idempotency-Key": good})
        assert again.json() == r.json()
    assert len(api.admin("GET", "/tasks").json()["tasks"]) == 2


@pytest.mark.parametrize("dialect", ["apixo", "123api"])
def test_an_empty_key_is_never_a_key_two_different_submits_are_not_a_conflict(api, dialect):
    path, body = SUBMITS[dialect]
    prompt = body["input"]["prompt"] if dialect == "apixo" else body["prompt"]
    other = (
        {"input": {**body["input"], "prompt": prompt + " again"}}
        if dialect == "apixo"
        else {**body, "prompt": prompt + " again"}
    )
    empty = {**api.headers(), "Idempotency-Key": ""}
    assert [api.client.post(path, json=b, headers=empty).status_code for b in (body, other)] == [400, 400]
    # Without the header, both are plain submits.
    assert [api.client.post(path, json=b, headers=api.headers()).status_code for b in (body, other)] == [200, 200]


def test_a_key_is_per_dialect_two_providers_are_two_systems(api):
    """The same Idempotency-Key on an APIXO submit and then a 123API one: two tasks, no 409; a
    retry through the same dialect still returns its first task."""
    headers = {**api.headers(), "Idempotency-Key": "order-42"}
    first = api.client.post(APIXO[0], json=APIXO[1], headers=headers)
    other = api.client.post(API123[0], json=API123[1], headers=headers)
    assert (first.status_code, other.status_code) == (200, 200)
    retry = api.client.post(API123[0], json=API123[1], headers=headers)
    assert retry.json()["task_id"] == other.json()["task_id"]
    assert len(api.admin("GET", "/tasks").json()["tasks"]) == 2
