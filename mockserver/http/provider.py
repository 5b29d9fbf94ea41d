"""Thin Starlette handlers for the provider endpoints: read through the dialect, call the service, answer.

The handlers are the same for every dialect: ``routes(dialects)`` binds one per route kind
(submit, status, balance, files) to the dialect whose route it is, so a handler reads the request
and spells the answer through that dialect, and speaks to the service in the core's words.
"""

from __future__ import annotations

import dataclasses
import json
import operator
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from mockserver.core.errors import BY_STATUS, ApiError
from mockserver.core.memo import remember
from mockserver.core.service import MockService
from mockserver.core.words import BALANCE, FILES, MODELS, STATUS, SUBMIT, TaskView
from mockserver.dialects.protocol import Dialect, compact_json
from mockserver.http import faults, strict
from mockserver.http.requests import (
    base_url,
    base_url_of,
    bearer_key,
    json_within_bounds,
    own_addresses,
    parse_json,
    read_body,
)
from mockserver.scenarios import rules

__all__ = [
    "CONTROL_PLANE",
    "authenticate",
    "base_url",
    "base_url_of",
    "dialect_of",
    "error_parts",
    "error_response",
    "json_response",
    "mock_of",
    "note",
    "place_retry_hint",
    "routes",
    "status_body",
]

JSON = "application/json"
# Not the provider's API: errors here keep their status even with errors_as_200.
CONTROL_PLANE = ("/__admin", "/schemas", "/openapi.json", "/openapi/")
DIALECT = "mockserver.dialect"  # scope key: the dialect whose route this request took
ROUTE = "mockserver.route"  # scope key: the path template of the route this request took
NOTE = "mockserver.note"  # scope key: facts for the journal entry
# scope key: (account key, decision) of a status poll the fast path already authenticated and
# put to the rules, handed to the handler because a rule acts on it (it must not decide twice).
DECIDED = "mockserver.decided"


def mock_of(request: Request) -> MockService:
    return request.app.state.mock


def dialect_of(mock: MockService, scope: Scope) -> Dialect:
    """The dialect a request speaks: its route's, else the first enabled one."""
    found = scope.get(DIALECT)
    return found if found is not None else next(iter(mock.dialects.values()))


