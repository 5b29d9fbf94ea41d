"""123API's OpenAPI 3.1 document: the two submit routes (each body ``oneOf`` the models that route
takes, told apart by ``model``), the task with its ``language`` parameter, the models list and the
result files. Every error is page 004's body; each operation lists every status the mock can
answer there. The admin API is not part of the provider contract and stays out.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from mockserver.contract.openapi import (
    ANYWHERE,
    COMPONENT_REF,
    Bundler,
    document,
    idempotency_key_parameter,
    result_file_operation,
    rule_ranges,
)
from mockserver.contract.schemas import Schemas, UnknownSchema
from mockserver.core.catalog import Catalog
from mockserver.core.media import CONTENT_TYPES, RENDERABLE
from mockserver.dialects.api123 import wire

__all__ = ["build_openapi"]

_JSON = "application/json"
_ERROR = {"$ref": COMPONENT_REF + "Error"}
_SCHEMAS = {  # published schema -> its component in this document
    "123api/submit-response": "SubmitResponse",
    "123api/status-response": "StatusResponse",
    "123api/models-response": "ModelsResponse",
    "123api/error": "Error",
}

# What each status means on 123API (page 004 for the codes it lists; the mock's own for the rest).
_WHY = {
    400: "Invalid body, a missing or bad field, or a model sent to the other media's route; message names the field",
    401: "Missing, empty or unknown API key",
    402: "Insufficient balance: the key cannot pay for the task, and no task is created",
    403: "Not allowed (a scenario rule can answer it)",
    404: "Unknown model, task (or another key's) or file",
    408: "The body did not arrive in time",
    409: "The Idempotency-Key was first used with another body",
    413: "The body is larger than the server accepts",
    429: "Rate limited: wait Retry-After seconds (also the body's retryAfter)",
    500: "Server error: retry with backoff",
    502: "Bad gateway: retry with backoff",
    503: "Service unavailable: retry with backoff",
}
# What a rule answers with a 2xx or 3xx status: {"message": ...}, or the rule's own body.
_RULE_ANSWER = {"description": '{"message": TEXT}, or the body the rule gives'}
_RETRY_AFTER = {
    "description": "Seconds to wait before the next request (the same as the body's retryAfter)",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}
# What each model's media renders as: the formats of the result files.
_MEDIA_TYPES = {ext: CONTENT_TYPES[ext] for ext in RENDERABLE}


def _errors(*codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in sorted({*codes, *ANYWHERE}):
        response: dict[str, Any] = {
            "description": _WHY[code],
            "content": {_JSON: {"schema": _ERROR, "example": _error_example(code)}},
        }
        if code == 429:
            response["headers"] = {"Retry-After": _RETRY_AFTER}
        out[str(code)] = response
    return {**out, **rule_ranges(_ERROR, _RULE_ANSWER)}


def _error_example(code: int) -> dict[str, Any]:
    example: dict[str, Any] = {"error": wire.short_code(code), "message": _WHY[code].split(":")[0]}
    if code == 429:
        example["retryAfter"] = 60
    return example


def _camel(text: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", text) if w)


def _request_component(bundler: Bundler, catalog: Catalog, model: str) -> str:
    """The model's whole submit body as a component (``Gpt4oImageRequest``)."""
    comp = _camel(model) + "Request"
    try:
        return bundler.add(f"123api/models/{model}", comp)
    except UnknownSchema:
        # A catalog of the caller's own: its model carries its schema, unpublished.
        found = catalog.get(model)
        schema = copy.deepcopy(found.schema) if found is not None else {}
        bundler.components[comp] = bundler.embed(schema, f"urn:mockserver:123api:{model}", comp)
        return comp


