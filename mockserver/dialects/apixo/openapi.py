"""APIXO's OpenAPI 3.1 document: one generateTask operation per model (so each request body is
that model's exact input schema), statusTask with its examples by state, the balance, result files
and the callback. The admin API is not part of the provider contract and stays out.
"""

from __future__ import annotations

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
from mockserver.contract.schemas import Schemas
from mockserver.core.catalog import Catalog
from mockserver.core.media import CONTENT_TYPES, RENDERABLE
from mockserver.dialects.apixo import wire as apixo
from mockserver.dialects.apixo.contract import generate_request_schema

__all__ = ["build_openapi"]

_REF = COMPONENT_REF
_ERROR = {"$ref": _REF + "Error"}
_JSON = "application/json"


# What a rule answers with a 2xx or 3xx status: the envelope, code = the status (a rule's body as data).
_RULE_ANSWER = {
    "type": "object",
    "required": ["code", "message", "data"],
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
}


def _error_responses(*codes: int) -> dict:
    """The error statuses of an operation: ``codes`` (the mock's own answers there), those a
    scenario rule can answer anywhere, and the ranges for any other status a rule gives."""
    what = {
        400: "Bad input: the body, a field, a parameter or the Idempotency-Key header (data.error names it)",
        401: "Missing, empty or unknown API key",
        402: "The key's balance cannot pay for the task; no task is created",
        403: "Forbidden (a scenario rule can answer it)",
        404: "Unknown model, task (another key's, or asked for under another model's path) or file "
        "(also a task with no results yet, or expired files)",
        408: "The body did not arrive in time",
        409: "The Idempotency-Key was first used with another body",
        413: "The body is larger than the server accepts",
        429: "Rate limited: wait Retry-After seconds (also in the body's retryAfter)",
        500: "Server error: retry with backoff",
        502: "Bad gateway: retry with backoff",
        503: "Service unavailable: retry with backoff",
    }
    out: dict[str, Any] = {}
    for code in sorted({*codes, *ANYWHERE}):
        response: dict[str, Any] = {
            "description": what[code],
            "content": {_JSON: {"schema": _ERROR}},
        }
        if code == 429:
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before the next request",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0},
                }
            }
        out[str(code)] = response
    return {**out, **rule_ranges(_ERROR, _RULE_ANSWER)}


def _task_finished() -> dict[str, Any]:
    """The callback object: the task's final status, POSTed to the request's callback_url."""
    return {
        "{$request.body#/callback_url}": {
            "post": {
                "summary": "The task ended: its final status, POSTed to callback_url",
                "requestBody": {
                    "required": True,
                    "content": {_JSON: {"schema": {"$ref": _REF + "Callback"}}},
                },
                "responses": {
                    "200": {"description": "Received"},
                    "4XX": {"description": "Not received: retried"},
                    "default": {"description": "Any other status (or no answer in 30 s): not received, retried"},
                },
            }
        }
    }


def _follow_up_links(catalog: Catalog) -> dict[str, Any]:
    """From a polled task to a follow-up of it, for each model with follow-up modes (midjourney's
    vary, upscale...): the model's first follow-up example, naming the polled task. The examples'
    own taskId is a placeholder no mock holds; this one names a task the server made, and the
    follow-up is accepted once that task is a successful task of the model (else a 400 says why)."""
    links: dict[str, Any] = {}
    for found in catalog:
        examples = found.schema.get("examples", [])
        example = next((ex for ex in examples if ex.get("mode") in found.follow_up_modes and "taskId" in ex), None)
        if example is None:
            continue
        op = _operation_id("generateTask", found.name)
        links[_operation_id("followUp", found.name)] = {
            "operationId": op,
            "description": f"When the polled task is a successful {found.name} task: {example['mode']} it",
            "requestBody": {"input": {**example, "taskId": "$response.body#/data/taskId"}},
        }
    return links


def _operation_id(prefix: str, model: str) -> str:
    return prefix + "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", model) if w)


