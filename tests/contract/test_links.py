"""The OpenAPI links the documents publish lead somewhere: evaluated on the mock's real answers,
as Schemathesis' stateful phase does, each gives a request the mock accepts. The midjourney
follow-up examples name a placeholder task no mock holds; the follow-up link names a real one."""

from __future__ import annotations

import copy

import pytest

from mockserver import contract
from mockserver.contract.openapi import build_openapi
from mockserver.core.catalog import load_catalog

CATALOG = load_catalog()


@pytest.fixture(scope="module")
def doc() -> dict:
    return build_openapi(CATALOG, contract.load_schemas())


def _evaluate(node, body: dict):
    """OpenAPI runtime expressions ``$response.body#/json/pointer`` inside a link's value."""
    if isinstance(node, dict):
        return {k: _evaluate(v, body) for k, v in node.items()}
    if isinstance(node, str) and node.startswith("$response.body#/"):
        value = body
        for part in node.removeprefix("$response.body#/").split("/"):
            value = value[part]
        return value
    return copy.deepcopy(node)


def _operation(doc: dict, operation_id: str) -> tuple[str, str]:
    (found,) = [
        (path, method)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if op.get("operationId") == operation_id
    ]
    return found


def test_every_model_with_follow_ups_has_a_link_from_the_poll(doc):
    links = doc["paths"]["/api/v1/statusTask/{model}"]["get"]["responses"]["200"]["links"]
    with_follow_ups = [m.name for m in CATALOG if m.follow_up_modes]
    assert with_follow_ups == ["midjourney"]
    assert [link["operationId"] for link in links.values()] == ["generateTaskMidjourney"]
    for link in links.values():
        _operation(doc, link["operationId"])  # the target exists


def test_the_follow_up_link_names_a_task_the_mock_accepts_once_it_succeeded(api, doc):
    link = doc["paths"]["/api/v1/statusTask/{model}"]["get"]["responses"]["200"]["links"]["followUpMidjourney"]
    path, method = _operation(doc, link["operationId"])
    assert (path, method) == ("/api/v1/generateTask/midjourney", "post")

    first = api.submit_ok("midjourney")
    api.advance(to="idle")
    polled = api.status("midjourney", first)
    assert polled.json()["data"]["state"] == "success"
    body = _evaluate(link["requestBody"], polled.json())
    assert body["input"]["taskId"] == first
    r = api.client.post(path, json=body, headers=api.headers())
    assert r.status_code == 200, r.text

    # The placeholder of the examples names no task: what the link replaces.
    example = next(
        ex["value"]
        for ex in doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["examples"].values()
        if ex["value"]["input"].get("mode") == body["input"]["mode"]
    )
    assert api.client.post(path, json=example, headers=api.headers()).status_code == 400
    # Another model's task, polled: the follow-up is refused with a 400 (a documented answer).
    other = api.submit_ok("nano-banana")
    api.advance(to="idle")
    body = _evaluate(link["requestBody"], api.status("nano-banana", other).json())
    r = api.client.post(path, json=body, headers=api.headers())
    assert r.status_code == 400 and "nano-banana" in r.json()["data"]["error"]


@pytest.mark.parametrize("model", [m.name for m in CATALOG])
def test_each_submit_links_to_its_poll(api, doc, model):
    link = doc["paths"][f"/api/v1/generateTask/{model}"]["post"]["responses"]["200"]["links"]["statusTask"]
    submitted = api.submit(model)
    assert submitted.status_code == 200, submitted.text
    params = _evaluate(link["parameters"], submitted.json())
    r = api.client.get(
        f"/api/v1/statusTask/{params['model']}", params={"taskId": params["taskId"]}, headers=api.headers()
    )
    assert r.status_code == 200 and r.json()["data"]["taskId"] == params["taskId"]
