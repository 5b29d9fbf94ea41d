"""ASGI middleware: the journal records every client request and its answer."""

from __future__ import annotations

import hashlib

from mockserver.core.journal import BODY_KEPT
from mockserver.core.service import MockService
from mockserver.http.faults import is_injected
from mockserver.http.requests import bearer_key

# Control-plane paths are not client traffic and stay out of the journal.
_UNJOURNALED = ("/__admin", "/schemas", "/openapi.json", "/openapi/", "/favicon.ico")
# Only these carry a body worth fingerprinting; status polls (GET) skip the hashing.
BODY_METHODS = ("POST", "PUT", "PATCH")


def journaled(path: str) -> bool:
    """Whether a request to ``path`` is client traffic (journaled), not the control plane."""
    return not path.startswith(_UNJOURNALED)


def browser_visit(scope) -> bool:
    """A browser opening the server's address (``GET /``, Accept: text/html), which is sent on to
    the dashboard: a person looking, not client traffic (an API client's ``GET /`` is journaled)."""
    if scope["path"] != "/" or scope["method"] not in ("GET", "HEAD"):
        return False
    return any(name == b"accept" and b"text/html" in value for name, value in scope.get("headers", ()))


class JournalMiddleware:
    def __init__(self, app, mock: MockService) -> None:
        self.app = app
        self.mock = mock

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not journaled(scope["path"]) or browser_visit(scope):
            await self.app(scope, receive, send)
            return
        arrival = self.mock.journal.arrive()
        status = 0
        retry_after = None
        tap = None

        async def send_wrapper(message) -> None:
            nonlocal status, retry_after
            if message["type"] == "http.response.start":
                status = message["status"]
                # On a 429, and on any other error a rule gave a Retry-After: a client that waits it
                # out is backing off (the report's NO_BACKOFF check reads it).
                if status >= 400:
                    for name, value in message.get("headers", ()):
                        if name.lower() == b"retry-after":
                            retry_after = _number(value)
            await send(message)

        if scope["method"] in BODY_METHODS:
            tap = BodyTap(receive)

        try:
            await self.app(scope, tap or receive, send_wrapper)
        except Exception as exc:
            if status == 0 and not is_injected(exc):
                # A bug of the mock: the app's handler answers 500 once this has unwound.
                status = 500
                scope.setdefault("mockserver.note", {})["error"] = f"mockserver bug: {type(exc).__name__}: {exc}"
            raise
        finally:
            record_request(
                self.mock,
                scope,
                status=status,
                arrival=arrival,
                retry_after=retry_after,
                body_hash=tap.hash() if tap is not None else None,
                body=tap.text() if tap is not None else None,
                body_truncated=tap is not None and tap.truncated,
            )


class BodyTap:
    """An ASGI ``receive`` that hashes the body and keeps its first BODY_KEPT bytes as the app
    reads it (no extra buffering, no second read), for the journal."""

    __slots__ = ("receive", "digest", "kept", "read", "truncated")

    def __init__(self, receive) -> None:
        self.receive = receive
        self.digest = hashlib.blake2b(digest_size=8)
        self.kept = bytearray()
        self.read = False  # the whole body came
        self.truncated = False

    async def __call__(self):
        message = await self.receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            self.digest.update(chunk)
            room = BODY_KEPT - len(self.kept)
            self.kept.extend(chunk[:room])
            self.truncated = self.truncated or len(chunk) > room
            if not message.get("more_body", False):
                self.read = True
        return message

    def hash(self) -> str | None:
        """The body's digest, once it was all read."""
        return self.digest.hexdigest() if self.read else None

    def text(self) -> str | None:
        """What was kept of the body (None: nothing was read)."""
        return self.kept.decode("utf-8", "replace") if self.kept or self.read else None


def record_request(
    mock: MockService,
    scope,
    *,
    status: int,
    arrival: int,
    retry_after: float | None = None,
    body_hash: str | None = None,
    authorization: str | None = None,
    idempotency_key: str | None = None,
    headers_read: bool = False,
    body: str | None = None,
    body_truncated: bool = False,
) -> None:
    """Journal one request: what the scope says, what the handlers noted, and the answer's status.

    ``headers_read``: the caller already took ``authorization`` and ``idempotency_key`` from the headers.
    """
    if not headers_read:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"idempotency-key":
                idempotency_key = value.decode("latin-1")
    get = (scope.get("mockserver.note") or _NO_NOTE).get
    if retry_after is None:
        retry_after = get("retry_after")
    mock.journal.append(
        mock.now(),
        scope["method"],
        scope["path"],
        scope.get("query_string", b"").decode("latin-1"),
        bearer_key(authorization),
        status,
        get("task_id"),
        get("model"),
        get("error"),
        idempotency_key,
        retry_after,
        arrival,
        body_hash,
        get("state"),
        get("rule"),
        get("fault"),
        body,
        body_truncated,
    )


_NO_NOTE: dict = {}


def _number(raw: bytes) -> float | None:
    try:
        return float(raw)
    except ValueError:
        return None
