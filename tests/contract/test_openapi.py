"""/openapi.json and /schemas/: the published contract, served."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mockserver import contract
from mockserver.contract.openapi import Bundler, build_openapi, component_name
from mockserver.core.catalog import load_catalog, schema_dir
from mockserver.http import published as docs
from tests.conftest import example_input

CATALOG = load_catalog()


@pytest.fixture(scope="module")
def doc() -> dict:
    return build_openapi(CATALOG, contract.load_schemas())


def _refs(node, out=None) -> list[str]:
    out = [] if out is None else out
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out.append(value)
            else:
                _refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _refs(value, out)
    return out


def _validator(doc: dict, component: str) -> Draft202012Validator:
    """A validator for one component, resolving #/components/... inside the document."""
    root = "urn:openapi"
    registry = Registry().with_resource(root, Resource.from_contents(doc, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{root}#/components/schemas/{component}"}, registry=registry)


def test_served_document_is_openapi_3_1_with_this_server(api):
    r = api.client.get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    served = r.json()
    assert served["openapi"] == "3.1.0"
    assert served["servers"][0]["url"] == str(api.client.base_url).rstrip("/")
    assert served["paths"] == build_openapi(CATALOG, contract.load_schemas())["paths"]


def test_self_contained_every_ref_resolves_inside(doc):
    refs = _refs(doc)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/"), ref
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]
    for name, schema in doc["components"]["schemas"].items():
        assert "$id" not in schema and "$schema" not in schema and "$defs" not in schema, name
        Draft202012Validator.check_schema(schema)


def test_provider_endpoints_only(doc):
    paths = set(doc["paths"])
    assert {p for p in paths if not p.startswith("/api/v1/generateTask/")} == {
        "/api/v1/statusTask/{model}",
        "/api/v1/apikeys/current-balance",
        "/files/{taskId}/{filename}",
    }
    assert not any(p.startswith(("/__admin", "/schemas")) for p in paths)
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer KEY",
    }
    assert doc["security"] == [{"bearerAuth": []}]
    assert doc["paths"]["/files/{taskId}/{filename}"]["get"]["security"] == []


@pytest.mark.parametrize("model", CATALOG.names())
def test_each_model_has_its_own_request_body_and_examples(doc, model):
    op = doc["paths"][f"/api/v1/generateTask/{model}"]["post"]
    media = op["requestBody"]["content"]["application/json"]
    component = media["schema"]["$ref"].rsplit("/", 1)[1]
    body = doc["components"]["schemas"][component]
    assert body["properties"]["input"] == {"$ref": f"#/components/schemas/{component_name('models/' + model)}"}
    published = json.loads((schema_dir() / "models" / f"{model}.json").read_text())
    bundled = doc["components"]["schemas"][component_name("models/" + model)]
    assert bundled == {k: v for k, v in published.items() if k not in ("$id", "$schema")}
    validator = _validator(doc, component)
    assert media["examples"]
    for example in media["examples"].values():
        assert list(validator.iter_errors(example["value"])) == []
    # ...and the same validator refuses what the model refuses.
    assert list(validator.iter_errors({"input": {**example_input(model), "no_such_field": 1}}))
    assert set(op["responses"]) == {
        "200",
        "400",
        "401",
        "402",
        "403",
        "404",
        "409",
        "413",
        "429",
        "5XX",
    }
    assert op["responses"]["429"]["headers"]["Retry-After"]["required"] is True
    assert op["responses"]["200"]["links"]["statusTask"]["parameters"]["taskId"] == "$response.body#/data/taskId"


def test_response_examples_validate_and_files_are_binary(doc):
    status = doc["paths"]["/api/v1/statusTask/{model}"]["get"]
    examples = status["responses"]["200"]["content"]["application/json"]["examples"]
    assert set(examples) == {"processing", "success", "failed"}
    validator = _validator(doc, "StatusResponse")
    for example in examples.values():
        assert list(validator.iter_errors(example["value"])) == []
    assert list(validator.iter_errors({"code": 200, "message": "success", "data": {"state": "success"}}))
    files = doc["paths"]["/files/{taskId}/{filename}"]["get"]["responses"]
    assert set(files["200"]["content"]) == {"image/png", "video/mp4", "audio/wav"}
    assert files["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_callbacks_carry_the_callback_schema(doc):
    cb = doc["components"]["callbacks"]["TaskFinished"]["{$request.body#/callback_url}"]["post"]
    assert cb["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Callback"}
    schemas = doc["components"]["schemas"]
    assert schemas["Callback"]["properties"]["data"] == {"$ref": "#/components/schemas/CallbackData"}
    # a callback is a status envelope, or one of suno's staged callbacks
    assert schemas["CallbackData"]["oneOf"] == [
        {"$ref": "#/components/schemas/StatusResponseRunning"},
        {"$ref": "#/components/schemas/StatusResponseSuccess"},
        {"$ref": "#/components/schemas/StatusResponseFailed"},
        {"$ref": "#/components/schemas/CallbackStaged"},
    ]


def test_bundler_refuses_refs_it_cannot_bundle(tmp_path):
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://mockserver.local/schemas/a.json",
        "$ref": "#/properties/x",
    }
    (tmp_path / "a.json").write_text(json.dumps(schema))

    with pytest.raises(ValueError, match="only whole schemas"):
        Bundler(contract.Schemas(tmp_path)).add("a")


def test_component_names():
    assert component_name("status-response") == "StatusResponse"
    assert component_name("models/nano-banana-2") == "NanoBanana2Input"


# ------------------------------------------------------------------------ /schemas/


def test_listing_names_every_schema_with_its_id_and_title(api):
    listing = api.client.get("/schemas/").json()
    by_name = {s["name"]: s for s in listing["schemas"]}
    names = ["status-response", "error", "generate-request", "callback", "balance-response"]
    for name in [f"{n}.json" for n in [*names, "generate-response", "models/gpt-image-1"]]:
        entry = by_name[name]
        assert entry["url"] == f"/schemas/{name}"
        assert entry["id"] == f"https://mockserver.local/schemas/{name}" and entry["title"]
    assert listing["openapi"] == "/openapi.json"


def test_every_listed_schema_is_served_as_published(api):
    for entry in api.client.get("/schemas/").json()["schemas"]:
        r = api.client.get(entry["url"])
        assert r.status_code == 200
        assert r.content == (schema_dir() / entry["name"]).read_bytes()
        if entry.get("id"):
            assert r.headers["content-type"] == "application/schema+json"


def test_a_name_finds_its_dot_schema_file(tmp_path, monkeypatch):
    (tmp_path / "scenario.schema.json").write_text('{"title": "x"}')
    monkeypatch.setattr(docs, "schema_dir", lambda: tmp_path)
    docs._load.cache_clear()
    try:
        assert docs._load("scenario.json") == b'{"title": "x"}'
        assert docs._load("scenario.schema.json") == b'{"title": "x"}'
        assert docs._load("nope.json") is None
    finally:
        docs._load.cache_clear()