def build_openapi(catalog: Catalog, schemas: Schemas) -> dict:
    """APIXO's OpenAPI 3.1 document for ``catalog``'s models."""
    bundler = Bundler(schemas)
    for name in (
        "generate-response",
        "status-response",
        "balance-response",
        "error",
        "callback",
    ):
        bundler.add(name)
    paths: dict[str, Any] = {}
    models = catalog.names()
    for model in models:
        input_comp = bundler.add(f"models/{model}")
        body = generate_request_schema(model, schemas=schemas)
        examples = body.pop("examples", [])
        body_comp = "GenerateRequest" + input_comp.removesuffix("Input")
        # input is already an absolute $ref to the model schema: embed() turns it into input_comp.
        bundler.components[body_comp] = bundler.embed(body, schemas.uri("generate-request"), "GenerateRequest")
        media: dict[str, Any] = {"schema": {"$ref": _REF + body_comp}}
        if examples:
            media["examples"] = {f"example{i + 1}": {"value": ex} for i, ex in enumerate(examples)}
        paths[apixo.GENERATE_PATH.replace("{model}", model)] = {
            "post": {
                "operationId": _operation_id("generateTask", model),
                "tags": ["tasks"],
                "summary": f"Create a {model} task",
                "description": f"Input: /schemas/models/{model}.json. Answers the taskId to poll; "
                "with request_type callback the final status is also POSTed to callback_url.",
                "parameters": [idempotency_key_parameter()],
                "requestBody": {"required": True, "content": {_JSON: media}},
                "responses": {
                    "200": {
                        "description": "The task was created",
                        "content": {
                            _JSON: {
                                "schema": {"$ref": _REF + "GenerateResponse"},
                                "example": {
                                    "code": 200,
                                    "message": "success",
                                    "data": {"taskId": "task_12345678"},
                                },
                            }
                        },
                        "links": {
                            "statusTask": {
                                "operationId": "statusTask",
                                "description": "Poll the new task",
                                "parameters": {
                                    "model": model,
                                    "taskId": "$response.body#/data/taskId",
                                },
                            },
                        },
                    },
                    **_error_responses(400, 401, 402, 404, 408, 409, 413, 429),
                },
                # Inline, not a $ref to components/callbacks: generators (openapi-python-client)
                # refuse a referenced callback object.
                "callbacks": {"taskFinished": _task_finished()},
            }
        }
    status_examples = schemas.get("status-response").get("examples", [])
    paths[apixo.STATUS_PATH] = {
        "get": {
            "operationId": "statusTask",
            "tags": ["tasks"],
            "summary": "A task's state (and its results once it succeeded)",
            "description": "Fields by state: pending and processing have taskId, state, "
            "createTime; success adds resultJson (a JSON string holding resultUrls), completeTime "
            "and costTime; failed adds failCode, failMsg and completeTime. A failed task is still "
            "code 200.",
            "parameters": [
                {
                    "name": "model",
                    "in": "path",
                    "required": True,
                    "description": "The model the task was created with",
                    "schema": {"type": "string", "enum": models},
                },
                {
                    "name": "taskId",
                    "in": "query",
                    "required": True,
                    "description": "The taskId generateTask answered",
                    "schema": {"type": "string", "minLength": 1},
                    "example": "task_12345678",
                },
            ],
            "responses": {
                "200": {
                    "description": "The task's status",
                    "content": {
                        _JSON: {
                            "schema": {"$ref": _REF + "StatusResponse"},
                            "examples": {ex["data"]["state"]: {"value": ex} for ex in status_examples if "data" in ex},
                        }
                    },
                    "links": _follow_up_links(catalog),
                },
                **_error_responses(400, 401, 404),
            },
        }
    }
    paths[apixo.BALANCE_PATH] = {
        "get": {
            "operationId": "currentBalance",
            "tags": ["account"],
            "summary": "The calling key's remaining credits",
            "description": "The credits left on the key the request authenticates with; each task is "
            "charged at submit (price per output times outputs) and refunded if it fails. In open mode "
            "(no --api-key) every key reports 1000000.",
            "responses": {
                "200": {
                    "description": "The balance",
                    "content": {
                        _JSON: {
                            "schema": {"$ref": _REF + "BalanceResponse"},
                            "example": {
                                "code": 200,
                                "message": "success",
                                "data": {"balance": 996},
                            },
                        }
                    },
                },
                **_error_responses(401),
            },
        }
    }
    file_types = sorted({CONTENT_TYPES[ext] for ext in RENDERABLE})
    paths[apixo.FILES_PATH.replace("{task_id}", "{taskId}")] = result_file_operation(
        id_param="taskId",
        urls_field="resultUrls",
        lifetime="404 once the files expire (15 days after completion by default).",
        file_types=file_types,
        errors=_error_responses(404),
    )
    return document(
        title="APIXO-style async generation API (mockserver)",
        description="Submit a generation task, poll its status or receive a callback, "
        "download the results. Served by mockserver; the same schemas are published one per "
        "message under /schemas/. Every error answer has HTTP status = body code and the "
        "Error envelope.",
        account="Credits",
        paths=paths,
        bundler=bundler,
        bearer="Authorization: Bearer KEY",
    )
