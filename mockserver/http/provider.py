"""Thin Starlette handlers for the provider endpoints: parse, call the service, format."""

from __future__ import annotations

import json
import math
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mockserver.core.errors import BY_STATUS, ApiError, BadRequest, PayloadTooLarge, error_for_status
from mockserver.core.service import MockService
from mockserver.http import faults, strict
from mockserver.scenarios import rules

JSON = "application/json"
# Not the provider's API: errors here keep their status even with errors_as_200.
CONTROL_PLANE = ("/__admin", "/schemas", "/openapi.json")


def mock_of(request: Request) -> MockService:
    return request.app.state.mock


def json_response(mock: MockService, obj: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(mock.dialect.dumps(obj), status_code=status, headers=headers, media_type=JSON)


def error_parts(mock: MockService, err: ApiError, path: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    """An error answer as (HTTP status, JSON body, headers)."""
    d = mock.dialect
    status = err.status
    if mock.errors_as_200 and (path is None or not path.startswith(CONTROL_PLANE)):
        status = 200  # the scenario's "errors as 200": the envelope still carries the real code
    return status, d.dumps(d.error_body(err)), d.error_headers(err)


def error_response(mock: MockService, err: ApiError, request: Request | None = None) -> Response:
    status, body, headers = error_parts(mock, err, request.url.path if request is not None else None)
    return Response(body, status_code=status, headers=headers, media_type=JSON)


def note(request: Request, **fields: object) -> None:
    """Leave facts for the journal entry of this request (task id, model, error...)."""
    request.scope.setdefault("mockserver.note", {}).update(fields)


def base_url(request: Request) -> str:
    """Where this server is reachable: the address it listens on, else the Host header."""
    return base_url_of(request.scope)


def base_url_of(scope: dict) -> str:
    server = scope.get("server")
    scheme = scope.get("scheme", "http")
    if server and server[0] not in ("0.0.0.0", "::", "", None) and server[1] is not None:
        host, port = server
        if ":" in host:
            host = f"[{host}]"
        default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
        return f"{scheme}://{host}" if default else f"{scheme}://{host}:{port}"
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return f"{scheme}://{value.decode('latin-1')}"
    return f"{scheme}://localhost"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest("Invalid request", error="Invalid Content-Length header") from None
        if size > limit:
            raise PayloadTooLarge(error=f"Request body is {size} bytes; the limit is {limit} bytes")
    chunks = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(error=f"Request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> object:
    if not raw.strip():
        raise BadRequest("Invalid request", error="Request body is empty: expected a JSON object")
    try:
        return json.loads(raw)
    except RecursionError:
        raise BadRequest("Invalid request", error="Malformed JSON: nested too deeply") from None
    except ValueError as exc:
        raise BadRequest("Invalid request", error=f"Malformed JSON: {exc}") from None


def _authenticate(request: Request, mock: MockService) -> str:
    return authenticate(mock, request.headers.get("authorization"))


def authenticate(mock: MockService, authorization: str | None) -> str:
    """The account key of an Authorization header (401 otherwise); the request counts against its rate."""
    key = mock.authenticate(mock.dialect.bearer_key(authorization))
    mock.admit(key)  # requests per minute: a request that gets past auth counts
    return key


# -- scenario rules -------------------------------------------------------------


def apply_rules(request: Request, mock: MockService, facts: rules.Facts) -> rules.Decision | None:
    """Let the scenario's rules act: plan delay/fault for FaultMiddleware, journal the rule."""
    decision = mock.decide(facts)
    if decision is None:
        return None
    note(request, rule=decision.rule)
    if decision.fault is not None:
        note(request, fault=decision.fault.kind)
    faults.plan(request.scope, decision.delay_ms, decision.fault)
    return decision


def injected_response(request: Request, mock: MockService, respond: rules.Respond) -> Response:
    """A rule's answer, in the dialect's envelope: code = status, 429 with Retry-After."""
    d = mock.dialect
    status = respond.status
    message = respond.message or _default_message(status)
    if status >= 400:
        err = error_for_status(status, message, retry_after=respond.retry_after)
        body = d.error_body(err)
        headers = d.error_headers(err)
        note(request, error=message)
    else:
        body = {**d.envelope(None), "code": status, "message": message}
        headers = {}
        if respond.retry_after is not None:
            headers["Retry-After"] = str(math.ceil(respond.retry_after))
    if respond.has_body:
        body["data"] = respond.body
    headers.update(respond.headers)
    as_200 = respond.as_200 or (status >= 400 and mock.errors_as_200)
    return json_response(mock, body, 200 if as_200 else status, headers)


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


def _submit_facts(mock: MockService, model: str, key: str, body: object, request: Request) -> rules.Facts:
    """What rules see of a submit, read leniently: the body is validated only afterwards."""
    body = body if isinstance(body, dict) else {}
    input = body.get("input") if isinstance(body.get("input"), dict) else {}
    provider = body.get("provider")
    if not isinstance(provider, str):
        provider = "official" if mock.model(model).official_only else "auto"
    request_type = body.get("request_type", "async")
    return rules.Facts(
        rules.GENERATE,
        model=model,
        key=key,
        prompt=input.get("prompt") if isinstance(input.get("prompt"), str) else None,
        provider=provider,
        request_type=request_type if isinstance(request_type, str) else None,
        headers=request.headers,
    )


async def generate_task(request: Request) -> Response:
    mock = mock_of(request)
    name = request.path_params["model"]
    note(request, model=name)
    key = _authenticate(request, mock)
    mock.model(name)  # an unknown model is a 404 before the body is looked at
    raw = await read_body(request, mock.settings.max_body_bytes)
    decision = None
    if mock.rules:
        try:
            lenient: object = json.loads(raw)
        except (ValueError, RecursionError):
            lenient = None
        decision = apply_rules(request, mock, _submit_facts(mock, name, key, lenient, request))
        if decision is not None and decision.respond is not None:
            return injected_response(request, mock, decision.respond)
    if mock.settings.strict:
        strict.check_submit_headers(request)
    body = parse_json(raw)
    if mock.settings.strict:
        strict.check_submit_body(name, body)
    task = mock.submit(key, name, body, request.headers.get("idempotency-key"), decision)
    mock.callbacks.remember_base_url(task, base_url(request))
    note(request, taskId=task.task_id)
    return json_response(mock, mock.dialect.envelope(mock.dialect.submit_data(task.task_id)))


async def status_task(request: Request) -> Response:
    mock = mock_of(request)
    name = request.path_params["model"]
    task_id = request.query_params.get("taskId")
    note(request, model=name, taskId=task_id)
    key = _authenticate(request, mock)
    decision = None
    if mock.rules:
        seen = mock.store.get(task_id) if task_id else None
        seen = seen if seen is not None and seen.key == key else None
        facts = mock.task_facts(rules.STATUS, seen, key=key, headers=request.headers)
        facts.model = seen.model if seen is not None else name
        decision = apply_rules(request, mock, facts)
        if decision is not None and decision.respond is not None:
            return injected_response(request, mock, decision.respond)
    if mock.settings.strict:
        strict.check_status_query(request)
    body = status_body(mock, request.scope, key, name, task_id, decision)
    return Response(body, media_type=JSON)


def status_body(
    mock: MockService, scope: dict, key: str, name: str, task_id: str | None, decision: rules.Decision | None = None
) -> bytes:
    """The status poll itself, shared by the handler and the fast path: look up, count the poll, answer."""
    task = mock.find_task(key, name, task_id)
    if decision is not None:
        mock.apply_status_decision(task, decision)
    state, complete_ms = mock.poll(task)
    scope.setdefault("mockserver.note", {})["state"] = state
    data = mock.status_data(task, state, complete_ms, base_url_of(scope))
    return mock.dialect.dumps(mock.dialect.envelope(data))


async def current_balance(request: Request) -> Response:
    mock = mock_of(request)
    key = _authenticate(request, mock)
    if mock.rules:
        decision = apply_rules(request, mock, rules.Facts(rules.BALANCE, key=key, headers=request.headers))
        if decision is not None and decision.respond is not None:
            return injected_response(request, mock, decision.respond)
    return json_response(mock, mock.dialect.envelope(mock.dialect.balance_data(mock.balance(key))))


async def result_file(request: Request) -> Response:
    mock = mock_of(request)
    task_id = request.path_params["task_id"]
    note(request, taskId=task_id)
    if mock.rules:
        facts = mock.task_facts(rules.FILES, mock.store.get(task_id), headers=request.headers)
        decision = apply_rules(request, mock, facts)
        if decision is not None and decision.respond is not None:
            return injected_response(request, mock, decision.respond)
    body, ctype = mock.result_file(task_id, request.path_params["filename"])
    return Response(body, media_type=ctype, headers={"Cache-Control": "private, max-age=3600"})


def routes() -> list[Route]:
    from mockserver.dialects import apixo as d

    return [
        Route(d.GENERATE_PATH, generate_task, methods=["POST"]),
        Route(d.STATUS_PATH, status_task, methods=["GET"]),
        Route(d.BALANCE_PATH, current_balance, methods=["GET"]),
        Route(d.FILES_PATH, result_file, methods=["GET"]),
    ]
