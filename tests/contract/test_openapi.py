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
from mockserver.dialects import builtin
from mockserver.dialects.api123 import API123
from mockserver.http import published as docs
from tests.conftest import example_input

CATALOG = load_catalog()
# What a scenario rule can answer on every operation: named, or by class (test_rule_statuses.py).
EVERYWHERE = {"403", "429", "500", "502", "503", "2XX", "3XX", "4XX", "5XX"}


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


def declared(node):
    """``node`` as the bundler writes it: required fields declared beside each ``required``."""
    from mockserver.contract.openapi import _declare_required

    if isinstance(node, list):
        return [declared(v) for v in node]
    if not isinstance(node, dict):
        return node
    return _declare_required(
        {k: (v if k in ("examples", "default", "const", "enum") else declared(v)) for k, v in node.items()}
    )


def test_declaring_required_fields_in_branches_keeps_the_meaning():
    """A then-branch's required field is declared with an empty schema; an object that allows no
    other field is left alone (a declaration there would let the field through)."""
    from mockserver.contract.openapi import _declare_required

    branch = {"required": ["image_urls"]}
    assert _declare_required(dict(branch)) == {"required": ["image_urls"], "properties": {"image_urls": {}}}
    closed = {"required": ["a"], "properties": {}, "additionalProperties": False}
    assert _declare_required(dict(closed)) == closed
    schema = {"type": "object", "properties": {"mode": {}}, "allOf": [{"if": {"required": ["mode"]}, "then": branch}]}
    for instance in ({}, {"mode": 1}, {"mode": 1, "image_urls": []}):
        assert Draft202012Validator(schema).is_valid(instance) == Draft202012Validator(declared(schema)).is_valid(
            instance
        )


@pytest.mark.parametrize("model", CATALOG.names())
def test_each_model_has_its_own_request_body_and_examples(doc, model):
    op = doc["paths"][f"/api/v1/generateTask/{model}"]["post"]
    media = op["requestBody"]["content"]["application/json"]
    component = media["schema"]["$ref"].rsplit("/", 1)[1]
    body = doc["components"]["schemas"][component]
    assert body["properties"]["input"] == {"$ref": f"#/components/schemas/{component_name('models/' + model)}"}
    published = json.loads((schema_dir() / "models" / f"{model}.json").read_text())
    bundled = doc["components"]["schemas"][component_name("models/" + model)]
    # The published schema, with each field a then-branch requires declared there too (for linters).
    assert bundled == declared({k: v for k, v in published.items() if k not in ("$id", "$schema")})
    validator = _validator(doc, component)
    assert media["examples"]
    for example in media["examples"].values():
        assert list(validator.iter_errors(example["value"])) == []
    # ...and the same validator refuses what the model refuses.
    assert list(validator.iter_errors({"input": {**example_input(model), "no_such_field": 1}}))
    assert set(op["responses"]) == {"200", "400", "401", "402", "404", "408", "409", "413"} | EVERYWHERE
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


@pytest.mark.parametrize("model", CATALOG.names())
def test_callbacks_carry_the_callback_schema(doc, model):
    # Inline in each operation: code generators (openapi-python-client) refuse a $ref'd callback.
    callbacks = doc["paths"][f"/api/v1/generateTask/{model}"]["post"]["callbacks"]
    cb = callbacks["taskFinished"]["{$request.body#/callback_url}"]["post"]
    assert cb["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Callback"}
    assert "callbacks" not in doc["components"]
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


# --------------------------------------------------------------------- 123API's document


@pytest.fixture(scope="module")
def doc123() -> dict:
    return API123.openapi(API123.catalog(), contract.load_schemas())


def _operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield path, method, op


