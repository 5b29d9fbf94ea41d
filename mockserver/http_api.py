"""Thin Starlette handlers for the provider endpoints: parse, call the service, format."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import strict
from .errors import ApiError, BadRequest, PayloadTooLarge
from .service import MockService

JSON = "application/json"


def mock_of(request: Request) -> MockService:
    return request.app.state.mock


def json_response(mock: MockService, obj: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(mock.dialect.dumps(obj), status_code=status, headers=headers, media_type=JSON)


def error_response(mock: MockService, err: ApiError) -> Response:
    d = mock.dialect
    return json_response(mock, d.error_body(err), err.status, d.error_headers(err))


def note(request: Request, **fields: object) -> None:
    """Leave facts for the journal entry of this request (task id, model, error...)."""
    request.scope.setdefault("mockserver.note", {}).update(fields)


def base_url(request: Request) -> str:
    """Where this server is reachable: the address it listens on, else the Host header."""
    server = request.scope.get("server")
    scheme = request.scope.get("scheme", "http")
    if server and server[0] not in ("0.0.0.0", "::", "", None) and server[1] is not None:
        host, port = server
        if ":" in host:
            host = f"[{host}]"
        default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
        return f"{scheme}://{host}" if default else f"{scheme}://{host}:{port}"
    return str(request.base_url).rstrip("/")


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


async def read_json(request: Request, limit: int) -> object:
    raw = await read_body(request, limit)
    if not raw.strip():
        raise BadRequest("Invalid request", error="Request body is empty: expected a JSON object")
    try:
        return json.loads(raw)
    except RecursionError:
        raise BadRequest("Invalid request", error="Malformed JSON: nested too deeply") from None
    except ValueError as exc:
        raise BadRequest("Invalid request", error=f"Malformed JSON: {exc}") from None


def _authenticate(request: Request, mock: MockService) -> str:
    key = mock.dialect.bearer_key(request.headers.get("authorization"))
    return mock.authenticate(key)


async def generate_task(request: Request) -> Response:
    mock = mock_of(request)
    name = request.path_params["model"]
    note(request, model=name)
    key = _authenticate(request, mock)
    mock.model(name)  # an unknown model is a 404 before the body is looked at
    if mock.settings.strict:
        strict.check_submit_headers(request)
    body = await read_json(request, mock.settings.max_body_bytes)
    if mock.settings.strict:
        strict.check_submit_body(name, body)
    task = mock.submit(key, name, body, request.headers.get("idempotency-key"))
    mock.callbacks.remember_base_url(task, base_url(request))
    note(request, taskId=task.task_id)
    return json_response(mock, mock.dialect.envelope(mock.dialect.submit_data(task.task_id)))


async def status_task(request: Request) -> Response:
    mock = mock_of(request)
    name = request.path_params["model"]
    task_id = request.query_params.get("taskId")
    note(request, model=name, taskId=task_id)
    key = _authenticate(request, mock)
    if mock.settings.strict:
        strict.check_status_query(request)
    task = mock.find_task(key, name, task_id)
    state, complete_ms = mock.poll(task)
    note(request, state=state)
    data = mock.status_data(task, state, complete_ms, base_url(request))
    return json_response(mock, mock.dialect.envelope(data))


async def current_balance(request: Request) -> Response:
    mock = mock_of(request)
    key = _authenticate(request, mock)
    return json_response(mock, mock.dialect.envelope(mock.dialect.balance_data(mock.balance(key))))


async def result_file(request: Request) -> Response:
    mock = mock_of(request)
    task_id = request.path_params["task_id"]
    note(request, taskId=task_id)
    body, ctype = mock.result_file(task_id, request.path_params["filename"])
    return Response(body, media_type=ctype, headers={"Cache-Control": "private, max-age=3600"})


def routes() -> list[Route]:
    from .dialects import apixo as d

    return [
        Route(d.GENERATE_PATH, generate_task, methods=["POST"]),
        Route(d.STATUS_PATH, status_task, methods=["GET"]),
        Route(d.BALANCE_PATH, current_balance, methods=["GET"]),
        Route(d.FILES_PATH, result_file, methods=["GET"]),
    ]