def _submit(bundler: Bundler, catalog: Catalog, path: str, media: str) -> dict[str, Any]:
    models = [m.name for m in catalog if m.media == media]
    comps = {model: _request_component(bundler, catalog, model) for model in models}
    examples: dict[str, Any] = {}
    for model, comp in comps.items():
        for i, example in enumerate(bundler.components[comp].get("examples", [])):
            examples[model if i == 0 else f"{model}-{i + 1}"] = {"value": example}
    refs = [{"$ref": COMPONENT_REF + comp} for comp in comps.values()]
    schema: dict[str, Any] = {
        "oneOf": refs,
        "discriminator": {
            "propertyName": "model",
            "mapping": {model: COMPONENT_REF + comp for model, comp in comps.items()},
        },
    }
    body: dict[str, Any] = {"schema": schema}
    if examples:
        body["examples"] = examples
    listed = ", ".join(models) or "none"
    return {
        "post": {
            "operationId": f"create{media.capitalize()}Task",
            "tags": ["tasks"],
            "summary": f"Create a {media} task",
            "description": f"The {media} models: {listed}; each body is its model's schema "
            f"(/schemas/123api/models/MODEL.json). A model of another media is a 400 naming the "
            f"right route; an unknown model a 404. 123API documents no callbacks: a callback_url "
            f"(or webhook) field is a 400. Answers the queued task: poll GET {wire.TASK_PATH}.",
            "parameters": [idempotency_key_parameter(" (a mock extension: 123API documents none)")],
            "requestBody": {"required": True, "content": {_JSON: body}},
            "responses": {
                "200": {
                    "description": "The task was created, queued",
                    "content": {
                        _JSON: {
                            "schema": {"$ref": COMPONENT_REF + "SubmitResponse"},
                            "example": {
                                "task_id": "task-9bddec44-3b1d6f2f",
                                "status": "queued",
                                "model": models[0] if models else "gpt-4o-image",
                            },
                        }
                    },
                    "links": {
                        "getTask": {
                            "operationId": "getTask",
                            "description": "Poll the new task",
                            "parameters": {"task_id": "$response.body#/task_id"},
                        }
                    },
                },
                **_errors(400, 401, 402, 404, 408, 409, 413),
            },
        }
    }


def build_openapi(catalog: Catalog, schemas: Schemas) -> dict:
    """123API's OpenAPI 3.1 document for ``catalog``'s models."""
    bundler = Bundler(schemas)
    for name, comp in _SCHEMAS.items():
        bundler.add(name, comp)
    paths: dict[str, Any] = {}
    for path, media in wire.ROUTE_MEDIA.items():
        paths[path] = _submit(bundler, catalog, path, media)
    status_examples = schemas.get("123api/status-response").get("examples", [])
    paths[wire.TASK_PATH] = {
        "get": {
            "operationId": "getTask",
            "tags": ["tasks"],
            "summary": "A task's status (and its results once completed)",
            "description": "queued and processing carry task_id, status and model; completed adds "
            "result (url: the first file, urls: all of them); failed adds error (the fail code, e.g. "
            "CONTENT_VIOLATION) and message. A failed task is still HTTP 200.",
            "parameters": [
                {
                    "name": "task_id",
                    "in": "path",
                    "required": True,
                    "description": "The task_id the submit answered",
                    "schema": {"type": "string", "minLength": 1},
                    "example": "task-9bddec44-3b1d6f2f",
                },
                {
                    "name": "language",
                    "in": "query",
                    "required": False,
                    "description": "The language of messages (accepted and ignored by the mock)",
                    "schema": {"type": "string"},
                    "example": "en",
                },
            ],
            "responses": {
                "200": {
                    "description": "The task",
                    "content": {
                        _JSON: {
                            "schema": {"$ref": COMPONENT_REF + "StatusResponse"},
                            "examples": {ex["status"]: {"value": ex} for ex in status_examples if "status" in ex},
                        }
                    },
                },
                **_errors(400, 401, 404),
            },
        }
    }
    paths[wire.MODELS_PATH] = {
        "get": {
            "operationId": "listModels",
            "tags": ["account"],
            "summary": "The model ids this server serves (use them exactly in model)",
            "description": "Each model's id, as the submit body's model takes it; the image route takes "
            "the image models, the video route the video models.",
            "responses": {
                "200": {
                    "description": "The models",
                    "content": {
                        _JSON: {
                            "schema": {"$ref": COMPONENT_REF + "ModelsResponse"},
                            "example": wire.API123.models_body(catalog.names()),
                        }
                    },
                },
                **_errors(401),
            },
        }
    }
    medias = {m.media for m in catalog}
    file_types = sorted({t for t in _MEDIA_TYPES.values() if t.split("/")[0] in medias})
    paths[wire.FILES_PATH] = result_file_operation(
        id_param="task_id",
        urls_field="result.urls",
        lifetime="123API does not say how long they live (page 000: cache them on your own storage).",
        file_types=file_types,
        errors=_errors(404),
    )
    return document(
        title="123API-style async generation API (mockserver)",
        description="Submit an image or video task, poll it, download the results. Served by "
        "mockserver; the same schemas are published one per message under /schemas/123api/. Every "
        'error is page 004\'s body {"error": SHORT_CODE, "message": DETAIL}, with retryAfter '
        "(seconds) and a Retry-After header on 429. A method a route does not take is a 405 "
        "with an Allow header.",
        account="The models the key may use",
        paths=paths,
        bundler=bundler,
        bearer="Authorization: Bearer sk_...",
    )