@pytest.mark.parametrize("dialect", ["apixo", "123api"])
def test_the_document_is_valid_openapi_3_1(dialect):
    # The OpenAPI 3.1 meta-schema Schemathesis itself loads documents with (openapi-spec-validator
    # is no dependency); its compiled validator takes milliseconds where jsonschema takes a second.
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

    d = builtin()[dialect]
    document = d.openapi(d.catalog(), contract.load_schemas())
    assert [e.message for e in OPENAPI_31_VALIDATOR.iter_errors(document)] == []
    broken = json.loads(json.dumps(document))
    next(iter(broken["paths"].values()))["parameters"] = [{"name": "x", "in": "body"}]
    assert list(OPENAPI_31_VALIDATOR.iter_errors(broken))


def test_123api_document_is_self_contained_and_names_its_schemas(doc123):
    for ref in _refs(doc123):
        node = doc123
        for part in ref[2:].split("/"):
            node = node[part]
    components = doc123["components"]["schemas"]
    assert set(components) == {
        "Error",
        "SubmitResponse",
        "StatusResponse",
        "StatusResponseResult",
        "ModelsResponse",
        "Gpt4oImageRequest",
        "Sora2Request",
        "Veo31FastRequest",
    }
    for name, schema in components.items():
        Draft202012Validator.check_schema(schema)
        assert "$id" not in schema and "$defs" not in schema, name
    published = contract.load_schemas().get("123api/error")
    assert components["Error"] == {k: v for k, v in published.items() if k not in ("$id", "$schema")}


def test_123api_routes_only_with_bearer_security(doc123):
    assert {(p, m) for p, m, _ in _operations(doc123)} == {
        ("/v1/images/generations", "post"),
        ("/v1/videos/generations", "post"),
        ("/v1/tasks/{task_id}", "get"),
        ("/v1/models", "get"),
        ("/v1/files/{task_id}/{filename}", "get"),
    }
    assert {r.path for r in API123.routes} == set(doc123["paths"])
    assert doc123["security"] == [{"bearerAuth": []}]
    assert doc123["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert doc123["paths"]["/v1/files/{task_id}/{filename}"]["get"]["security"] == []


@pytest.mark.parametrize(
    ("path", "models", "other"),
    [
        ("/v1/images/generations", ["gpt-4o-image"], "sora-2"),
        ("/v1/videos/generations", ["sora-2", "veo3.1-fast"], "gpt-4o-image"),
    ],
)
def test_123api_submit_body_is_one_of_the_routes_models(doc123, path, models, other):
    op = doc123["paths"][path]["post"]
    media = op["requestBody"]["content"]["application/json"]
    refs = [r["$ref"].rsplit("/", 1)[1] for r in media["schema"]["oneOf"]]
    assert [doc123["components"]["schemas"][c]["properties"]["model"]["const"] for c in refs] == models
    assert set(media["schema"]["discriminator"]["mapping"]) == set(models)
    for model, comp in zip(models, refs, strict=True):
        published = contract.load_schemas().get(f"123api/models/{model}")
        assert doc123["components"]["schemas"][comp] == {
            k: v for k, v in published.items() if k not in ("$id", "$schema")
        }
    body = _body_validator(doc123, media["schema"])
    assert {ex["value"]["model"] for ex in media["examples"].values()} == set(models)
    for example in media["examples"].values():
        assert list(body.iter_errors(example["value"])) == []
    # A model of the other route, and an unknown field, are refused.
    other_body = contract.load_schemas().get(f"123api/models/{other}")["examples"][0]
    assert list(body.iter_errors(other_body))
    assert list(body.iter_errors({**next(iter(media["examples"].values()))["value"], "callback_url": "http://x"}))
    idem = next(p for p in op["parameters"] if p["name"] == "Idempotency-Key")
    assert idem["in"] == "header" and not idem["required"]
    assert idem["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}
    link = op["responses"]["200"]["links"]["getTask"]
    assert link == {
        "operationId": "getTask",
        "description": "Poll the new task",
        "parameters": {"task_id": "$response.body#/task_id"},
    }


def _body_validator(doc: dict, schema: dict) -> Draft202012Validator:
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(doc, default_specification=DRAFT202012))
    rebased = json.loads(json.dumps(schema).replace('"#/components/', '"urn:openapi#/components/'))
    return Draft202012Validator(rebased, registry=registry)


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/v1/images/generations", "post", {"200", "400", "401", "402", "404", "408", "409", "413"}),
        ("/v1/videos/generations", "post", {"200", "400", "401", "402", "404", "408", "409", "413"}),
        ("/v1/tasks/{task_id}", "get", {"200", "400", "401", "404"}),
        ("/v1/models", "get", {"200", "401"}),
        ("/v1/files/{task_id}/{filename}", "get", {"200", "404"}),
    ],
)
def test_123api_every_operation_lists_every_status_with_page_004_errors(doc123, path, method, statuses):
    responses = doc123["paths"][path][method]["responses"]
    assert set(responses) == statuses | EVERYWHERE
    error = _validator(doc123, "Error")
    for status, response in responses.items():
        if status in ("200", "2XX", "3XX"):
            continue
        content = response["content"]["application/json"]
        assert content["schema"] == {"$ref": "#/components/schemas/Error"}, status
        if "example" in content:
            assert list(error.iter_errors(content["example"])) == [], status
    assert responses["429"]["headers"]["Retry-After"]["required"] is True
    assert responses["429"]["content"]["application/json"]["example"]["retryAfter"] == 60


