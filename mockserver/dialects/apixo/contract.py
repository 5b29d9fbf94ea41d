"""APIXO's published contract beside its schemas: which schema each answer must match, the rules
JSON Schema cannot say (costTime arithmetic, resultJson's content, code == HTTP status,
Retry-After on 429), and the generateTask request schema bound to a model.

The schema machinery is the neutral ``mockserver.contract.schemas``; ``Apixo`` (wire.py) hands
the ``Dialect`` protocol's contract methods to the functions here.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping

from jsonschema import Draft202012Validator

from mockserver.contract.schemas import Problem, Schemas, UnknownSchema, load_schemas, schema_problems
from mockserver.core.catalog import load_catalog
from mockserver.core.words import BALANCE, STATUS, SUBMIT
from mockserver.dialects.apixo.wire import GENERATE_PATH, Apixo

__all__ = [
    "RESPONSE_SCHEMAS",
    "answer_problems",
    "document_problems",
    "generate_request_schema",
    "response_schema",
    "status_rules",
    "validate_request",
]

# Which schema each successful answer must match, by endpoint kind.
RESPONSE_SCHEMAS = {SUBMIT: "generate-response", STATUS: "status-response", BALANCE: "balance-response"}
ERROR_SCHEMA = "error"
REQUEST_SCHEMA = Apixo.request_schema  # generate-request
# Envelopes that embed a status ``data`` and so get the status rules too.
_STATUS_LIKE = ("status-response", "callback")


def response_schema(kind: str | None, status: int, doc: object = None, errors_as_200: bool = False) -> str | None:
    """The schema an answer of endpoint ``kind`` must match (None: no JSON contract, e.g. files).

    Every error status has the error envelope, whatever the path. ``errors_as_200`` (a scenario's
    errors-as-200 mode): a 200 whose body ``doc`` has another code is an error envelope.
    """
    if status >= 400:
        return ERROR_SCHEMA
    if status != 200 or kind not in RESPONSE_SCHEMAS:
        return None
    if errors_as_200 and isinstance(doc, dict) and doc.get("code") != 200:
        return ERROR_SCHEMA
    return RESPONSE_SCHEMAS[kind]


def document_problems(schema: str, doc: object, schemas: Schemas | None = None) -> list[Problem]:
    """The rules beside ``schema`` for a document that keeps it; [] for schemas without any."""
    return status_rules(doc, schemas) if schema in _STATUS_LIKE else []


def answer_problems(
    schema: str, doc: object, status: int, headers: Mapping[str, str], *, retry_hint: str = "both"
) -> list[Problem]:
    """An error answer's body ``code`` must be its HTTP status, and a 429 needs Retry-After (unless
    the scenario's ``retry_hint`` puts the hint in the body only, or nowhere)."""
    if schema != ERROR_SCHEMA or not isinstance(doc, dict):
        return []
    problems = []
    code = doc.get("code")
    if status != 200 and code != status:
        problems.append(Problem("$.code", f"{code!r} differs from the HTTP status {status}"))
    if code == 429 or status == 429:
        problems += _retry_after_problems(doc, headers, required=retry_hint in ("both", "header"))
    return problems


def status_rules(envelope: object, schemas: Schemas | None = None) -> list[Problem]:
    """What a status (or callback) envelope must satisfy that JSON Schema cannot say.

    Call on a document that already validates against status-response.
    """
    schemas = schemas or load_schemas()
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(data, dict):
        return []
    problems: list[Problem] = []
    created, completed = data.get("createTime"), data.get("completeTime")
    if isinstance(created, int) and isinstance(completed, int) and completed < created:
        problems.append(Problem("$.data.completeTime", f"{completed} is before createTime {created}"))
    if data.get("state") == "success":
        cost = data.get("costTime")
        if isinstance(created, int) and isinstance(completed, int) and cost != completed - created:
            problems.append(
                Problem(
                    "$.data.costTime",
                    f"{cost} != completeTime - createTime ({completed - created})",
                )
            )
        raw = data.get("resultJson")
        try:
            result = json.loads(raw) if isinstance(raw, str) else None
        except ValueError as exc:
            problems.append(Problem("$.data.resultJson", f"not valid JSON: {exc}"))
        else:
            result_schema = {"$ref": schemas.uri("status-response") + "#/$defs/result"}
            for p in schema_problems(schemas, schemas.validator_for(result_schema), "status-response", result):
                problems.append(Problem("$.data.resultJson", f"parsed: {p.path}: {p.message}", p.schema))
    return problems


def _retry_after_problems(doc: dict, headers: Mapping[str, str], required: bool = True) -> list[Problem]:
    raw = headers.get("retry-after")
    if raw is None:
        return [Problem("header Retry-After", "missing on a 429")] if required else []
    try:
        seconds = int(raw)
    except ValueError:
        return [Problem("header Retry-After", f"{raw!r} is not a whole number of seconds")]
    body_value = doc.get("retryAfter")
    if isinstance(body_value, int | float) and not isinstance(body_value, bool) and body_value != seconds:
        return [Problem("$.retryAfter", f"{body_value} differs from the Retry-After header ({seconds})")]
    return []


# ------------------------------------------------------------------------ requests


def validate_request(model: str, body: object, *, schemas: Schemas | None = None) -> list[Problem]:
    """Problems of a generateTask body for ``model``: the top level and the model's input.

    Raises UnknownSchema for a model with no published input schema.
    """
    schemas = schemas or load_schemas()
    return schema_problems(schemas, _request_validator(schemas, model), REQUEST_SCHEMA, body)


@functools.cache
def _request_validator(schemas: Schemas, model: str) -> Draft202012Validator:
    return schemas.validator_for(generate_request_schema(model, schemas=schemas))


def generate_request_schema(model: str, *, schemas: Schemas | None = None) -> dict:
    """generate-request with ``input`` bound to the model's schema (and its provider rule)."""
    schemas = schemas or load_schemas()
    try:
        input_uri = schemas.uri(f"models/{model}")
    except UnknownSchema:
        raise UnknownSchema(f"no model named {model!r} (known: {', '.join(load_catalog().names())})") from None
    schema = copy.deepcopy(schemas.get(REQUEST_SCHEMA))
    schema.pop("$id", None)
    schema.pop("examples", None)
    schema["title"] = f"generateTask request for {model}"
    schema["description"] = (
        f"The JSON body of POST {GENERATE_PATH.replace('{model}', model)}: {REQUEST_SCHEMA}.json with input "
        f"checked by models/{model}.json."
    )
    schema["properties"]["input"] = {"$ref": input_uri}
    found = load_catalog().get(model)
    if found is not None and found.official_only:
        schema["properties"]["provider"] = {
            "type": "string",
            "const": "official",
            "description": f"{model} accepts only provider 'official' (the default when absent).",
        }
    examples = found.schema.get("examples", []) if found is not None else []
    if examples:
        schema["examples"] = [{"request_type": "async", "input": ex} for ex in examples]
    return schema
