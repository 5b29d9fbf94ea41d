"""Strict mode (``--strict``): requests must also keep the published request contract.

Normal mode already refuses what it cannot serve (bad JSON, unknown fields, inputs out
of the model's limits). Strict mode adds what a lenient server lets slide, and names
the schema rule a request broke, so a client is held to exactly the published contract:
- submit: ``Content-Type: application/json``, and the body checked against the dialect's
  published request schema for the model;
- status: no query parameter besides the dialect's own (a set lookup: the poll stays cheap).
The 400's error detail (and so the journal entry) carries the JSON path and the rule.
"""

from __future__ import annotations

from starlette.requests import Request

from mockserver.core.errors import BadRequest
from mockserver.core.words import STATUS
from mockserver.dialects.protocol import Dialect, route_name


def _refuse(error: str) -> BadRequest:
    return BadRequest("Invalid request", error=f"Strict mode: {error}")


def check_submit_headers(request: Request) -> None:
    ctype = request.headers.get("content-type", "")
    if ctype.split(";")[0].strip().lower() != "application/json":
        shown = repr(ctype) if ctype else "none"
        raise _refuse(f"Content-Type must be application/json, got {shown}")


def check_submit_body(dialect: Dialect, model: str | None, body: object) -> None:
    # Here, not at the top: the contract's schemas import jsonschema (~0.1 s of CPU), which a
    # server not in strict mode never needs, and every server imports this module.
    from mockserver.contract import UnknownSchema, validate

    try:
        problems = dialect.request_problems(model, body)
    except UnknownSchema:  # a custom catalog's model, with no published input schema: the top level only
        schema = dialect.request_schema
        problems = validate(schema, body) if schema is not None else []
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        rule = f" [schema {first.schema}]" if first.schema else ""
        raise _refuse(f"request breaks the schema at {first.path}: {first.message}{rule}{more}")


def check_status_query(request: Request, dialect: Dialect) -> None:
    extra = set(request.query_params.keys()) - dialect.status_query
    if extra:
        takes = ", ".join(sorted(dialect.status_query)) or "no query parameter"
        raise _refuse(
            f"unknown query parameter {sorted(extra)[0]!r} ({route_name(dialect, STATUS)} takes only {takes})"
        )
