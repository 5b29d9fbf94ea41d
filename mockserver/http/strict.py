"""Strict mode (``--strict``): requests must also keep the published request contract.

Normal mode already refuses what it cannot serve (bad JSON, unknown fields, inputs out
of the model's limits). Strict mode adds what a lenient server lets slide, and names
the schema rule a request broke, so a client is held to exactly the published contract:
- generateTask: ``Content-Type: application/json``, and the body checked against
  generate-request.json composed with the model's input schema;
- statusTask: no query parameter besides ``taskId`` (a set lookup: the poll stays cheap).
The 400's ``data.error`` (and so the journal entry) carries the JSON path and the rule.
"""

from __future__ import annotations

from starlette.requests import Request

from mockserver.contract.validation import UnknownSchema, validate, validate_request
from mockserver.core.errors import BadRequest

STATUS_QUERY = frozenset({"taskId"})


def _refuse(error: str) -> BadRequest:
    return BadRequest("Invalid request", error=f"Strict mode: {error}")


def check_submit_headers(request: Request) -> None:
    ctype = request.headers.get("content-type", "")
    if ctype.split(";")[0].strip().lower() != "application/json":
        shown = repr(ctype) if ctype else "none"
        raise _refuse(f"Content-Type must be application/json, got {shown}")


def check_submit_body(model: str, body: object) -> None:
    try:
        problems = validate_request(model, body)
    except UnknownSchema:  # a custom catalog's model with no published schema: the top level only
        problems = validate("generate-request", body)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        rule = f" [schema {first.schema}]" if first.schema else ""
        raise _refuse(f"request breaks the schema at {first.path}: {first.message}{rule}{more}")


def check_status_query(request: Request) -> None:
    extra = set(request.query_params.keys()) - STATUS_QUERY
    if extra:
        raise _refuse(f"unknown query parameter {sorted(extra)[0]!r} (statusTask takes only taskId)")