def json_response(obj: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(compact_json(obj), status_code=status, headers=headers, media_type=JSON)


def error_parts(mock: MockService, err: ApiError, scope: Scope) -> tuple[int, bytes, dict[str, str]]:
    """An error answer as (HTTP status, JSON body, headers), in the request's dialect."""
    d = dialect_of(mock, scope)
    status = err.status
    provider_api = not scope.get("path", "").startswith(CONTROL_PLANE)
    if mock.errors_as_200 and provider_api:
        status = 200  # the scenario's "errors as 200": the envelope still carries the real code
    body, headers = d.error_body(err), d.error_headers(err)
    if provider_api:
        body = place_retry_hint(mock, d, body, headers, scope)
    return status, d.dumps(body), headers


def place_retry_hint(mock: MockService, dialect: Dialect, body: Any, headers: dict[str, str], scope: Scope) -> Any:
    """The answer's body with the retry hint the dialect spelt kept only where the scenario's
    ``retry_hint`` puts it: the Retry-After header, the body's field (``retryAfter``), both
    (the default) or neither. ``headers`` is changed in place; ``body`` is never (a copy)."""
    mode = mock.retry_hint
    if mode == "both":
        return body
    name = dialect.guidance.words.get("retry_after")
    in_body = body.get(name) if isinstance(body, dict) and name else None
    if mode in ("header", "none") and in_body is not None:
        body = {k: v for k, v in body.items() if k != name}
    if mode in ("body", "none"):
        headers.pop("Retry-After", None)
        if mode == "body" and in_body is not None:
            # The journal reads the header; tell it the hint the client got in the body instead.
            scope.setdefault(NOTE, {})["retry_after"] = in_body
    return body


def error_response(mock: MockService, err: ApiError, request: Request) -> Response:
    status, body, headers = error_parts(mock, err, request.scope)
    return Response(body, status_code=status, headers=headers, media_type=JSON)


def note(request: Request, **fields: object) -> None:
    """Leave facts for the journal entry of this request (task id, model, error...)."""
    request.scope.setdefault(NOTE, {}).update(fields)


def authenticate(mock: MockService, authorization: str | None) -> str:
    """The account key of an Authorization header (401 otherwise); the request counts against its rate."""
    key = mock.authenticate(bearer_key(authorization))
    mock.admit(key)  # requests per minute: a request that gets past auth counts
    return key


# -- scenario rules -------------------------------------------------------------


def apply_rules(request: Request, mock: MockService, facts: rules.Facts) -> rules.Decision | None:
    """Let the scenario's rules act: plan delay/fault for FaultMiddleware, journal the rule."""
    decision = mock.decide(facts)
    if decision is not None:
        take(request, decision)
    return decision


def take(request: Request, decision: rules.Decision) -> None:
    """Journal the acting rule and plan its delay or fault."""
    note(request, rule=decision.rule)
    if decision.fault is not None:
        note(request, fault=decision.fault.kind)
    faults.plan(request.scope, decision.delay_ms, decision.fault)


def status_facts(mock: MockService, dialect: Dialect, key: str, name: str | None, task_id: str | None, headers):
    """What rules see of a status poll (the handler and the fast path ask alike)."""
    seen = mock.store.get(task_id) if task_id else None
    seen = seen if seen is not None and seen.key == key else None
    facts = mock.task_facts(STATUS, seen, key=key, headers=headers)
    facts.model = seen.model if seen is not None else name
    facts.dialect = dialect.name
    return facts


def injected_response(request: Request, mock: MockService, dialect: Dialect, respond: rules.Respond) -> Response:
    """A rule's answer, in the dialect's envelope."""
    status = respond.status
    message = respond.message or _default_message(status)
    if respond.has_body:
        body, headers = dialect.rule_answer(status, message, respond.retry_after, respond.body)
    else:
        body, headers = dialect.rule_answer(status, message, respond.retry_after)
    if status >= 400:
        note(request, error=message)
    body = place_retry_hint(mock, dialect, body, headers, request.scope)
    headers.update(respond.headers)
    as_200 = respond.as_200 or (status >= 400 and mock.errors_as_200)
    return Response(dialect.dumps(body), status_code=200 if as_200 else status, headers=headers, media_type=JSON)


def _default_message(status: int) -> str:
    if status < 300:
        return "success"
    cls = BY_STATUS.get(status)
    if cls is not None:
        return cls.default_message
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


# -- the handlers ----------------------------------------------------------------


async def submit(request: Request, dialect: Dialect) -> Response:
    mock = mock_of(request)
    name = dialect.path_model(request.path_params)
    if name is not None:
        note(request, model=name)
    key = authenticate(mock, request.headers.get("authorization"))
    if name is not None:
        mock.model(name, dialect)  # an unknown model is a 404 before the body is looked at
    raw = await read_body(request, mock.settings.max_body_bytes, mock.settings.body_timeout_s)
    decision = None
    if mock.rules.acts_on(SUBMIT):  # else no rule can decide: skip the lenient parse
        try:
            lenient: object = json.loads(raw) if json_within_bounds(raw) else None
        except (ValueError, RecursionError):
            lenient = None
        seen = dialect.submit_facts(lenient, name)
        models = mock.dialect_models[dialect.name]
        if seen["provider"] is None and seen["model"] in models:
            seen["provider"] = "official" if models[seen["model"]].official_only else "auto"
        facts = rules.Facts(SUBMIT, key=key, headers=request.headers, dialect=dialect.name, **seen)
        decision = apply_rules(request, mock, facts)
        if decision is not None and decision.respond is not None:
            return injected_response(request, mock, dialect, decision.respond)
    if mock.settings.strict:
        strict.check_submit_headers(request)
    body = parse_json(raw)
    if name is None:  # the body names the model (123API): journal it, even if the body is refused
        note(request, model=dialect.submit_facts(body, None)["model"])
    if mock.settings.strict:
        strict.check_submit_body(dialect, name, body)
    task = mock.submit(
        key,
        dialect,
        body,
        name,
        request.headers.get("idempotency-key"),
        decision,
        own_addresses(request.scope),
        route=request.scope.get(ROUTE),
    )
    mock.callbacks.remember_base_url(task, base_url(request))
    note(request, model=task.model, task_id=task.task_id)
    return Response(dialect.dumps(dialect.submit_body(task.task_id, task.model)), media_type=JSON)


async def status(request: Request, dialect: Dialect) -> Response:
    mock = mock_of(request)
    name, task_id = dialect.task_ref(request.path_params, request.query_params.get)
    note(request, model=name, task_id=task_id)
    decided = request.scope.pop(DECIDED, None)
    decision = None
    if decided is not None:
        key, decision = decided
        take(request, decision)
    else:
        key = authenticate(mock, request.headers.get("authorization"))
        if mock.rules:
            decision = apply_rules(request, mock, status_facts(mock, dialect, key, name, task_id, request.headers))
    if decision is not None and decision.respond is not None:
        return injected_response(request, mock, dialect, decision.respond)
    if mock.settings.strict:
        strict.check_status_query(request, dialect)
    body = status_body(mock, dialect, request.scope, key, name, task_id, decision)
    return Response(body, media_type=JSON)


def status_body(
    mock: MockService,
    dialect: Dialect,
    scope: Scope,
    key: str,
    name: str | None,
    task_id: str | None,
    decision: rules.Decision | None = None,
) -> bytes:
    """The status poll itself, shared by the handler and the fast path: look up, count the poll, answer."""
    task = mock.find_task(key, dialect, name, task_id)
    if decision is not None:
        mock.apply_status_decision(task, decision)
    state, complete_ms = mock.poll(task)
    noted = scope.setdefault(NOTE, {})
    noted["state"] = state
    if name is None:
        noted["model"] = task.model
    return encoded_status(dialect, mock.task_view(task, state, complete_ms, base_url_of(scope)))


# The JSON of the last status answers, by dialect and view: a task polled again in the same state
# answers the same bytes, and encoding them was a third of a poll's own time. Bounded: emptied
# when full (a client polling more tasks than this in turn encodes as before).
MAX_STATUS_BODIES = 256
_STATUS_BODIES: dict[tuple, bytes] = {}
# Every field of a TaskView, in a tuple: the key holds all a dialect's status body is made of.
_VIEW_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(TaskView)))


