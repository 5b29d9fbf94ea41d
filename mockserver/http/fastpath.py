"""The hot path: a status poll answered as a raw ASGI exchange.

Status polls are most of a client's traffic. When no scenario rule can act on them (none
names statusTask, nor leaves the endpoint open) and strict mode is off, nothing can delay
or break their answer, so they skip the framework: no routing, no Request or Response
objects, no fault middleware. The lookup, the poll and the answer are the code the
handler runs (``http_api.status_body``), and the journal records them through the same
function as every other request.
"""

from __future__ import annotations

from collections import deque
from urllib.parse import parse_qsl, unquote

from mockserver.core.errors import ApiError, ServerError
from mockserver.core.service import MockService
from mockserver.http import provider as http_api
from mockserver.http.journaling import record_request
from mockserver.scenarios import rules

_JSON_HEADERS = [(b"content-type", b"application/json")]


def query_value(query_string: bytes, name: str) -> str | None:
    """The last value of ``name`` in a query string (as Starlette's QueryParams.get gives)."""
    prefix = name.encode() + b"="
    if query_string.startswith(prefix) and b"&" not in query_string:
        raw = query_string[len(prefix) :].decode("latin-1")
        return unquote(raw.replace("+", " ")) if ("%" in raw or "+" in raw) else raw
    value = None
    for key, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key == name:
            value = v
    return value


class FastStatus:
    """GET /api/v1/statusTask/{model} without the framework, when nothing needs it."""

    def __init__(self, app, mock: MockService, errors: deque | None = None) -> None:
        self.app = app
        self.mock = mock
        self.errors = errors  # where the app keeps its own bugs (app.state.errors)
        self.prefix = mock.dialect.STATUS_PATH.split("{", 1)[0]

    async def __call__(self, scope, receive, send) -> None:
        mock = self.mock
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not path.startswith(self.prefix)
            or mock.rules.acts_on(rules.STATUS)
            or mock.settings.strict
            or "/" in path[len(self.prefix) :]
            or len(path) == len(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        arrival = mock.journal.arrive()
        name = path[len(self.prefix) :]
        task_id = query_value(scope.get("query_string", b""), "taskId")
        note = scope.setdefault("mockserver.note", {})
        note["model"] = name
        note["taskId"] = task_id
        authorization = idem = None
        for header, value in scope["headers"]:
            if header == b"authorization":
                authorization = value.decode("latin-1")
            elif header == b"idempotency-key":
                idem = value.decode("latin-1")
        retry_after = None
        bug = None
        try:
            key = http_api.authenticate(mock, authorization)
            body = http_api.status_body(mock, scope, key, name, task_id)
            status, headers = 200, _JSON_HEADERS
        except Exception as exc:
            if isinstance(exc, ApiError):
                err = exc
            else:  # a bug of the mock: answered and kept as the full stack does (app.on_bug)
                bug = exc
                if self.errors is not None:
                    self.errors.append(exc)
                err = ServerError(error=f"mockserver bug: {type(exc).__name__}: {exc}")
            note["error"] = err.error or err.message
            status, body, extra = http_api.error_parts(mock, err, path)
            headers = _JSON_HEADERS + [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
            if status == 429:
                retry_after = float(extra["Retry-After"]) if "Retry-After" in extra else None
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [*headers, (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            record_request(mock, scope, status, retry_after, arrival, None, authorization, idem, headers_read=True)
        if bug is not None:
            raise bug  # for the server's log, and so an in-process client raises it