def test_123api_status_models_and_files(doc123):
    status = doc123["paths"]["/v1/tasks/{task_id}"]["get"]
    assert [(p["name"], p["in"], p["required"]) for p in status["parameters"]] == [
        ("task_id", "path", True),
        ("language", "query", False),
    ]
    examples = status["responses"]["200"]["content"]["application/json"]["examples"]
    assert set(examples) == {"processing", "completed", "failed"}
    validator = _validator(doc123, "StatusResponse")
    for example in examples.values():
        assert list(validator.iter_errors(example["value"])) == []
    assert list(validator.iter_errors({"task_id": "task-1", "status": "completed", "model": "sora-2"}))
    models = doc123["paths"]["/v1/models"]["get"]["responses"]["200"]["content"]["application/json"]
    assert list(_validator(doc123, "ModelsResponse").iter_errors(models["example"])) == []
    assert [m["id"] for m in models["example"]["data"]] == API123.catalog().names()
    files = doc123["paths"]["/v1/files/{task_id}/{filename}"]["get"]["responses"]["200"]["content"]
    assert files == {t: {"schema": {"type": "string", "format": "binary"}} for t in ("image/png", "video/mp4")}


def test_the_mock_answers_only_what_the_123api_document_lists(api, doc123):
    """Each answer's status is listed for its operation and its body keeps that response's schema."""
    h = api.headers()
    c = api.client
    image = {"model": "gpt-4o-image", "prompt": "a fox"}
    answers = [
        ("/v1/images/generations", "post", c.post("/v1/images/generations", json=image, headers=h)),
        ("/v1/images/generations", "post", c.post("/v1/images/generations", json={"model": "sora-2"}, headers=h)),
        ("/v1/images/generations", "post", c.post("/v1/images/generations", json={**image, "model": "x"}, headers=h)),
        ("/v1/videos/generations", "post", c.post("/v1/videos/generations", json=image)),
        ("/v1/tasks/{task_id}", "get", c.get("/v1/tasks/task-nope-0", headers=h, params={"language": "en"})),
        ("/v1/models", "get", c.get("/v1/models", headers=h)),
        ("/v1/models", "get", c.get("/v1/models")),
        ("/v1/files/{task_id}/{filename}", "get", c.get("/v1/files/task-nope-0/0.png")),
    ]
    task_id = answers[0][2].json()["task_id"]
    api.advance(to="idle")
    answers.append(("/v1/tasks/{task_id}", "get", c.get(f"/v1/tasks/{task_id}", headers=h)))
    url = answers[-1][2].json()["result"]["url"]
    answers.append(("/v1/files/{task_id}/{filename}", "get", c.get(url)))
    assert [r.status_code for *_, r in answers] == [200, 400, 404, 401, 404, 200, 401, 404, 200, 200]
    for path, method, r in answers:
        response = doc123["paths"][path][method]["responses"][str(r.status_code)]
        ctype = r.headers["content-type"].split(";")[0]
        assert ctype in response["content"], (path, r.status_code, ctype)
        schema = response["content"][ctype]["schema"]
        if "$ref" in schema:
            errors = list(_validator(doc123, schema["$ref"].rsplit("/", 1)[1]).iter_errors(r.json()))
            assert errors == [], (path, r.text)


