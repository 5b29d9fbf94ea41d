"""123API's published contract beside its schemas (``schemas/123api/``): which schema each answer
must match, the rules JSON Schema cannot say (result.url is the first of result.urls, a 429's
retryAfter agrees with Retry-After), and a submit body checked against its model's schema.

``Api123`` (wire.py) hands the ``Dialect`` protocol's contract methods to the functions here.
"""

from __future__ import annotations

from collections.abc import Mapping

from mockserver.contract.schemas import Problem, Schemas, UnknownSchema, load_schemas, schema_problems
from mockserver.core.words import MODELS, STATUS, SUBMIT

__all__ = ["ERROR_SCHEMA", "RESPONSE_SCHEMAS", "answer_problems", "document_problems", "response_schema"]

PREFIX = "123api/"
RESPONSE_SCHEMAS = {
    SUBMIT: PREFIX + "submit-response",
    STATUS: PREFIX + "status-response",
    MODELS: PREFIX + "models-response",
}
ERROR_SCHEMA = PREFIX + "error"


def response_schema(kind: str | None, status: int, doc: object = None, errors_as_200: bool = False) -> str | None:
    """The schema an answer of endpoint ``kind`` must match (None: no JSON contract, e.g. files).

    ``errors_as_200``: a 200 whose body has page 004's ``error`` and no ``task_id`` is an error body.
    """
    if status >= 400:
        return ERROR_SCHEMA
    if status != 200 or kind not in RESPONSE_SCHEMAS:
        return None
    if errors_as_200 and _looks_like_error(doc):
        return ERROR_SCHEMA
    return RESPONSE_SCHEMAS[kind]


def _looks_like_error(doc: object) -> bool:
    return isinstance(doc, dict) and "error" in doc and "task_id" not in doc and "object" not in doc


def document_problems(schema: str, doc: object, schemas: Schemas | None = None) -> list[Problem]:
    """A completed task's ``result.url`` is the first of ``result.urls``."""
    if schema != RESPONSE_SCHEMAS[STATUS] or not isinstance(doc, dict):
        return []
    result = doc.get("result")
    if not isinstance(result, dict):
        return []
    urls = result.get("urls")
    if isinstance(urls, list) and urls and result.get("url") != urls[0]:
        return [Problem("$.result.url", f"{result.get('url')!r} is not the first of result.urls ({urls[0]!r})")]
    return []


def answer_problems(
    schema: str, doc: object, status: int, headers: Mapping[str, str], *, retry_hint: str = "both"
) -> list[Problem]:
    """A 429 carries ``retryAfter`` (page 004) and the Retry-After header, equal; a scenario's
    ``retry_hint`` may keep only one of them, or neither (page 004: a 429 "may include" it)."""
    if schema != ERROR_SCHEMA or not isinstance(doc, dict) or status != 429:
        return []
    body_value = doc.get("retryAfter")
    raw = headers.get("retry-after")
    if body_value is None and retry_hint in ("both", "body"):
        return [Problem("$.retryAfter", "missing on a 429 (page 004: suggested seconds to wait)")]
    if raw is None and retry_hint in ("both", "header"):
        return [Problem("header Retry-After", "missing on a 429")]
    if raw is None or body_value is None:
        return []
    try:
        seconds = float(raw)
    except ValueError:
        return [Problem("header Retry-After", f"{raw!r} is not a number of seconds")]
    if isinstance(body_value, int | float) and not isinstance(body_value, bool) and body_value != seconds:
        return [Problem("$.retryAfter", f"{body_value} differs from the Retry-After header ({raw})")]
    return []


def validate_request(model: str | None, body: object, *, schemas: Schemas | None = None) -> list[Problem]:
    """Problems of a submit body against its model's schema (the model the body, or ``model``, names).

    Raises UnknownSchema when no model is named or it has no published schema.
    """
    schemas = schemas or load_schemas()
    name = model if model is not None else body.get("model") if isinstance(body, dict) else None
    if not isinstance(name, str):
        raise UnknownSchema("a 123API submit body names its model in `model`; none given")
    known = [n.removeprefix(PREFIX + "models/") for n in schemas.names() if n.startswith(PREFIX + "models/")]
    if name not in known:
        raise UnknownSchema(f"no 123API model named {name!r} (known: {', '.join(known)})")
    schema = PREFIX + "models/" + name
    return schema_problems(schemas, schemas.validator(schema), schema, body)
