"""The hot paths: a status poll answered as a raw ASGI exchange, and a submit handed straight
to its handler.

Status polls are most of a client's traffic. Unless strict mode is on, they skip the framework:
no routing, no Request or Response objects, no fault middleware. When some scenario rule could
act on polls, the fast path asks the rules itself, exactly as the handler would (same facts,
same counts); a poll no rule acts on is answered here, and only a poll a rule acts on goes to
the handler through the journal and fault middleware (below), carrying its decision so that it
is not decided twice. The lookup, the poll and
the answer are the code the handler runs (``provider.status_body``), and the journal records
them through the same function as every other request. Each enabled dialect's status route is
matched by its own regex.

A submit (POST on a dialect's submit route) skips the middleware and the router unless strict
mode is on or some scenario rule could act on submits (those need the fault middleware): its
handler (``provider.submit``) runs on a Request built here, errors are answered as the app's
exception handlers answer them, and the journal records it through the same function and body tap
as ``JournalMiddleware`` (``tests/http/test_fastpath.py`` holds both to identical answers and
journal entries). The other provider routes (result files, balance, models) go the same way.

When a scenario rule could act on such a request, it needs the fault middleware (a rule may plan a
delay or a network fault): it then runs through the app's own ``JournalMiddleware`` and
``FaultMiddleware`` around its handler, still without the router, the exception middleware and
the error middleware, whose work (the app's exception handlers) is done here; so does a status
poll a rule acts on. Only strict mode, a mounted app (root_path), HEAD and the control plane take
the whole stack.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import parse_qsl, unquote

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from mockserver.core.errors import ApiError, ServerError
from mockserver.core.service import MockService
from mockserver.core.words import STATUS
from mockserver.dialects.protocol import Dialect, template_regex
from mockserver.http import provider
from mockserver.http.faults import FaultMiddleware, is_injected, remember_connection
from mockserver.http.journaling import BODY_METHODS, BodyTap, JournalMiddleware, record_request

_CONTENT_TYPE = (b"content-type", b"application/json")
# Scope key set by the server's protocol (``mockserver.http.server.guarded``): ``scope[ONE_WRITE](scope)``
# before a response whose body follows its head at once has the head and the body written together,
# one system call and one TCP segment instead of two, the same bytes. Absent in-process.
ONE_WRITE = "mockserver.one_write"
_PREFIXES: dict[str, bytes] = {}  # "name=" of each query parameter asked for (the dialects' few names)


def query_value(query_string: bytes, name: str) -> str | None:
    """The last value of ``name`` in a query string (as Starlette's QueryParams.get gives)."""
    prefix = _PREFIXES.get(name)
    if prefix is None:
        prefix = _PREFIXES[name] = name.encode() + b"="
    if query_string.startswith(prefix) and b"&" not in query_string:
        raw = query_string[len(prefix) :].decode("latin-1")
        return unquote(raw.replace("+", " ")) if ("%" in raw or "+" in raw) else raw
    value = None
    for key, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key == name:
            value = v
    return value


def _status_routes(dialects: Sequence[Dialect]) -> list[tuple[str, str | None, re.Pattern[str], Dialect]]:
    """(literal prefix, the one parameter that ends the path or None, path regex, dialect) of each
    dialect's status route: ``/prefix/{name}`` is matched without the regex (the hot path)."""
    out = []
    for dialect in dialects:
        for route in dialect.routes:
            if route.kind == STATUS and route.method == "GET":
                prefix, brace, rest = route.path.partition("{")
                tail = rest[:-1] if brace and rest.endswith("}") and "{" not in rest else None
                out.append((prefix, tail, template_regex(route.path), dialect))
    return out


Handler = Callable[[Request, Dialect], Awaitable[Response]]


def _provider_routes(dialects: Sequence[Dialect]) -> list[tuple[str, re.Pattern[str], str, Dialect, str]]:
    """(method, path regex, path template, dialect, kind) of every provider route, in the order the
    router tries them (a method and path two dialects share is the first one's, as in
    ``provider.routes``)."""
    out = []
    seen = set()
    for dialect in dialects:
        for route in dialect.routes:
            if (route.method, route.path) in seen or route.kind not in provider.HANDLERS:
                continue
            seen.add((route.method, route.path))
            out.append((route.method, template_regex(route.path), route.path, dialect, route.kind))
    return out


class FastStatus:
    """GET on a dialect's status route without the framework, when nothing needs it; the other
    provider routes (submit, result files, balance, models) straight to their handlers."""

    def __init__(self, app, mock: MockService, errors: deque | None = None) -> None:
        self.app = app
        self.mock = mock
        self.errors = errors  # where the app keeps its own bugs (app.state.errors)
        self.routes = _status_routes(list(mock.dialects.values()))
        self.provider_routes = _provider_routes(list(mock.dialects.values()))
        # A request a rule could act on: the app's journal and fault middleware around its handler.
        self.guarded = JournalMiddleware(FaultMiddleware(self._endpoint), mock)

    def _match_route(self, method: str, path: str) -> tuple[re.Match[str], str, Dialect, str] | None:
        """The provider route the router would take for ``method path`` (its first full match)."""
        for route_method, pattern, template, dialect, kind in self.provider_routes:
            if route_method == method:
                m = pattern.match(path)
                if m is not None:
                    return m, template, dialect, kind
        return None

    def _match(self, path: str) -> tuple[Dialect, dict[str, str]] | None:
        for prefix, tail, pattern, dialect in self.routes:
            if path.startswith(prefix):
                if tail is not None:
                    rest = path[len(prefix) :]
                    if rest and "/" not in rest:
                        return dialect, {tail: rest}
                    continue
                m = pattern.match(path)
                if m is not None:
                    return dialect, m.groupdict()
        return None

    async def __call__(self, scope, receive, send) -> None:
        mock = self.mock
        found = None
        if scope["type"] == "http" and not mock.settings.strict:
            method = scope["method"]
            if method == "GET":
                found = self._match(scope.get("path", ""))
            if found is None and method in ("GET", "POST") and not scope.get("root_path"):
                routed = self._match_route(method, scope.get("path", ""))
                if routed is not None:
                    match, template, dialect, kind = routed
                    if kind != STATUS:
                        await self._route(scope, receive, send, match, template, dialect, kind)
                        return
        if found is None:
            await self.app(scope, receive, send)
            return
        dialect, params = found
        query_string = scope.get("query_string", b"")
        name, task_id = dialect.task_ref(params, lambda key: query_value(query_string, key))
        authorization = idem = None
        for header, value in scope["headers"]:
            if header == b"authorization":
                authorization = value.decode("latin-1")
            elif header == b"idempotency-key":
                idem = value.decode("latin-1")
        # Nothing below awaits before the journal numbers the request: arrival order is kept.
        key = refused = None
        try:
            key = provider.authenticate(mock, authorization)
        except ApiError as exc:
            refused = exc
        if key is not None and mock.rules.acts_on(STATUS, key):
            facts = provider.status_facts(mock, dialect, key, name, task_id, Headers(scope=scope))
            decision = mock.decide(facts)
            if decision is not None:
                scope[provider.DECIDED] = (key, decision)
                # To the handler through the journal and fault middleware, as the router would
                # take it (a mounted app's path is the whole stack's to route).
                routed = None if scope.get("root_path") else self._match_route("GET", scope.get("path", ""))
                if routed is not None and routed[3] == STATUS:
                    await self._route(scope, receive, send, *routed)
                else:
                    await self.app(scope, receive, send)
                return
        arrival = mock.journal.arrive()
        scope[provider.DIALECT] = dialect
        note = scope.setdefault(provider.NOTE, {})
        note["model"] = name
        note["task_id"] = task_id
        retry_after = None
        bug = None
        try:
            if refused is not None:
                raise refused
            assert key is not None
            body = provider.status_body(mock, dialect, scope, key, name, task_id)
            status = 200
            headers = [(b"content-length", str(len(body)).encode()), _CONTENT_TYPE]
        except Exception as exc:
            err, bug = self._error_of(exc)
            note["error"] = err.error or err.message
            status, body, extra = provider.error_parts(mock, err, scope)
            headers = _response_headers(body, extra)
            if status == 429:
                retry_after = float(extra["Retry-After"]) if "Retry-After" in extra else None
        one_write = scope.get(ONE_WRITE)
        if one_write is not None:
            one_write(scope)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": headers,
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            record_request(
                mock,
                scope,
                status=status,
                arrival=arrival,
                retry_after=retry_after,
                authorization=authorization,
                idempotency_key=idem,
                headers_read=True,
            )
        if bug is not None:
            raise bug  # for the server's log, and so an in-process client raises it

    def _error_of(self, exc: Exception) -> tuple[ApiError, Exception | None]:
        """(the error to answer, the bug or None): an ApiError is answered as it is; anything else
        is a bug of the mock, answered and kept as the full stack does (app.on_bug)."""
        if isinstance(exc, ApiError):
            return exc, None
        if self.errors is not None:
            self.errors.append(exc)
        return _bug(exc), exc

    async def _route(self, scope, receive, send, match: re.Match[str], path: str, dialect: Dialect, kind: str) -> None:
        """A provider request to its handler, without the router (a status poll only once a rule
        acts on it: the rest the fast path answers itself)."""
        scope["path_params"] = match.groupdict()
        scope[provider.DIALECT] = dialect
        scope[provider.ROUTE] = path
        handler = provider.HANDLERS[kind]
        if not self.mock.rules.acts_on(kind):
            await self._direct(scope, receive, send, handler, dialect)
            return
        # A rule could plan a delay or a fault: the app's journal and fault middleware deliver it.
        # A bug is answered here as the app's error middleware answers it (on_bug).
        remember_connection(scope, receive, send)
        started = False

        async def sending(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        scope[_HANDLER] = (handler, dialect)
        try:
            await self.guarded(scope, receive, sending)
        except Exception as exc:
            # As the app's on_bug: answered 500, and kept unless it is a fault a rule injected.
            err = self._error_of(exc)[0] if not is_injected(exc) else _bug(exc)
            if not started:
                await provider.error_response(self.mock, err, Request(scope))(scope, receive, send)
            raise

    async def _endpoint(self, scope, receive, send) -> None:
        """What the route and the exception middleware do for the guarded path: the handler's
        answer, or the app's answer to its ApiError (a bug goes up, as it does there)."""
        handler, dialect = scope.pop(_HANDLER)
        request = Request(scope, receive, send)
        try:
            response = await handler(request, dialect)
        except ApiError as exc:
            provider.note(request, error=exc.error or exc.message)
            response = provider.error_response(self.mock, exc, request)
        await response(scope, receive, send)

    async def _direct(self, scope, receive, send, handler: Handler, dialect: Dialect) -> None:
        """A request no rule can act on, to its handler; journaled as ``JournalMiddleware`` does."""
        mock = self.mock
        arrival = mock.journal.arrive()
        tap = BodyTap(receive) if scope["method"] in BODY_METHODS else None
        request = Request(scope, tap or receive, send)
        bug = None
        try:
            response = await handler(request, dialect)
        except Exception as exc:
            err, bug = self._error_of(exc)
            provider.note(request, error=err.error or err.message)
            response = provider.error_response(mock, err, request)
        retry_after = None
        if response.status_code >= 400:
            value = response.headers.get("retry-after")
            retry_after = _number(value) if value is not None else None
        try:
            await response(scope, receive, send)
        finally:
            record_request(
                mock,
                scope,
                status=response.status_code,
                arrival=arrival,
                retry_after=retry_after,
                body_hash=tap.hash() if tap is not None else None,
                body=tap.text() if tap is not None else None,
                body_truncated=tap is not None and tap.truncated,
            )
        if bug is not None:
            raise bug  # for the server's log, and so an in-process client raises it


def _response_headers(body: bytes, extra: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """The headers a JSON ``Response(body, headers=extra)`` sends, in its order (Starlette's
    ``init_headers``): the given ones, then content-length and content-type unless given."""
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
    names = {name for name, _ in headers}
    if b"content-length" not in names:
        headers.append((b"content-length", str(len(body)).encode("latin-1")))
    if b"content-type" not in names:
        headers.append(_CONTENT_TYPE)
    return headers


_HANDLER = "mockserver.handler"  # scope key: (handler, dialect) of the guarded path's request


def _bug(exc: Exception) -> ServerError:
    return ServerError(error=f"mockserver bug: {type(exc).__name__}: {exc}")


def _number(raw: str) -> float | None:
    try:
        return float(raw)
    except ValueError:
        return None
