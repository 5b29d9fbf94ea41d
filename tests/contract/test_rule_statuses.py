"""Every status a scenario rule can make an endpoint answer is in that endpoint's responses, in
both dialects' OpenAPI documents: a validating proxy (Prism) or a generated client then knows every
answer the mock can give, e.g. the 429 and 5xx a rule serves on result files."""

from __future__ import annotations

import re

import pytest

from mockserver import contract
from mockserver.contract.schemas import Schemas
from mockserver.core.catalog import schema_dir
from mockserver.dialects import builtin
from mockserver.scenarios.rules import ACTION_ENDPOINTS

METHODS = {"get", "post", "put", "patch", "delete"}


def _respond_statuses() -> set[int]:
    """The statuses the scenario schema lets a rule's respond answer."""
    prop = Schemas(schema_dir()).get("scenario")["$defs"]["respond"]["properties"]["status"]
    excluded = set(prop["not"]["enum"])
    return {s for s in range(prop["minimum"], prop["maximum"] + 1) if s not in excluded}


def _documented(responses: dict, status: int) -> bool:
    """OpenAPI's lookup: the status itself, its class range (4XX), or default."""
    return str(status) in responses or f"{status // 100}XX" in responses or "default" in responses


def _operations(dialect: str):
    """(route kind, method, path, operation) of every operation in the dialect's document."""
    d = builtin()[dialect]
    doc = d.openapi(d.catalog(), contract.load_schemas())
    routes = [(r, re.compile(re.sub(r"\{[^}]+\}", "[^/]+", r.path) + "$")) for r in d.routes]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            (route,) = [r for r, rx in routes if r.method.lower() == method and rx.match(concrete)]
            yield route.kind, method, path, op


def test_a_rule_can_answer_any_status_with_a_body():
    statuses = _respond_statuses()
    assert {200, 201, 302, 403, 418, 429, 500, 503, 599} <= statuses and not statuses & {204, 205, 304}


@pytest.mark.parametrize("dialect", ["apixo", "123api"])
def test_every_status_a_rule_can_give_on_an_endpoint_is_documented_there(dialect):
    statuses = _respond_statuses()
    seen = set()
    for kind, method, path, op in _operations(dialect):
        seen.add(kind)
        if kind not in ACTION_ENDPOINTS["respond"]:
            continue
        missing = sorted(s for s in statuses if not _documented(op["responses"], s))
        assert missing == [], f"{method.upper()} {path} ({kind}): a rule can answer {missing}"
        # The statuses the scenario library serves are named, each with its own description.
        for named in ("403", "429", "500", "502", "503"):
            assert named in op["responses"], (path, named)
        assert op["responses"]["429"]["headers"]["Retry-After"]["required"] is True
    assert seen == {r.kind for r in builtin()[dialect].routes}


def test_the_check_would_see_an_undocumented_status():
    assert not _documented({"200": {}, "404": {}}, 429)
    assert not _documented({"200": {}, "4XX": {}}, 503)
    assert _documented({"200": {}, "5XX": {}}, 503)


@pytest.mark.parametrize(
    ("dialect", "url", "op_path"),
    [
        ("apixo", "/files/task_x/0.png", "/files/{taskId}/{filename}"),
        ("123api", "/v1/files/task-x/0.png", "/v1/files/{task_id}/{filename}"),
    ],
)
def test_a_rules_answer_on_result_files_is_a_documented_response(api, dialect, url, op_path):
    d = builtin()[dialect]
    responses = d.openapi(d.catalog(), contract.load_schemas())["paths"][op_path]["get"]["responses"]
    for status, retry_after in ((429, {"retry_after": 2}), (503, {}), (403, {})):
        rules = [{"when": {"endpoint": "files"}, "respond": {"status": status, **retry_after}}]
        assert api.client.put("/__admin/scenario", json={"rules": rules}).status_code == 200
        r = api.client.get(url)
        assert r.status_code == status
        documented = responses[str(status)]
        assert r.headers["content-type"] in documented["content"]
        assert all(name in r.headers for name in documented.get("headers", {}))