# ------------------------------------------------------------- /openapi/{dialect}.json


def test_openapi_json_is_still_the_first_dialects_document_byte_for_byte(api):
    r = api.client.get("/openapi.json")
    base = str(api.client.base_url).rstrip("/")
    servers = [{"url": base, "description": "this mock"}]
    expected = {**build_openapi(CATALOG, contract.load_schemas()), "servers": servers}
    assert r.content == json.dumps(expected).encode()
    assert api.client.get("/openapi/apixo.json").content == r.content


def test_each_enabled_dialect_has_its_document(api, doc123):
    r = api.client.get("/openapi/123api.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    served = r.json()
    assert served["servers"] == [{"url": str(api.client.base_url).rstrip("/"), "description": "this mock"}]
    assert {k: v for k, v in served.items() if k != "servers"} == doc123
    listing = api.client.get("/schemas/").json()
    assert listing["openapi"] == "/openapi.json"
    assert listing["openapi_by_dialect"] == {"apixo": "/openapi/apixo.json", "123api": "/openapi/123api.json"}
    assert "123api/models/gpt-4o-image.json" in {s["name"] for s in listing["schemas"]}
    # Fetching the documents is not client traffic: the journal stays empty.
    assert api.admin("GET", "/journal").json()["entries"] == []


def test_an_unknown_dialects_document_is_a_404_naming_the_known_ones(api):
    r = api.client.get("/openapi/nope.json")
    assert r.status_code == 404
    assert "this server's documents: /openapi/apixo.json, /openapi/123api.json" in r.text
    assert "'nope' is not a dialect" in r.text


def test_a_123api_only_server_serves_its_document_at_openapi_json(make_api, doc123):
    api = make_api(dialects="123api")
    first = api.client.get("/openapi.json").json()
    assert first["info"]["title"].startswith("123API") and first["paths"] == doc123["paths"]
    r = api.client.get("/openapi/apixo.json")
    assert r.status_code == 404
    assert r.json() == {
        "error": "not_found",
        "message": "'apixo' is not enabled on this server; this server's documents: /openapi/123api.json "
        "(enabled: 123api)",
    }
    assert api.client.get("/schemas/").json()["openapi_by_dialect"] == {"123api": "/openapi/123api.json"}


@pytest.mark.parametrize("dialect", ["apixo", "123api"])
def test_what_spectral_oas_asks_contact_license_descriptions_no_unused_component(dialect):
    # .ci/run lints both documents with Spectral (spectral:oas, no warning); these are its rules
    # the documents once broke.
    d = builtin()[dialect]
    document = d.openapi(d.catalog(), contract.load_schemas())
    assert document["info"]["contact"]["name"] and document["info"]["license"]["identifier"] == "MIT"
    for path, method, op in _operations(document):
        assert op.get("description", "").strip(), (path, method)
    used = {ref.rsplit("/", 1)[1] for ref in _refs({k: v for k, v in document.items() if k != "components"})}
    pending = list(used)
    while pending:  # what the used components refer to is used too
        for ref in _refs(document["components"]["schemas"][pending.pop()]):
            if ref.rsplit("/", 1)[1] not in used:
                used.add(ref.rsplit("/", 1)[1])
                pending.append(ref.rsplit("/", 1)[1])
    assert set(document["components"]["schemas"]) - used == set()