def encoded_status(dialect: Dialect, view: TaskView) -> bytes:
    """``dialect.dumps(dialect.status_body(view))``, remembered for the last views asked
    (a dialect's status body is made of the view alone)."""
    key = (dialect, _VIEW_FIELDS(view))
    body = _STATUS_BODIES.get(key)
    if body is None:
        body = remember(_STATUS_BODIES, key, dialect.dumps(dialect.status_body(view)), MAX_STATUS_BODIES)
    return body


async def _account_answer(
    request: Request, dialect: Dialect, kind: str, answer: Callable[[MockService, str], dict]
) -> Response:
    """An endpoint about the calling key, no task (balance, models): auth, rules, then ``answer``."""
    mock = mock_of(request)
    key = authenticate(mock, request.headers.get("authorization"))
    if mock.rules:
        facts = rules.Facts(kind, key=key, headers=request.headers, dialect=dialect.name)
        decision = apply_rules(request, mock, facts)
        if decision is not None and decision.respond is not None:
            return injected_response(request, mock, dialect, decision.respond)
    return Response(dialect.dumps(answer(mock, key)), media_type=JSON)


async def balance(request: Request, dialect: Dialect) -> Response:
    return await _account_answer(request, dialect, BALANCE, lambda mock, key: dialect.balance_body(mock.balance(key)))


async def models(request: Request, dialect: Dialect) -> Response:
    """The models this dialect serves (with the scenario's overrides, none removed)."""
    return await _account_answer(
        request, dialect, MODELS, lambda mock, key: dialect.models_body(sorted(mock.dialect_models[dialect.name]))
    )


async def result_file(request: Request, dialect: Dialect) -> Response:
    mock = mock_of(request)
    task_id, filename = dialect.file_ref(request.path_params)
    note(request, task_id=task_id)
    if mock.rules:
        facts = mock.task_facts(FILES, mock.store.get(task_id), headers=request.headers)
        facts.dialect = dialect.name
        decision = apply_rules(request, mock, facts)
        if decision is not None and decision.respond is not None:
            return injected_response(request, mock, dialect, decision.respond)
    body, ctype = mock.result_file(task_id, filename)
    return Response(body, media_type=ctype, headers={"Cache-Control": "private, max-age=3600"})


HANDLERS: dict[str, Callable[[Request, Dialect], Awaitable[Response]]] = {
    SUBMIT: submit,
    STATUS: status,
    BALANCE: balance,
    FILES: result_file,
    MODELS: models,
}


def _bound(handler: Callable[[Request, Dialect], Awaitable[Response]], dialect: Dialect, path: str):
    async def endpoint(request: Request) -> Response:
        request.scope[DIALECT] = dialect
        request.scope[ROUTE] = path
        return await handler(request, dialect)

    endpoint.__name__ = f"{dialect.name}_{handler.__name__}"
    return endpoint


def routes(dialects: Sequence[Dialect]) -> list[Route]:
    """Every provider route of every dialect (a path two dialects share is served by the first)."""
    out: list[Route] = []
    seen: set[tuple[str, str]] = set()
    for dialect in dialects:
        for r in dialect.routes:
            if (r.method, r.path) in seen or r.kind not in HANDLERS:
                continue
            seen.add((r.method, r.path))
            out.append(Route(r.path, _bound(HANDLERS[r.kind], dialect, r.path), methods=[r.method]))
    return out
